"""The pure comparison of what an image file says about its patient with the case's patient."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from tiles.identity import (
    FileIdentity,
    compare,
    description_fields,
    dicom_identity,
    slide_identity,
)
from tiles.radiology.synthetic import make_ct_series

KARIN = ("19640823-3234", "Karin Lind")
COORDINATION = ("19701063-2391", "Piotr Nowak")


def header(patient_id: str = "", patient_name: str = "") -> FileIdentity:
    return FileIdentity(patient_id, patient_name, "DICOM header")


@pytest.mark.parametrize(
    "written", ["640823-3234", "19640823-3234", "196408233234", "6408233234", "19640823-3234 "]
)
def test_a_personnummer_in_any_accepted_form_matches(written: str) -> None:
    assert compare(header(written, "Someone^Else"), *KARIN) is None


def test_a_personnummer_decides_alone_even_when_the_name_matches() -> None:
    mismatch = compare(header("811228-9874", "Lind^Karin"), *KARIN)
    assert mismatch is not None
    assert mismatch.what_file_says() == "PatientID 811228-9874, PatientName Lind^Karin"


def test_a_samordningsnummer_is_compared_by_its_digits() -> None:
    assert compare(header("701063-2391"), *COORDINATION) is None
    assert compare(header("197010632391"), *COORDINATION) is None
    assert compare(header("701063-2391"), *KARIN) is not None


@pytest.mark.parametrize("name", ["Lind^Karin", "LIND^KARIN", "Karin Lind", "lind, karin"])
def test_a_local_id_with_the_patients_name_matches_in_either_order(name: str) -> None:
    assert compare(header("HOSP-1234", name), *KARIN) is None


def test_another_name_and_no_personnummer_is_a_mismatch() -> None:
    mismatch = compare(header("7DkT2Tp", "TOUTATIX"), *KARIN)
    assert mismatch is not None
    assert mismatch.what_file_says() == "PatientID 7DkT2Tp, PatientName TOUTATIX"


def test_a_name_alone_that_differs_is_a_mismatch() -> None:
    assert compare(header("", "Synthetic^Phantom"), *KARIN) is not None
    assert compare(header("", "Ek^Johan"), *KARIN) is not None


@pytest.mark.parametrize(
    "identity",
    [header(), header("", "Anonymized"), header("Anonimo", "Anonimo"), header(" ", "ANONYMOUS")],
)
def test_a_file_naming_nobody_is_no_mismatch(identity: FileIdentity) -> None:
    assert not identity.names_patient
    assert compare(identity, *KARIN) is None


def test_a_protected_identity_masks_the_name_but_not_the_id() -> None:
    mismatch = compare(header("7DkT2Tp", "Lind^Kerstin"), *KARIN)
    assert mismatch is not None
    said = mismatch.what_file_says("Skyddad identitet")
    assert said == "PatientID 7DkT2Tp, PatientName Skyddad identitet"
    assert "Kerstin" not in said


def test_the_synthetic_phantom_names_nobody(tmp_path: Path) -> None:
    files = make_ct_series(tmp_path / "ct", slices=2, size=16, noise=0)
    assert dicom_identity([str(files[0])]) == FileIdentity()


def test_a_synthetic_ct_can_carry_the_patient(tmp_path: Path) -> None:
    files = make_ct_series(
        tmp_path / "ct",
        slices=2,
        size=16,
        noise=0,
        patient_id="19640823-3234",
        patient_name="Lind^Karin",
    )
    identity = dicom_identity([str(files[0])])
    assert identity == FileIdentity("19640823-3234", "Lind^Karin", "DICOM header")
    assert compare(identity, *KARIN) is None
    assert compare(identity, "880320-0016", "Sara Berg") is not None


def test_a_synthetic_ct_with_another_name_names_that_person(tmp_path: Path) -> None:
    files = make_ct_series(tmp_path / "ct", slices=1, size=16, noise=0, patient_name="Ek^Johan")
    assert dicom_identity([str(files[0])]).patient_name == "Ek^Johan"


def test_aperio_description_fields_and_barcodes() -> None:
    description = (
        "Aperio Image Library v10.0.51\r\n46920x33014 JPEG/RGB Q=30|AppMag = 20|"
        "Filename = CMU-1|Barcode = 811228-9874|Patient Name = Johan Ek"
    )
    fields = description_fields(description)
    assert fields["Barcode"] == "811228-9874" and fields["AppMag"] == "20"


def test_a_tiff_description_naming_a_patient(tmp_path: Path) -> None:
    path = tmp_path / "slide.tif"
    tifffile.imwrite(
        path,
        np.zeros((32, 32, 3), np.uint8),
        description="Aperio Image Library v10|AppMag = 20|Barcode = 811228-9874",
    )
    identity = slide_identity([str(path)], {})
    assert identity.patient_id == "811228-9874"
    assert compare(identity, *KARIN) is not None
    assert compare(identity, "811228-9874", "Johan Ek") is None


def test_a_barcode_that_is_no_personnummer_is_a_specimen_number(tmp_path: Path) -> None:
    path = tmp_path / "slide.tif"
    tifffile.imwrite(
        path, np.zeros((32, 32, 3), np.uint8), description="Aperio|Barcode = HS12-15115"
    )
    assert slide_identity([str(path)], {}) == FileIdentity()


def test_vendor_properties_naming_a_patient() -> None:
    identity = slide_identity(["/nonexistent.svs"], {"philips.DICOM_PATIENT_ID": "7DkT2Tp"})
    assert identity.patient_id == "7DkT2Tp"
    assert compare(identity, *KARIN) is not None


def test_a_plain_tiff_names_nobody(tmp_path: Path) -> None:
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((32, 32, 3), np.uint8))
    assert slide_identity([str(path)], {}) == FileIdentity()


@pytest.mark.shared_data
def test_the_sample_slides_name_nobody(sample_data: Path) -> None:
    wsi = sample_data / "wsi"
    for path in [
        wsi / "aperio" / "CMU-1-Small-Region.svs",
        wsi / "hamamatsu" / "test3-DAPI-2-387.ndpi",
        wsi / "ome-tiff" / "OS-1-detail.ome.tif",
    ]:
        assert slide_identity([str(path)], {}) == FileIdentity(), path
    bone = sorted(str(p) for p in (wsi / "dicom-wsi" / "gcp-bone").iterdir())
    assert dicom_identity(bone) == FileIdentity()


@pytest.mark.shared_data
def test_a_sample_series_names_its_own_patient(sample_data: Path) -> None:
    file = sample_data / "dicom" / "compressed" / "osirix-toutatix-100.dcm"
    identity = dicom_identity([str(file)])
    assert (identity.patient_id, identity.patient_name) == ("7DkT2Tp", "TOUTATIX")
