"""IIIF Image API 3.0 request parsing, table-driven from the specification.

https://iiif.io/api/image/3.0/#4-image-requests - region (4.1), size (4.2), rotation (4.3),
quality (4.4) and format (4.5); anything the specification calls an error is BadRequest
(sent as 400). Server limits are the library's advertised maxWidth, maxHeight, maxArea.
"""

from __future__ import annotations

import pytest

from samsyn.errors import BadRequest
from tiles import iiif
from tiles.pyramid import Level, Rect
from tiles.sources.base import SlideInfo

W, H = 1000, 500  # a landscape image: width and height differ so swapped axes show


# --- region -----------------------------------------------------------------------------

REGIONS = [
    ("full", Rect(0, 0, W, H)),
    ("0,0,1000,500", Rect(0, 0, W, H)),
    ("10,20,30,40", Rect(10, 20, 30, 40)),
    ("0,0,1,1", Rect(0, 0, 1, 1)),
    ("999,499,1,1", Rect(999, 499, 1, 1)),
    # beyond the edge: cropped at the edge, no empty space added (4.1)
    ("900,400,200,200", Rect(900, 400, 100, 100)),
    ("0,0,5000,5000", Rect(0, 0, W, H)),
    ("990,0,100000000000,10", Rect(990, 0, 10, 10)),
    ("pct:0,0,100,100", Rect(0, 0, W, H)),
    ("pct:10,10,80,80", Rect(100, 50, 800, 400)),
    ("pct:50,50,50,50", Rect(500, 250, 500, 250)),
    ("pct:25.5,10.2,10,20", Rect(255, 51, 100, 100)),
    ("pct:90,90,50,50", Rect(900, 450, 100, 50)),
]


@pytest.mark.parametrize(("region", "expected"), REGIONS)
def test_region(region: str, expected: Rect) -> None:
    assert iiif.parse_region(region, W, H) == expected


@pytest.mark.parametrize(("width", "height"), [(1000, 500), (500, 1000), (640, 640), (1, 7)])
def test_square_region_is_the_shorter_side_inside_the_image(width: int, height: int) -> None:
    rect = iiif.parse_region("square", width, height)
    side = min(width, height)
    assert (rect.width, rect.height) == (side, side)
    assert rect.x >= 0 and rect.x + rect.width <= width
    assert rect.y >= 0 and rect.y + rect.height <= height


BAD_REGIONS = [
    "0,0,0,10",  # zero width (4.1: 400)
    "0,0,10,0",  # zero height
    "1000,0,10,10",  # entirely right of the image
    "0,500,10,10",  # entirely below
    "5000,5000,10,10",
    "pct:100,0,10,10",  # percent region starting at the right edge
    "pct:0,0,0,50",
    "-1,0,10,10",  # negative numbers are not in the grammar
    "1.5,0,10,10",  # pixel regions are integers
    "0,0,10",  # three numbers
    "0,0,10,10,10",
    "",
    "fulll",
    "Full",
    "pct:",
    "pct:a,b,c,d",
    "squared",
    "0,,10,10",
]


@pytest.mark.parametrize("region", BAD_REGIONS)
def test_bad_region_is_bad_request(region: str) -> None:
    with pytest.raises(BadRequest):
        iiif.parse_region(region, W, H)


# --- size -------------------------------------------------------------------------------

SIZES = [
    # (size, region width, region height, expected output size)
    ("max", 1000, 500, (1000, 500)),
    ("max", 1, 1, (1, 1)),
    ("500,", 1000, 500, (500, 250)),
    ("1000,", 1000, 500, (1000, 500)),
    (",250", 1000, 500, (500, 250)),
    (",500", 1000, 500, (1000, 500)),
    ("pct:50", 1000, 500, (500, 250)),
    ("pct:100", 1000, 500, (1000, 500)),
    ("pct:10", 1000, 500, (100, 50)),
    ("pct:12.5", 800, 400, (100, 50)),
    ("300,200", 1000, 500, (300, 200)),  # w,h may distort
    ("1000,500", 1000, 500, (1000, 500)),
    ("!500,500", 1000, 500, (500, 250)),  # confined: fits inside the box, aspect kept
    ("!500,100", 1000, 500, (200, 100)),
    ("!1000,500", 1000, 500, (1000, 500)),
    ("!100,100", 100, 400, (25, 100)),
    # ^ allows upscaling (4.2)
    ("^2000,", 1000, 500, (2000, 1000)),
    ("^,1000", 1000, 500, (2000, 1000)),
    ("^pct:150", 1000, 500, (1500, 750)),
    ("^3000,100", 1000, 500, (3000, 100)),
    ("^!2000,2000", 1000, 500, (2000, 1000)),
    ("^500,", 1000, 500, (500, 250)),  # ^ does not force upscaling
    ("^max", 100, 100, (4096, 4096)),  # scaled up to maxArea
    ("^max", 10, 1, (8192, 819)),  # scaled up to maxWidth
]


@pytest.mark.parametrize(("size", "region_w", "region_h", "expected"), SIZES)
def test_size(size: str, region_w: int, region_h: int, expected: tuple[int, int]) -> None:
    assert iiif.parse_size(size, region_w, region_h) == expected


def test_max_of_a_region_beyond_the_limits_is_shrunk_to_them() -> None:
    """4.2: max returns the region's size unless maxWidth, maxHeight or maxArea constrain it."""
    width, height = iiif.parse_size("max", 20000, 100)
    assert width == iiif.MAX_WIDTH and height == 40
    width, height = iiif.parse_size("max", 10000, 10000)
    assert width * height <= iiif.MAX_AREA and width == height
    assert width >= 4095


BAD_SIZES = [
    # (size, region width, region height): zero or empty sizes, upscaling without ^,
    # beyond maxWidth / maxHeight / maxArea, and strings outside the grammar
    ("0,", 1000, 500),
    (",0", 1000, 500),
    ("0,0", 1000, 500),
    ("10,0", 1000, 500),
    ("pct:0", 1000, 500),
    ("!0,0", 1000, 500),  # a zero box: "if the resulting height or width is zero ... 400"
    ("!0,100", 1000, 500),
    ("1001,", 1000, 500),  # upscaling without ^
    (",501", 1000, 500),
    ("1001,500", 1000, 500),
    ("1000,501", 1000, 500),
    ("pct:101", 1000, 500),
    ("pct:200", 1000, 500),
    ("^8193,", 1000, 500),  # beyond maxWidth
    ("^,8193", 1000, 500),  # beyond maxHeight
    ("^5000,5000", 1000, 500),  # beyond maxArea (25 M > 16.8 M)
    ("^pct:10000", 1000, 500),
    ("^9000,10", 10, 10),
    ("full", 1000, 500),  # 2.x keyword, gone in 3.0
    ("", 1000, 500),
    (",", 1000, 500),
    ("^", 1000, 500),
    ("!500,", 1000, 500),
    ("!,500", 1000, 500),
    ("500", 1000, 500),
    ("-5,", 1000, 500),
    ("5.5,", 1000, 500),
    ("pct:", 1000, 500),
    ("pct:-5", 1000, 500),
    ("pct:abc", 1000, 500),
    ("maxx", 1000, 500),
    ("^^max", 1000, 500),
]


@pytest.mark.parametrize(("size", "region_w", "region_h"), BAD_SIZES)
def test_bad_size_is_bad_request(size: str, region_w: int, region_h: int) -> None:
    with pytest.raises(BadRequest):
        iiif.parse_size(size, region_w, region_h)


def test_advertised_limits_are_the_enforced_ones() -> None:
    info = iiif.info_json(_info(), "http://example/iiif/3/x")
    assert (info["maxWidth"], info["maxHeight"], info["maxArea"]) == (
        iiif.MAX_WIDTH,
        iiif.MAX_HEIGHT,
        iiif.MAX_AREA,
    )
    side = int(iiif.MAX_AREA**0.5)
    assert iiif.parse_size(f"^{side},{side}", 10, 10) == (side, side)
    with pytest.raises(BadRequest):
        iiif.parse_size(f"^{side + 1},{side}", 10, 10)


# --- rotation ---------------------------------------------------------------------------

ROTATIONS = [
    ("0", (0, False)),
    ("90", (90, False)),
    ("180", (180, False)),
    ("270", (270, False)),
    ("360", (0, False)),
    ("0.0", (0, False)),
    ("90.0", (90, False)),
    ("!0", (0, True)),
    ("!90", (90, True)),
    ("!180", (180, True)),
    ("!270", (270, True)),
]


@pytest.mark.parametrize(("rotation", "expected"), ROTATIONS)
def test_rotation(rotation: str, expected: tuple[int, bool]) -> None:
    assert iiif.parse_rotation(rotation) == expected


@pytest.mark.parametrize(
    "rotation",
    [
        "",
        "!",
        "!!90",
        "-90",
        "361",
        "450",
        "720",
        "45",
        "22.5",
        "abc",
        "90deg",
        " 90",
        "1e2",
        "+90",
    ],
)
def test_bad_rotation_is_bad_request(rotation: str) -> None:
    with pytest.raises(BadRequest):
        iiif.parse_rotation(rotation)


# --- the whole request ------------------------------------------------------------------


def _info(width: int = W, height: int = H) -> SlideInfo:
    return SlideInfo(
        format="tiff",
        vendor="test",
        reader="test",
        levels=(Level(width, height, 1.0, 256, 256), Level(width // 4, height // 4, 4.0, 256, 256)),
    )


@pytest.mark.parametrize("quality", ["default", "color", "gray", "bitonal"])
@pytest.mark.parametrize("fmt", ["jpg", "png", "webp"])
def test_parse_whole_request(quality: str, fmt: str) -> None:
    request = iiif.parse(_info(), "100,50,400,200", "!200,200", "!90", quality, fmt)
    assert request.region == Rect(100, 50, 400, 200)
    assert (request.width, request.height) == (200, 100)
    assert (request.rotation, request.mirror) == (90, True)
    assert (request.quality, request.format) == (quality, fmt)
    assert request.encoding.grey == (quality == "gray")
    assert request.encoding.bitonal == (quality == "bitonal")
    assert (
        request.encoding.media_type
        == {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}[fmt]
    )


@pytest.mark.parametrize("quality", ["grey", "native", "Default", "colour", "", "bitonal ", "best"])
def test_bad_quality_is_bad_request(quality: str) -> None:
    with pytest.raises(BadRequest):
        iiif.parse(_info(), "full", "max", "0", quality, "jpg")


@pytest.mark.parametrize("fmt", ["jpeg", "gif", "tif", "pdf", "jp2", "JPG", "", "exe"])
def test_bad_format_is_bad_request(fmt: str) -> None:
    with pytest.raises(BadRequest):
        iiif.parse(_info(), "full", "max", "0", "default", fmt)


@pytest.mark.parametrize(
    ("region", "size", "rotation"),
    [
        ("0,0,0,0", "max", "0"),
        ("full", "2000,", "0"),
        ("full", "max", "45"),
        ("5000,0,1,1", "max", "0"),
    ],
)
def test_parse_reports_the_first_bad_parameter(region: str, size: str, rotation: str) -> None:
    with pytest.raises(BadRequest):
        iiif.parse(_info(), region, size, rotation, "default", "jpg")


def test_size_applies_to_the_cropped_region() -> None:
    """A region cut at the edge is the extracted region that `max` and `pct:` refer to."""
    request = iiif.parse(_info(), "900,400,400,400", "max", "0", "default", "png")
    assert request.region == Rect(900, 400, 100, 100)
    assert (request.width, request.height) == (100, 100)
    request = iiif.parse(_info(), "900,400,400,400", "pct:50", "0", "default", "png")
    assert (request.width, request.height) == (50, 50)
    with pytest.raises(BadRequest):  # 200 px is larger than the 100 px extracted region
        iiif.parse(_info(), "900,400,400,400", "200,", "0", "default", "png")


# --- stored tiles and info.json ----------------------------------------------------------


def test_stored_tile_for_matches_only_exact_native_tiles() -> None:
    info = SlideInfo(
        format="tiff",
        vendor="t",
        reader="t",
        levels=(Level(2048, 1536, 1.0, 256, 256), Level(512, 384, 4.0, 256, 256)),
    )

    def stored(
        region: str, size: str, rotation: str = "0", quality: str = "default", fmt: str = "jpg"
    ):
        return iiif.stored_tile_for(info, iiif.parse(info, region, size, rotation, quality, fmt))

    assert stored("0,0,256,256", "256,256") == (0, 0, 0)
    assert stored("512,256,256,256", "256,") == (0, 2, 1)
    assert stored("1024,0,1024,1024", "256,256") == (1, 1, 0)
    assert stored("0,0,256,256", "256,256", rotation="90") is None
    assert stored("0,0,256,256", "256,256", rotation="!0") is None
    assert stored("0,0,256,256", "256,256", quality="gray") is None
    assert stored("0,0,256,256", "256,256", fmt="png") is None
    assert stored("128,0,256,256", "256,256") is None  # not on the tile grid
    assert stored("0,0,256,256", "128,128") is None  # scaled
    assert stored("1792,1280,256,256", "256,256") == (0, 7, 5)
    assert stored("1024,1024,1024,512", "256,128") is None  # an edge tile is never passed through


def test_info_json_fields() -> None:
    info = SlideInfo(
        format="tiff",
        vendor="t",
        reader="t",
        levels=(
            Level(2220, 2967, 1.0, 240, 240),
            Level(555, 741, 4.0, 240, 240),  # scanner rounding: still a 4x level
            Level(139, 185, 16.0, 240, 240),
        ),
    )
    document = iiif.info_json(info, "http://host/iiif/3/abc")
    assert document["@context"] == "http://iiif.io/api/image/3/context.json"
    assert document["id"] == "http://host/iiif/3/abc"
    assert document["type"] == "ImageService3"
    assert document["protocol"] == "http://iiif.io/api/image"
    assert document["profile"] == "level2"
    assert (document["width"], document["height"]) == (2220, 2967)
    assert document["tiles"] == [{"width": 240, "height": 240, "scaleFactors": [1, 4, 16]}]
    assert {"width": 139, "height": 185} in document["sizes"]
    assert [s["width"] for s in document["sizes"]] == sorted(s["width"] for s in document["sizes"])
