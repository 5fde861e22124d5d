"""Issue 8: an image whose file names another patient is never imported silently.

`samsyn import --patient` refuses it with one line (exit 1); with `--accept-mismatch` it is
imported with a standing `identity_warning`, shown by the image routes except in teaching.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from app.directory import add_patient
from app.importer import import_paths
from app.models import Image
from tests.conftest import TEST_CASE, TEST_ORG, TEST_PATIENT, database, login, make_app
from tiles.radiology.synthetic import make_ct_series

REPO = Path(__file__).resolve().parents[2]
PROTECTED = "811228-9874"
OWNER = (TEST_ORG, TEST_PATIENT, TEST_CASE)


def cli(data_dir: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`python -m app.cli` against the application of `data_dir`."""
    env = {k: v for k, v in os.environ.items() if k != "SAMSYN_DATABASE_URL"}
    env["SAMSYN_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *arguments],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def ct(folder: Path, patient_id: str = "SYNTHETIC-0", name: str = "Synthetic^Phantom") -> Path:
    make_ct_series(folder, slices=2, size=16, noise=0, patient_id=patient_id, patient_name=name)
    return folder


@pytest.fixture()
def app(tmp_path: Path) -> Flask:
    application = make_app(tmp_path)
    with database(application).session() as session:
        add_patient(session, PROTECTED, "Johan Ek", TEST_ORG, protected=True)
    return application


def lines_of(app: Flask, path: Path, owner: tuple = OWNER, accept: bool = False) -> list:
    return list(import_paths(app, [str(path)], owner, accept_mismatch=accept))


def warning_of(app: Flask, image_id: str) -> str | None:
    with database(app).session() as session:
        image = session.get(Image, image_id)
        assert image is not None
        return image.identity_warning


def test_the_command_refuses_a_mismatch_with_one_line_and_exit_1(
    app: Flask, tmp_path: Path
) -> None:
    folder = ct(tmp_path / "ct", "7DkT2Tp", "TOUTATIX")
    result = cli(
        tmp_path,
        "import",
        str(folder),
        "--org",
        TEST_ORG,
        "--patient",
        TEST_PATIENT,
        "--case",
        TEST_CASE,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines() == [
        f"failed {folder}: the image's header names another patient "
        "(PatientID 7DkT2Tp, PatientName TOUTATIX)"
    ]
    with database(app).session() as session:
        assert session.query(Image).count() == 0


def test_the_command_imports_a_mismatch_with_accept_mismatch(app: Flask, tmp_path: Path) -> None:
    folder = ct(tmp_path / "ct", "7DkT2Tp", "TOUTATIX")
    result = cli(
        tmp_path,
        "import",
        str(folder),
        "--org",
        TEST_ORG,
        "--patient",
        TEST_PATIENT,
        "--case",
        TEST_CASE,
        "--accept-mismatch",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = result.stdout.splitlines()
    assert line.startswith("imported ") and "names another patient" in line
    warning = warning_of(app, line.split()[1])
    assert (
        warning == "Bildens huvud anger en annan patient (PatientID 7DkT2Tp, PatientName TOUTATIX)."
    )


def test_a_matching_header_imports_without_warning(app: Flask, tmp_path: Path) -> None:
    ((line, ok),) = lines_of(app, ct(tmp_path / "ct", "19640823-3234", "Testsson^Test"))
    assert ok and line.startswith("imported ") and "warnings" not in line
    assert warning_of(app, line.split()[1]) is None


def test_a_name_match_with_a_local_id_imports_without_warning(app: Flask, tmp_path: Path) -> None:
    ((line, ok),) = lines_of(app, ct(tmp_path / "ct", "LOCAL-77", "TESTSSON^TEST"))
    assert ok and warning_of(app, line.split()[1]) is None


def test_a_file_naming_nobody_is_imported(app: Flask, tmp_path: Path) -> None:
    ((line, ok),) = lines_of(app, ct(tmp_path / "ct", "", "Anonymized"))
    assert ok and warning_of(app, line.split()[1]) is None
    ((line, ok),) = lines_of(app, ct(tmp_path / "phantom"))  # the phantom: identity removed
    assert ok and warning_of(app, line.split()[1]) is None


def test_another_personnummer_is_refused_even_with_the_right_name(
    app: Flask, tmp_path: Path
) -> None:
    ((line, ok),) = lines_of(app, ct(tmp_path / "ct", "880320-0016", "Testsson^Test"))
    assert not ok and "PatientID 880320-0016" in line


def test_teaching_imports_are_not_compared(app: Flask, tmp_path: Path) -> None:
    ((line, ok),) = lines_of(
        app, ct(tmp_path / "ct", "7DkT2Tp", "TOUTATIX"), (TEST_ORG, None, "Kurs")
    )
    assert ok and line.startswith("imported ")
    assert warning_of(app, line.split()[1]) is None


def test_a_protected_patients_refusal_masks_the_name(app: Flask, tmp_path: Path) -> None:
    owner = (TEST_ORG, PROTECTED, "Skyddat fall")
    ((line, ok),) = lines_of(app, ct(tmp_path / "ct", "7DkT2Tp", "Ek^Johanna"), owner)
    assert not ok
    assert "PatientName Skyddad identitet" in line and "Johanna" not in line
    ((line, ok),) = lines_of(app, ct(tmp_path / "ct2", "7DkT2Tp", "Ek^Johanna"), owner, True)
    warning = warning_of(app, line.split()[1])
    assert ok and warning is not None and "Johanna" not in warning


def test_the_api_shows_the_warning_in_care_and_null_in_teaching(app: Flask, tmp_path: Path) -> None:
    ((care, ok),) = lines_of(app, ct(tmp_path / "care", "7DkT2Tp", "TOUTATIX"), accept=True)
    ((clean, _ok),) = lines_of(app, ct(tmp_path / "clean", "19640823-3234", "Testsson^Test"))
    care_id, clean_id = care.split()[1], clean.split()[1]
    client = login(app.test_client())
    shown = client.get(f"/api/images/{care_id}").get_json()
    assert shown["identity_warning"].startswith("Bildens huvud anger en annan patient")
    assert client.get(f"/api/images/{clean_id}").get_json()["identity_warning"] is None
    listed = {image["id"]: image for image in client.get("/api/images").get_json()}
    assert listed[care_id]["identity_warning"] == shown["identity_warning"]
    assert listed[clean_id]["identity_warning"] is None
    # The same image imported into a teaching case: the teaching view shows no identity.
    ((moved, ok),) = lines_of(app, tmp_path / "care", (TEST_ORG, None, "Undervisning"))
    assert ok and moved.split()[1] == care_id and warning_of(app, care_id) is not None
    teaching = client.get(f"/api/images/{care_id}")
    assert teaching.status_code == 200, teaching.get_json()
    assert teaching.get_json()["identity_warning"] is None
    listed = {image["id"]: image for image in client.get("/api/images").get_json()}
    assert listed[care_id]["identity_warning"] is None


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "relative",
    [
        "dicom/compressed/osirix-toutatix-100.dcm",
        "dicom/series/ct-siemens-tilted-4slices",
        "dicom/series/mr-siemens-6slices",
        "dicom/multiframe/philips-enhanced-mr-IM_0027_fMAP.dcm",
    ],
)
def test_real_samples_naming_someone_else_are_refused(
    app: Flask, sample_data: Path, relative: str
) -> None:
    lines = lines_of(app, sample_data / relative)
    assert lines and all(not ok for _line, ok in lines), lines
    assert all("the image's header names another patient" in line for line, _ok in lines)


@pytest.mark.shared_data
def test_real_sample_slides_naming_nobody_are_imported(app: Flask, sample_data: Path) -> None:
    for relative in ("wsi/aperio/CMU-1-Small-Region.svs", "wsi/dicom-wsi/gcp-bone"):
        lines = lines_of(app, sample_data / relative)
        assert all(ok and line.startswith("imported ") for line, ok in lines), lines
        for line, _ok in lines:
            assert warning_of(app, line.split()[1]) is None
