"""Import takes all its arguments together: a slide or series is the same whether its files
are given one by one, as a folder, or mixed; other files keep an outcome each, in order.

Synthetic slides (tests/tiles/wsi_dicom.py) and CT series (tiles.radiology.synthetic) run
everywhere; the same checks on the real samples in ../shared/data skip without them.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from pydicom.uid import generate_uid

import tiles.outcomes
import tiles.radiology
from app.importer import import_paths
from tests.conftest import TEST_CASE, TEST_ORG, TEST_PATIENT, make_app
from tests.tiles.wsi_dicom import write_slide
from tiles.discover import Failed, Found, Outcome, SeriesFound, Skipped, discover
from tiles.radiology.synthetic import make_ct_series
from tiles.synthetic import tissue, write_pyramid


@pytest.fixture(autouse=True)
def _quiet_readers() -> Iterator[None]:
    """wsidicom and pydicom warn about the small synthetic files; the outcomes tell."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def outcomes(*paths: Path | str) -> list[Outcome]:
    return list(discover(*(str(path) for path in paths)))


def summary(outcome: Outcome) -> tuple[Any, ...]:
    """What an outcome says, comparable however the files were given."""
    if isinstance(outcome, Found):
        levels = [(level.width, level.height) for level in outcome.info.levels]
        return ("slide", outcome.paths, outcome.name, levels, outcome.info.associated)
    if isinstance(outcome, SeriesFound):
        return ("series", outcome.paths, outcome.name, json.dumps(outcome.metadata))
    return (type(outcome).__name__, outcome.path, outcome.reason)


def summaries(found: list[Outcome]) -> list[tuple[Any, ...]]:
    return sorted(summary(outcome) for outcome in found)


def import_lines(app: Flask, *paths: Path | str) -> list[str]:
    owner = (TEST_ORG, TEST_PATIENT, TEST_CASE)
    return [line for line, _ok in import_paths(app, [str(p) for p in paths], owner)]


def ct_series(folder: Path, slices: int = 4, seed: int = 0) -> list[Path]:
    return make_ct_series(folder, slices=slices, size=16, seed=seed, noise=0)


# --- whole-slide instances ---------------------------------------------------------------


def test_slide_instances_given_one_by_one_are_one_slide(tmp_path: Path) -> None:
    files = write_slide(tmp_path / "slide")
    by_folder = outcomes(tmp_path / "slide")
    assert [type(o) for o in by_folder] == [Found]
    assert isinstance(by_folder[0], Found) and len(by_folder[0].paths) == 4
    assert summaries(outcomes(*files)) == summaries(by_folder)
    assert summaries(outcomes(*reversed(files))) == summaries(by_folder)


def test_a_volume_and_its_thumbnail_as_two_arguments_import_as_one_slide(
    tmp_path: Path,
) -> None:
    level0, _level1, thumbnail, _label = write_slide(tmp_path / "slide")
    lines = import_lines(make_app(tmp_path / "data"), level0, thumbnail)
    assert len(lines) == 1, lines
    assert lines[0].startswith("imported ") and lines[0].endswith(f" slide {tmp_path / 'slide'}")


def test_slides_of_two_studies_stay_apart_though_they_share_a_series_uid(
    tmp_path: Path,
) -> None:
    series = generate_uid()
    first = write_slide(tmp_path / "a", seed=1, series_uid=series)
    second = write_slide(tmp_path / "b", seed=2, series_uid=series)
    found = outcomes(*first, *second)
    assert [type(o) for o in found] == [Found, Found], found
    assert sorted(o.paths for o in found if isinstance(o, Found)) == [
        tuple(sorted(map(str, first))),
        tuple(sorted(map(str, second))),
    ]


# --- radiology series --------------------------------------------------------------------


def test_ct_files_given_one_by_one_are_one_series(tmp_path: Path) -> None:
    files = ct_series(tmp_path / "ct")
    by_folder = outcomes(tmp_path / "ct")
    assert [type(o) for o in by_folder] == [SeriesFound]
    apart = outcomes(*files)
    assert summaries(apart) == summaries(by_folder)
    assert isinstance(apart[0], SeriesFound) and apart[0].metadata["number_of_frames"] == 4


def test_two_ct_files_as_two_arguments_import_as_one_series(tmp_path: Path) -> None:
    files = ct_series(tmp_path / "ct", slices=2)
    lines = import_lines(make_app(tmp_path / "data"), *files)
    assert len(lines) == 1, lines
    assert lines[0].startswith("imported ") and f" series {tmp_path / 'ct'}" in lines[0]


def test_folders_and_files_mixed_and_repeated_count_each_file_once(tmp_path: Path) -> None:
    files = ct_series(tmp_path / "all", slices=6)
    (tmp_path / "part").mkdir()
    for file in files[:3]:
        shutil.move(file, tmp_path / "part" / file.name)
    moved = [tmp_path / "part" / file.name for file in files[:3]]
    link = tmp_path / "link.dcm"
    link.symlink_to(files[4])
    given = [tmp_path / "part", files[3], moved[0], link, files[4], files[5], tmp_path / "part"]
    found = outcomes(*given)
    assert [type(o) for o in found] == [SeriesFound], found
    series = found[0]
    assert isinstance(series, SeriesFound) and series.metadata["number_of_frames"] == 6
    assert len(series.paths) == 6 and len({os.path.realpath(p) for p in series.paths}) == 6


def test_a_slide_and_a_series_given_file_by_file_and_interleaved(tmp_path: Path) -> None:
    slide = write_slide(tmp_path / "slide")
    series = ct_series(tmp_path / "ct")
    interleaved = [x for pair in zip(slide, series, strict=True) for x in pair]
    found = outcomes(*interleaved)
    assert summaries(found) == summaries(outcomes(tmp_path / "slide", tmp_path / "ct"))
    assert sorted(type(o).__name__ for o in found) == ["Found", "SeriesFound"]


# --- other files ---------------------------------------------------------------------------


def test_other_files_keep_an_outcome_each_in_the_order_given(tmp_path: Path) -> None:
    first, second = tmp_path / "first.tif", tmp_path / "second.tif"
    for index, path in enumerate((first, second)):
        write_pyramid(path, tissue(300, 200, seed=index), tile=128, mpp=0.5, downsamples=(1,))
    note = tmp_path / "note.txt"
    note.write_text("not an image")
    ct = ct_series(tmp_path / "ct", slices=2)
    found = outcomes(first, ct[0], note, tmp_path / "missing", second, ct[1])
    assert [type(o) for o in found] == [Found, Failed, Failed, Found, SeriesFound]
    assert [o.paths for o in found if isinstance(o, Found)] == [(str(first),), (str(second),)]
    assert [o.path for o in found if isinstance(o, Failed)] == [
        str(note),
        str(tmp_path / "missing"),
    ]


def test_a_file_named_itself_is_tried_though_its_folder_skips_it(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    note = folder / "note.txt"
    note.write_text("not an image")
    assert outcomes(folder) == [Skipped(str(note), "not an image file")]
    for given in ([folder, note], [note, folder]):
        (outcome,) = outcomes(*given)
        assert isinstance(outcome, Failed) and outcome.path == str(note)


def test_missing_paths_and_empty_folders_fail_where_they_were_given(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    ct = ct_series(tmp_path / "ct", slices=2)
    found = outcomes(tmp_path / "missing", ct[0], tmp_path / "empty", ct[1])
    assert found[:2] == [
        Failed(str(tmp_path / "missing"), "no such file or folder"),
        Failed(str(tmp_path / "empty"), "the folder holds no files"),
    ]
    assert [type(o) for o in found[2:]] == [SeriesFound]


# --- one set of outcomes -----------------------------------------------------------------------


def test_slide_and_radiology_discovery_share_one_set_of_outcomes(tmp_path: Path) -> None:
    assert tiles.radiology.Failed is tiles.outcomes.Failed is Failed
    assert tiles.radiology.Skipped is tiles.outcomes.Skipped is Skipped
    broken = ct_series(tmp_path / "ct", slices=1)[0]
    broken.write_bytes(broken.read_bytes()[:-100])
    (outcome,) = outcomes(broken)
    assert type(outcome) is Failed


# --- the real samples ----------------------------------------------------------------------


def files_below(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def sample_folder(sample_data: Path, relative: str) -> Path:
    folder = sample_data / relative
    if not folder.is_dir():
        pytest.skip(f"sample folder {folder} is missing")
    return folder


@pytest.mark.parametrize("relative", ["wsi/dicom-wsi/BPAEC", "wsi/dicom-wsi/gcp-bone", "wsi"])
def test_real_slides_given_file_by_file_are_as_by_folder(sample_data: Path, relative: str) -> None:
    folder = sample_folder(sample_data, relative)
    by_folder = outcomes(folder)
    assert by_folder and all(isinstance(o, Found) for o in by_folder), by_folder
    assert summaries(outcomes(*files_below(folder))) == summaries(by_folder)
    assert summaries(outcomes(*reversed(files_below(folder)))) == summaries(by_folder)


def test_the_real_fluorescence_slide_given_file_by_file_is_one_slide(sample_data: Path) -> None:
    folder = sample_folder(sample_data, "wsi/dicom-wsi/BPAEC")
    (slide,) = outcomes(*files_below(folder))
    assert isinstance(slide, Found) and len(slide.paths) == len(files_below(folder))
    assert len(slide.info.levels) == 8 and "label" in slide.info.associated


@pytest.mark.parametrize(
    "relative",
    [
        "dicom/series/ct-siemens-tilted-4slices",
        "dicom/series/mr-siemens-6slices",
        "dicom/series/mr-jpegls-4slices",
        "dicom/series/enhanced-mr-siemens-xa10",
        "dicom",
    ],
)
def test_real_series_given_file_by_file_are_as_by_folder(sample_data: Path, relative: str) -> None:
    folder = sample_folder(sample_data, relative)
    by_folder = outcomes(folder)
    assert any(isinstance(o, SeriesFound) for o in by_folder)
    assert summaries(outcomes(*files_below(folder))) == summaries(by_folder)


def test_real_files_mixed_with_their_folders_are_as_by_folder(sample_data: Path) -> None:
    slide = sample_folder(sample_data, "wsi/dicom-wsi/BPAEC")
    series = sample_folder(sample_data, "dicom/series/mr-siemens-6slices")
    by_folder = outcomes(slide, series)
    mixed = [*files_below(series)[:3], slide, *files_below(series)[2:], *files_below(slide)[:2]]
    assert summaries(outcomes(*mixed)) == summaries(by_folder)


def test_real_slide_files_as_arguments_import_as_one_slide(
    sample_data: Path, tmp_path: Path
) -> None:
    folder = sample_folder(sample_data, "wsi/dicom-wsi/BPAEC")
    lines = import_lines(make_app(tmp_path), *files_below(folder))
    assert len(lines) == 1 and lines[0].startswith("imported "), lines
    assert lines[0].split()[2:] == ["slide", str(folder)]
