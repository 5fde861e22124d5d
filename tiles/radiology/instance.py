"""One DICOM file read at import: recognised by content, its header read once, described.

The description is everything rendering needs later (pixel format, lookup tables, where
each frame's bytes are) and everything the series needs for grouping and ordering
(study and series UIDs, per-frame position, rescale and windows).
"""

from __future__ import annotations

import os
import struct
import warnings
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_color_lut
from pydicom.uid import UID

from samsyn import personnummer
from samsyn.errors import Unreadable
from tiles.radiology import pixeldata, syntax
from tiles.radiology.model import (
    ENCAPSULATED,
    NATIVE,
    VIA_PYDICOM,
    FileRecord,
    FrameRecord,
    Lut,
    Palette,
    Rescale,
    Span,
    Window,
)
from tiles.radiology.values import (
    get,
    integer,
    iso_date,
    number,
    numbers,
    one_line,
    point,
    text,
    texts,
)

WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"
UNENDED = (
    "incomplete: compressed frame data ends without its end-of-image marker "
    "(the file may have been cut short; part of the image may be missing)"
)
_ENDED = {syntax.JPEG, syntax.JPEG_LS, syntax.JPEG2000}  # codestreams that end with FFD9
VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")
_COLOUR_SPACES = {"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420"}


class NotRadiology(Exception):
    """A file that is fine but not a radiology image samsyn shows (a report, a slide, ...)."""


@dataclass(frozen=True)
class Instance:
    """One file: its pixel format, its frames and the values its series shares."""

    file: FileRecord
    frames: tuple[FrameRecord, ...]
    study_uid: str
    series_uid: str
    description: dict[str, Any]
    measures: dict[str, Any]
    gantry_tilt: float = 0.0
    notes: tuple[str, ...] = ()


def looks_like_dicom(path: str) -> bool:
    """Whether a file is DICOM: the 'DICM' magic after the preamble, or a bare data set.

    The preamble may hold anything, a TIFF header included (dual-personality files).
    """
    try:
        with open(path, "rb") as stream:
            head = stream.read(132)
    except OSError:
        return False
    if len(head) == 132 and head[128:132] == b"DICM":
        return True
    return _looks_like_data_set(head)


def _looks_like_data_set(head: bytes) -> bool:
    """A data set without preamble and meta starts with a group 0002 or 0008 element."""
    if len(head) < 12:
        return False
    for order in ("<", ">"):
        group, element, length = struct.unpack(order + "HHI", head[:8])
        if group not in (0x0002, 0x0008) or element > 0x0100:
            continue
        explicit_vr = head[4:6].isalpha() and head[4:6].isupper()
        if explicit_vr or length < 0x10000:
            return True
    return False


def read_instance(path: str) -> Instance:
    """Read and describe one DICOM file, or raise NotRadiology / Unreadable saying why."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        size = os.path.getsize(path)
        with open(path, "rb") as stream:
            dataset = _read_header(stream)
            _refuse_other_objects(dataset)
            element = _pixel_element(stream, dataset)
            return _describe(path, size, stream, dataset, element)


def check_pixel_data(path: str) -> None:
    """Raise Unreadable when a DICOM file's pixel data is missing or ends early.

    For whole-slide instances, which their reader opens and shows as far as they go: a
    file cut short would otherwise be imported as if it were whole.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with open(path, "rb") as stream:
            dataset = _read_header(stream)
            if _transfer_syntax_in_meta(dataset) == syntax.DEFLATED_LITTLE:
                return  # only inflating it tells, and its reader does that
            implicit, little = _encoding(dataset)
            element = pixeldata.read_pixel_element(stream, stream.tell(), little, implicit)
            if element is None:
                raise Unreadable("the file has no pixel data (it may end early)")
            _check_complete(stream, dataset, element, os.path.getsize(path))


def _check_complete(
    stream: BinaryIO, dataset: Dataset, element: pixeldata.PixelElement, size: int
) -> None:
    """Refuse pixel data that ends early: encapsulated data whose fragments run past the end
    of the file or lack their sequence delimiter, uncompressed data shorter than its rows,
    columns, samples, bits and frames need."""
    if element.length is None:
        pixeldata.read_fragments(stream, element, size)
    else:
        pixeldata.check_native(element, _native_length(dataset), size)


def _read_header(stream: BinaryIO) -> Dataset:
    try:
        return pydicom.dcmread(stream, stop_before_pixels=True, force=True)
    except Exception as error:
        raise Unreadable(f"damaged DICOM header: {one_line(error)}") from error


def _refuse_other_objects(dataset: Dataset) -> None:
    """Whole-slide images belong to the slide importer; directories and reports are no images."""
    sop_class = text(get(dataset, "SOPClassUID"))
    if sop_class == WSI_SOP_CLASS:
        raise NotRadiology("whole-slide image")
    if sop_class == "1.2.840.10008.1.3.10":
        raise NotRadiology("DICOMDIR (a media directory, not an image)")


def _encoding(dataset: Dataset) -> tuple[bool, bool]:
    """(implicit VR, little endian) as the data set was actually read."""
    implicit, little = getattr(dataset, "original_encoding", (None, None))
    return bool(implicit) if implicit is not None else False, little is not False


def _pixel_element(stream: BinaryIO, dataset: Dataset) -> pixeldata.PixelElement | None:
    implicit, little = _encoding(dataset)
    if _transfer_syntax_in_meta(dataset) == syntax.DEFLATED_LITTLE:
        _check_deflated_pixels(stream, dataset)
        return None  # offsets in a deflated file mean nothing: pydicom decodes it
    element = pixeldata.read_pixel_element(stream, stream.tell(), little, implicit)
    if element is None:
        _no_pixel_data(dataset)
    return element


def _check_deflated_pixels(stream: BinaryIO, dataset: Dataset) -> None:
    """A deflated data set is read whole (inflated by pydicom) to see that it has pixels."""
    stream.seek(0)
    try:
        whole = pydicom.dcmread(stream, force=True)
    except Exception as error:
        raise Unreadable(f"damaged deflated DICOM file: {one_line(error)}") from error
    if "PixelData" not in whole:
        _no_pixel_data(dataset)


IMAGE_MODALITIES = frozenset(
    {"CT", "MR", "US", "CR", "DX", "MG", "XA", "RF", "NM", "PT", "OT", "SC", "IO", "PX", "OP"}
)


def _no_pixel_data(dataset: Dataset) -> None:
    """An image object without pixels is broken (often a file that ends early); other
    objects (reports, presentation states) are simply not images."""
    meta = getattr(dataset, "file_meta", None)
    sop_class = text(get(dataset, "SOPClassUID")) or text(get(meta, "MediaStorageSOPClassUID"))
    name = UID(sop_class).name if sop_class else ""
    modality = text(get(dataset, "Modality"))
    if "Rows" in dataset or "Image" in name or modality in IMAGE_MODALITIES:
        raise Unreadable(f"{name or 'the DICOM image'} has no pixel data (the file may end early)")
    raise NotRadiology(
        f"DICOM {modality + ' ' if modality else ''}{name or 'object'}: not an image"
    )


def _transfer_syntax_in_meta(dataset: Dataset) -> str:
    meta = getattr(dataset, "file_meta", None)
    return text(get(meta, "TransferSyntaxUID")) if meta is not None else ""


def _transfer_syntax(
    dataset: Dataset, element: pixeldata.PixelElement | None, stream: BinaryIO
) -> str:
    """The file's transfer syntax, guessed from the encoding and codestream when not written."""
    written = _transfer_syntax_in_meta(dataset)
    if written:
        return written
    if element is not None and element.length is None:
        stream.seek(element.value_offset)
        _tag, table_length = struct.unpack("<II", stream.read(8))
        stream.seek(element.value_offset + 8 + table_length + 8)
        guess = syntax.guess_from_codestream(stream.read(64))
        if guess is None:
            raise Unreadable("compressed pixel data without a transfer syntax, of an unknown kind")
        return guess
    implicit, little = _encoding(dataset)
    if implicit:
        return syntax.IMPLICIT_LITTLE
    return syntax.EXPLICIT_LITTLE if little else syntax.EXPLICIT_BIG


def _describe(
    path: str,
    size: int,
    stream: BinaryIO,
    dataset: Dataset,
    element: pixeldata.PixelElement | None,
) -> Instance:
    transfer_syntax = _transfer_syntax(dataset, element, stream)
    record = _file_record(path, size, dataset, transfer_syntax, element)
    spans = _frame_spans(stream, record, dataset, element)
    frames = frame_records(dataset, record, spans)
    notes = _notes(dataset) + _unended(stream, record, spans)
    return Instance(
        file=record,
        frames=tuple(frames),
        study_uid=text(get(dataset, "StudyInstanceUID")),
        series_uid=text(get(dataset, "SeriesInstanceUID")),
        description=describe_series(dataset),
        measures=_measures(dataset),
        gantry_tilt=number(get(dataset, "GantryDetectorTilt")) or 0.0,
        notes=tuple(notes),
    )


def _required(dataset: Dataset, keyword: str, tag: str) -> int:
    value = integer(get(dataset, keyword))
    if value is None:
        raise Unreadable(f"{keyword} ({tag}) is missing")
    return value


def _file_record(
    path: str,
    size: int,
    dataset: Dataset,
    transfer_syntax: str,
    element: pixeldata.PixelElement | None,
) -> FileRecord:
    """The pixel format of the file, checked for values no decoder can honour."""
    rows = _required(dataset, "Rows", "0028,0010")
    columns = _required(dataset, "Columns", "0028,0011")
    bits_allocated = _required(dataset, "BitsAllocated", "0028,0100")
    samples = integer(get(dataset, "SamplesPerPixel")) or 1
    photometric = text(get(dataset, "PhotometricInterpretation")).upper()
    photometric = photometric or ("MONOCHROME2" if samples == 1 else "RGB")
    bits_stored = integer(get(dataset, "BitsStored")) or bits_allocated
    _check_format(rows, columns, bits_allocated, bits_stored, samples, photometric)
    family = syntax.family(transfer_syntax)
    return FileRecord(
        path=os.path.abspath(path),
        size=size,
        transfer_syntax=transfer_syntax,
        encoding=_encoding_kind(transfer_syntax, family, bits_allocated, element),
        rows=rows,
        columns=columns,
        samples_per_pixel=samples,
        planar_configuration=integer(get(dataset, "PlanarConfiguration")) or 0,
        bits_allocated=bits_allocated,
        bits_stored=bits_stored,
        pixel_representation=integer(get(dataset, "PixelRepresentation")) or 0,
        photometric_interpretation=photometric,
        big_endian=transfer_syntax == syntax.EXPLICIT_BIG,
        swap_ow=_swap_ow(transfer_syntax, bits_allocated, element),
        presentation_lut_shape=text(get(dataset, "PresentationLUTShape")).upper(),
        modality=text(get(dataset, "Modality")).upper(),
        sop_instance_uid=text(get(dataset, "SOPInstanceUID")),
        number_of_frames=_number_of_frames(dataset),
        modality_lut=_modality_lut(dataset),
        voi_luts=tuple(_voi_luts(dataset)),
        palette=_palette(dataset, photometric),
    )


def _check_format(
    rows: int, columns: int, bits_allocated: int, bits_stored: int, samples: int, photometric: str
) -> None:
    if rows <= 0 or columns <= 0:
        raise Unreadable(f"the image size {columns} x {rows} is empty")
    if bits_allocated not in (1, 8, 16, 32):
        raise Unreadable(f"{bits_allocated} bits allocated per sample are not supported")
    if not 1 <= bits_stored <= bits_allocated:
        raise Unreadable(f"{bits_stored} bits stored in {bits_allocated} allocated")
    if samples not in (1, 3):
        raise Unreadable(f"{samples} samples per pixel are not supported")
    known = photometric.startswith("MONOCHROME") or photometric == "PALETTE COLOR"
    if samples == 1 and not known or samples == 3 and photometric not in _COLOUR_SPACES:
        raise Unreadable(f"photometric interpretation {photometric!r} with {samples} samples")


def _encoding_kind(
    transfer_syntax: str,
    family: str | None,
    bits_allocated: int,
    element: pixeldata.PixelElement | None,
) -> str:
    if family is None:
        raise Unreadable(f"{syntax.describe(transfer_syntax)} is not supported")
    if family == syntax.VIDEO:
        raise Unreadable(f"video ({syntax.describe(transfer_syntax)}) is not supported")
    if (
        family == syntax.DEFLATED
        or bits_allocated == 1
        or _swap_ow(transfer_syntax, bits_allocated, element)
    ):
        return VIA_PYDICOM
    if element is None:
        raise Unreadable("the file has no pixel data")
    if family == syntax.NATIVE:
        if element.length is None:
            raise Unreadable(
                "uncompressed transfer syntax but compressed (encapsulated) pixel data"
            )
        return NATIVE
    if element.length is not None:
        raise Unreadable(
            f"{syntax.describe(transfer_syntax)} but the pixel data is not encapsulated"
        )
    return ENCAPSULATED


def _swap_ow(transfer_syntax: str, bits_allocated: int, element: Any) -> bool:
    """8-bit samples stored as big-endian 16-bit words (VR OW) come byte-swapped in pairs,
    across frame boundaries: pydicom decodes those few files whole."""
    return (
        transfer_syntax == syntax.EXPLICIT_BIG
        and bits_allocated == 8
        and element is not None
        and element.vr == "OW"
    )


def _number_of_frames(dataset: Dataset) -> int:
    frames = integer(get(dataset, "NumberOfFrames"))
    if frames is None:
        return 1
    if frames < 1:
        raise Unreadable(f"NumberOfFrames (0028,0008) is {frames}")
    return frames


def _native_length(dataset: Dataset) -> int:
    """Bytes that uncompressed pixel data of this header needs (all frames, bit-packed)."""
    samples = integer(get(dataset, "SamplesPerPixel")) or 1
    if text(get(dataset, "PhotometricInterpretation")).upper() == "YBR_FULL_422":
        samples = 2  # two samples a pixel: Y for each, Cb and Cr shared by two
    return pixeldata.native_length(
        _required(dataset, "Rows", "0028,0010"),
        _required(dataset, "Columns", "0028,0011"),
        samples,
        _required(dataset, "BitsAllocated", "0028,0100"),
        _number_of_frames(dataset),
    )


def native_frame_length(record: FileRecord) -> int:
    """Bytes of one uncompressed frame (YBR_FULL_422 keeps two samples per pixel)."""
    samples = 2 if record.photometric_interpretation == "YBR_FULL_422" else record.samples_per_pixel
    return record.rows * record.columns * samples * (record.bits_allocated // 8)


def _frame_spans(
    stream: BinaryIO,
    record: FileRecord,
    dataset: Dataset,
    element: pixeldata.PixelElement | None,
) -> list[tuple[Span, ...]]:
    """Where the bytes of every frame are: one span (native) or its fragments (encapsulated).

    Data pydicom decodes whole (bit-packed, byte-swapped) is only checked to be all there."""
    if record.encoding == VIA_PYDICOM or element is None:
        if element is not None:
            _check_complete(stream, dataset, element, record.size)
        return [() for _ in range(record.number_of_frames)]
    if record.encoding == NATIVE:
        spans = pixeldata.native_spans(
            element, native_frame_length(record), record.number_of_frames, record.size
        )
        return [(span,) for span in spans]
    table, fragments = pixeldata.read_fragments(stream, element, record.size)
    return pixeldata.frame_fragments(
        fragments,
        record.number_of_frames,
        table,
        _extended_offsets(dataset),
        lambda span: _fragment_starts_frame(stream, span),
    )


def _extended_offsets(dataset: Dataset) -> list[int] | None:
    value = get(dataset, "ExtendedOffsetTable")
    if not isinstance(value, (bytes, bytearray)) or len(value) < 8:
        return None
    return [int(v) for v in np.frombuffer(value[: len(value) // 8 * 8], dtype="<u8")]


def _unended(stream: BinaryIO, record: FileRecord, spans: list[tuple[Span, ...]]) -> list[str]:
    """A warning when a compressed frame lacks the end marker its codestream ends with: the
    JPEG and JPEG-LS decoders show such a cut-short frame without a word."""
    if record.encoding != ENCAPSULATED or syntax.family(record.transfer_syntax) not in _ENDED:
        return []
    for frame in spans:
        if not frame:
            continue  # no fragments at all: decoding it fails, with its own reason
        offset, length = frame[-1]
        stream.seek(offset + max(length - 3, 0))
        if not pixeldata.ends_codestream(stream.read(min(length, 3))):
            return [UNENDED]
    return []


def _fragment_starts_frame(stream: BinaryIO, span: Span) -> bool:
    stream.seek(span[0])
    return pixeldata.starts_codestream(stream.read(12))


# --- frames: position, rescale, windows ---------------------------------------------


def frame_records(
    dataset: Dataset, record: FileRecord, spans: list[tuple[Span, ...]]
) -> list[FrameRecord]:
    """Per-frame geometry and display values, from functional groups or the classic header."""
    shared = _first_item(get(dataset, "SharedFunctionalGroupsSequence"))
    per_frame = get(dataset, "PerFrameFunctionalGroupsSequence")
    grid = numbers(get(dataset, "GridFrameOffsetVector"))
    frames = []
    for index, frame_spans in enumerate(spans):
        item = per_frame[index] if per_frame is not None and index < len(per_frame) else None
        groups = _FrameGroups(dataset, item, shared)
        frames.append(_frame(groups, record, index, frame_spans, grid))
    return frames


@dataclass(frozen=True)
class _FrameGroups:
    """Where a frame's attributes are: its per-frame item, the shared item, the top level."""

    dataset: Dataset
    per_frame: Dataset | None
    shared: Dataset | None

    def item(self, sequence: str) -> Dataset | None:
        """The functional group's item for this frame: per-frame first, then shared."""
        for holder in (self.per_frame, self.shared):
            found = _first_item(get(holder, sequence))
            if found is not None:
                return found
        return None

    def value(self, sequence: str, keyword: str) -> Any:
        """An attribute from its functional group, else from the top level of the header."""
        item = self.item(sequence)
        found = get(item, keyword) if item is not None else None
        return found if found is not None else get(self.dataset, keyword)


def _first_item(sequence: Any) -> Dataset | None:
    try:
        return sequence[0] if sequence else None
    except Exception:
        return None


def _frame(
    groups: _FrameGroups,
    record: FileRecord,
    index: int,
    spans: tuple[Span, ...],
    grid: tuple[float, ...] | None,
) -> FrameRecord:
    orientation = numbers(groups.value("PlaneOrientationSequence", "ImageOrientationPatient"), 6)
    rescale = _rescale(groups, record.modality)
    return FrameRecord(
        file=0,
        frame=index,
        spans=spans,
        position=_position(groups, record, index, orientation, grid),
        orientation=orientation,
        instance_number=integer(get(groups.dataset, "InstanceNumber")),
        temporal_index=_temporal_index(groups),
        unit=_unit(rescale, record),
        rescale=rescale,
        windows=tuple(_windows(groups)),
        voi_lut_function=_voi_function(groups),
    )


def _position(
    groups: _FrameGroups,
    record: FileRecord,
    index: int,
    orientation: tuple[float, ...] | None,
    grid: tuple[float, ...] | None,
) -> tuple[float, float, float] | None:
    """The frame's ImagePositionPatient; classic multi-frame files only have one for frame 0
    unless a Grid Frame Offset Vector (RT dose) spaces the frames along the normal."""
    item = groups.item("PlanePositionSequence")
    if item is not None:
        return point(get(item, "ImagePositionPatient"))
    first = point(get(groups.dataset, "ImagePositionPatient"))
    if first is None or record.number_of_frames == 1:
        return first
    if grid is None or orientation is None or len(grid) != record.number_of_frames:
        return None
    normal = np.cross(orientation[:3], orientation[3:])
    moved = np.asarray(first) + grid[index] * normal
    return (float(moved[0]), float(moved[1]), float(moved[2]))


def _temporal_index(groups: _FrameGroups) -> int | None:
    item = groups.item("FrameContentSequence")
    if item is not None and get(item, "TemporalPositionIndex") is not None:
        return integer(get(item, "TemporalPositionIndex"))
    return integer(get(groups.dataset, "TemporalPositionIdentifier"))


def _rescale(groups: _FrameGroups, modality: str) -> Rescale:
    """Slope, intercept and type; a CT image without Rescale Type is in HU (PS3.3 C.8.2.1)."""
    sequence = "PixelValueTransformationSequence"
    slope = number(groups.value(sequence, "RescaleSlope"))
    intercept = number(groups.value(sequence, "RescaleIntercept"))
    kind = text(groups.value(sequence, "RescaleType")).upper()
    if not kind and modality == "CT":
        kind = "HU"
    return Rescale(1.0 if slope is None else slope, intercept or 0.0, kind)


def _unit(rescale: Rescale, record: FileRecord) -> str:
    """HU when the file says so, by Rescale Type or Modality LUT Type; else no unit."""
    lut = record.modality_lut
    if lut is not None:
        return "HU" if lut.explanation.upper() == "HU" else ""
    return "HU" if rescale.type == "HU" else ""


def _windows(groups: _FrameGroups) -> list[Window]:
    """The frame's windows; widths no VOI function accepts are left out."""
    sequence = "FrameVOILUTSequence"
    centers = numbers(groups.value(sequence, "WindowCenter")) or ()
    widths = numbers(groups.value(sequence, "WindowWidth")) or ()
    explanations = texts(groups.value(sequence, "WindowCenterWidthExplanation"))
    found = []
    for index, (center, width) in enumerate(zip(centers, widths, strict=False)):
        if width > 0:
            label = explanations[index] if index < len(explanations) else ""
            found.append(Window(center, width, label))
    return found


def _voi_function(groups: _FrameGroups) -> str:
    function = text(groups.value("FrameVOILUTSequence", "VOILUTFunction")).upper()
    return function if function in VOI_FUNCTIONS else "LINEAR"


# --- lookup tables ---------------------------------------------------------------------


def _modality_lut(dataset: Dataset) -> Lut | None:
    """The Modality LUT Sequence's table; its explanation slot carries the Modality LUT Type."""
    item = _first_item(get(dataset, "ModalityLUTSequence"))
    signed = integer(get(dataset, "PixelRepresentation")) == 1
    lut = _lut(item, dataset, signed) if item is not None else None
    if lut is None or item is None:
        return None
    return Lut(lut.first, lut.bits, lut.data, text(get(item, "ModalityLUTType")).upper())


def _voi_luts(dataset: Dataset) -> list[Lut]:
    """VOI LUTs; their input (modality values) is signed when stored values are or when a
    negative intercept makes it so (CT), whatever VR an implicit-VR reader assumed."""
    sequence = get(dataset, "VOILUTSequence") or []
    signed = (
        integer(get(dataset, "PixelRepresentation")) == 1
        or (number(get(dataset, "RescaleIntercept")) or 0.0) < 0
    )
    found = (_lut(item, dataset, signed) for item in sequence)
    return [lut for lut in found if lut is not None]


def _lut(item: Dataset, dataset: Dataset, signed: bool) -> Lut | None:
    """A LUT item's descriptor and data; None for an empty or malformed item."""
    descriptor = numbers(get(item, "LUTDescriptor"), 3)
    data = _lut_data(item, dataset)
    if descriptor is None or not data:
        return None
    entries = int(descriptor[0]) % 65536 or 65536
    first = int(descriptor[1])
    if signed and first >= 32768:
        first -= 65536  # the descriptor's US/SS ambiguity (PS3.3 C.11.1.1, C.11.2.1.1)
    explanation = text(get(item, "LUTExplanation"))
    return Lut(first, int(descriptor[2]), tuple(data[:entries]), explanation)


def _lut_data(item: Dataset, dataset: Dataset) -> list[int]:
    value = get(item, "LUTData")
    if value is None:
        return []
    if isinstance(value, (bytes, bytearray)):
        order = "<" if _encoding(dataset)[1] else ">"
        return np.frombuffer(value[: len(value) // 2 * 2], dtype=order + "u2").tolist()
    if isinstance(value, int):
        return [value]
    return [int(entry) for entry in value]


def _palette(dataset: Dataset, photometric: str) -> Palette | None:
    """The palette expanded to one RGB entry per input value (segmented palettes included)."""
    if photometric != "PALETTE COLOR":
        return None
    descriptor = numbers(get(dataset, "RedPaletteColorLookupTableDescriptor"), 3)
    if descriptor is None:
        raise Unreadable("PALETTE COLOR image without its palette lookup tables")
    entries = int(descriptor[0]) % 65536 or 65536
    first = int(descriptor[1])
    try:
        table = apply_color_lut(np.arange(first, first + entries), dataset)
    except Exception as error:
        raise Unreadable(f"the palette lookup tables cannot be read: {one_line(error)}") from error
    bits = 8 if table.dtype == np.uint8 else 16
    red, green, blue = (tuple(table[:, channel].tolist()) for channel in range(3))
    return Palette(first, bits, red, green, blue)


# --- series-level values ---------------------------------------------------------------


def describe_series(dataset: Dataset) -> dict[str, Any]:
    """Patient, study and series values the web app stores and shows."""
    patient_id = text(get(dataset, "PatientID"))
    return {
        "study_uid": text(get(dataset, "StudyInstanceUID")),
        "series_uid": text(get(dataset, "SeriesInstanceUID")),
        "sop_class_uid": text(get(dataset, "SOPClassUID")),
        "modality": text(get(dataset, "Modality")).upper(),
        "patient_name": text(get(dataset, "PatientName")),
        "patient_id": patient_id,
        "personnummer": _personnummer(patient_id),
        "patient_birth_date": iso_date(get(dataset, "PatientBirthDate")),
        "patient_sex": text(get(dataset, "PatientSex")),
        "study_date": iso_date(get(dataset, "StudyDate")),
        "study_description": text(get(dataset, "StudyDescription")),
        "series_description": text(get(dataset, "SeriesDescription")),
        "series_number": integer(get(dataset, "SeriesNumber")),
        "accession_number": text(get(dataset, "AccessionNumber")),
        "body_part_examined": text(get(dataset, "BodyPartExamined")),
        "manufacturer": text(get(dataset, "Manufacturer")),
    }


def _personnummer(patient_id: str) -> str | None:
    """The 12 digits of a valid Swedish personnummer or samordningsnummer, else None."""
    if not patient_id or not personnummer.is_valid(patient_id):
        return None
    return personnummer.parse(patient_id).digits


def _measures(dataset: Dataset) -> dict[str, Any]:
    """Pixel spacing (row, column), slice thickness and spacing in mm, as the header states them."""
    groups = _FrameGroups(
        dataset,
        _first_item(get(dataset, "PerFrameFunctionalGroupsSequence")),
        _first_item(get(dataset, "SharedFunctionalGroupsSequence")),
    )
    sequence = "PixelMeasuresSequence"
    spacing = numbers(groups.value(sequence, "PixelSpacing"), 2)
    source = "patient"
    if spacing is None:
        spacing = numbers(get(dataset, "ImagerPixelSpacing"), 2)
        source = "detector"
    return {
        "pixel_spacing_mm": list(spacing) if spacing and min(spacing) > 0 else None,
        "pixel_spacing_at": source if spacing else None,
        "slice_thickness_mm": number(groups.value(sequence, "SliceThickness")),
        "spacing_between_slices_mm": number(groups.value(sequence, "SpacingBetweenSlices")),
    }


def _notes(dataset: Dataset) -> list[str]:
    notes = []
    function = text(get(dataset, "VOILUTFunction")).upper()
    if function and function not in VOI_FUNCTIONS:
        notes.append(f"unknown VOI LUT function {function!r}, shown as LINEAR")
    return notes
