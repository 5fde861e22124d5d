"""A DICOM file whose 128-byte preamble holds a TIFF header (a dual-personality file) is
read as DICOM: the 'DICM' marker at offset 128 decides before the TIFF magic."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from app.importer import import_paths
from tests.conftest import TEST_CASE, TEST_ORG, TEST_PATIENT, make_app
from tests.tiles.wsi_dicom import VOLUME, tissue_rgb, write_instance
from tiles.discover import Found, SeriesFound, discover
from tiles.radiology.instance import looks_like_dicom
from tiles.radiology.synthetic import phantom, write_ct_slice
from tiles.sources import open_source, sniff
from tiles.synthetic import tissue, write_pyramid

TIFF_PREAMBLE = b"II*\x00" + b"\x00" * 124


@pytest.fixture(autouse=True)
def _quiet_readers() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def with_tiff_preamble(path: Path) -> Path:
    """Overwrite the file's preamble with a little-endian TIFF header."""
    data = path.read_bytes()
    assert data[128:132] == b"DICM"
    path.write_bytes(TIFF_PREAMBLE + data[128:])
    return path


def dual_ct(folder: Path) -> Path:
    path = write_ct_slice(
        folder / "ct.dcm",
        phantom(16, 0.5, noise=0),
        study_uid=generate_uid(),
        series_uid=generate_uid(),
        position=(0.0, 0.0, 0.0),
        instance_number=1,
    )
    return with_tiff_preamble(path)


def test_a_ct_file_with_a_tiff_preamble_is_dicom(tmp_path: Path) -> None:
    path = dual_ct(tmp_path)
    assert sniff(str(path)) == "dicom" and looks_like_dicom(str(path))
    (outcome,) = discover(str(path))
    assert isinstance(outcome, SeriesFound) and outcome.paths == (str(path),)
    assert outcome.metadata["modality"] == "CT"


def test_pydicoms_dual_personality_ct_small_is_a_series() -> None:
    path = get_testdata_file("CT_small.dcm")
    if not isinstance(path, str):
        pytest.skip("pydicom's test file CT_small.dcm is not installed")
    with open(path, "rb") as handle:
        assert handle.read(4) == b"II*\x00"  # the reason this file is here
    assert sniff(path) == "dicom"
    (outcome,) = discover(path)
    assert isinstance(outcome, SeriesFound) and outcome.metadata["modality"] == "CT"


def test_a_whole_slide_instance_with_a_tiff_preamble_is_a_dicom_slide(tmp_path: Path) -> None:
    path = write_instance(
        tmp_path / "slide.dcm",
        tissue_rgb(256, 192),
        tile=128,
        image_type=VOLUME,
        study_uid=generate_uid(),
        series_uid=generate_uid(),
    )
    with_tiff_preamble(path)
    (outcome,) = discover(str(path))
    assert isinstance(outcome, Found) and outcome.info.format == "dicom-wsi"
    assert open_source([str(path)]).info.format == "dicom-wsi"


def test_plain_tiffs_are_still_tiffs(tmp_path: Path) -> None:
    path = tmp_path / "slide.tif"
    write_pyramid(path, tissue(300, 200), tile=128, mpp=0.5, downsamples=(1,))
    assert sniff(str(path)) == "tiff"
    (outcome,) = discover(str(path))
    assert isinstance(outcome, Found) and outcome.info.format != "dicom-wsi"


def test_samsyn_import_of_a_dual_personality_file_imports_a_series(tmp_path: Path) -> None:
    path = dual_ct(tmp_path)
    app = make_app(tmp_path / "data")
    owner = (TEST_ORG, TEST_PATIENT, TEST_CASE)
    lines = [line for line, _ok in import_paths(app, [str(path)], owner)]
    assert len(lines) == 1 and lines[0].startswith("imported "), lines
    assert lines[0].split()[2:4] == ["series", str(path)]
