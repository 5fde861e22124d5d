"""Radiology rendering against pydicom, on real files written by others.

Every frame of every readable file in ../shared/data/dicom (and a set of pydicom's own
test files) is rendered by samsyn and compared with an independent computation:
pydicom decodes the pixel data and applies `apply_modality_lut` and `apply_voi_lut`,
and the result is scaled to 0..255 the way a viewer does. Grey levels must agree within
1; modality values (HU) must be equal.
"""

from __future__ import annotations

import copy
import json
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import imagecodecs
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut
from pydicom.uid import ImplicitVRLittleEndian

from samsyn.errors import SamsynError
from tiles.radiology import Failed, Series, SeriesFound, Skipped, discover_series
from tiles.radiology.geometry import slice_normal

pytestmark = pytest.mark.shared_data

DICOM = "dicom"
UNREADABLE_SAMPLES = {"odd/dwv-test_no-number-rows.dcm": "Rows (0028,0010) is missing"}

# pydicom's own test files: more transfer syntaxes and colour models than the shared set.
PYDICOM_FILES = [
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_implicit.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_padded.dcm",
    "JPEGLSNearLossless_08.dcm",
    "JPEGLSNearLossless_16.dcm",
    "JPGExtended.dcm",
    "J2K_pixelrep_mismatch.dcm",
    "693_J2KI.dcm",
    "GDCMJ2K_TextGBR.dcm",
    "SC_rgb_jpeg_gdcm.dcm",
    "SC_jpeg_no_color_transform.dcm",
    "SC_jpeg_no_color_transform_2.dcm",
    "SC_rgb_jpeg.dcm",  # explicit VR data set, its pixel data element written implicit
    "SC_rgb_dcmtk_+eb+cr.dcm",
    "SC_rgb_dcmtk_+eb+cy+np.dcm",
    "SC_rgb_dcmtk_+eb+cy+s4.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "SC_rgb_rle.dcm",
    "SC_rgb_rle_16bit_2frame.dcm",
    "SC_rgb_rle_32bit_2frame.dcm",
    "SC_rgb_small_odd.dcm",
    "SC_rgb_small_odd_big_endian.dcm",
    "SC_ybr_full_422_uncompressed.dcm",
    "ExplVR_BigEnd.dcm",
    "examples_palette.dcm",
    "examples_rgb_color.dcm",
    "examples_ybr_color.dcm",
    "examples_jpeg2k.dcm",
    "examples_overlay.dcm",
    "image_dfl.dcm",
    "liver_1frame.dcm",
    "rtdose.dcm",
    "rtdose_expb.dcm",
    "rtdose_rle.dcm",
]
# Lossy colour JPEG: two libjpeg builds (pylibjpeg's, imagecodecs' libjpeg-turbo) may
# upsample chroma differently; a few levels apart at colour edges.
LOSSY_COLOUR_TOLERANCE = {"examples_ybr_color.dcm": 4, "SC_rgb_dcmtk_+eb+cy+np.dcm": 3}
# Lossy 12-bit JPEG: libjpeg (pydicom) and libjpeg-turbo (samsyn) round the inverse DCT
# differently in a few pixels, by one stored value.
LOSSY_VALUE_TOLERANCE = {"JPGExtended.dcm": 1.0}


# --- the independent reference -----------------------------------------------------------


def reference_pixels(path: str) -> np.ndarray:
    """All frames decoded by pydicom (imagecodecs for the 12-bit JPEG pydicom cannot do)."""
    dataset = _dataset(path)
    frames = int(dataset.get("NumberOfFrames") or 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pixels = dataset.pixel_array
        except Exception:
            codestreams = generate_frames(dataset.PixelData, number_of_frames=frames)
            return np.stack([imagecodecs.jpeg_decode(codestream) for codestream in codestreams])
    return pixels if frames > 1 else pixels[None]


@cache
def _dataset(path: str) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = pydicom.dcmread(path, force=True)
    if "TransferSyntaxUID" not in dataset.file_meta:  # no file meta: a bare data set
        dataset.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    return dataset


def frame_view(dataset: Dataset, index: int) -> Dataset:
    """The header as it applies to one frame: functional-group values (per-frame item first,
    then shared) copied to the top level, where pydicom's transforms look for them; LUT
    sequences without a descriptor (an empty item) and empty values left out."""
    view = copy.copy(dataset)
    for sequence in ("PixelValueTransformationSequence", "FrameVOILUTSequence"):
        item = _group_item(dataset, index, sequence)
        for element in item or []:
            view[element.tag] = element
    for keyword in ("RescaleSlope", "RescaleIntercept", "WindowCenter", "WindowWidth"):
        if keyword in view and view[keyword].value in (None, "", []):
            del view[keyword]  # present but empty: absent, for a viewer as for samsyn
    for sequence in ("ModalityLUTSequence", "VOILUTSequence"):
        if sequence in view and not all(i.get("LUTDescriptor") for i in view[sequence].value):
            del view[sequence]
    return view


def _group_item(dataset: Dataset, index: int, sequence: str) -> Dataset | None:
    per_frame = dataset.get("PerFrameFunctionalGroupsSequence")
    shared = dataset.get("SharedFunctionalGroupsSequence")
    holders = [per_frame[index]] if per_frame and index < len(per_frame) else []
    holders += [shared[0]] if shared else []
    for holder in holders:
        if sequence in holder and len(holder[sequence].value):
            return holder[sequence][0]
    return None


def reference_modality(pixels: np.ndarray, view: Dataset) -> np.ndarray:
    return np.asarray(apply_modality_lut(pixels, view), dtype=np.float64)


def reference_grey(pixels: np.ndarray, view: Dataset) -> np.ndarray:
    """pydicom's modality and VOI transforms, scaled to 0..255 like a viewer."""
    photometric = view.PhotometricInterpretation
    if photometric == "PALETTE COLOR":
        return _to_8bit(
            apply_color_lut(pixels, view),
            16 if view.RedPaletteColorLookupTableDescriptor[2] > 8 else 8,
        )
    if pixels.ndim == 3:
        return _to_8bit(pixels, int(view.BitsStored))
    modality = reference_modality(pixels, view)
    if "VOILUTSequence" in view:
        voi = np.asarray(apply_voi_lut(np.trunc(modality).astype(np.int64), view), np.float64)
    else:
        voi = np.asarray(apply_voi_lut(modality, view), np.float64)
    if "VOILUTSequence" in view:
        scaled = voi / float(2 ** view.VOILUTSequence[0].LUTDescriptor[2] - 1) * 255
    elif view.get("WindowCenter") is not None and view.get("WindowWidth") is not None:
        low, high = _pydicom_output_range(view)
        scaled = (voi - low) / (high - low) * 255
    else:
        low, high = modality.min(), modality.max()
        scaled = (modality - low) / (high - low) * 255 if high > low else modality * 0
    if photometric == "MONOCHROME1" or view.get("PresentationLUTShape") == "INVERSE":
        scaled = 255 - scaled
    return scaled


def _pydicom_output_range(view: Dataset) -> tuple[float, float]:
    """The output range of pydicom's apply_windowing (it windows into this range)."""
    if view.get("ModalityLUTSequence"):
        return 0.0, float(2 ** view.ModalityLUTSequence[0].LUTDescriptor[2] - 1)
    bits = int(view.BitsStored)
    low, high = (
        (0.0, 2.0**bits - 1)
        if view.PixelRepresentation == 0
        else (-(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1)
    )
    if view.get("RescaleSlope") is not None and view.get("RescaleIntercept") is not None:
        slope, intercept = float(view.RescaleSlope), float(view.RescaleIntercept)
        low, high = low * slope + intercept, high * slope + intercept
    return low, high


def _to_8bit(pixels: np.ndarray, bits: int) -> np.ndarray:
    return pixels.astype(np.float64) if bits <= 8 else pixels / float(2**bits - 1) * 255


# --- the files -------------------------------------------------------------------------


def shared_files(sample_data: Path) -> list[str]:
    return sorted(str(p) for p in (sample_data / DICOM).rglob("*.dcm"))


@pytest.fixture(scope="module")
def shared_outcomes(sample_data: Path) -> list[Any]:
    return list(discover_series([str(sample_data / DICOM)]))


@pytest.fixture(scope="module")
def shared_series(shared_outcomes: list[Any]) -> list[SeriesFound]:
    return [o for o in shared_outcomes if isinstance(o, SeriesFound)]


def _single(path: str) -> SeriesFound:
    outcomes = list(discover_series([path]))
    assert len(outcomes) == 1 and isinstance(outcomes[0], SeriesFound), outcomes
    return outcomes[0]


def _compare_all_frames(
    found: SeriesFound, tolerance: int = 1, value_tolerance: float = 0.0
) -> int:
    """Render every frame from the stored metadata and compare with pydicom; frames compared."""
    series = Series(json.loads(json.dumps(found.metadata)))
    for k, frame in enumerate(found.metadata["frames"]):
        path = found.metadata["files"][frame["file"]]["path"]
        pixels = reference_pixels(path)[frame["frame"]]
        view = frame_view(_dataset(path), frame["frame"])
        expected = reference_grey(pixels, view)
        rendered = series.render(k).astype(np.float64)
        assert rendered.shape == expected.shape, (path, k)
        difference = np.abs(rendered - expected)
        assert difference.max() <= tolerance + 0.5, (path, frame["frame"], difference.max())
        if pixels.ndim == 2 and view.PhotometricInterpretation != "PALETTE COLOR":
            _compare_values(series, k, pixels, view, value_tolerance)
    return len(found.metadata["frames"])


def _compare_values(
    series: Series, k: int, pixels: np.ndarray, view: Dataset, tolerance: float
) -> None:
    expected = reference_modality(pixels, view)
    np.testing.assert_allclose(series.modality(k), expected, rtol=1e-6, atol=1e-3 + tolerance)
    if tolerance:
        return
    rows, columns = pixels.shape
    for x, y in (
        (0, 0),
        (columns // 2, rows // 2),
        (columns - 1, rows - 1),
        (columns // 3, rows // 5),
    ):
        value, _unit = series.value(k, x, y)
        assert value == pytest.approx(expected[y, x], rel=1e-9, abs=1e-9)


# --- tests: the shared samples -------------------------------------------------------------


def test_every_frame_of_every_shared_series_matches_pydicom(
    shared_series: list[SeriesFound],
) -> None:
    compared = sum(_compare_all_frames(found) for found in shared_series)
    assert compared == 139  # 41 readable files, multi-frame ones included


def test_every_shared_file_is_found_or_fails_with_a_reason(
    sample_data: Path, shared_outcomes: list[Any]
) -> None:
    found = {p for o in shared_outcomes if isinstance(o, SeriesFound) for p in o.paths}
    failed = {o.path: o.reason for o in shared_outcomes if isinstance(o, Failed)}
    for path in shared_files(sample_data):
        relative = str(Path(path).relative_to(sample_data / DICOM))
        if relative in UNREADABLE_SAMPLES:
            assert failed[path] == UNREADABLE_SAMPLES[relative]
        else:
            assert path in found, (relative, failed.get(path))
    assert not any(isinstance(o, Skipped) for o in shared_outcomes)


@pytest.mark.parametrize(
    "name",
    [
        "compressed/nema-mr1_jply.dcm",  # 12-bit JPEG extended: pydicom's plugins fail
        "odd/OT-MONO2-8-colon.dcm",  # no preamble, no file meta
        "odd/ELSCINT1_JP2vsJ2K.dcm",  # JP2 boxed codestream
        "odd/TOSHIBA_J2K_SIZ0_PixRep1.dcm",  # J2K unsigned, pixel representation signed
        "odd/OsirixFake16BitsStoredFakeSpacing.dcm",  # Bits Stored says 16, the codestream 11
        "odd/JPEGLossless_1s_1f_i_16_16_bad.dcm",  # decodes into garbage, like pydicom's
        "transfer-syntax/dcm_qa_ts/3.dcm",  # explicit big endian
        "compressed/US-RGB-8-epicard.dcm",  # big endian RGB
        "compressed/leadtools-flowers-8-mono2-rle.dcm",  # RLE imagecodecs refuses; empty LUT items
    ],
)
def test_awkward_shared_file_alone(sample_data: Path, name: str) -> None:
    assert _compare_all_frames(_single(str(sample_data / DICOM / name))) >= 1


def test_every_transfer_syntax_gives_the_same_pixels(sample_data: Path) -> None:
    folder = sample_data / DICOM / "transfer-syntax" / "dcm_qa_ts"
    first = None
    for path in sorted(folder.glob("*.dcm")):
        series = Series(_single(str(path)).metadata)
        stored = series.stored(0)
        first = stored if first is None else first
        np.testing.assert_array_equal(stored, first, err_msg=path.name)


def test_pixel_locations_are_recorded_per_frame(shared_series: list[SeriesFound]) -> None:
    for found in shared_series:
        files = found.metadata["files"]
        for frame in found.metadata["frames"]:
            encoding = files[frame["file"]]["encoding"]
            if encoding == "native":
                assert frame["offset"] > 0 and frame["length"] > 0
            elif encoding == "encapsulated":
                assert frame["fragments"] and all(o > 0 and n > 0 for o, n in frame["fragments"])


def test_shared_series_are_ordered_along_the_slice_normal(shared_series: list[SeriesFound]) -> None:
    checked = 0
    for found in shared_series:
        frames = found.metadata["frames"]
        if len(frames) < 2 or any(f["position"] is None for f in frames):
            continue
        normal = slice_normal(frames[0]["orientation"])
        assert normal is not None
        locations = [float(np.dot(f["position"], normal)) for f in frames]
        volumes = _split_volumes(locations)
        for volume in volumes:
            assert (
                all(b > a for a, b in zip(volume, volume[1:], strict=False))
                or len(set(volume)) == 1
            )
        checked += 1
    assert checked >= 5


def _split_volumes(locations: list[float]) -> list[list[float]]:
    """Consecutive runs in which the location does not go back (one volume each)."""
    volumes: list[list[float]] = [[locations[0]]]
    for location in locations[1:]:
        if location < volumes[-1][-1] - 1e-6:
            volumes.append([])
        volumes[-1].append(location)
    return volumes


def test_known_series_warnings(shared_series: list[SeriesFound]) -> None:
    by_folder = {Path(f.paths[0]).parent.name: f for f in shared_series if len(f.paths) > 1}
    assert any("tilted gantry" in w for w in by_folder["ct-siemens-tilted-4slices"].warnings)
    assert any("several volumes" in w for w in by_folder["enhanced-mr-siemens-xa10"].warnings)
    assert by_folder["mr-siemens-6slices"].warnings == ()
    jpegls = by_folder["mr-jpegls-4slices"]
    assert jpegls.warnings == ()
    assert [Path(p).name for p in jpegls.paths] == sorted(Path(p).name for p in jpegls.paths)
    numbers = [f["instance_number"] for f in jpegls.metadata["frames"]]
    assert numbers == [4, 3, 2, 1]  # the normal points to -x while the positions grow in +x


def test_enhanced_multiframe_keeps_per_frame_windows_and_rescale(sample_data: Path) -> None:
    found = _single(
        str(sample_data / DICOM / "multiframe" / "philips-enhanced-mr-IM_0027_fMAP.dcm")
    )
    frames = found.metadata["frames"]
    assert len(frames) == 64
    slopes = {round(f["rescale"]["slope"], 6) for f in frames}
    assert slopes == {1.279853, 0.2442}  # two stacks, each with its own rescale
    assert all(len(f["windows"]) == 1 for f in frames)
    assert len({f["windows"][0]["center"] for f in frames}) > 1  # windows per frame
    assert any("several volumes" in w for w in found.warnings)


def test_ct_values_are_hounsfield(sample_data: Path) -> None:
    found = _single(str(sample_data / DICOM / "compressed" / "CT1_J2KI.dcm"))
    series = Series(found.metadata)
    _value, unit = series.value(0, 256, 256)
    assert unit == "HU"
    assert found.metadata["modality"] == "CT" and found.metadata["pixel_spacing_mm"] == [
        0.661468,
        0.661468,
    ]


def test_metadata_is_plain_json(shared_series: list[SeriesFound]) -> None:
    for found in shared_series:
        assert json.loads(json.dumps(found.metadata, allow_nan=False)) == found.metadata


# --- tests: pydicom's own files -------------------------------------------------------------


@pytest.mark.parametrize("name", PYDICOM_FILES)
def test_pydicom_test_file_matches_pydicom(name: str) -> None:
    path = get_testdata_file(name)
    assert isinstance(path, str)
    _compare_all_frames(
        _single(path), LOSSY_COLOUR_TOLERANCE.get(name, 1), LOSSY_VALUE_TOLERANCE.get(name, 0.0)
    )


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("MR_truncated.dcm", "truncated"),
        ("rtplan.dcm", "not an image"),
        ("test-SR.dcm", "not an image"),
        ("waveform_ecg.dcm", "not an image"),
    ],
)
def test_pydicom_files_that_are_no_images(name: str, reason: str) -> None:
    path = get_testdata_file(name)
    assert isinstance(path, str)
    outcomes = list(discover_series([path]))
    assert len(outcomes) == 1 and not isinstance(outcomes[0], SeriesFound)
    assert reason in outcomes[0].reason


def test_rendering_never_raises_anything_but_samsyn_errors(
    shared_series: list[SeriesFound],
) -> None:
    for found in shared_series:
        series = Series(found.metadata)
        for bad in (-1, len(series), 10**6):
            with pytest.raises(SamsynError):
                series.render(bad)
        with pytest.raises(SamsynError):
            series.value(0, series.columns, 0)
        with pytest.raises(SamsynError):
            series.render(0, (40.0, 0.0))
