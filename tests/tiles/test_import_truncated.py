"""A DICOM file cut short is refused at import in one line saying so, never imported as if
it were whole: encapsulated pixel data whose last fragment runs past the end of the file or
that lacks its sequence delimiter, and uncompressed pixel data shorter than its frames need.
A compressed frame whose codestream lacks its end marker imports with an "incomplete" warning.

The files are made here with pydicom and imagecodecs; the same cuts on the real samples in
../shared/data (copied to a temporary folder first) skip without them.
"""

from __future__ import annotations

import shutil
import struct
import warnings
from collections.abc import Iterator
from pathlib import Path

import imagecodecs
import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import (
    UID,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    generate_uid,
)

from app.importer import import_paths
from tests.conftest import TEST_CASE, TEST_ORG, TEST_PATIENT, make_app
from tests.tiles.wsi_dicom import VOLUME, tissue_rgb, write_instance, write_slide
from tiles.discover import Failed, Found, Outcome, SeriesFound, discover
from tiles.radiology.synthetic import phantom, write_ct_slice

SIZE = 64
ITEM = b"\xfe\xff\x00\xe0"


@pytest.fixture(autouse=True)
def _quiet_readers() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def outcome_of(*paths: Path) -> Outcome:
    (outcome,) = discover(*(str(path) for path in paths))
    return outcome


def incomplete(outcome: Outcome) -> bool:
    """Whether a found series carries the warning that its image may be incomplete."""
    assert isinstance(outcome, SeriesFound), outcome
    return any(warning.startswith("incomplete") for warning in outcome.warnings)


def assert_truncated(outcome: Outcome, path: Path) -> None:
    assert isinstance(outcome, Failed), outcome
    assert outcome.path == str(path) and "truncated" in outcome.reason, outcome
    assert "\n" not in outcome.reason


def import_lines(tmp_path: Path, *paths: Path) -> list[str]:
    app = make_app(tmp_path / "data")
    owner = (TEST_ORG, TEST_PATIENT, TEST_CASE)
    return [line for line, _ok in import_paths(app, [str(p) for p in paths], owner)]


# --- synthetic compressed CT ------------------------------------------------------------------


def stored_ct(seed: int = 0) -> np.ndarray:
    """Stored values (HU + 1024) of one synthetic CT slice."""
    hu = phantom(SIZE, 0.3, noise=10, seed=seed)
    return np.clip(hu.astype(np.int32) + 1024, 0, 4095).astype(np.uint16)


def encode(stored: np.ndarray, transfer_syntax: str) -> bytes:
    if transfer_syntax == JPEG2000Lossless:
        return bytes(imagecodecs.jpeg2k_encode(stored, reversible=True, codecformat="j2k"))
    if transfer_syntax == JPEGLSLossless:
        return bytes(imagecodecs.jpegls_encode(stored, level=0))
    return bytes(imagecodecs.jpeg8_encode((stored >> 4).astype(np.uint8), level=90))


def compressed_ct(
    path: Path,
    transfer_syntax: str = JPEG2000Lossless,
    frames: int = 1,
    fragments_per_frame: int = 1,
    cut: slice | None = None,
) -> Path:
    """A CT file of compressed frames; `cut` shortens each codestream (a re-wrapped cut)."""
    write_ct_slice(
        path,
        phantom(SIZE, 0.3, noise=0),
        study_uid=generate_uid(),
        series_uid=generate_uid(),
        position=(0.0, 0.0, 0.0),
        instance_number=1,
    )
    dataset = pydicom.dcmread(path)
    codestreams = [encode(stored_ct(k), transfer_syntax) for k in range(frames)]
    if cut is not None:
        codestreams = [stream[cut] for stream in codestreams]
    dataset.file_meta.TransferSyntaxUID = UID(transfer_syntax)
    if transfer_syntax == JPEGBaseline8Bit:
        dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 8, 8, 7
    if frames > 1:
        dataset.NumberOfFrames = frames
    dataset.PixelData = encapsulate(codestreams, fragments_per_frame=fragments_per_frame)
    dataset["PixelData"].VR = "OB"
    dataset.save_as(path)
    return path


def item_ends(path: Path) -> list[int]:
    """File offsets where the items of the (last, encapsulated) pixel data end, in order:
    the offset table's first, then each fragment's."""
    data = path.read_bytes()
    position = data.rindex(b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff") + 12
    ends = []
    while data[position : position + 4] == ITEM:
        (length,) = struct.unpack("<I", data[position + 4 : position + 8])
        position += 8 + length
        ends.append(position)
    assert data[position : position + 8] == b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    return ends


def cut_at(path: Path, size: int) -> Path:
    path.write_bytes(path.read_bytes()[:size])
    return path


def test_a_whole_compressed_ct_file_imports_without_warnings(tmp_path: Path) -> None:
    for syntax in (JPEG2000Lossless, JPEGLSLossless, JPEGBaseline8Bit):
        path = compressed_ct(tmp_path / f"{syntax}.dcm", syntax, frames=2, fragments_per_frame=2)
        assert not incomplete(outcome_of(path))


def test_cut_inside_the_last_fragment_fails(tmp_path: Path) -> None:
    path = compressed_ct(tmp_path / "ct.dcm")
    last = item_ends(path)[-1]
    assert_truncated(outcome_of(cut_at(path, last - 1000)), path)


def test_cut_where_the_sequence_delimiter_begins_fails(tmp_path: Path) -> None:
    path = compressed_ct(tmp_path / "ct.dcm")
    assert_truncated(outcome_of(cut_at(path, item_ends(path)[-1])), path)


def test_cut_between_the_fragments_of_a_frame_fails(tmp_path: Path) -> None:
    path = compressed_ct(tmp_path / "ct.dcm", fragments_per_frame=3)
    _table, _first, second, _third = item_ends(path)
    assert_truncated(outcome_of(cut_at(path, second)), path)


def test_cut_after_a_whole_frame_of_several_fails(tmp_path: Path) -> None:
    path = compressed_ct(tmp_path / "ct.dcm", frames=3)
    _table, _first, second, _third = item_ends(path)
    assert_truncated(outcome_of(cut_at(path, second)), path)


@pytest.mark.parametrize("syntax", [JPEGLSLossless, JPEGBaseline8Bit, JPEG2000Lossless])
def test_a_codestream_cut_short_inside_a_whole_file_is_incomplete(
    tmp_path: Path, syntax: str
) -> None:
    """The DICOM structure is whole but the codestream stops early: the JPEG and JPEG-LS
    decoders show it without a word; import says the image may be incomplete."""
    path = compressed_ct(tmp_path / "ct.dcm", syntax, cut=slice(0, -301))
    outcome = outcome_of(path)
    if isinstance(outcome, Failed):  # OpenJPEG refuses a cut codestream: refused is fine too
        assert syntax == JPEG2000Lossless, outcome
        return
    assert incomplete(outcome)


def test_samsyn_import_says_a_cut_codestream_is_incomplete(tmp_path: Path) -> None:
    path = compressed_ct(tmp_path / "ct.dcm", JPEGLSLossless, cut=slice(0, -301))
    (line,) = import_lines(tmp_path, path)
    assert line.startswith("imported ") and "(warnings: " in line and "incomplete" in line


def test_samsyn_import_refuses_a_truncated_compressed_file_in_one_line(tmp_path: Path) -> None:
    path = compressed_ct(tmp_path / "ct.dcm", fragments_per_frame=2)
    cut_at(path, item_ends(path)[-1])
    lines = import_lines(tmp_path, path)
    assert len(lines) == 1 and lines[0].startswith(f"failed {path}: "), lines
    assert "truncated" in lines[0]


# --- synthetic uncompressed data -----------------------------------------------------------


def native_ct(path: Path) -> Path:
    return write_ct_slice(
        path,
        phantom(SIZE, 0.3, noise=0),
        study_uid=generate_uid(),
        series_uid=generate_uid(),
        position=(0.0, 0.0, 0.0),
        instance_number=1,
    )


def test_uncompressed_data_cut_short_fails(tmp_path: Path) -> None:
    path = native_ct(tmp_path / "ct.dcm")
    assert_truncated(outcome_of(cut_at(path, path.stat().st_size - 2)), path)


def test_uncompressed_data_shorter_than_its_frames_need_fails(tmp_path: Path) -> None:
    path = native_ct(tmp_path / "ct.dcm")
    dataset = pydicom.dcmread(path)
    dataset.NumberOfFrames = 2
    dataset.save_as(path)
    outcome = outcome_of(path)
    assert isinstance(outcome, Failed) and outcome.reason == (
        f"the pixel data holds {SIZE * SIZE * 2} bytes but rows x columns x frames need "
        f"{SIZE * SIZE * 4}: the header does not match the data"
    )


def test_bit_packed_data_cut_short_fails(tmp_path: Path) -> None:
    """One-bit data is decoded by pydicom from the whole file; it is checked all the same."""
    path = native_ct(tmp_path / "mask.dcm")
    dataset = pydicom.dcmread(path)
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 1, 1, 0
    dataset.NumberOfFrames = 4
    for keyword in ("RescaleIntercept", "RescaleSlope", "RescaleType"):
        delattr(dataset, keyword)
    bits = (np.arange(SIZE * SIZE * 4) % 3 == 0).astype(np.uint8)
    dataset.PixelData = np.packbits(bits, bitorder="little").tobytes()
    dataset.save_as(path)
    assert isinstance(outcome_of(path), SeriesFound)
    assert_truncated(outcome_of(cut_at(path, path.stat().st_size - 100)), path)


# --- synthetic whole-slide instances --------------------------------------------------------


def slide_instance(path: Path, jpeg: bool = False) -> Path:
    return write_instance(
        path,
        tissue_rgb(256, 192),
        tile=64,
        image_type=VOLUME,
        study_uid=generate_uid(),
        series_uid=generate_uid(),
        jpeg=jpeg,
    )


@pytest.mark.parametrize("jpeg", [False, True], ids=["uncompressed", "jpeg"])
def test_a_whole_slide_instance_cut_short_fails(tmp_path: Path, jpeg: bool) -> None:
    path = slide_instance(tmp_path / "slide.dcm", jpeg)
    assert isinstance(outcome_of(path), Found)
    assert_truncated(outcome_of(cut_at(path, path.stat().st_size * 2 // 3)), path)


def test_a_cut_level_fails_alone_and_the_rest_of_the_slide_imports(tmp_path: Path) -> None:
    level0, level1, thumbnail, label = write_slide(tmp_path / "slide")
    cut_at(level0, level0.stat().st_size - 5000)
    found = list(discover(str(tmp_path / "slide")))
    assert_truncated(found[0], level0)
    assert len(found) == 2 and isinstance(found[1], Found)
    assert found[1].paths == tuple(sorted(map(str, (level1, thumbnail, label))))
    assert [(level.width, level.height) for level in found[1].info.levels] == [(256, 192)]


def test_samsyn_import_refuses_a_truncated_slide_in_one_line(tmp_path: Path) -> None:
    path = slide_instance(tmp_path / "slide.dcm")
    cut_at(path, path.stat().st_size - 10)
    lines = import_lines(tmp_path, path)
    assert len(lines) == 1 and lines[0].startswith(f"failed {path}: the file is truncated")


# --- the real samples, copied and cut --------------------------------------------------------


def sample_copy(sample_data: Path, relative: str, folder: Path) -> Path:
    source = sample_data / relative
    if not source.exists():
        pytest.skip(f"sample {source} is missing")
    target = folder / source.name
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copyfile(source, target)
    return target


def test_real_jpeg_2000_file_cut_in_its_last_fragment_or_before_the_delimiter_fails(
    sample_data: Path, tmp_path: Path
) -> None:
    path = sample_copy(sample_data, "dicom/transfer-syntax/dcm_qa_ts/9.dcm", tmp_path)
    whole = path.read_bytes()
    assert whole[-8:] == b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    for size in (len(whole) - 8, len(whole) - 5000, len(whole) // 2):
        path.write_bytes(whole[:size])
        assert_truncated(outcome_of(path), path)


@pytest.mark.parametrize("name", ["raw.dicom", "jpeg.dicom", "jpeg2000.dicom"])
def test_real_whole_slide_instance_cut_short_fails(
    sample_data: Path, tmp_path: Path, name: str
) -> None:
    path = sample_copy(sample_data, f"wsi/dicom-wsi/gcp-bone/{name}", tmp_path)
    for size in (path.stat().st_size - 8, path.stat().st_size // 2):
        assert_truncated(outcome_of(cut_at(path, size)), path)


def test_real_slide_with_a_cut_level_imports_without_that_level(
    sample_data: Path, tmp_path: Path
) -> None:
    folder = sample_copy(sample_data, "wsi/dicom-wsi/BPAEC", tmp_path)
    for file in folder.iterdir():
        file.chmod(0o644)  # the samples are read-only
    cut_at(folder / "5_0", (folder / "5_0").stat().st_size // 2)
    failed, slide = discover(str(folder))
    assert_truncated(failed, folder / "5_0")
    assert isinstance(slide, Found) and str(folder / "5_0") not in slide.paths
    assert len(slide.info.levels) == 7 and slide.info.levels[0].width == 1536


def test_real_jpeg_ls_codestream_cut_short_is_incomplete(sample_data: Path, tmp_path: Path) -> None:
    path = sample_copy(sample_data, "dicom/transfer-syntax/dcm_qa_ts/7.dcm", tmp_path)
    path.chmod(0o644)
    assert not incomplete(outcome_of(path))
    dataset = pydicom.dcmread(path)
    (codestream,) = generate_frames(dataset.PixelData, number_of_frames=1)
    dataset.PixelData = encapsulate([codestream[: len(codestream) // 2]])
    dataset.save_as(path)
    assert incomplete(outcome_of(path))
