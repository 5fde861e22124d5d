"""Sources on synthetic slides (no shared data needed): every TIFF flavour the reader claims.

Each slide is written here with tifffile (or `tiles.synthetic.write_pyramid`) from numpy
pixels we keep, so the expected picture is known exactly: lossless codecs must give the
pixels back unchanged, JPEG within a mean absolute difference of 3/255. Deep Zoom tile
sizes are checked against the Deep Zoom rules computed independently here (each level
half the one above, rounded up, down to 1 x 1).
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import tifffile
from PIL import Image

from samsyn.errors import NotFound
from tiles import open_source
from tiles.pyramid import Rect
from tiles.render import thumbnail
from tiles.service import TileService
from tiles.synthetic import tissue, write_pyramid

JPEG_MAD = 3.0  # TESTING.md: mean absolute difference at most 3/255 through JPEG


# --- helpers ----------------------------------------------------------------------------


def mad(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a.astype(np.int32) - b.astype(np.int32)).mean())


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def shrink(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).resize((width, height), Image.Resampling.BOX))


def rgb(pixels: np.ndarray) -> np.ndarray:
    """What a reader should show for grey or RGB 8-bit pixels."""
    return np.repeat(pixels[:, :, None], 3, axis=2) if pixels.ndim == 2 else pixels


def deep_zoom_sizes(width: int, height: int) -> list[tuple[int, int]]:
    """Deep Zoom level sizes, level 0 first: halve with rounding up until 1 x 1."""
    sizes = [(width, height)]
    while sizes[-1] != (1, 1):
        w, h = sizes[-1]
        sizes.append((max(math.ceil(w / 2), 1), max(math.ceil(h / 2), 1)))
    return sizes[::-1]


def expected_region(level: np.ndarray, rect: Rect, background=(255, 255, 255)) -> np.ndarray:
    """`rect` of a level array, the parts outside filled with the background colour."""
    canvas = np.empty((rect.height, rect.width, 3), dtype=np.uint8)
    canvas[:] = background
    pixels = rgb(level)
    x0, y0 = max(rect.x, 0), max(rect.y, 0)
    x1, y1 = min(rect.x + rect.width, pixels.shape[1]), min(rect.y + rect.height, pixels.shape[0])
    if x1 > x0 and y1 > y0:
        canvas[y0 - rect.y : y1 - rect.y, x0 - rect.x : x1 - rect.x] = pixels[y0:y1, x0:x1]
    return canvas


def random_rects(width: int, height: int, seed: int, count: int = 6) -> list[Rect]:
    """Rectangles inside, across the edges of and partly outside a level of this size."""
    rng = np.random.default_rng(seed)
    rects = [Rect(0, 0, width, height), Rect(-7, -5, 40, 30), Rect(width - 20, height - 10, 50, 40)]
    for _ in range(count):
        w = int(rng.integers(1, max(width // 2, 2) + 1))
        h = int(rng.integers(1, max(height // 2, 2) + 1))
        rects.append(
            Rect(int(rng.integers(-w // 2, width)), int(rng.integers(-h // 2, height)), w, h)
        )
    return rects


def jpeg_segments(jpeg: bytes) -> list[tuple[int, int, int]]:
    """(marker, offset, length) of the marker segments up to and including SOS."""
    position, found = 2, []
    while True:
        marker = jpeg[position + 1]
        (length,) = struct.unpack(">H", jpeg[position + 2 : position + 4])
        found.append((marker, position, length))
        if marker == 0xDA:
            return found
        position += 2 + length


def rgb_jpeg_tile(pixels: np.ndarray) -> bytes:
    """A JPEG whose components are R, G, B with ids 0, 1, 2 and no Adobe marker, the way
    Aperio and Bio-Formats write tiles: decoders take it for YCbCr unless told otherwise."""
    data = imagecodecs.jpeg_encode(
        pixels, level=95, colorspace="RGB", outcolorspace="RGB", subsampling="444"
    )
    out = bytearray(data[:2])
    for marker, position, length in jpeg_segments(data):
        segment = bytearray(data[position : position + 2 + length])
        if marker in (0xE0, 0xEE):  # drop JFIF and Adobe
            continue
        if marker == 0xC0:
            for k in range(segment[9]):
                segment[10 + 3 * k] = k
        if marker == 0xDA:
            for k in range(segment[4]):
                segment[5 + 2 * k] = k
            out += segment + data[position + 2 + length :]
            break
        out += segment
    assert b"Adobe" not in out
    return bytes(out)


def abbreviate(tile: bytes) -> tuple[bytes, bytes]:
    """Split a JPEG into (tables-only stream, abbreviated tile), like TIFF JPEGTables."""
    tables, rest = bytearray(b"\xff\xd8"), bytearray(b"\xff\xd8")
    for marker, position, length in jpeg_segments(tile):
        segment = tile[position : position + 2 + length]
        if marker in (0xDB, 0xC4):
            tables += segment
        elif marker == 0xDA:
            rest += tile[position:]
        else:
            rest += segment
    return bytes(tables + b"\xff\xd9"), bytes(rest)


def tiles_of(pixels: np.ndarray, tile: int) -> list[np.ndarray]:
    """The tiles of an image in TIFF order, edge tiles padded to the full tile size."""
    height, width = pixels.shape[:2]
    out = []
    for y in range(0, height, tile):
        for x in range(0, width, tile):
            piece = np.zeros((tile, tile, 3), dtype=np.uint8)
            part = pixels[y : y + tile, x : x + tile]
            piece[: part.shape[0], : part.shape[1]] = part
            out.append(piece)
    return out


@dataclass
class Slide:
    """A written slide and the pixels of each of its stored levels."""

    path: Path
    levels: list[np.ndarray]
    tile: int
    lossless: bool
    mpp: float | None
    notes: dict[str, object] = field(default_factory=dict)


def write_levels(
    path: Path,
    levels: list[np.ndarray],
    tile: int,
    compression: str | None,
    mpp: float | None = 0.5,
    **options,
) -> None:
    """A plain pyramidal TIFF: one page per level, reduced-resolution pages after the first."""
    with tifffile.TiffWriter(path) as writer:
        for index, level in enumerate(levels):
            extra = {}
            if mpp is not None:
                factor = levels[0].shape[1] / level.shape[1]
                extra = {"resolution": (1e4 / (mpp * factor),) * 2, "resolutionunit": "CENTIMETER"}
            writer.write(
                level,
                tile=(tile, tile),
                compression=compression,
                subfiletype=1 if index else 0,
                **extra,
                **options,
            )


# --- the slides -------------------------------------------------------------------------

PICTURE = tissue(1000, 700, seed=11)
SLIDE_KINDS = [
    "jpeg-ycbcr",
    "jpeg-rgb",
    "jpeg-rgb-tables",
    "lzw",
    "deflate",
    "uncompressed",
    "uneven",
    "ome-subifds",
    "single-level",
    "tile-larger-than-image",
    "grey",
    "grey-16bit",
    "rgb-16bit",
]


def make_slide(kind: str, folder: Path) -> Slide:
    path = folder / f"{kind}.tif"
    if kind == "jpeg-ycbcr":
        write_pyramid(path, PICTURE, tile=256, mpp=0.25, downsamples=(1, 4), compression="jpeg")
        with tifffile.TiffFile(path) as tiff:
            assert tiff.pages[0].photometric == 6  # tifffile stores JPEG as YCbCr
        return Slide(path, [PICTURE, shrink(PICTURE, 250, 175)], 256, False, 0.25)
    if kind in ("jpeg-rgb", "jpeg-rgb-tables"):
        encoded = [rgb_jpeg_tile(piece) for piece in tiles_of(PICTURE, 256)]
        options: dict[str, object] = {}
        if kind == "jpeg-rgb-tables":
            split = [abbreviate(data) for data in encoded]
            options["jpegtables"] = split[0][0]
            assert all(tables == split[0][0] for tables, _ in split)  # same tables for all
            encoded = [tile for _, tile in split]
        tifffile.imwrite(
            path,
            iter(encoded),
            shape=PICTURE.shape,
            dtype=np.uint8,
            tile=(256, 256),
            compression="jpeg",
            photometric="rgb",
            subsampling=(1, 1),
            compressionargs={"outcolorspace": "RGB"},
            resolution=(4e4, 4e4),
            resolutionunit="CENTIMETER",
            **options,
        )
        with tifffile.TiffFile(path) as tiff:
            assert tiff.pages[0].photometric == 2
            assert (tiff.pages[0].jpegtables is not None) == (kind == "jpeg-rgb-tables")
        return Slide(path, [PICTURE], 256, False, 0.25, {"raw_tiles": encoded})
    if kind in ("lzw", "deflate", "uncompressed"):
        compression = {"lzw": "lzw", "deflate": "zlib", "uncompressed": None}[kind]
        levels = [PICTURE, shrink(PICTURE, 500, 350), shrink(PICTURE, 250, 175)]
        write_levels(path, levels, 128, compression, mpp=0.5)
        return Slide(path, levels, 128, True, 0.5)
    if kind == "uneven":  # scanners' odd factors: 1000 -> 333 -> 111
        levels = [PICTURE, shrink(PICTURE, 333, 233), shrink(PICTURE, 111, 77)]
        write_levels(path, levels, 64, "zlib", mpp=0.5)
        return Slide(path, levels, 64, True, 0.5)
    if kind == "ome-subifds":
        levels = [PICTURE, shrink(PICTURE, 500, 350), shrink(PICTURE, 250, 175)]
        metadata = {
            "axes": "YXS",
            "PhysicalSizeX": 0.325,
            "PhysicalSizeY": 0.325,
            "PhysicalSizeXUnit": "µm",
            "PhysicalSizeYUnit": "µm",
        }
        with tifffile.TiffWriter(path, ome=True) as writer:
            writer.write(
                levels[0],
                subifds=2,
                tile=(256, 256),
                compression="zlib",
                photometric="rgb",
                metadata=metadata,
            )
            for level in levels[1:]:
                writer.write(
                    level, subfiletype=1, tile=(256, 256), compression="zlib", photometric="rgb"
                )
        with tifffile.TiffFile(path) as tiff:
            assert tiff.is_ome and len(tiff.pages) == 1 and len(tiff.series[0].levels) == 3
        return Slide(path, levels, 256, True, 0.325)
    if kind == "single-level":
        write_levels(path, [PICTURE], 256, "zlib", mpp=None)
        return Slide(path, [PICTURE], 256, True, None)
    if kind == "tile-larger-than-image":
        small = PICTURE[:90, :130].copy()
        write_levels(path, [small], 256, "zlib", mpp=2.0)
        return Slide(path, [small], 256, True, 2.0)
    if kind == "grey":
        grey = PICTURE[:, :, 1].copy()
        levels = [grey, np.asarray(Image.fromarray(grey).resize((250, 175), Image.Resampling.BOX))]
        write_levels(path, levels, 128, "zlib", mpp=0.5, photometric="minisblack")
        return Slide(path, levels, 128, True, 0.5)
    if kind in ("grey-16bit", "rgb-16bit"):
        rng = np.random.default_rng(3)
        shape = (300, 400) if kind == "grey-16bit" else (300, 400, 3)
        wide = rng.integers(0, 65536, size=shape, dtype=np.uint16)
        wide[0, 0], wide[0, 1] = 0, 65535
        write_levels(
            path,
            [wide],
            128,
            "zlib",
            mpp=None,
            photometric="minisblack" if wide.ndim == 2 else "rgb",
        )
        return Slide(path, [wide], 128, True, None, {"sixteen": True})
    raise AssertionError(kind)


@pytest.fixture(scope="module")
def slides(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Slide]:
    folder = tmp_path_factory.mktemp("synthetic-sources")
    made = {kind: make_slide(kind, folder) for kind in SLIDE_KINDS}
    for slide in made.values():
        if not slide.lossless:
            with tifffile.TiffFile(slide.path) as tiff:
                slide.notes["decoded"] = [level.asarray() for level in tiff.series[0].levels]
    return made


def expected_level(slide: Slide, index: int) -> np.ndarray:
    level = slide.levels[index]
    if slide.notes.get("sixteen"):
        return level  # compared with its own rule below
    return rgb(level)


# --- opening ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SLIDE_KINDS)
def test_opens_with_the_right_levels_and_mpp(kind: str, slides: dict[str, Slide]) -> None:
    slide = slides[kind]
    source = open_source([str(slide.path)])
    info = source.info
    assert [(level.width, level.height) for level in info.levels] == [
        (pixels.shape[1], pixels.shape[0]) for pixels in slide.levels
    ]
    base_w, base_h = slide.levels[0].shape[1], slide.levels[0].shape[0]
    for level, pixels in zip(info.levels, slide.levels, strict=True):
        expected = (base_w / pixels.shape[1] + base_h / pixels.shape[0]) / 2
        assert level.downsample == pytest.approx(expected, rel=0.01)
        assert (level.tile_width, level.tile_height) == (slide.tile, slide.tile)
    if slide.mpp is None:
        assert info.mpp is None
    else:
        assert info.mpp == pytest.approx((slide.mpp, slide.mpp), rel=1e-4)
    assert info.reader == "tifffile"
    if kind == "ome-subifds":
        assert info.format == "ome-tiff"


# --- regions ------------------------------------------------------------------------------


EIGHT_BIT = [k for k in SLIDE_KINDS if not k.endswith("16bit")]


def inner_rects(width: int, height: int, seed: int, count: int = 6) -> list[Rect]:
    """Rectangles inside a level, or sticking out only to the left and top."""
    rng = np.random.default_rng(seed)
    rects = [Rect(0, 0, width, height), Rect(-7, -5, 40, 30), Rect(width - 20, height - 10, 20, 10)]
    for _ in range(count):
        w = int(rng.integers(1, max(width // 2, 2) + 1))
        h = int(rng.integers(1, max(height // 2, 2) + 1))
        rects.append(
            Rect(
                int(rng.integers(-w // 2, width - w + 1)),
                int(rng.integers(-h // 2, height - h + 1)),
                w,
                h,
            )
        )
    return rects


def check_region(slide: Slide, index: int, rect: Rect, got: np.ndarray) -> None:
    """Lossless: exactly the numpy pixels. JPEG: what tifffile decodes from the same file, and
    within 3/255 of the numpy pixels over any region big enough for a mean to mean much."""
    assert got.shape == (rect.height, rect.width, 3) and got.dtype == np.uint8
    want = expected_region(expected_level(slide, index), rect)
    if slide.lossless:
        assert np.array_equal(got, want), f"level {index} {rect}: MAD {mad(got, want):.3f}"
        return
    decoded = expected_region(slide.notes["decoded"][index], rect)  # type: ignore[index]
    assert mad(got, decoded) <= 0.5, (
        f"level {index} {rect}: MAD {mad(got, decoded):.3f} from tifffile"
    )
    if rect.width * rect.height >= 64 * 64:
        assert mad(got, want) <= JPEG_MAD, f"level {index} {rect}: MAD {mad(got, want):.3f}"


@pytest.mark.parametrize("kind", EIGHT_BIT)
def test_regions_equal_the_source_pixels(kind: str, slides: dict[str, Slide]) -> None:
    slide = slides[kind]
    source = open_source([str(slide.path)])
    for index, pixels in enumerate(slide.levels):
        height, width = pixels.shape[:2]
        for rect in inner_rects(width, height, seed=index * 100 + len(kind)):
            check_region(slide, index, rect, source.read_region(index, rect))
            if rect.x < 0:  # left of the image: exactly the background colour
                assert (source.read_region(index, rect)[:, : -rect.x] == 255).all()


def test_regions_beyond_the_right_and_bottom_edges_are_background(slides: dict[str, Slide]) -> None:
    """Source.read_region: "parts of the rectangle outside the level are filled with the
    background colour" - also where the last row and column of tiles are padded. Every
    8-bit slide kind and level; the failures are collected so one run shows them all."""
    wrong = []
    for kind in EIGHT_BIT:
        slide = slides[kind]
        source = open_source([str(slide.path)])
        for index, pixels in enumerate(slide.levels):
            height, width = pixels.shape[:2]
            rect = Rect(width - 20, height - 10, 50 + slide.tile, 40 + slide.tile)
            got = source.read_region(index, rect)
            beyond = np.concatenate([got[:, 20:].reshape(-1, 3), got[10:, :20].reshape(-1, 3)])
            if not (beyond == 255).all():
                share = (beyond != 255).any(axis=1).mean()
                wrong.append(
                    f"{kind} level {index} ({width} x {height}, tiles {slide.tile}): "
                    f"{share:.0%} not white"
                )
                continue
            check_region(slide, index, rect, got)
    assert not wrong, "beyond the image edge: " + "; ".join(wrong)


@pytest.mark.parametrize("kind", ["grey-16bit", "rgb-16bit"])
def test_sixteen_bit_is_scaled_to_eight(kind: str, slides: dict[str, Slide]) -> None:
    slide = slides[kind]
    source = open_source([str(slide.path)])
    wide = slide.levels[0]
    got = source.read_region(0, Rect(0, 0, wide.shape[1], wide.shape[0])).astype(np.float64)
    want = rgb(wide).astype(np.float64) / 257.0  # 65535 -> 255
    assert np.abs(got - want).max() <= 1.0
    assert tuple(got[0, 0]) == (0, 0, 0) or kind == "rgb-16bit"
    assert got[0, 1, 0] == 255
    if kind == "grey-16bit":
        assert np.array_equal(got[:, :, 0], got[:, :, 2])


def test_jpeg_regions_match_tifffiles_decode(slides: dict[str, Slide]) -> None:
    """Same file, two readers: tifffile's own `asarray` is the reference for every JPEG flavour."""
    for kind in ("jpeg-ycbcr", "jpeg-rgb", "jpeg-rgb-tables"):
        slide = slides[kind]
        source = open_source([str(slide.path)])
        with tifffile.TiffFile(slide.path) as tiff:
            for index, level in enumerate(tiff.series[0].levels):
                reference = level.asarray()
                got = source.read_region(index, Rect(0, 0, reference.shape[1], reference.shape[0]))
                assert mad(got, reference) <= 0.5, (kind, index)


# --- pass-through -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["jpeg-rgb", "jpeg-rgb-tables"])
def test_rgb_jpeg_tiles_pass_through_with_an_adobe_marker(
    kind: str, slides: dict[str, Slide]
) -> None:
    slide = slides[kind]
    source = open_source([str(slide.path)])
    service = TileService()
    zoom = service.deep_zoom(kind, lambda: source)
    assert zoom.tile_size == 256 and zoom.max_level == 10
    raw = slide.notes["raw_tiles"]
    columns = math.ceil(1000 / 256)
    for col, row in [(0, 0), (2, 1), (1, 0)]:
        served = service.dzi_tile(kind, lambda: source, zoom.max_level, col, row, "jpeg")
        assert served.media_type == "image/jpeg"
        assert served.data.startswith(b"\xff\xd8") and b"Adobe" in served.data
        stored = raw[row * columns + col]
        # the entropy-coded scan is sent unchanged, not re-encoded
        assert served.data[served.data.index(b"\xff\xda") :] == stored[stored.index(b"\xff\xda") :]
        want = PICTURE[row * 256 : (row + 1) * 256, col * 256 : (col + 1) * 256]
        assert mad(decode(served.data), want) <= JPEG_MAD  # right colours, not YCbCr-swapped
        # and without the marker the same bytes would be shown in false colours
        if kind == "jpeg-rgb":
            assert mad(decode(stored), want) > 20


def test_ycbcr_jpeg_tiles_pass_through_unchanged(slides: dict[str, Slide]) -> None:
    slide = slides["jpeg-ycbcr"]
    source = open_source([str(slide.path)])
    service = TileService()
    zoom = service.deep_zoom("y", lambda: source)
    with tifffile.TiffFile(slide.path) as tiff:
        page = tiff.pages[0]
        index = 1 * page.chunked[1] + 2
        tiff.filehandle.seek(page.dataoffsets[index])
        stored = tiff.filehandle.read(page.databytecounts[index])
    served = service.dzi_tile("y", lambda: source, zoom.max_level, 2, 1, "jpeg")
    assert b"Adobe" not in served.data
    assert served.data[served.data.index(b"\xff\xda") :] == stored[stored.index(b"\xff\xda") :]
    assert mad(decode(served.data), PICTURE[256:512, 512:768]) <= JPEG_MAD


def test_edge_tiles_and_other_codecs_are_not_passed_through(slides: dict[str, Slide]) -> None:
    jpeg = open_source([str(slides["jpeg-ycbcr"].path)])
    assert jpeg.stored_tile(0, 0, 0) is not None
    assert jpeg.stored_tile(0, 3, 0) is None  # 1000 px: the fourth column is partial
    assert jpeg.stored_tile(0, 0, 2) is None
    for kind in ("lzw", "deflate", "uncompressed", "ome-subifds"):
        assert open_source([str(slides[kind].path)]).stored_tile(0, 0, 0) is None


# --- Deep Zoom ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", EIGHT_BIT)
def test_deep_zoom_tiles_at_every_level(kind: str, slides: dict[str, Slide]) -> None:
    """Every tile of every level: the right size (edge tiles smaller) and the right pixels."""
    slide = slides[kind]
    source = open_source([str(slide.path)])
    service = TileService()
    zoom = service.deep_zoom(kind, lambda: source)
    width, height = slide.levels[0].shape[1], slide.levels[0].shape[0]
    assert (zoom.width, zoom.height) == (width, height)
    sizes = deep_zoom_sizes(width, height)
    assert zoom.max_level == len(sizes) - 1
    reference = expected_level(slide, 0)
    tile = zoom.tile_size
    for level, (level_w, level_h) in enumerate(sizes):
        columns, rows = math.ceil(level_w / tile), math.ceil(level_h / tile)
        for col in range(columns):
            for row in range(rows):
                want_w, want_h = min(tile, level_w - col * tile), min(tile, level_h - row * tile)
                as_jpeg = decode(
                    service.dzi_tile(kind, lambda: source, level, col, row, "jpeg").data
                )
                assert as_jpeg.shape == (want_h, want_w, 3), (kind, level, col, row)
                got = decode(service.dzi_tile(kind, lambda: source, level, col, row, "png").data)
                assert got.shape == (want_h, want_w, 3), (kind, level, col, row)
                scale = (
                    width / level_w if level == zoom.max_level else 2 ** (zoom.max_level - level)
                )
                x0, y0 = int(col * tile * scale), int(row * tile * scale)
                x1, y1 = (
                    min(int((col * tile + want_w) * scale), width),
                    min(int((row * tile + want_h) * scale), height),
                )
                want = np.asarray(
                    Image.fromarray(reference[y0:y1, x0:x1]).resize(
                        (want_w, want_h), Image.Resampling.LANCZOS
                    )
                )
                limit = JPEG_MAD if min(want_w, want_h) >= 16 else 12.0
                assert mad(got, want) <= limit, (
                    f"{kind} dz level {level} tile {col},{row}: {mad(got, want):.2f}"
                )
        with pytest.raises(NotFound):
            zoom.tile(level, columns, 0)
        with pytest.raises(NotFound):
            zoom.tile(level, 0, rows)
    with pytest.raises(NotFound):
        zoom.tile(zoom.max_level + 1, 0, 0)


def test_rendered_jpeg_tiles_lose_at_most_3_of_255(slides: dict[str, Slide]) -> None:
    """TESTING.md allows a mean absolute difference of 3/255 through JPEG. A rendered Deep Zoom
    tile is encoded once more; measured here against the lossless (PNG) rendering of the
    very same tile, so only the encoder's loss counts."""
    source = open_source([str(slides["lzw"].path)])
    service = TileService()
    zoom = service.deep_zoom("q", lambda: source)
    worst = []
    for level in range(6, zoom.max_level + 1):
        jpeg = decode(service.dzi_tile("q", lambda: source, level, 0, 0, "jpeg").data)
        png = decode(service.dzi_tile("q", lambda: source, level, 0, 0, "png").data)
        worst.append((round(mad(jpeg, png), 2), level))
    assert max(worst)[0] <= JPEG_MAD, f"(MAD, Deep Zoom level) of rendered JPEG tiles: {worst}"


def test_tiles_from_an_uneven_level_are_where_they_belong(slides: dict[str, Slide]) -> None:
    """A 4x Deep Zoom tile is read from the stored 1000/333 = 3.003x level. The level-0
    rectangle (0, 0, 256, 256) is (0, 0, 85.2, 85.2) there; resampling exactly that window
    (PIL's sub-pixel `box`) is the reference. Rounding the window out to 86 px and stretching
    it to 64 px instead shifts and stretches the picture by up to one source pixel."""
    slide = slides["uneven"]
    source = open_source([str(slide.path)])
    service = TileService()
    zoom = service.deep_zoom("u", lambda: source)
    level1 = slide.levels[1]
    scale_x, scale_y = 1000 / level1.shape[1], 700 / level1.shape[0]
    for level, col, row in [(8, 0, 0), (7, 0, 0)]:
        rect, width, height = zoom.tile(level, col, row)
        assert rect.x + rect.width < 990 and rect.y + rect.height < 690  # away from the edges
        box = (
            rect.x / scale_x,
            rect.y / scale_y,
            (rect.x + rect.width) / scale_x,
            (rect.y + rect.height) / scale_y,
        )
        want = np.asarray(
            Image.fromarray(level1).resize((width, height), Image.Resampling.LANCZOS, box=box)
        )
        got = decode(service.dzi_tile("u", lambda: source, level, col, row, "png").data)
        assert mad(got, want) <= 1.5, (
            f"Deep Zoom level {level}: MAD {mad(got, want):.2f} from the exact resampling"
        )


def test_deep_zoom_descriptor(slides: dict[str, Slide]) -> None:
    source = open_source([str(slides["jpeg-ycbcr"].path)])
    xml = TileService().deep_zoom("d", lambda: source).descriptor()
    assert 'TileSize="256"' in xml and 'Overlap="0"' in xml and 'Format="jpeg"' in xml
    assert '<Size Width="1000" Height="700"/>' in xml
    # a slide whose tiles are not square gets the default Deep Zoom tile size
    assert (
        TileService()
        .deep_zoom("t", lambda: open_source([str(slides["tile-larger-than-image"].path)]))
        .tile_size
        == 256
    )


def test_rendered_tiles_are_cached(slides: dict[str, Slide]) -> None:
    """A tile of a level the file does not store is rendered once, then served from the cache."""
    source = open_source([str(slides["jpeg-ycbcr"].path)])
    reads: list[tuple[int, Rect]] = []
    original = source.read_region

    def counting(level: int, rect: Rect) -> np.ndarray:
        reads.append((level, rect))
        return original(level, rect)

    source.read_region = counting  # type: ignore[method-assign]
    service = TileService()
    level = 9  # 2x: not stored (the file holds 1x and 4x)
    first = service.dzi_tile("c", lambda: source, level, 1, 0, "jpeg")
    assert len(reads) >= 1 and reads[0][0] == 0  # read from the finer stored level
    assert len(service.tiles) == 1
    second = service.dzi_tile("c", lambda: source, level, 1, 0, "jpeg")
    assert len(reads) == 1, "the second request decoded the slide again"
    assert second.etag == first.etag and second.data == first.data
    assert len(service.tiles) == 1
    other = service.dzi_tile("c", lambda: source, level, 0, 0, "jpeg")
    assert other.etag != first.etag and len(service.tiles) == 2
    png = service.dzi_tile("c", lambda: source, level, 1, 0, "png")
    assert png.etag != first.etag and png.media_type == "image/png"
    # a 4x level tile comes from the 4x stored level
    reads.clear()
    service.dzi_tile("c", lambda: source, 8, 0, 0, "png")
    assert reads and reads[0][0] == 1


def test_etag_changes_when_the_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "slide.tif"
    write_levels(path, [PICTURE[:300, :300]], 128, "zlib")
    first = TileService().dzi_tile("same-id", lambda: open_source([str(path)]), 8, 0, 0, "png")
    write_levels(path, [255 - PICTURE[:300, :300]], 128, "zlib")
    import os

    os.utime(path, ns=(1, 1))  # a different mtime even on coarse clocks
    second = TileService().dzi_tile("same-id", lambda: open_source([str(path)]), 8, 0, 0, "png")
    assert first.etag != second.etag
    assert mad(decode(first.data), 255 - decode(second.data)) <= 1


# --- IIIF through the service -------------------------------------------------------------


def test_iiif_images_from_the_service(slides: dict[str, Slide]) -> None:
    slide = slides["lzw"]
    source = open_source([str(slide.path)])
    service = TileService()
    full = decode(
        service.iiif_image("i", lambda: source, "full", "max", "0", "default", "png").data
    )
    assert np.array_equal(full, PICTURE)
    region = decode(
        service.iiif_image(
            "i", lambda: source, "100,200,300,150", "max", "0", "default", "png"
        ).data
    )
    assert np.array_equal(region, PICTURE[200:350, 100:400])
    rotated = decode(
        service.iiif_image(
            "i", lambda: source, "100,200,300,150", "max", "90", "default", "png"
        ).data
    )
    assert np.array_equal(rotated, np.rot90(PICTURE[200:350, 100:400], k=-1))
    mirrored = decode(
        service.iiif_image(
            "i", lambda: source, "100,200,300,150", "max", "!0", "default", "png"
        ).data
    )
    assert np.array_equal(mirrored, PICTURE[200:350, 100:400][:, ::-1])
    mirrored_180 = decode(
        service.iiif_image("i", lambda: source, "full", "max", "!180", "default", "png").data
    )
    assert np.array_equal(mirrored_180, PICTURE[::-1, :])
    grey = Image.open(
        io.BytesIO(service.iiif_image("i", lambda: source, "full", "250,", "0", "gray", "png").data)
    )
    assert grey.mode == "L" and grey.size == (250, 175)
    half = decode(
        service.iiif_image("i", lambda: source, "full", "500,", "0", "default", "png").data
    )
    assert mad(half, slide.levels[1]) <= 3  # from the 2x stored level


def test_iiif_stored_tile_is_passed_through(slides: dict[str, Slide]) -> None:
    slide = slides["jpeg-rgb-tables"]
    source = open_source([str(slide.path)])
    service = TileService()
    served = service.iiif_image(
        "p", lambda: source, "256,256,256,256", "256,", "0", "default", "jpg"
    )
    assert served.data == source.stored_tile(0, 1, 1)
    assert b"Adobe" in served.data
    assert mad(decode(served.data), PICTURE[256:512, 256:512]) <= JPEG_MAD


# --- photographs --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_photographs_open_as_a_pyramid(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"photo.{fmt.lower()}"
    picture = tissue(1001, 603, seed=8)
    Image.fromarray(picture).save(path, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    reference = np.asarray(Image.open(path).convert("RGB"))  # the decoder's own pixels
    source = open_source([str(path)])
    info = source.info
    assert info.format == fmt.lower() and info.reader == "pillow"
    sizes = [(level.width, level.height) for level in info.levels]
    assert sizes[0] == (1001, 603)
    for (w0, h0), (w1, h1) in zip(sizes, sizes[1:], strict=False):
        assert (w1, h1) == (math.ceil(w0 / 2), math.ceil(h0 / 2))
    assert max(sizes[-1]) <= 256 and max(sizes[-2]) > 256
    for level in info.levels:
        assert level.downsample == pytest.approx(1001 / level.width)
    assert np.array_equal(source.read_region(0, Rect(0, 0, 1001, 603)), reference)
    assert np.array_equal(
        source.read_region(0, Rect(990, 600, 20, 10))[:3, :11], reference[600:, 990:]
    )
    assert (source.read_region(0, Rect(990, 600, 20, 10))[3:] == 255).all()
    # level 1 is a 2 x 2 average of level 0
    half = source.read_region(1, Rect(0, 0, 500, 301)).astype(np.float64)
    blocks = reference[:602, :1000].astype(np.float64).reshape(301, 2, 500, 2, 3).mean(axis=(1, 3))
    assert np.abs(half - blocks).max() <= 1.0
    tile = decode(TileService().dzi_tile("photo", lambda: source, 10, 3, 2, "png").data)
    assert tile.shape == (603 - 512, 1001 - 768, 3)
    assert np.array_equal(tile, reference[512:, 768:])


def test_sixteen_bit_png_photograph_keeps_its_grey_levels(tmp_path: Path) -> None:
    """A 16-bit grey PNG (a scanner export, a screenshot of a radiograph) must be scaled to
    8 bits, not clipped: mid-grey 32896 is 128, not white."""
    path = tmp_path / "grey16.png"
    ramp = np.linspace(0, 65535, 256 * 64).astype(np.uint16).reshape(64, 256)
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode in ("I;16", "I")
    got = open_source([str(path)]).read_region(0, Rect(0, 0, 256, 64))[:, :, 0].astype(np.float64)
    assert np.abs(got - ramp / 257.0).max() <= 1.0, (
        f"mid-grey shown as {got[32, 128]}, expected {ramp[32, 128] / 257:.0f}"
    )


def test_photograph_exif_orientation_is_applied(tmp_path: Path) -> None:
    """Camera JPEGs (gross specimens) are often stored sideways with an EXIF Orientation tag;
    every viewer shows them upright, and so must the pyramid."""
    picture = np.zeros((100, 200, 3), dtype=np.uint8)
    picture[:, :100] = (220, 30, 30)
    picture[:, 100:] = (30, 30, 220)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "camera.jpg"
    Image.fromarray(picture).save(path, quality=95, exif=exif.tobytes())
    from PIL import ImageOps

    upright = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    source = open_source([str(path)])
    assert (
        (source.info.width, source.info.height)
        == (upright.shape[1], upright.shape[0])
        == (100, 200)
    )
    assert mad(source.read_region(0, Rect(0, 0, 100, 200)), upright) <= 1


# --- thumbnails ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["jpeg-ycbcr", "lzw", "uneven", "tile-larger-than-image"])
def test_thumbnail_is_the_whole_image(kind: str, slides: dict[str, Slide]) -> None:
    slide = slides[kind]
    source = open_source([str(slide.path)])
    picture = np.asarray(thumbnail(source, 256))
    height, width = slide.levels[0].shape[:2]
    scale = min(256 / max(width, height), 1.0)
    assert picture.shape == (max(round(height * scale), 1), max(round(width * scale), 1), 3)
    want = np.asarray(
        Image.fromarray(rgb(slide.levels[0])).resize(picture.shape[1::-1], Image.Resampling.LANCZOS)
    )
    assert mad(picture, want) <= JPEG_MAD
    served = TileService().associated(kind, lambda: source, "thumbnail", "png")
    assert served.media_type == "image/png"
    assert decode(served.data).shape[2] == 3
    with pytest.raises(NotFound):
        TileService().associated(kind, lambda: source, "label", "jpg")
