"""Where each frame's bytes lie inside a DICOM file, worked out once at import.

pydicom reads the header and stops in front of (7FE0,0010) Pixel Data. From there this
module reads the element's own header and, for encapsulated data, the 8-byte item headers
of the Basic Offset Table and of the fragments; of the compressed data itself only a few
bytes at a frame's start and end (where its codestream begins, whether it ends). The
result is a list of (offset, length) spans per frame that rendering reads with `os.pread`.
Pixel data that ends before the file says it should is refused here, at import.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from samsyn.errors import Unreadable
from tiles.radiology.model import Span

PIXEL_DATA = (0x7FE0, 0x0010)
ITEM = (0xFFFE, 0xE000)
SEQUENCE_DELIMITER = (0xFFFE, 0xE0DD)
UNDEFINED_LENGTH = 0xFFFFFFFF
_LONG_VRS = {
    b"OB",
    b"OW",
    b"OF",
    b"OD",
    b"OL",
    b"OV",
    b"SQ",
    b"UT",
    b"UN",
    b"UC",
    b"UR",
    b"SV",
    b"UV",
}
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  "
END_OF_IMAGE = b"\xff\xd9"  # JPEG EOI, JPEG-LS EOI, JPEG 2000 EOC


@dataclass(frozen=True)
class PixelElement:
    """The Pixel Data element: where its value starts, its length (None: encapsulated), its VR."""

    value_offset: int
    length: int | None
    vr: str


def read_pixel_element(
    stream: BinaryIO, position: int, little_endian: bool, implicit: bool
) -> PixelElement | None:
    """The Pixel Data element header at `position`, or None when the data set ends there."""
    stream.seek(position)
    head = stream.read(12)
    if len(head) < 8:
        return None
    order = "<" if little_endian else ">"
    group, element = struct.unpack(order + "HH", head[:4])
    if (group, element) != PIXEL_DATA:
        if group == 0x7FE0 and element in (0x0008, 0x0009):
            raise Unreadable("float pixel data (parametric maps) is not supported")
        return None
    if implicit or not head[4:6].isalpha():  # some writers switch to implicit VR here
        (length,) = struct.unpack(order + "I", head[4:8])
        return _element(position + 8, length, "OW")
    vr = head[4:6]
    if vr in _LONG_VRS:
        if len(head) < 12:
            raise Unreadable("the file ends inside the pixel data header")
        (length,) = struct.unpack(order + "I", head[8:12])
        return _element(position + 12, length, vr.decode("ascii"))
    (length,) = struct.unpack(order + "H", head[6:8])
    return _element(position + 8, length, vr.decode("ascii", "replace"))


def _element(value_offset: int, length: int, vr: str) -> PixelElement:
    return PixelElement(value_offset, None if length == UNDEFINED_LENGTH else length, vr)


def native_spans(
    element: PixelElement, frame_length: int, frames: int, file_size: int
) -> list[Span]:
    """One (offset, length) span per frame of uncompressed pixel data, checked against the file."""
    check_native(element, frame_length * frames, file_size)
    return [(element.value_offset + k * frame_length, frame_length) for k in range(frames)]


def check_native(element: PixelElement, needed: int, file_size: int) -> None:
    """Refuse uncompressed pixel data shorter than `needed` bytes, in its length or the file."""
    if element.length is None:
        raise Unreadable("uncompressed pixel data with undefined length")
    if element.length < needed:
        raise Unreadable(
            f"the pixel data holds {element.length} bytes but rows x columns x frames "
            f"need {needed}: the header does not match the data"
        )
    if element.value_offset + needed > file_size:
        raise Unreadable(
            f"the file is truncated: its pixel data needs {needed} bytes, "
            f"{file_size - element.value_offset} are there"
        )


def native_length(rows: int, columns: int, samples: int, bits_allocated: int, frames: int) -> int:
    """Bytes of uncompressed pixel data; 1-bit data is packed eight pixels a byte (PS3.5 8.1.1)."""
    return (rows * columns * samples * bits_allocated * frames + 7) // 8


def read_fragments(
    stream: BinaryIO, element: PixelElement, file_size: int
) -> tuple[list[int], list[Span]]:
    """The Basic Offset Table and the (offset, length) of every fragment's value.

    A file cut short is refused here, whether the cut falls inside a fragment (its length
    runs past the end of the file) or between fragments (the sequence delimiter is missing):
    a decoder given the fragments that are left shows part of the image as if it were whole.
    """
    position = element.value_offset
    tag, length = _item_header(stream, position)
    if tag != ITEM:
        raise Unreadable("encapsulated pixel data does not start with an offset table item")
    _check_inside(position + 8 + length, file_size)
    stream.seek(position + 8)
    table = list(struct.unpack(f"<{length // 4}I", stream.read(length - length % 4)))
    position += 8 + length
    fragments: list[Span] = []
    while position < file_size:
        tag, length = _item_header(stream, position)
        if tag == SEQUENCE_DELIMITER:
            return table, fragments
        if tag != ITEM or length == UNDEFINED_LENGTH:
            raise Unreadable("the encapsulated pixel data is damaged (no item where one belongs)")
        _check_inside(position + 8 + length, file_size)
        fragments.append((position + 8, length))
        position += 8 + length
    raise Unreadable(
        "the file is truncated: its compressed pixel data ends without the sequence "
        "delimiter (FFFE,E0DD)"
    )


def _check_inside(end: int, file_size: int) -> None:
    if end > file_size:
        raise Unreadable("the file is truncated inside its compressed pixel data")


def _item_header(stream: BinaryIO, position: int) -> tuple[tuple[int, int], int]:
    stream.seek(position)
    head = stream.read(8)
    if len(head) < 8:
        raise Unreadable("the file is truncated inside its compressed pixel data")
    group, element, length = struct.unpack("<HHI", head)
    return (group, element), length


def frame_fragments(
    fragments: Sequence[Span],
    frames: int,
    offset_table: Sequence[int],
    extended_offsets: Sequence[int] | None,
    starts_frame: Callable[[Span], bool],
) -> list[tuple[Span, ...]]:
    """The fragments of each frame, by the offset tables, one-per-frame, or codestream starts."""
    if frames == 1:
        return [tuple(fragments)]
    if len(fragments) < frames:
        raise Unreadable(f"{frames} frames but only {len(fragments)} compressed fragments")
    table = extended_offsets or offset_table
    if len(table) == frames:
        return _by_offsets(fragments, table)
    if len(fragments) == frames:
        return [(fragment,) for fragment in fragments]
    return _by_codestream_starts(fragments, frames, starts_frame)


def _by_offsets(fragments: Sequence[Span], table: Sequence[int]) -> list[tuple[Span, ...]]:
    """Group fragments by an offset table: offsets count from the first fragment's item tag."""
    first_item = fragments[0][0] - 8
    groups: list[list[Span]] = [[] for _ in table]
    for fragment in fragments:
        index = bisect.bisect_right(list(table), fragment[0] - 8 - first_item) - 1
        if index < 0:
            raise Unreadable("the offset table does not match the fragments")
        groups[index].append(fragment)
    if any(not group for group in groups):
        raise Unreadable("the offset table does not match the fragments")
    return [tuple(group) for group in groups]


def _by_codestream_starts(
    fragments: Sequence[Span], frames: int, starts_frame: Callable[[Span], bool]
) -> list[tuple[Span, ...]]:
    """Group fragments where each frame's codestream begins (JPEG SOI, J2K SOC or JP2 box)."""
    groups: list[list[Span]] = []
    for fragment in fragments:
        if starts_frame(fragment) or not groups:
            groups.append([])
        groups[-1].append(fragment)
    if len(groups) != frames:
        raise Unreadable(
            f"cannot tell which of the {len(fragments)} compressed fragments belong to "
            f"which of the {frames} frames"
        )
    return [tuple(group) for group in groups]


def ends_codestream(tail: bytes) -> bool:
    """Whether a frame's last bytes hold the end marker (FFD9) that ends a JPEG, JPEG-LS or
    JPEG 2000 codestream, allowing the one padding byte that makes a fragment's length even."""
    return tail[-2:] == END_OF_IMAGE or tail[-3:-1] == END_OF_IMAGE


def starts_codestream(head: bytes) -> bool:
    """Whether a fragment begins a JPEG, JPEG-LS, JPEG 2000 codestream or a JP2 file."""
    return head.startswith((b"\xff\xd8", b"\xff\x4f\xff\x51", _JP2_SIGNATURE))
