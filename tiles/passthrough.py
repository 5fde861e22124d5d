"""A stored JPEG tile made into bytes a browser can show, without decoding it.

TIFF files often store tiles as abbreviated JPEG streams whose quantisation and Huffman
tables live once in the JPEGTables tag; those are spliced back in. Tiles whose three
components are RGB rather than YCbCr get an Adobe APP14 marker with transform 0, or
decoders would take them for YCbCr and show false colours.
"""

from __future__ import annotations

import struct

from samsyn.errors import Unreadable

SOI = b"\xff\xd8"
EOI = b"\xff\xd9"
ADOBE_RGB = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x00"
_STANDALONE = {0x01, 0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7}
_START_OF_FRAME = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def servable_jpeg(tile: bytes, tables: bytes | None, rgb: bool) -> bytes:
    """A complete JPEG from a stored tile, its shared tables and its colour space."""
    if not tile.startswith(SOI):
        raise Unreadable("the stored tile is not a JPEG stream")
    body = tile[2:]
    if tables:
        if not (tables.startswith(SOI) and tables.rstrip(b"\x00").endswith(EOI)):
            raise Unreadable("the file's JPEG tables are damaged")
        body = tables.rstrip(b"\x00")[2:-2] + body
    marker = ADOBE_RGB if rgb and b"Adobe" not in tile[:64] else b""
    jpeg = SOI + marker + body
    check_structure(jpeg)
    return jpeg


def check_structure(jpeg: bytes) -> None:
    """Walk the marker segments up to the scan; raise Unreadable when they do not add up.

    This costs microseconds and catches truncated, zeroed or foreign tiles before they
    reach a browser as a broken image. Damage inside the entropy-coded data itself is
    not detectable without decoding.
    """
    if not jpeg.startswith(SOI) or not jpeg.rstrip(b"\x00").endswith(EOI):
        raise Unreadable("the stored tile is truncated or not a JPEG stream")
    position, frame_seen = 2, False
    while position + 4 <= len(jpeg):
        if jpeg[position] != 0xFF:
            raise Unreadable("the stored tile has a damaged JPEG header")
        marker = jpeg[position + 1]
        if marker == 0xFF:
            position += 1
            continue
        if marker in _STANDALONE:
            position += 2
            continue
        (length,) = struct.unpack(">H", jpeg[position + 2 : position + 4])
        if length < 2 or position + 2 + length > len(jpeg):
            raise Unreadable("the stored tile has a damaged JPEG header")
        frame_seen = frame_seen or marker in _START_OF_FRAME
        if marker == 0xDA:
            if not frame_seen:
                raise Unreadable("the stored tile has no JPEG frame header")
            return
        position += 2 + length
    raise Unreadable("the stored tile has no image data")
