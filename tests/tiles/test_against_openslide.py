"""The real sample slides in ../shared/data/wsi read by samsyn and by reference readers.

OpenSlide is the reference for every file it opens (Aperio SVS, Hamamatsu NDPI, brightfield
DICOM WSI); tifffile, pydicom and wsidicom for the rest (OME-TIFF crops, the fluorescence
BPAEC series). Regions are compared at level-0 origin composited on white, as OpenSlide's
own viewers do. Tolerances (TESTING.md): a mean absolute difference of at most 3/255
through JPEG, 0 for pass-through and lossless.
"""

from __future__ import annotations

import functools
import io
import math
import os
from pathlib import Path

import numpy as np
import openslide
import pydicom
import pytest
import tifffile
from PIL import Image

from tests.conftest import sample_data_dir
from tiles import open_source
from tiles.deepzoom import deep_zoom_for
from tiles.pyramid import Rect, dzi_level_size
from tiles.render import thumbnail
from tiles.service import TileService
from tiles.sources.dicom_wsi import CHANNEL_COLOURS, NAMED_COLOURS, channel_colours

pytestmark = pytest.mark.shared_data

JPEG_MAD = 3.0


# --- which files ------------------------------------------------------------------------


def _wsi_files() -> list[str]:
    """Every file below wsi/, relative to it (empty when the shared data is missing)."""
    root = sample_data_dir() / "wsi"
    if not root.is_dir():
        return []
    return sorted(
        str(Path(folder, name).relative_to(root))
        for folder, _dirs, names in os.walk(root)
        for name in names
        if not name.startswith(".")
    )


def _openslide_opens(relative: str) -> bool:
    try:
        openslide.OpenSlide(str(sample_data_dir() / "wsi" / relative)).close()
    except Exception:
        return False
    return True


ALL_FILES = _wsi_files()
OPENSLIDE_FILES = [name for name in ALL_FILES if _openslide_opens(name)] or ["(no shared data)"]
OTHER_FILES = [name for name in ALL_FILES if name not in OPENSLIDE_FILES]


@pytest.fixture(scope="module")
def wsi(sample_data: Path) -> Path:
    return sample_data / "wsi"


def path_of(wsi: Path, relative: str) -> Path:
    path = wsi / relative
    if not path.is_file():
        pytest.skip(f"{relative} is not in the shared data")
    return path


def test_the_expected_files_are_compared() -> None:
    """Guards the parametrisation: MANIFEST.md's vendor files are among those OpenSlide opens."""
    if not ALL_FILES:
        pytest.skip("the shared data folder is missing")
    for expected in (
        "aperio/CMU-1-Small-Region.svs",
        "hamamatsu/test3-DAPI-2-387.ndpi",
        "dicom-wsi/gcp-bone/jpeg.dicom",
    ):
        assert expected in OPENSLIDE_FILES
    assert "ome-tiff/OS-1-detail.ome.tif" in OTHER_FILES  # OpenSlide does not recognise these
    assert "dicom-wsi/BPAEC/5_0" in OTHER_FILES  # nor fluorescence DICOM


# --- helpers ----------------------------------------------------------------------------


def mad(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a.astype(np.int32) - b.astype(np.int32)).mean())


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def on_white(rgba: Image.Image) -> np.ndarray:
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))


def openslide_region(slide: openslide.OpenSlide, level: int, rect: Rect) -> np.ndarray:
    """`rect` in the coordinates of OpenSlide level `level`, composited on white."""
    downsample = slide.level_downsamples[level]
    origin = (round(rect.x * downsample), round(rect.y * downsample))
    return on_white(slide.read_region(origin, level, (rect.width, rect.height)))


_WHOLE_LEVELS: dict[tuple[int, int], Image.Image] = {}


@functools.cache
def reference_slide(path: Path) -> openslide.OpenSlide:
    """OpenSlide's handle on a file, opened once per test session."""
    return openslide.OpenSlide(str(path))


def openslide_view(slide: openslide.OpenSlide, rect: Rect, width: int, height: int) -> np.ndarray:
    """The level-0 rectangle at width x height: OpenSlide's best level, then Lanczos over the
    exact (sub-pixel) window. Whole levels are read from OpenSlide once and kept."""
    level = slide.get_best_level_for_downsample(min(rect.width / width, rect.height / height))
    downsample = slide.level_downsamples[level]
    key = (id(slide), level)  # slides come from reference_slide(), which keeps them open
    if key not in _WHOLE_LEVELS:
        level_w, level_h = slide.level_dimensions[level]
        _WHOLE_LEVELS[key] = Image.fromarray(
            on_white(slide.read_region((0, 0), level, (level_w, level_h)))
        )
    box = (
        rect.x / downsample,
        rect.y / downsample,
        (rect.x + rect.width) / downsample,
        (rect.y + rect.height) / downsample,
    )
    return np.asarray(_WHOLE_LEVELS[key].resize((width, height), Image.Resampling.LANCZOS, box=box))


def level_pairs(source, slide: openslide.OpenSlide) -> list[tuple[int, int]]:
    """(samsyn level, OpenSlide level) of the same size: OpenSlide adds levels for NDPI."""
    pairs = []
    for index, level in enumerate(source.info.levels):
        size = (level.width, level.height)
        assert size in slide.level_dimensions, f"samsyn level {index} {size} unknown to OpenSlide"
        pairs.append((index, slide.level_dimensions.index(size)))
    return pairs


def random_rects(width: int, height: int, rng: np.random.Generator, count: int = 5) -> list[Rect]:
    rects = [Rect(0, 0, min(width, 300), min(height, 300)), Rect(-20, -10, 120, 80)]
    for _ in range(count):
        w, h = (
            int(rng.integers(16, min(width, 400) + 1)),
            int(rng.integers(16, min(height, 400) + 1)),
        )
        rects.append(
            Rect(
                int(rng.integers(-w // 4, width - w + 1)),
                int(rng.integers(-h // 4, height - h + 1)),
                w,
                h,
            )
        )
    return rects


def sample_tiles(width: int, height: int, tile: int, level: int, rng: np.random.Generator):
    """A few tiles of a Deep Zoom level: the corners and two at random."""
    level_w, level_h = dzi_level_size(width, height, level)
    columns, rows = math.ceil(level_w / tile), math.ceil(level_h / tile)
    picks = {(0, 0), (columns - 1, rows - 1), (columns - 1, 0), (0, rows - 1)}
    picks |= {(int(rng.integers(columns)), int(rng.integers(rows))) for _ in range(2)}
    return sorted(picks)


def seed_of(name: str) -> int:
    return sum(name.encode())


# --- OpenSlide-readable files -------------------------------------------------------------


@pytest.mark.parametrize("name", OPENSLIDE_FILES)
def test_levels_and_mpp_match_openslide(name: str, wsi: Path) -> None:
    path = path_of(wsi, name)
    source = open_source([str(path)])
    slide = reference_slide(path)
    pairs = level_pairs(source, slide)
    assert pairs[0] == (0, 0)
    for index, other in pairs:
        assert source.info.levels[index].downsample == pytest.approx(
            slide.level_downsamples[other], rel=2e-3
        )
    mpp_x = slide.properties.get(openslide.PROPERTY_NAME_MPP_X)
    if mpp_x:
        assert source.info.mpp == pytest.approx(
            (float(mpp_x), float(slide.properties[openslide.PROPERTY_NAME_MPP_Y])), rel=1e-6
        )
    assert set(source.info.associated) <= set(slide.associated_images)


@pytest.mark.parametrize("name", OPENSLIDE_FILES)
def test_regions_match_openslide(name: str, wsi: Path) -> None:
    path = path_of(wsi, name)
    source = open_source([str(path)])
    slide = reference_slide(path)
    rng = np.random.default_rng(seed_of(name))
    for index, other in level_pairs(source, slide):
        level = source.info.levels[index]
        for rect in random_rects(level.width, level.height, rng):
            got = source.read_region(index, rect)
            want = openslide_region(slide, other, rect)
            assert mad(got, want) <= JPEG_MAD, f"level {index} {rect}: MAD {mad(got, want):.2f}"


@pytest.mark.parametrize("name", OPENSLIDE_FILES)
def test_regions_across_the_right_and_bottom_edges_match_openslide(name: str, wsi: Path) -> None:
    """Where the last tiles are padded, beyond the image is white as in OpenSlide."""
    path = path_of(wsi, name)
    source = open_source([str(path)])
    slide = reference_slide(path)
    for index, other in level_pairs(source, slide):
        level = source.info.levels[index]
        rect = Rect(level.width - 100, level.height - 60, 300, 200)
        got, want = source.read_region(index, rect), openslide_region(slide, other, rect)
        assert (want[:, 100:] == 255).all() and (want[60:] == 255).all()
        assert mad(got, want) <= JPEG_MAD, (
            f"level {index} ({level.width} x {level.height}) {rect}: MAD {mad(got, want):.2f}; "
            "beyond the edge samsyn shows "
            f"{np.unique(got[:, 100:].reshape(-1, 3), axis=0)[:2].tolist()}"
        )


@pytest.mark.parametrize("name", OPENSLIDE_FILES)
def test_deep_zoom_tiles_match_openslide(name: str, wsi: Path) -> None:
    """Every Deep Zoom level, corner and random tiles, lossless (PNG) so only geometry and
    resampling count: each within 3/255 of the same view from OpenSlide."""
    path = path_of(wsi, name)
    service = TileService()
    opener = lambda: open_source([str(path)])  # noqa: E731
    slide = reference_slide(path)
    zoom = service.deep_zoom(name, opener)
    rng = np.random.default_rng(seed_of(name))
    failures = []
    for level in range(zoom.max_level + 1):
        for col, row in sample_tiles(zoom.width, zoom.height, zoom.tile_size, level, rng):
            rect, width, height = zoom.tile(level, col, row)
            got = decode(service.dzi_tile(name, opener, level, col, row, "png").data)
            assert got.shape == (height, width, 3)
            difference = mad(got, openslide_view(slide, rect, width, height))
            if difference > (JPEG_MAD if min(width, height) >= 16 else 12.0):
                failures.append((level, col, row, round(difference, 2)))
    assert not failures, f"(level, col, row, MAD) beyond tolerance: {failures}"


@pytest.mark.parametrize("name", OPENSLIDE_FILES)
def test_deep_zoom_jpeg_tiles_match_openslide(name: str, wsi: Path) -> None:
    """The tiles a viewer actually gets (JPEG), decoded: within 3/255 of OpenSlide's view."""
    path = path_of(wsi, name)
    service = TileService()
    opener = lambda: open_source([str(path)])  # noqa: E731
    slide = reference_slide(path)
    zoom = service.deep_zoom(name, opener)
    rng = np.random.default_rng(seed_of(name) + 1)
    results = []
    for level in range(max(zoom.max_level - 6, 0), zoom.max_level + 1):
        for col, row in sample_tiles(zoom.width, zoom.height, zoom.tile_size, level, rng)[:3]:
            rect, width, height = zoom.tile(level, col, row)
            tile = service.dzi_tile(name, opener, level, col, row, "jpeg")
            assert tile.media_type == "image/jpeg"
            got = decode(tile.data)
            assert got.shape == (height, width, 3)
            difference = mad(got, openslide_view(slide, rect, width, height))
            if difference > (JPEG_MAD if min(width, height) >= 16 else 12.0):
                results.append((round(difference, 2), level, col, row, f"{width}x{height}"))
    assert not results, f"(MAD, level, col, row, size) beyond tolerance: {sorted(results)[-5:]}"


@pytest.mark.parametrize("name", OPENSLIDE_FILES)
def test_thumbnail_matches_openslide(name: str, wsi: Path) -> None:
    path = path_of(wsi, name)
    source = open_source([str(path)])
    slide = reference_slide(path)
    ours = np.asarray(thumbnail(source, 400))
    assert max(ours.shape[:2]) == 400
    theirs = slide.get_thumbnail((400, 400)).convert("RGB")
    size = (min(ours.shape[1], theirs.width), min(ours.shape[0], theirs.height))
    a = np.asarray(Image.fromarray(ours).resize(size, Image.Resampling.LANCZOS))
    b = np.asarray(theirs.resize(size, Image.Resampling.LANCZOS))
    assert mad(a, b) <= JPEG_MAD
    served = decode(TileService().associated(name, lambda: source, "thumbnail", "png").data)
    if "thumbnail" in slide.associated_images:  # the scanner's own thumbnail is used as it is
        assert np.array_equal(
            served, np.asarray(slide.associated_images["thumbnail"].convert("RGB"))
        )
    else:
        c = np.asarray(Image.fromarray(served).resize(size, Image.Resampling.LANCZOS))
        assert mad(c, b) <= JPEG_MAD


@pytest.mark.parametrize("name", OPENSLIDE_FILES)
def test_associated_images_match_openslide(name: str, wsi: Path) -> None:
    path = path_of(wsi, name)
    source = open_source([str(path)])
    slide = reference_slide(path)
    for associated in ("label", "macro", "thumbnail"):
        if associated not in slide.associated_images:
            continue
        assert associated in source.info.associated
        ours = np.asarray(source.associated_image(associated).convert("RGB"))
        theirs = np.asarray(slide.associated_images[associated].convert("RGB"))
        assert mad(ours, theirs) <= 1.0, associated


# --- pass-through -------------------------------------------------------------------------


def test_svs_tiles_pass_through_with_their_tables(wsi: Path) -> None:
    """Aperio tiles are abbreviated JPEG streams; the served tile is JPEGTables + the stored
    tile, byte for byte after SOS, and decodes exactly as tifffile decodes the stored tile."""
    path = path_of(wsi, "aperio/CMU-1-Small-Region.svs")
    service = TileService()
    opener = lambda: open_source([str(path)])  # noqa: E731
    zoom = service.deep_zoom("svs", opener)
    assert zoom.tile_size == 240
    with tifffile.TiffFile(path) as tiff:
        page = tiff.series[0].levels[0].keyframe
        assert page.is_tiled and page.compression == 7 and page.jpegtables
        tables = page.jpegtables
        columns = page.chunked[1]
        rng = np.random.default_rng(240)
        tiles = [(0, 0), (8, 11), (4, 6)] + [
            (int(rng.integers(9)), int(rng.integers(12))) for _ in range(3)
        ]
        for col, row in tiles:
            index = row * columns + col
            tiff.filehandle.seek(page.dataoffsets[index])
            stored = tiff.filehandle.read(page.databytecounts[index])
            reference = page.decode(stored, index, jpegtables=tables)[0][0]
            served = service.dzi_tile("svs", opener, zoom.max_level, col, row, "jpeg").data
            sos = stored.index(b"\xff\xda")
            assert served[served.index(b"\xff\xda") :] == stored[sos:]
            assert tables.rstrip(b"\x00")[2:-2] in served  # the quantisation and Huffman tables
            assert b"Adobe" in served  # RGB components: told so, or decoders would convert
            assert np.array_equal(decode(served), reference), (col, row)
            iiif = service.iiif_image(
                "svs", opener, f"{col * 240},{row * 240},240,240", "240,240", "0", "default", "jpg"
            )
            assert iiif.data == served


def test_dicom_jpeg_frames_pass_through_unchanged(wsi: Path) -> None:
    path = path_of(wsi, "dicom-wsi/gcp-bone/jpeg.dicom")
    dataset = pydicom.dcmread(path)
    frames = list(
        pydicom.encaps.generate_frames(
            dataset.PixelData, number_of_frames=int(dataset.NumberOfFrames)
        )
    )
    columns = math.ceil(int(dataset.TotalPixelMatrixColumns) / int(dataset.Columns))
    service = TileService()
    opener = lambda: open_source([str(path)])  # noqa: E731
    zoom = service.deep_zoom("dcm", opener)
    assert zoom.tile_size == 256
    for col, row in [(0, 0), (1, 1), (2, 0)]:  # 957 x 715: columns 0-2 and rows 0-1 are whole
        served = service.dzi_tile("dcm", opener, zoom.max_level, col, row, "jpeg").data
        assert served.rstrip(b"\x00") == frames[row * columns + col].rstrip(b"\x00")
    edge = service.dzi_tile("dcm", opener, zoom.max_level, 3, 2, "jpeg").data
    assert decode(edge).shape == (715 - 512, 957 - 768, 3)


@pytest.mark.parametrize("name", ["ome-tiff/OS-1-detail.ome.tif", "ome-tiff/OS-2-vsi.ome.tif"])
def test_ome_rgb_jpeg_tiles_pass_through_in_the_right_colours(name: str, wsi: Path) -> None:
    path = path_of(wsi, name)
    with tifffile.TiffFile(path) as tiff:
        page = tiff.series[0].levels[0].keyframe
        assert page.photometric == 2 and page.compression == 7 and not page.jpegtables
        tiff.filehandle.seek(page.dataoffsets[page.chunked[1] + 1])
        stored = tiff.filehandle.read(page.databytecounts[page.chunked[1] + 1])
        reference = tiff.series[0].asarray()
    assert b"Adobe" not in stored
    service = TileService()
    opener = lambda: open_source([str(path)])  # noqa: E731
    zoom = service.deep_zoom(name, opener)
    served = service.dzi_tile(name, opener, zoom.max_level, 1, 1, "jpeg").data
    assert b"Adobe" in served
    assert served[served.index(b"\xff\xda") :] == stored[stored.index(b"\xff\xda") :]
    assert np.array_equal(decode(served), reference[512:1024, 512:1024])


# --- files OpenSlide cannot open ----------------------------------------------------------


@pytest.mark.parametrize("name", ["ome-tiff/OS-1-detail.ome.tif", "ome-tiff/OS-2-vsi.ome.tif"])
def test_ome_tiff_matches_tifffile(name: str, wsi: Path) -> None:
    path = path_of(wsi, name)
    with tifffile.TiffFile(path) as tiff:
        reference = tiff.series[0].asarray()
        levels = len(tiff.series[0].levels)
    source = open_source([str(path)])
    assert len(source.info.levels) == levels
    assert (source.info.width, source.info.height) == (reference.shape[1], reference.shape[0])
    assert source.info.mpp is not None and 0.1 < source.info.mpp[0] < 1
    rng = np.random.default_rng(seed_of(name))
    for rect in random_rects(reference.shape[1], reference.shape[0], rng):
        got = source.read_region(0, rect)
        inside = rect.clipped(reference.shape[1], reference.shape[0])
        piece = got[
            inside.y - rect.y : inside.y - rect.y + inside.height,
            inside.x - rect.x : inside.x - rect.x + inside.width,
        ]
        assert np.array_equal(
            piece,
            reference[inside.y : inside.y + inside.height, inside.x : inside.x + inside.width],
        )
    service = TileService()
    zoom = deep_zoom_for(source.info)
    for level in range(zoom.max_level - 3, zoom.max_level + 1):
        rect, width, height = zoom.tile(level, 0, 0)
        got = decode(service.dzi_tile(name, lambda: source, level, 0, 0, "png").data)
        want = np.asarray(
            Image.fromarray(
                reference[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width]
            ).resize((width, height), Image.Resampling.LANCZOS)
        )
        assert mad(got, want) <= JPEG_MAD, level


@pytest.mark.parametrize("name", ["ome-tiff/OS-1-detail.ome.tif", "ome-tiff/OS-2-vsi.ome.tif"])
def test_ome_tiff_beyond_the_edge_is_white(name: str, wsi: Path) -> None:
    """Bio-Formats pads the last row and column of tiles with black; that padding is not
    part of the image and must read as the background colour."""
    path = path_of(wsi, name)
    source = open_source([str(path)])
    width, height = source.info.width, source.info.height
    got = source.read_region(0, Rect(width - 10, height - 10, 200, 200))
    beyond = np.concatenate([got[:, 10:].reshape(-1, 3), got[10:, :10].reshape(-1, 3)])
    assert (beyond == 255).all(), (
        f"{(beyond != 255).any(axis=1).mean():.0%} of the pixels beyond the edge are not white"
    )


def bpaec_planes(folder: Path, instance: str) -> list[np.ndarray]:
    """The three optical paths of one BPAEC level, assembled from pydicom's frames.

    TILED_FULL order: column fastest, then row, then optical path."""
    dataset = pydicom.dcmread(folder / instance)
    frames = dataset.pixel_array
    frames = frames[None] if frames.ndim == 2 else frames
    width, height = int(dataset.TotalPixelMatrixColumns), int(dataset.TotalPixelMatrixRows)
    tile = int(dataset.Columns)
    columns, rows = math.ceil(width / tile), math.ceil(height / tile)
    planes = []
    for path_index in range(len(dataset.OpticalPathSequence)):
        canvas = np.zeros((rows * tile, columns * tile), dtype=np.uint8)
        for row in range(rows):
            for col in range(columns):
                frame = frames[path_index * rows * columns + row * columns + col]
                canvas[row * tile : (row + 1) * tile, col * tile : (col + 1) * tile] = frame
        planes.append(canvas[:height, :width])
    return planes


def bpaec_source(wsi: Path):
    folder = wsi / "dicom-wsi" / "BPAEC"
    if not folder.is_dir():
        pytest.skip("BPAEC is not in the shared data")
    return folder, open_source(sorted(str(path) for path in folder.iterdir()))


def test_bpaec_fluorescence_matches_pydicom(wsi: Path) -> None:
    """Composite of the optical paths, each in a colour on black; the stored levels begin
    at 5_0 (3072 x 2304) and end at 12_0 (24 x 18), where one 1024 px tile exceeds the image.

    Which path gets which colour is checked in the next test; here each output channel must be
    made of the pydicom-decoded planes: red one plane, blue another, green 0.35 x blue's plane
    plus the third (CHANNEL_COLOURS for three paths)."""
    folder, source = bpaec_source(wsi)
    sizes = [(level.width, level.height) for level in source.info.levels]
    assert sizes == [(3072 >> k, 2304 >> k) for k in range(8)]
    assert source.info.background == (0, 0, 0)
    assert source.info.properties.get("channels") == "3"
    assert "label" in source.info.associated
    assert [tuple(c) for c in CHANNEL_COLOURS[:3]] == [
        (0.0, 0.35, 1.0),
        (0.0, 1.0, 0.0),
        (1.0, 0.0, 0.0),
    ]
    rng = np.random.default_rng(5)
    for index, instance in [(0, "5_0"), (2, "7_0"), (7, "12_0")]:
        planes = [plane.astype(np.float64) for plane in bpaec_planes(folder, instance)]
        height, width = planes[0].shape
        rects = (
            [Rect(-4, -3, width + 8, height + 6)]
            if width <= 768
            else random_rects(width, height, rng, 3)
        )
        for rect in rects:
            got = source.read_region(index, rect).astype(np.float64)
            inside = rect.clipped(width, height)
            oy, ox = inside.y - rect.y, inside.x - rect.x
            part = got[oy : oy + inside.height, ox : ox + inside.width]
            cut = [
                p[inside.y : inside.y + inside.height, inside.x : inside.x + inside.width]
                for p in planes
            ]
            red = min(range(3), key=lambda k: np.abs(part[:, :, 0] - cut[k]).mean())
            blue = min(range(3), key=lambda k: np.abs(part[:, :, 2] - cut[k]).mean())
            third = ({0, 1, 2} - {red, blue}).pop()
            assert red != blue
            assert np.abs(part[:, :, 0] - cut[red]).max() <= 2, (instance, rect)
            assert np.abs(part[:, :, 2] - cut[blue]).max() <= 2, (instance, rect)
            green = np.clip(0.35 * cut[blue] + cut[third], 0, 255)
            assert np.abs(part[:, :, 1] - green).mean() <= 1.0, (instance, rect)
            outside = np.ones(got.shape[:2], dtype=bool)
            outside[oy : oy + inside.height, ox : ox + inside.width] = False
            assert (got[outside] == 0).all()  # fluorescence background is black
        assert source.stored_tile(index, 0, 0) is None  # composites are never passed through


BPAEC_PROBE = """
import sys
from pathlib import Path
from tiles import open_source
from tiles.pyramid import Rect
folder = Path(sys.argv[1])
source = open_source(sorted(str(path) for path in folder.iterdir()))
sys.stdout.write(source.read_region(7, Rect(0, 0, 24, 18)).tobytes().hex())
"""


def test_bpaec_channel_colours_follow_the_files_optical_paths(wsi: Path) -> None:
    """The colour of a channel must not depend on the process: every server process (and
    every gunicorn worker) has to paint each optical path in the colour its
    OpticalPathDescription names (BPAEC: path 0 "Green", 1 "Blue", 2 "Red") - the tile
    cache's ETags assume the same bytes everywhere. Run in fresh interpreters with fixed,
    different string-hash seeds."""
    import subprocess
    import sys

    from tests.conftest import REPO

    folder, _source = bpaec_source(wsi)
    planes = [p.astype(np.float64) for p in bpaec_planes(folder, "12_0")]
    named = channel_colours(["0", "1", "2"], {"0": "Green", "1": "Blue", "2": "Red"})
    assert named == [NAMED_COLOURS["green"], NAMED_COLOURS["blue"], NAMED_COLOURS["red"]]
    colours = np.asarray(named, dtype=np.float64)
    reference = np.clip(
        sum(p[:, :, None] * c for p, c in zip(planes, colours, strict=True)), 0, 255
    )
    seen = {}
    for seed in ("0", "2", "3"):  # three different orders of a set of strings today
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run(
            [sys.executable, "-c", BPAEC_PROBE, str(folder)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        pixels = np.frombuffer(bytes.fromhex(run.stdout), dtype=np.uint8).reshape(18, 24, 3)
        seen[seed] = round(float(np.abs(pixels - reference).mean()), 2)
    assert all(value <= 1.0 for value in seen.values()), (
        f"MAD from the canonical colouring per PYTHONHASHSEED: {seen}"
    )


def test_gcp_bone_encodings_agree(wsi: Path) -> None:
    """The same image as uncompressed, JPEG 2000 lossless and JPEG baseline DICOM."""
    folder = wsi / "dicom-wsi" / "gcp-bone"
    if not folder.is_dir():
        pytest.skip("gcp-bone is not in the shared data")
    raw = open_source([str(folder / "raw.dicom")])
    j2k = open_source([str(folder / "jpeg2000.dicom")])
    jpeg = open_source([str(folder / "jpeg.dicom")])
    whole = Rect(0, 0, 957, 715)
    reference = raw.read_region(0, whole)
    dataset = pydicom.dcmread(folder / "raw.dicom")
    frame = dataset.pixel_array[0]
    assert np.array_equal(reference[:256, :256], frame)  # our reader against pydicom's
    assert np.array_equal(j2k.read_region(0, whole), reference)
    assert mad(jpeg.read_region(0, whole), reference) <= JPEG_MAD
    assert raw.stored_tile(0, 0, 0) is None and j2k.stored_tile(0, 0, 0) is None
    assert jpeg.stored_tile(0, 0, 0) is not None
