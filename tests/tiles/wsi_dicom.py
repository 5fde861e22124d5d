"""Synthetic DICOM whole-slide instances written with pydicom, for the import tests.

Each instance is a TILED_FULL VL Whole Slide Microscopy Image: uncompressed RGB (explicit
VR little endian) or JPEG baseline frames, as small as wsidicom accepts. `write_slide`
makes a two-level volume, a thumbnail and a label of one series.
"""

from __future__ import annotations

from pathlib import Path

import imagecodecs
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    VLWholeSlideMicroscopyImageStorage,
    generate_uid,
)

VOLUME = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
RESAMPLED = ["DERIVED", "PRIMARY", "VOLUME", "RESAMPLED"]
THUMBNAIL = ["DERIVED", "PRIMARY", "THUMBNAIL", "RESAMPLED"]
LABEL = ["ORIGINAL", "PRIMARY", "LABEL", "NONE"]


def tissue_rgb(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Random pink-ish RGB pixels (any content does: the tests are about files, not pixels)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(120, 255, (height, width, 3), dtype=np.uint8)
    pixels[..., 1] //= 2
    return pixels


def write_instance(
    path: Path,
    pixels: np.ndarray,
    *,
    tile: int,
    image_type: list[str],
    study_uid: str,
    series_uid: str,
    spacing_mm: float = 0.001,
    jpeg: bool = False,
) -> Path:
    """One whole-slide instance of `pixels` (height x width x 3) in tiles of tile x tile."""
    frames = _tiles(pixels, tile)
    dataset = _header(pixels, tile, len(frames), image_type, study_uid, series_uid, spacing_mm)
    if jpeg:
        dataset.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        dataset.PhotometricInterpretation = "YBR_FULL_422"
        codestreams = [bytes(imagecodecs.jpeg8_encode(frame, level=90)) for frame in frames]
        dataset.PixelData = encapsulate(codestreams)
        dataset["PixelData"].VR = "OB"
    else:
        dataset.PixelData = np.stack(frames).tobytes()
    dataset.save_as(path, enforce_file_format=True)
    return path


def write_slide(
    folder: Path,
    seed: int = 0,
    *,
    jpeg: bool = False,
    study_uid: str | None = None,
    series_uid: str | None = None,
) -> list[Path]:
    """A slide of one series in `folder`: levels 512x384 and 256x192, a thumbnail, a label."""
    folder.mkdir(parents=True, exist_ok=True)
    base = tissue_rgb(512, 384, seed)
    study, series = study_uid or generate_uid(), series_uid or generate_uid()
    parts = [
        ("level0.dcm", base, 128, VOLUME, 0.001),
        ("level1.dcm", base[::2, ::2], 128, RESAMPLED, 0.002),
        ("thumbnail.dcm", base[::8, ::8], 64, THUMBNAIL, 0.008),
        ("label.dcm", tissue_rgb(80, 60, seed + 1), 64, LABEL, 0.05),
    ]
    return [
        write_instance(
            folder / name,
            pixels,
            tile=tile,
            image_type=kind,
            study_uid=study,
            series_uid=series,
            spacing_mm=spacing,
            jpeg=jpeg,
        )
        for name, pixels, tile, kind, spacing in parts
    ]


def _tiles(pixels: np.ndarray, tile: int) -> list[np.ndarray]:
    """The tiles row by row, the last row and column padded with white."""
    height, width, _ = pixels.shape
    rows, columns = -(-height // tile), -(-width // tile)
    padded = np.full((rows * tile, columns * tile, 3), 255, np.uint8)
    padded[:height, :width] = pixels
    return [
        np.ascontiguousarray(padded[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile])
        for r in range(rows)
        for c in range(columns)
    ]


def _header(
    pixels: np.ndarray,
    tile: int,
    frames: int,
    image_type: list[str],
    study_uid: str,
    series_uid: str,
    spacing_mm: float,
) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = VLWholeSlideMicroscopyImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = VLWholeSlideMicroscopyImageStorage
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.StudyInstanceUID, dataset.SeriesInstanceUID = study_uid, series_uid
    dataset.FrameOfReferenceUID = generate_uid(entropy_srcs=[series_uid, "frame-of-reference"])
    dataset.Modality = "SM"
    dataset.ImageType = image_type
    dataset.InstanceNumber = 1
    dataset.DimensionOrganizationType = "TILED_FULL"
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 3, "RGB"
    dataset.PlanarConfiguration = 0
    dataset.NumberOfFrames, dataset.Rows, dataset.Columns = frames, tile, tile
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 8, 8, 7
    dataset.PixelRepresentation = 0
    height, width, _ = pixels.shape
    dataset.TotalPixelMatrixColumns, dataset.TotalPixelMatrixRows = width, height
    dataset.ImagedVolumeWidth, dataset.ImagedVolumeHeight = width * spacing_mm, height * spacing_mm
    measures = Dataset()
    measures.PixelSpacing = [spacing_mm, spacing_mm]
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([measures])
    dataset.SharedFunctionalGroupsSequence = Sequence([shared])
    return dataset
