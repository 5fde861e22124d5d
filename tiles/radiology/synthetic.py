"""Synthetic CT series written with pydicom: a phantom of air, fat, soft tissue, lung and bone.

Tests and the radiology benchmark make their own series with this, so nothing depends on
sample files. Pixel values are known exactly (with `noise=0`), files are deterministic
for a given seed, and every slice is a plain CT Image Storage instance in explicit VR
little endian with stored = HU + 1024 (Rescale Intercept -1024, Rescale Type HU).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from samsyn import personnummer

AIR = -1000
LUNG = -850
FAT = -100
SOFT_TISSUE = 40
BONE = 1000
INTERCEPT = -1024
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
# The phantom is nobody: its header carries these dummies and PatientIdentityRemoved YES.
PHANTOM_ID = "SYNTHETIC-0"
PHANTOM_NAME = "Synthetic^Phantom"


def make_ct_series(
    folder: str | Path,
    slices: int = 300,
    size: int = 512,
    seed: int = 0,
    *,
    spacing_mm: float = 1.0,
    noise: float = 10.0,
    patient_id: str = PHANTOM_ID,
    patient_name: str = PHANTOM_NAME,
) -> list[Path]:
    """Write a CT series of `slices` axial slices of size x size into `folder`, in slice order.

    Slice k lies at z = k * spacing_mm. The same seed gives the same files and UIDs.
    `patient_id` and `patient_name` go into the header (a personnummer and "Family^Given"
    make a series that belongs to that patient); the phantom's own dummy values say
    PatientIdentityRemoved YES, so the phantom names nobody.
    """
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    study_uid = generate_uid(entropy_srcs=[f"samsyn-study-{seed}"])
    series_uid = generate_uid(entropy_srcs=[f"samsyn-series-{seed}-{slices}-{size}"])
    paths = []
    for index in range(slices):
        hu = phantom(size, index / max(slices - 1, 1), noise, seed * 100_003 + index)
        path = target / f"CT{index:04d}.dcm"
        write_ct_slice(
            path,
            hu,
            study_uid=study_uid,
            series_uid=series_uid,
            position=(-size * 0.35, -size * 0.35, index * spacing_mm),
            instance_number=index + 1,
            thickness=spacing_mm,
            PatientID=patient_id,
            PatientName=patient_name,
        )
        paths.append(path)
    return paths


def phantom(size: int, z: float, noise: float = 10.0, seed: int = 0) -> np.ndarray:
    """HU of one slice at relative height z (0..1): air around a body of fat and soft
    tissue, two lungs in the upper half of the volume, a spine and ribs of bone."""
    x, y = _grid(size)
    scale = 0.9 + 0.1 * np.sin(np.pi * z)
    hu = np.full((size, size), AIR, dtype=np.float32)
    hu[_ellipse(x, y, 0.44 * scale, 0.34 * scale)] = FAT
    hu[_ellipse(x, y, 0.40 * scale, 0.30 * scale)] = SOFT_TISSUE
    if z < 0.5:
        lung = 0.10 + 0.12 * np.sin(np.pi * z * 2) ** 0.5
        hu[_ellipse(x + 0.17, y + 0.02, lung, 0.20 * scale)] = LUNG
        hu[_ellipse(x - 0.17, y + 0.02, lung, 0.20 * scale)] = LUNG
    hu[_ellipse(x, y - 0.2 * scale, 0.05, 0.05)] = BONE
    ring = _ellipse(x, y, 0.37 * scale, 0.27 * scale) & ~_ellipse(x, y, 0.35 * scale, 0.25 * scale)
    hu[ring & (np.abs(x) > 0.1)] = BONE
    if noise:
        hu += np.random.default_rng(seed).standard_normal(hu.shape, dtype=np.float32) * noise
    return np.rint(hu).astype(np.int16)


@cache
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres as -0.5..0.5 in x and y (computed once per size)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    return x, y


def _ellipse(x: np.ndarray, y: np.ndarray, a: float, b: float) -> np.ndarray:
    return (x / a) ** 2 + (y / b) ** 2 <= 1.0


def write_ct_slice(
    path: str | Path,
    hu: np.ndarray,
    *,
    study_uid: str,
    series_uid: str,
    position: Sequence[float],
    instance_number: int,
    orientation: Sequence[float] = AXIAL,
    pixel_spacing: Sequence[float] = (0.7, 0.7),
    thickness: float = 1.0,
    window: tuple[float, float] | None = (40.0, 400.0),
    **attributes: Any,
) -> Path:
    """Write one CT slice of the given HU values (stored as HU + 1024, 12 bits)."""
    dataset = _ct_dataset(hu, study_uid, series_uid)
    dataset.ImagePositionPatient = [f"{v:.6g}" for v in position]
    dataset.ImageOrientationPatient = [f"{v:.6g}" for v in orientation]
    dataset.PixelSpacing = [f"{v:.6g}" for v in pixel_spacing]
    dataset.SliceThickness = f"{thickness:.6g}"
    dataset.InstanceNumber = instance_number
    if window is not None:
        dataset.WindowCenter, dataset.WindowWidth = f"{window[0]:g}", f"{window[1]:g}"
    for keyword, value in attributes.items():
        setattr(dataset, keyword, value)
    if "PatientIdentityRemoved" not in attributes:
        dataset.PatientIdentityRemoved = "YES" if _is_phantom(dataset) else "NO"
    dataset.save_as(path, enforce_file_format=True)
    return Path(path)


def _is_phantom(dataset: Dataset) -> bool:
    """Whether the slice still names the phantom rather than a patient: the dummy name and
    a PatientID that is no personnummer."""
    patient_id = str(dataset.get("PatientID", "")).strip()
    return str(dataset.get("PatientName", "")) == PHANTOM_NAME and not personnummer.is_valid(
        patient_id
    )


def _ct_dataset(hu: np.ndarray, study_uid: str, series_uid: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = CTImageStorage
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.StudyInstanceUID, dataset.SeriesInstanceUID = study_uid, series_uid
    dataset.Modality = "CT"
    dataset.PatientName = PHANTOM_NAME
    dataset.PatientID = PHANTOM_ID
    dataset.StudyDate = "20240101"
    dataset.SeriesDescription = "Synthetic CT phantom"
    dataset.SeriesNumber = 1
    dataset.FrameOfReferenceUID = generate_uid(entropy_srcs=[study_uid, "frame-of-reference"])
    dataset.Rows, dataset.Columns = hu.shape
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 12, 11
    dataset.PixelRepresentation = 0
    dataset.RescaleIntercept, dataset.RescaleSlope, dataset.RescaleType = str(INTERCEPT), "1", "HU"
    stored = np.clip(hu.astype(np.int32) - INTERCEPT, 0, 4095).astype(np.uint16)
    dataset.PixelData = stored.tobytes()
    return dataset
