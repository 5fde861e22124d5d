"""Transfer syntaxes: which decoder family handles each one, in one table."""

from __future__ import annotations

from pydicom.uid import UID

IMPLICIT_LITTLE = "1.2.840.10008.1.2"
EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"
DEFLATED_LITTLE = "1.2.840.10008.1.2.1.99"
EXPLICIT_BIG = "1.2.840.10008.1.2.2"
RLE_LOSSLESS = "1.2.840.10008.1.2.5"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"
JPEG_LOSSLESS = "1.2.840.10008.1.2.4.57"
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
JPEG_LS_NEAR_LOSSLESS = "1.2.840.10008.1.2.4.81"
JPEG_2000_LOSSLESS = "1.2.840.10008.1.2.4.90"
JPEG_2000 = "1.2.840.10008.1.2.4.91"

NATIVE = "native"
DEFLATED = "deflated"
JPEG = "jpeg"
JPEG_LS = "jpeg-ls"
JPEG2000 = "jpeg2000"
RLE = "rle"
VIDEO = "video"

_FAMILIES = {
    IMPLICIT_LITTLE: NATIVE,
    EXPLICIT_LITTLE: NATIVE,
    EXPLICIT_BIG: NATIVE,
    DEFLATED_LITTLE: DEFLATED,
    RLE_LOSSLESS: RLE,
    JPEG_BASELINE: JPEG,
    JPEG_EXTENDED: JPEG,
    JPEG_LOSSLESS: JPEG,
    JPEG_LOSSLESS_SV1: JPEG,
    JPEG_LS_LOSSLESS: JPEG_LS,
    JPEG_LS_NEAR_LOSSLESS: JPEG_LS,
    JPEG_2000_LOSSLESS: JPEG2000,
    JPEG_2000: JPEG2000,
    "1.2.840.10008.1.2.4.92": JPEG2000,  # multi-component lossless
    "1.2.840.10008.1.2.4.93": JPEG2000,  # multi-component
    "1.2.840.10008.1.2.4.201": JPEG2000,  # HTJ2K lossless
    "1.2.840.10008.1.2.4.202": JPEG2000,  # HTJ2K lossless RPCL
    "1.2.840.10008.1.2.4.203": JPEG2000,  # HTJ2K
    **{f"1.2.840.10008.1.2.4.{n}": VIDEO for n in range(100, 109)},  # MPEG-2, H.264, H.265
}


def family(transfer_syntax: str) -> str | None:
    """The decoder family of a transfer syntax, or None when samsyn cannot decode it."""
    return _FAMILIES.get(transfer_syntax)


def describe(transfer_syntax: str) -> str:
    """The transfer syntax's name as the standard gives it, for messages."""
    name = UID(transfer_syntax).name
    return name if name and name != transfer_syntax else f"transfer syntax {transfer_syntax}"


def guess_from_codestream(head: bytes) -> str | None:
    """The transfer syntax of encapsulated pixel data told by its first bytes.

    Used for files without file meta information, where no transfer syntax is written.
    """
    if head.startswith(b"\x00\x00\x00\x0cjP  ") or head.startswith(b"\xff\x4f\xff\x51"):
        return JPEG_2000
    if not head.startswith(b"\xff\xd8"):
        return RLE_LOSSLESS if head[:4] in (b"\x01\x00\x00\x00", b"\x03\x00\x00\x00") else None
    return _jpeg_process(head)


def _jpeg_process(head: bytes) -> str | None:
    """Baseline, extended, lossless or JPEG-LS, from the first start-of-frame marker."""
    markers = {
        0xC0: JPEG_BASELINE,
        0xC1: JPEG_EXTENDED,
        0xC3: JPEG_LOSSLESS,
        0xF7: JPEG_LS_LOSSLESS,
    }
    index = 2
    while index + 4 <= len(head) and head[index] == 0xFF:
        marker = head[index + 1]
        if marker in markers:
            return markers[marker]
        index += 2 + int.from_bytes(head[index + 2 : index + 4], "big")
    return None
