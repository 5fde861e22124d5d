"""Radiology series made with pydicom in temporary folders: grouping, order, warnings,
the grayscale pipeline's formulas, bad input, the frame cache."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    EnhancedCTImageStorage,
    ExplicitVRLittleEndian,
    RLELossless,
    generate_uid,
)

from samsyn.errors import BadRequest, NotFound, Unreadable
from tiles.radiology import (
    WINDOW_PRESETS,
    Failed,
    FrameCache,
    Series,
    SeriesFound,
    Skipped,
    discover_series,
)
from tiles.radiology.synthetic import (
    AIR,
    BONE,
    FAT,
    INTERCEPT,
    SOFT_TISSUE,
    make_ct_series,
    phantom,
    write_ct_slice,
)

SIZE = 32


def found(outcomes: list[Any]) -> list[SeriesFound]:
    return [o for o in outcomes if isinstance(o, SeriesFound)]


def only_series(paths: Iterable[Path | str]) -> SeriesFound:
    outcomes = list(discover_series([str(p) for p in paths]))
    series = found(outcomes)
    assert len(series) == 1, outcomes
    return series[0]


def write_stack(
    folder: Path,
    zs: list[float],
    *,
    names: list[str] | None = None,
    numbers: list[int] | None = None,
    series_uid: str | None = None,
    study_uid: str | None = None,
    size: int = SIZE,
    shift_y: float = 0.0,
    **attributes: Any,
) -> list[Path]:
    """Slices at the given z positions (mm), one file each."""
    folder.mkdir(parents=True, exist_ok=True)
    study, series = study_uid or generate_uid(), series_uid or generate_uid()
    paths = []
    for index, z in enumerate(zs):
        name = names[index] if names else f"slice{index:03d}.dcm"
        paths.append(
            write_ct_slice(
                folder / name,
                phantom(size, 0.8, noise=0),  # no lungs: soft tissue in the middle
                study_uid=study,
                series_uid=series,
                position=(0.0, shift_y * z, z),
                instance_number=numbers[index] if numbers else index + 1,
                **attributes,
            )
        )
    return paths


def locations(series: SeriesFound) -> list[float]:
    return [f["location"] for f in series.metadata["frames"]]


# --- the synthetic CT series --------------------------------------------------------------


@pytest.fixture(scope="module")
def ct_series(tmp_path_factory: pytest.TempPathFactory) -> SeriesFound:
    folder = tmp_path_factory.mktemp("ct")
    make_ct_series(folder, slices=20, size=128, noise=0, patient_id="19640823-3234")
    return only_series([folder])


def test_synthetic_ct_series_is_one_clean_series(ct_series: SeriesFound) -> None:
    metadata = ct_series.metadata
    assert metadata["number_of_frames"] == 20 and len(ct_series.paths) == 20
    assert ct_series.warnings == ()
    assert ct_series.name == "Synthetic CT phantom"
    assert metadata["modality"] == "CT" and metadata["unit"] == "HU"
    assert metadata["pixel_spacing_mm"] == [0.7, 0.7]
    assert metadata["slice_thickness_mm"] == 1.0 and metadata["measured_spacing_mm"] == 1.0
    assert metadata["orientation"] == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert metadata["default_window"] == [40.0, 400.0]
    assert metadata["rows"] == metadata["columns"] == 128
    assert locations(ct_series) == [float(z) for z in range(20)]


def test_patient_values_and_personnummer(ct_series: SeriesFound) -> None:
    metadata = ct_series.metadata
    assert metadata["patient_id"] == "19640823-3234"
    assert metadata["personnummer"] == "196408233234"
    assert metadata["patient_name"] == "Synthetic^Phantom"
    assert metadata["study_date"] == "2024-01-01"


def test_known_hounsfield_values(ct_series: SeriesFound) -> None:
    series = Series(ct_series.metadata)
    assert series.value(0, 64, 64) == (SOFT_TISSUE, "HU")
    assert series.value(0, 0, 0) == (AIR, "HU")
    hu = series.modality(3)
    assert hu.dtype == np.float32
    assert set(np.unique(hu)) <= {AIR, -850, FAT, SOFT_TISSUE, BONE}
    assert series.stored(0)[64, 64] == SOFT_TISSUE - INTERCEPT


def test_hu_40_in_a_40_400_window_is_mid_grey(ct_series: SeriesFound) -> None:
    series = Series(ct_series.metadata)
    assert series.render(0, (40, 400))[64, 64] in (127, 128)
    assert series.render(0)[64, 64] in (127, 128)  # the file's own window is 40/400
    assert series.render(0, (40, 400))[0, 0] == 0  # air
    assert series.render(0, WINDOW_PRESETS["brain"])[0, 0] == 0
    assert (
        series.render(0, WINDOW_PRESETS["lung"])[0, 0] == 60
    )  # air is not the lung window's floor
    assert series.render(0, WINDOW_PRESETS["bone"])[64, 64] < 100


def test_linear_window_follows_the_standard_formula(ct_series: SeriesFound) -> None:
    """PS3.3 C.11.2.1.2.1 for every HU of the phantom and a few windows."""
    series = Series(ct_series.metadata)
    hu = series.modality(0).astype(np.float64)
    for center, width in ((40, 400), (-600, 1500), (30, 150), (40, 1), (1000, 2)):
        c, w = center - 0.5, width - 1
        expected = np.clip((hu - c) / w + 0.5, 0, 1) * 255 if w > 0 else (hu > c) * 255.0
        difference = np.abs(series.render(0, (center, width)) - np.floor(expected + 0.5))
        assert difference.max() == 0, (center, width)


def test_window_presets_follow_radiopaedia() -> None:
    assert WINDOW_PRESETS == {
        "brain": (40, 80),
        "subdural": (75, 215),
        "stroke": (40, 40),
        "lung": (-600, 1500),
        "mediastinum": (50, 350),
        "abdomen": (50, 400),
        "liver": (30, 150),
        "bone": (400, 1800),
    }


def test_metadata_survives_json_and_rendering_reads_no_header(
    ct_series: SeriesFound, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = json.loads(json.dumps(ct_series.metadata, allow_nan=False))

    def no_parsing(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("rendering parsed a DICOM header")

    monkeypatch.setattr(pydicom, "dcmread", no_parsing)
    series = Series(stored, cache=FrameCache())
    assert series.render(0).shape == (128, 128)
    assert series.value(0, 64, 64) == (SOFT_TISSUE, "HU")


# --- order and warnings ------------------------------------------------------------------


def test_shuffled_files_are_ordered_by_position_not_name_or_number(tmp_path: Path) -> None:
    zs = [float(z) for z in (7, 2, 9, 0, 4, 1, 8, 3, 6, 5)]
    names = [f"{name}.dcm" for name in "qwertyuiop"]
    numbers = [100 - int(z) for z in zs]  # instance numbers run against the positions
    series = only_series([write_stack(tmp_path, zs, names=names, numbers=numbers)[0].parent])
    assert locations(series) == sorted(zs)
    assert series.warnings == ()


def test_duplicate_position_is_reported(tmp_path: Path) -> None:
    zs = [0.0, 1.0, 2.0, 3.0, 3.0, 4.0]
    series = only_series([write_stack(tmp_path, zs)[0].parent])
    assert series.metadata["number_of_frames"] == 6
    assert any(w.startswith("duplicate positions: 1 frame") for w in series.warnings)


def test_gap_is_reported(tmp_path: Path) -> None:
    zs = [0.0, 1.0, 2.0, 3.0, 6.0, 7.0, 8.0]
    series = only_series([write_stack(tmp_path, zs)[0].parent])
    assert any(w.startswith("gap: about 2 slice(s) missing") for w in series.warnings)


def test_irregular_spacing_is_reported(tmp_path: Path) -> None:
    zs = [0.0, 1.0, 2.2, 3.1, 4.3, 5.2]
    series = only_series([write_stack(tmp_path, zs)[0].parent])
    assert any(w.startswith("irregular spacing") for w in series.warnings)
    assert not any(w.startswith("gap") for w in series.warnings)


def test_tilted_stack_is_reported_from_geometry(tmp_path: Path) -> None:
    zs = [float(z) for z in range(6)]
    series = only_series([write_stack(tmp_path, zs, shift_y=0.25)[0].parent])  # 14 degrees
    tilted = [w for w in series.warnings if w.startswith("tilted gantry")]
    assert tilted and "14.0 degrees" in tilted[0]
    assert locations(series) == zs


def test_tilted_gantry_is_reported_from_the_header(tmp_path: Path) -> None:
    zs = [float(z) for z in range(4)]
    series = only_series([write_stack(tmp_path, zs, GantryDetectorTilt="-12")[0].parent])
    assert "tilted gantry: Gantry/Detector Tilt is -12 degrees" in series.warnings


def test_several_volumes_are_shown_one_after_the_other(tmp_path: Path) -> None:
    zs = [0.0, 1.0, 2.0] * 3
    series = only_series([write_stack(tmp_path, zs)[0].parent])
    assert locations(series) == [0.0, 1.0, 2.0] * 3
    assert any(
        w.startswith("several volumes: 3 slice positions with 3 frames") for w in series.warnings
    )


def test_without_positions_instance_numbers_order(tmp_path: Path) -> None:
    paths = write_stack(tmp_path, [0.0, 1.0, 2.0, 3.0], numbers=[3, 1, 4, 2])
    for path in paths:
        dataset = pydicom.dcmread(path)
        del dataset.ImagePositionPatient
        dataset.save_as(path)
    series = only_series([tmp_path])
    assert [f["instance_number"] for f in series.metadata["frames"]] == [1, 2, 3, 4]
    assert series.warnings == ()


def test_mixed_sizes_are_split_into_series_of_their_own(tmp_path: Path) -> None:
    study, uid = generate_uid(), generate_uid()
    write_stack(tmp_path / "a", [0.0, 1.0, 2.0], series_uid=uid, study_uid=study)
    write_stack(tmp_path / "b", [3.0, 4.0], series_uid=uid, study_uid=study, size=16)
    series = found(list(discover_series([str(tmp_path)])))
    assert sorted(s.metadata["number_of_frames"] for s in series) == [2, 3]
    for item in series:
        assert any(w.startswith("mixed sizes: files of 32x32, 16x16 pixels") for w in item.warnings)
    assert {s.name for s in series} == {
        "Synthetic CT phantom (32x32)",
        "Synthetic CT phantom (16x16)",
    }


def test_a_series_of_one_frame_is_reported(tmp_path: Path) -> None:
    series = only_series(write_stack(tmp_path, [5.0]))
    assert series.warnings == ("one frame: the series holds a single image",)
    assert series.metadata["measured_spacing_mm"] is None
    assert Series(series.metadata).render(0).shape == (SIZE, SIZE)


def test_two_series_in_one_folder(tmp_path: Path) -> None:
    write_stack(tmp_path / "x", [0.0, 1.0])
    write_stack(tmp_path / "y", [0.0, 1.0, 2.0])
    assert sorted(len(s.paths) for s in found(list(discover_series([str(tmp_path)])))) == [2, 3]


def test_a_file_given_twice_counts_once(tmp_path: Path) -> None:
    paths = write_stack(tmp_path, [0.0, 1.0])
    series = only_series([tmp_path, paths[0]])
    assert len(series.paths) == 2


# --- bad input --------------------------------------------------------------------------


def outcome_of(path: Path) -> Any:
    outcomes = list(discover_series([str(path)]))
    assert len(outcomes) == 1, outcomes
    return outcomes[0]


def test_non_dicom_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not an image\n")
    (tmp_path / "empty.dcm").write_bytes(b"")
    (tmp_path / "zeros.dcm").write_bytes(bytes(300))
    outcomes = list(discover_series([str(tmp_path)]))
    assert len(outcomes) == 3
    assert all(isinstance(o, Skipped) and o.reason == "not a DICOM file" for o in outcomes)


def test_empty_and_missing_folders_fail(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert outcome_of(tmp_path / "empty") == Failed(
        str(tmp_path / "empty"), "the folder holds no files"
    )
    assert outcome_of(tmp_path / "nowhere") == Failed(
        str(tmp_path / "nowhere"), "no such file or folder"
    )


def test_image_without_pixel_data_fails(tmp_path: Path) -> None:
    path = write_stack(tmp_path, [0.0])[0]
    dataset = pydicom.dcmread(path)
    del dataset.PixelData
    dataset.save_as(path)
    result = outcome_of(path)
    assert isinstance(result, Failed) and result.reason.startswith(
        "CT Image Storage has no pixel data"
    )


def test_dicom_objects_that_are_no_images_are_skipped(tmp_path: Path) -> None:
    path = write_stack(tmp_path, [0.0])[0]
    dataset = pydicom.dcmread(path)
    for keyword in ("PixelData", "Rows", "Columns"):
        delattr(dataset, keyword)
    dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID = UID(
        "1.2.840.10008.5.1.4.1.1.88.11"
    )
    dataset.Modality = "SR"
    dataset.save_as(path)
    result = outcome_of(path)
    assert (
        isinstance(result, Skipped)
        and result.reason == "DICOM SR Basic Text SR Storage: not an image"
    )


def test_whole_slide_images_are_left_to_the_slide_importer(tmp_path: Path) -> None:
    path = write_stack(tmp_path, [0.0])[0]
    dataset = pydicom.dcmread(path)
    dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID = UID(
        "1.2.840.10008.5.1.4.1.1.77.1.6"
    )
    dataset.save_as(path)
    assert outcome_of(path) == Skipped(str(path), "whole-slide image")


def test_truncated_file_fails(tmp_path: Path) -> None:
    path = write_stack(tmp_path, [0.0])[0]
    path.write_bytes(path.read_bytes()[:-500])
    result = outcome_of(path)
    assert isinstance(result, Failed) and result.reason.startswith("the file is truncated")


def test_rows_and_columns_that_disagree_with_the_data_fail(tmp_path: Path) -> None:
    path = write_stack(tmp_path, [0.0])[0]
    dataset = pydicom.dcmread(path)
    dataset.Rows = 64
    dataset.save_as(path)
    result = outcome_of(path)
    assert isinstance(result, Failed)
    assert result.reason == (
        "the pixel data holds 2048 bytes but rows x columns x frames need 4096: "
        "the header does not match the data"
    )


def test_compressed_frame_of_the_wrong_size_fails_at_import(tmp_path: Path) -> None:
    path = write_stack(tmp_path, [0.0])[0]
    dataset = pydicom.dcmread(path)
    dataset.compress(RLELossless)
    dataset.Columns = 16
    dataset.save_as(path)
    result = outcome_of(path)
    assert isinstance(result, Failed)
    assert result.reason == "a frame decodes to 2048 bytes but the header's 32x16 pixels need 1024"


def test_one_broken_file_fails_and_the_rest_of_the_series_stays(tmp_path: Path) -> None:
    paths = write_stack(tmp_path, [0.0, 1.0, 2.0, 3.0])
    paths[2].write_bytes(paths[2].read_bytes()[:-100])
    outcomes = list(discover_series([str(tmp_path)]))
    assert [o.path for o in outcomes if isinstance(o, Failed)] == [str(paths[2])]
    series = found(outcomes)[0]
    assert locations(series) == [0.0, 1.0, 3.0]
    assert any(w.startswith("gap") for w in series.warnings)


def test_a_file_changed_after_import_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    path = write_stack(tmp_path, [0.0])[0]
    series = Series(only_series([path]).metadata, cache=FrameCache())
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(Unreadable, match="changed after import"):
        series.render(0)
    path.unlink()
    with pytest.raises(Unreadable, match="cannot be opened"):
        series.render(0)


def test_bad_requests(tmp_path: Path) -> None:
    metadata = only_series(write_stack(tmp_path, [0.0, 1.0])).metadata
    with pytest.raises(Unreadable, match="import it again"):
        Series({**metadata, "version": 0})
    series = Series(metadata)
    with pytest.raises(NotFound):
        series.render(2)
    with pytest.raises(BadRequest):
        series.render(0, (40.0, -1.0))
    with pytest.raises(BadRequest):
        series.render(0, (float("nan"), 100.0))
    with pytest.raises(BadRequest):
        series.value(0, -1, 0)
    with pytest.raises(BadRequest):
        series.value(0, 0, SIZE)


# --- encodings and the rest of the grayscale pipeline ---------------------------------------


def rewrite(path: Path, **changes: Any) -> Path:
    dataset = pydicom.dcmread(path)
    for keyword, value in changes.items():
        setattr(dataset, keyword, value)
    dataset.save_as(path)
    return path


def test_file_without_preamble_and_meta_is_found(tmp_path: Path) -> None:
    path = write_stack(tmp_path, [0.0])[0]
    dataset = pydicom.dcmread(path)
    dataset.file_meta = FileMetaDataset()
    dataset.preamble = None
    dataset.save_as(path, implicit_vr=True, little_endian=True, enforce_file_format=False)
    assert path.read_bytes()[128:132] != b"DICM"
    series = Series(only_series([path]).metadata)
    assert series.value(0, 16, 16) == (SOFT_TISSUE, "HU")


def test_deflated_file_is_decoded_through_pydicom(tmp_path: Path) -> None:
    path = write_stack(tmp_path, [0.0])[0]
    dataset = pydicom.dcmread(path)
    dataset.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    dataset.save_as(path)
    metadata = only_series([path]).metadata
    assert metadata["files"][0]["encoding"] == "pydicom"
    assert "offset" not in metadata["frames"][0] and "fragments" not in metadata["frames"][0]
    assert Series(metadata).value(0, 16, 16) == (SOFT_TISSUE, "HU")


def test_monochrome1_and_inverse_presentation_invert(tmp_path: Path) -> None:
    plain = Series(only_series(write_stack(tmp_path / "a", [0.0])).metadata).render(0, (40, 400))
    inverted = write_stack(tmp_path / "b", [0.0], PhotometricInterpretation="MONOCHROME1")
    np.testing.assert_array_equal(
        Series(only_series(inverted).metadata).render(0, (40, 400)), 255 - plain
    )
    inverse = write_stack(tmp_path / "c", [0.0], PresentationLUTShape="INVERSE")
    np.testing.assert_array_equal(
        Series(only_series(inverse).metadata).render(0, (40, 400)), 255 - plain
    )


def lut_item(first: int, bits: int, data: list[int], **extra: Any) -> Dataset:
    item = Dataset()
    item.add_new(0x00283002, "SS" if first < 0 else "US", [len(data), first, bits])
    item.add_new(0x00283006, "US", data)
    for keyword, value in extra.items():
        setattr(item, keyword, value)
    return item


def test_voi_lut_sequence_is_used_without_a_window(tmp_path: Path) -> None:
    path = write_stack(tmp_path, [0.0], window=None)[0]
    ramp = [min(4095, max(0, (v + 1000) * 2)) for v in range(-1000, 1100)]  # HU -1000.. -> 12 bit
    rewrite(path, VOILUTSequence=Sequence([lut_item(-1000, 12, ramp)]))
    series = Series(only_series([path]).metadata)
    expected = np.floor(
        np.clip((np.asarray([AIR, SOFT_TISSUE]) + 1000) * 2, 0, 4095) / 4095 * 255 + 0.5
    )
    assert [series.render(0)[0, 0], series.render(0)[16, 16]] == list(expected)
    assert series.render(0, (40, 400))[16, 16] in (127, 128)  # an explicit window wins


def test_modality_lut_sequence_gives_the_values(tmp_path: Path) -> None:
    path = write_stack(tmp_path, [0.0])[0]
    dataset = pydicom.dcmread(path)
    for keyword in ("RescaleIntercept", "RescaleSlope", "RescaleType"):
        delattr(dataset, keyword)
    dataset.ModalityLUTSequence = Sequence(
        [lut_item(0, 16, [v // 2 for v in range(4096)], ModalityLUTType="HU")]
    )
    dataset.save_as(path)
    series = Series(only_series([path]).metadata)
    assert series.value(0, 16, 16) == ((SOFT_TISSUE - INTERCEPT) // 2, "HU")


@pytest.mark.parametrize("function", ["LINEAR_EXACT", "SIGMOID"])
def test_other_voi_functions(tmp_path: Path, function: str) -> None:
    path = write_stack(tmp_path, [0.0], VOILUTFunction=function)[0]
    series = Series(only_series([path]).metadata)
    hu = series.modality(0).astype(np.float64)
    center, width = 40.0, 400.0
    if function == "SIGMOID":
        fraction = 1 / (1 + np.exp(-4 * (hu - center) / width))
    else:
        fraction = np.clip((hu - center) / width + 0.5, 0, 1)
    np.testing.assert_array_equal(series.render(0), np.floor(fraction * 255 + 0.5))
    assert series.metadata["voi_lut_function"] == function


def test_without_any_window_the_frame_is_stretched_min_to_max(tmp_path: Path) -> None:
    series = Series(only_series(write_stack(tmp_path, [0.0], window=None)).metadata)
    rendered = series.render(0)
    assert rendered.min() == 0 and rendered.max() == 255
    assert rendered[0, 0] == 0  # air is the lowest value


def test_enhanced_multiframe_with_per_frame_groups(tmp_path: Path) -> None:
    """Frames stored out of order, each with its own position, rescale and window."""
    zs, slopes = [2.0, 0.0, 3.0, 1.0], [1.0, 2.0, 1.0, 0.5]
    path = write_enhanced(tmp_path / "enhanced.dcm", zs, slopes)
    found_series = only_series([path])
    assert locations(found_series) == [0.0, 1.0, 2.0, 3.0]
    series = Series(found_series.metadata)
    for k, (z, slope) in enumerate(sorted(zip(zs, slopes, strict=True))):
        assert series.value(k, 0, 0) == (slope * (100 + z) - 1024, "HU")
        assert series.default_window(k) == (40.0 + z, 400.0)
    assert found_series.metadata["pixel_spacing_mm"] == [0.5, 0.5]


def write_enhanced(path: Path, zs: list[float], slopes: list[float]) -> Path:
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta.MediaStorageSOPClassUID = dataset.SOPClassUID = EnhancedCTImageStorage
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID = generate_uid()
    dataset.StudyInstanceUID, dataset.SeriesInstanceUID = generate_uid(), generate_uid()
    dataset.Modality = "CT"
    dataset.Rows = dataset.Columns = 8
    dataset.NumberOfFrames = len(zs)
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = (
        16,
        16,
        15,
        0,
    )
    shared = Dataset()
    shared.PlaneOrientationSequence = Sequence([_item(ImageOrientationPatient=[1, 0, 0, 0, 1, 0])])
    shared.PixelMeasuresSequence = Sequence([_item(PixelSpacing=[0.5, 0.5], SliceThickness=1)])
    dataset.SharedFunctionalGroupsSequence = Sequence([shared])
    dataset.PerFrameFunctionalGroupsSequence = Sequence(
        [_frame_groups(z, slope) for z, slope in zip(zs, slopes, strict=True)]
    )
    frames = [np.full((8, 8), 100 + z, dtype=np.uint16) for z in zs]
    dataset.PixelData = np.stack(frames).tobytes()
    dataset.save_as(path, enforce_file_format=True)
    return path


def _item(**values: Any) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _frame_groups(z: float, slope: float) -> Dataset:
    groups = Dataset()
    groups.PlanePositionSequence = Sequence([_item(ImagePositionPatient=[0, 0, z])])
    groups.PixelValueTransformationSequence = Sequence(
        [_item(RescaleSlope=slope, RescaleIntercept=-1024, RescaleType="HU")]
    )
    groups.FrameVOILUTSequence = Sequence([_item(WindowCenter=40 + z, WindowWidth=400)])
    return groups


# --- the frame cache ----------------------------------------------------------------------


def test_frame_cache_is_bounded_by_bytes() -> None:
    cache = FrameCache(capacity=3000)
    for key in range(5):
        cache.put(key, np.zeros(1000, np.uint8))
    assert len(cache) == 3 and cache.nbytes == 3000
    assert cache.get(0) is None and cache.get(4) is not None
    cache.put("huge", np.zeros(4000, np.uint8))
    assert cache.get("huge") is None


def test_cached_frames_are_read_only_and_shared(ct_series: SeriesFound) -> None:
    cache = FrameCache()
    first, second = Series(ct_series.metadata, cache), Series(ct_series.metadata, cache)
    frame = first.stored(2)
    assert second.stored(2) is frame
    with pytest.raises(ValueError):
        frame[0, 0] = 1


def test_concurrent_rendering_gives_the_same_pictures(ct_series: SeriesFound) -> None:
    series = Series(ct_series.metadata, cache=FrameCache(capacity=5 * 128 * 128 * 2))
    expected = {k: series.render(k, (40, 400)).copy() for k in range(20)}
    errors: list[BaseException] = []

    def scroll(offset: int) -> None:
        try:
            for step in range(60):
                k = (offset + step) % 20
                assert np.array_equal(series.render(k, (40, 400)), expected[k])
        except BaseException as error:  # reported to the main thread
            errors.append(error)

    threads = [threading.Thread(target=scroll, args=(n * 3,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
