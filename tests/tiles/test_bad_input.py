"""Bad input: every broken file becomes one `Failed` with a one-line reason, a damaged tile
becomes `Unreadable` (422 over HTTP) without taking the rest of the slide or the server
with it, and `samsyn import` reports, carries on, exits 1 and never prints a traceback."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from flask import Flask
from flask.testing import FlaskClient

from samsyn.errors import Unreadable
from tests.conftest import REPO, import_one
from tiles import open_source
from tiles.discover import Failed, Found, discover
from tiles.pyramid import Rect
from tiles.service import TileService
from tiles.synthetic import tissue, write_pyramid

PICTURE = tissue(1024, 768, seed=21)
BAD_TILE = (2, 1)  # column, row of the level-0 tile that gets damaged


@pytest.fixture(scope="module")
def good_slide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1024 x 768, 256 px JPEG tiles, levels 1x and 4x (Deep Zoom levels 10 and 8)."""
    path = tmp_path_factory.mktemp("good") / "good.tif"
    write_pyramid(path, PICTURE, tile=256, mpp=0.5, downsamples=(1, 4))
    return path


def patch_compression(path: Path, value: int) -> None:
    with tifffile.TiffFile(path) as tiff:
        tag = tiff.pages[0].tags["Compression"]
        assert tag.count == 1 and tag.dtype == 3  # one SHORT, stored in the tag itself
        offset = tag.valueoffset
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(struct.pack("<H", value))


def damage_tile(path: Path, col: int, row: int, content: str) -> None:
    """Overwrite the bytes of one level-0 tile in place (zeros or random garbage)."""
    with tifffile.TiffFile(path) as tiff:
        page = tiff.pages[0]
        index = row * page.chunked[1] + col
        offset, length = page.dataoffsets[index], page.databytecounts[index]
    garbage = bytes(length) if content == "zeros" else np.random.default_rng(7).bytes(length)
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(garbage)


def make_bad(kind: str, folder: Path, good: Path) -> Path:
    """One broken object of the given kind in `folder`."""
    if kind.startswith("compression-"):
        path = folder / f"{kind}.tif"
        tifffile.imwrite(path, PICTURE[:300, :400], tile=(128, 128))
        patch_compression(path, int(kind.split("-")[1]))
        return path
    if kind.startswith("truncated-"):
        data = good.read_bytes()
        keep = {
            "truncated-600": 600,
            "truncated-half": len(data) // 2,
            "truncated-end": len(data) - 1000,
        }[kind]
        path = folder / f"{kind}.tif"
        path.write_bytes(data[:keep])
        return path
    if kind == "text-named-svs":
        path = folder / "notes.svs"
        path.write_text("Patient notes, not a slide.\n" * 20)
        return path
    if kind == "zero-bytes":
        path = folder / "empty.tif"
        path.write_bytes(b"")
        return path
    if kind == "zero-bytes-no-extension":
        path = folder / "upload"
        path.write_bytes(b"")
        return path
    if kind == "empty-folder":
        path = folder / "nothing-here"
        path.mkdir()
        return path
    if kind == "missing":
        return folder / "does-not-exist.svs"
    if kind == "tiff-magic-only":
        path = folder / "header.tif"
        path.write_bytes(b"II*\x00" + b"\xff" * 60)
        return path
    raise AssertionError(kind)


BAD_KINDS = [
    "compression-65000",
    "compression-12345",
    "truncated-600",
    "truncated-half",
    "truncated-end",
    "text-named-svs",
    "zero-bytes",
    "zero-bytes-no-extension",
    "empty-folder",
    "missing",
    "tiff-magic-only",
]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_discover_reports_one_failure_with_a_one_line_reason(
    kind: str, tmp_path: Path, good_slide: Path
) -> None:
    path = make_bad(kind, tmp_path, good_slide)
    outcomes = list(discover(str(path)))
    assert len(outcomes) == 1, outcomes
    (outcome,) = outcomes
    assert isinstance(outcome, Failed), f"{kind} was accepted: {outcome}"
    assert outcome.path == str(path)
    reason = outcome.reason
    assert reason and "\n" not in reason and len(reason) <= 300
    assert "Traceback" not in reason and 'File "' not in reason
    assert str(tmp_path) not in reason  # the path is reported once, beside the reason


def test_truncated_slide_fails_on_every_level_read(tmp_path: Path, good_slide: Path) -> None:
    """Whatever discover decides, reading past the end of a truncated file is Unreadable,
    never a half-grey tile decoded from the bytes that are left."""
    path = make_bad("truncated-end", tmp_path, good_slide)
    try:
        source = open_source([str(path)])
    except Unreadable:
        return
    for index, level in enumerate(source.info.levels):
        with pytest.raises(Unreadable):
            source.read_region(index, Rect(0, 0, level.width, level.height))


def test_a_slide_truncated_while_open_fails_where_bytes_are_missing(
    tmp_path: Path, good_slide: Path
) -> None:
    """The server keeps sources open; a file cut short afterwards (re-copied, disk full) must
    give Unreadable for the tiles whose bytes are gone, not a decode of the bytes left."""
    path = tmp_path / "slide.tif"
    shutil.copy(good_slide, path)
    source = open_source([str(path)])
    size = path.stat().st_size
    with tifffile.TiffFile(path) as tiff:
        last = tiff.pages[-1]
        assert last.dataoffsets[-1] + last.databytecounts[-1] == size  # the last tile ends the file
    with open(path, "r+b") as handle:
        handle.truncate(size - 1000)
    smallest = len(source.info.levels) - 1
    level = source.info.levels[smallest]
    with pytest.raises(Unreadable):
        source.read_region(smallest, Rect(0, 0, level.width, level.height))
    assert source.read_region(0, Rect(0, 0, 256, 256)).shape == (256, 256, 3)  # intact tiles


def test_unsupported_compression_is_named(tmp_path: Path, good_slide: Path) -> None:
    path = make_bad("compression-12345", tmp_path, good_slide)
    (outcome,) = discover(str(path))
    assert isinstance(outcome, Failed) and "12345" in outcome.reason
    with pytest.raises(Unreadable):
        open_source([str(path)])


def test_a_folder_reports_each_bad_file_and_finds_the_good_ones(
    tmp_path: Path, good_slide: Path
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(good_slide, folder / "a-good.tif")
    bad = [
        make_bad(kind, folder, good_slide)
        for kind in ("compression-12345", "truncated-600", "text-named-svs", "zero-bytes")
    ]
    (folder / "readme.txt").write_text("not an image, not a slide extension")
    outcomes = list(discover(str(folder)))
    found = [o for o in outcomes if isinstance(o, Found)]
    failed = [o for o in outcomes if isinstance(o, Failed)]
    assert [Path(o.paths[0]).name for o in found] == ["a-good.tif"]
    assert sorted(o.path for o in failed) == sorted(str(p) for p in bad)
    assert len(outcomes) == 6  # the .txt is skipped, not failed


# --- one damaged tile ---------------------------------------------------------------------


@pytest.mark.parametrize("content", ["zeros", "garbage"])
def test_a_damaged_tile_is_unreadable_and_the_rest_serves(
    content: str, tmp_path: Path, good_slide: Path
) -> None:
    path = tmp_path / "damaged.tif"
    shutil.copy(good_slide, path)
    damage_tile(path, *BAD_TILE, content)
    (outcome,) = discover(str(path))  # only the smallest level is probed: it is imported
    assert isinstance(outcome, Found)
    source = open_source([str(path)])
    col, row = BAD_TILE
    with pytest.raises(Unreadable):
        source.read_region(0, Rect(col * 256 + 10, row * 256 + 10, 50, 50))
    with pytest.raises(Unreadable):
        source.stored_tile(0, col, row)
    good = source.read_region(0, Rect(0, 0, 512, 256))  # the tiles beside it
    assert np.abs(good.astype(int) - PICTURE[:256, :512]).mean() <= 3
    service = TileService()
    healthy = TileService()
    other = lambda: open_source([str(good_slide)])  # noqa: E731
    opener = lambda: source  # noqa: E731
    with pytest.raises(Unreadable):
        service.dzi_tile("bad", opener, 10, col, row, "jpeg")  # the stored tile itself
    with pytest.raises(Unreadable):
        service.dzi_tile("bad", opener, 10, col, row, "png")  # rendered from it
    with pytest.raises(Unreadable):
        service.dzi_tile("bad", opener, 9, 1, 0, "jpeg")  # a 2x view containing it
    with pytest.raises(Unreadable):
        service.iiif_image("bad", opener, "500,200,100,100", "max", "0", "default", "jpg")
    assert service.dzi_tile("bad", opener, 10, 0, 0, "jpeg").data.startswith(b"\xff\xd8")
    assert service.dzi_tile("bad", opener, 10, 3, 2, "jpeg").data.startswith(b"\xff\xd8")
    assert service.dzi_tile("bad", opener, 8, 0, 0, "jpeg").data.startswith(b"\xff\xd8")  # 4x level
    assert healthy.dzi_tile("good", other, 10, col, row, "jpeg").data.startswith(b"\xff\xd8")
    # the failure is not cached as a success: it fails again
    with pytest.raises(Unreadable):
        service.dzi_tile("bad", opener, 10, col, row, "png")


def test_a_damaged_tile_over_http(
    app: Flask, client: FlaskClient, tmp_path: Path, good_slide: Path
) -> None:
    path = tmp_path / "damaged.tif"
    shutil.copy(good_slide, path)
    damaged = import_one(app, path)
    damage_tile(path, *BAD_TILE, "zeros")
    healthy = import_one(app, good_slide)
    col, row = BAD_TILE
    for url in (
        f"/dzi/{damaged}_files/10/{col}_{row}.jpeg",
        f"/dzi/{damaged}_files/10/{col}_{row}.png",
        f"/dzi/{damaged}_files/9/1_0.jpeg",
        f"/iiif/3/{damaged}/{col * 256},{row * 256},256,256/256,/0/default.jpg",
        f"/iiif/3/{damaged}/full/max/0/default.jpg",
    ):
        response = client.get(url)
        assert response.status_code == 422, url
        assert response.is_json, url
        body = response.get_json()
        assert body["error"] == "unreadable" and body["message"], url
        text = response.get_data(as_text=True)
        assert str(tmp_path) not in text and "Traceback" not in text and ".tif" not in text, text
    for url in (
        f"/dzi/{damaged}_files/10/0_0.jpeg",
        f"/dzi/{damaged}_files/8/0_0.jpeg",
        f"/dzi/{damaged}.dzi",
        f"/iiif/3/{damaged}/info.json",
        f"/dzi/{healthy}_files/10/{col}_{row}.jpeg",
        f"/iiif/3/{healthy}/full/max/0/default.jpg",
    ):
        assert client.get(url).status_code == 200, url


# --- samsyn import --------------------------------------------------------------------------


def run_cli(*arguments: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SAMSYN_DATA_DIR": str(data_dir)}
    env.pop("SAMSYN_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *arguments],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_samsyn_import_reports_bad_files_and_imports_the_good(
    tmp_path: Path, good_slide: Path
) -> None:
    data_dir = tmp_path / "data"
    ready = run_cli("init-db", data_dir=data_dir)
    assert ready.returncode == 0, ready.stderr
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    good = inputs / "good.tif"
    shutil.copy(good_slide, good)
    bad_kinds = [
        "compression-12345",
        "compression-65000",
        "truncated-600",
        "text-named-svs",
        "zero-bytes",
        "empty-folder",
        "missing",
    ]
    bad = [make_bad(kind, inputs, good_slide) for kind in bad_kinds]
    arguments = [str(bad[0]), str(bad[1]), str(good), *(str(p) for p in bad[2:])]
    result = run_cli("import", *arguments, data_dir=data_dir)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 1, output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    failed = [line for line in lines if line.startswith("failed ")]
    imported = [line for line in lines if line.startswith("imported ")]
    assert len(failed) == len(bad), lines
    for path, line in zip(bad, failed, strict=True):  # in the order given, one line each
        assert line.startswith(f"failed {path}: ") and len(line) > len(f"failed {path}: ")
    assert len(imported) == 1, lines
    _, image_id, kind, where = imported[0].split(" ", 3)
    assert kind == "slide"
    assert where in (str(good), str(good.resolve()))
    assert len(image_id) >= 8
    # the good slide was imported after the first failures: import goes on
    assert lines.index(imported[0]) == 2
