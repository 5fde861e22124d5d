"""Decoding one frame from its bytes in the file, without parsing the DICOM header again.

The bytes are read with `os.pread` at the offsets found at import and decoded with
imagecodecs (libjpeg-turbo, CharLS, OpenJPEG, its DICOM RLE codec). When imagecodecs
refuses a frame, pydicom's own decoder plugins (pylibjpeg, pillow, pure-Python RLE) get a
second go at the same bytes. Deflated files and bit-packed (1 bit) data are decoded by
pydicom from the whole file.

The result is the frame's stored values: (rows, columns) in the stored integer type for
grey and palette images, (rows, columns, 3) RGB for colour images (YBR converted).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import imagecodecs
import numpy as np
import pydicom
from pydicom.encaps import encapsulate
from pydicom.pixels import get_decoder
from pydicom.uid import UID

from samsyn.errors import Unreadable
from tiles.radiology import syntax
from tiles.radiology.model import NATIVE, VIA_PYDICOM, FileRecord, FrameRecord, Span
from tiles.radiology.values import one_line

_CONVERTED_BY_CODEC = {syntax.JPEG, syntax.JPEG2000}


def decode(record: FileRecord, frame: FrameRecord) -> np.ndarray:
    """The stored values of one frame, read from its file and decoded; Unreadable if not."""
    try:
        return _decode(record, frame)
    except Unreadable:
        raise
    except Exception as error:  # a codec failing in a way it does not document
        raise Unreadable(
            f"a frame cannot be decoded: {type(error).__name__}: {one_line(error)}"
        ) from error


def _decode(record: FileRecord, frame: FrameRecord) -> np.ndarray:
    if record.encoding == VIA_PYDICOM:
        pixels, is_rgb = _via_pydicom(record, frame.frame), True
    elif record.encoding == NATIVE:
        pixels, is_rgb = _native(read_spans(record, frame.spans), record), False
    else:
        pixels, is_rgb = _encapsulated(read_spans(record, frame.spans), record)
    return conform(pixels, record, is_rgb)


def read_spans(record: FileRecord, spans: tuple[Span, ...]) -> bytes:
    """The bytes of the given (offset, length) spans, refusing a file changed since import."""
    try:
        descriptor = os.open(record.path, os.O_RDONLY)
    except OSError as error:
        raise Unreadable(f"the image file cannot be opened ({error.strerror})") from error
    try:
        if os.fstat(descriptor).st_size != record.size:
            raise Unreadable("the image file changed after import; import it again")
        parts = [os.pread(descriptor, length, offset) for offset, length in spans]
    finally:
        os.close(descriptor)
    if any(len(part) != length for part, (_offset, length) in zip(parts, spans, strict=True)):
        raise Unreadable("the image file is truncated")
    return parts[0] if len(parts) == 1 else b"".join(parts)


# --- uncompressed ----------------------------------------------------------------------


def _native(data: bytes, record: FileRecord) -> np.ndarray:
    if record.photometric_interpretation == "YBR_FULL_422":
        return _expand_422(data, record.rows, record.columns)
    order = ">" if record.big_endian else "<"
    kind = "i" if record.pixel_representation == 1 and record.samples_per_pixel == 1 else "u"
    dtype = np.dtype(f"{order}{kind}{record.bits_allocated // 8}")
    count = record.rows * record.columns * record.samples_per_pixel
    pixels = np.frombuffer(data, dtype=dtype, count=count)
    return _shape(pixels, record, planar=record.planar_configuration == 1)


def _shape(pixels: np.ndarray, record: FileRecord, planar: bool) -> np.ndarray:
    rows, columns, samples = record.rows, record.columns, record.samples_per_pixel
    if samples == 1:
        return pixels.reshape(rows, columns)
    if planar:
        return pixels.reshape(samples, rows, columns).transpose(1, 2, 0)
    return pixels.reshape(rows, columns, samples)


def _expand_422(data: bytes, rows: int, columns: int) -> np.ndarray:
    """YBR_FULL_422 as stored (Y Y Cb Cr per pixel pair) expanded to full YBR_FULL."""
    if columns % 2:
        raise Unreadable("YBR_FULL_422 data with an odd number of columns")
    quads = np.frombuffer(data, np.uint8, count=rows * columns * 2).reshape(rows, columns // 2, 4)
    full = np.empty((rows, columns, 3), np.uint8)
    full[:, 0::2, 0], full[:, 1::2, 0] = quads[..., 0], quads[..., 1]
    full[:, :, 1] = np.repeat(quads[..., 2], 2, axis=1)
    full[:, :, 2] = np.repeat(quads[..., 3], 2, axis=1)
    return full


# --- compressed ------------------------------------------------------------------------


def _encapsulated(data: bytes, record: FileRecord) -> tuple[np.ndarray, bool]:
    """Decode with imagecodecs; on refusal, with pydicom's plugins. Returns (pixels, is_rgb)."""
    family = syntax.family(record.transfer_syntax)
    try:
        if family == syntax.JPEG:
            pixels = _jpeg(data, record)
        elif family == syntax.JPEG_LS:
            pixels = imagecodecs.jpegls_decode(data)
        elif family == syntax.JPEG2000:
            pixels = imagecodecs.jpeg2k_decode(data)
        else:
            pixels = _rle(data, record)
        return pixels, family in _CONVERTED_BY_CODEC
    except Unreadable:
        raise
    except Exception:
        return _with_pydicom(data, record), True


def _jpeg(data: bytes, record: FileRecord) -> np.ndarray:
    """JPEG with the colour transform the codestream really used (DICOM 'RGB' often means none)."""
    colour = record.samples_per_pixel == 3 and record.photometric_interpretation == "RGB"
    if colour and jpeg_stores_rgb(data):
        return imagecodecs.jpeg8_decode(data, colorspace="RGB", outcolorspace="RGB")
    return imagecodecs.jpeg_decode(data)


def jpeg_stores_rgb(data: bytes) -> bool:
    """Whether a 3-component JPEG holds RGB rather than YCbCr: an Adobe marker saying so,
    component ids 'R' 'G' 'B', or neither a JFIF nor an Adobe marker at all."""
    index, adobe, jfif = 2, None, False
    while index + 4 <= len(data) and data[index] == 0xFF:
        marker, length = data[index + 1], int.from_bytes(data[index + 2 : index + 4], "big")
        segment = data[index + 4 : index + 2 + length]
        if marker == 0xE0 and segment.startswith(b"JFIF"):
            jfif = True
        elif marker == 0xEE and segment.startswith(b"Adobe") and len(segment) >= 12:
            adobe = segment[11]
        elif marker in (0xC0, 0xC1, 0xC2, 0xC3):
            if bytes(segment[6:13:3]) in (b"RGB", b"rgb"):
                return True
            break
        index += 2 + length
    if adobe is not None:
        return adobe == 0
    return not jfif


def _rle(data: bytes, record: FileRecord) -> np.ndarray:
    """DICOM RLE: one segment per byte plane, most significant byte first, samples planar."""
    size = record.bits_allocated // 8
    dtype = np.dtype(f">u{size}") if size > 1 else np.dtype("u1")
    decoded = imagecodecs.dicomrle_decode(data, dtype)
    count = record.rows * record.columns * record.samples_per_pixel
    if len(decoded) != count * size:
        raise Unreadable(
            f"a frame decodes to {len(decoded)} bytes but the header's "
            f"{record.rows}x{record.columns} pixels need {count * size}"
        )
    pixels = np.frombuffer(decoded, dtype=dtype, count=count)
    return _shape(pixels, record, planar=True)


def _with_pydicom(data: bytes, record: FileRecord) -> np.ndarray:
    """pydicom's plugins on the same frame bytes, re-encapsulated as a one-frame item."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            decoder = get_decoder(UID(record.transfer_syntax))
            pixels, _ = decoder.as_array(
                encapsulate([data + b"\x00" * (len(data) % 2)]),
                **_pixel_options(record),
            )
    except Exception as error:
        raise Unreadable(
            f"a frame cannot be decoded ({syntax.describe(record.transfer_syntax)}): "
            f"{one_line(error)}"
        ) from error
    return pixels


def _pixel_options(record: FileRecord) -> dict[str, Any]:
    return {
        "rows": record.rows,
        "columns": record.columns,
        "samples_per_pixel": record.samples_per_pixel,
        "bits_allocated": record.bits_allocated,
        "bits_stored": record.bits_stored,
        "pixel_representation": record.pixel_representation,
        "photometric_interpretation": record.photometric_interpretation,
        "planar_configuration": record.planar_configuration,
        "number_of_frames": 1,
    }


def _via_pydicom(record: FileRecord, index: int) -> np.ndarray:
    """Deflated or bit-packed data: pydicom reads the whole file and decodes the frame."""
    if not os.path.isfile(record.path) or os.path.getsize(record.path) != record.size:
        raise Unreadable("the image file changed after import; import it again")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = pydicom.dcmread(record.path, force=True)
            pixels = get_decoder(UID(record.transfer_syntax)).as_array(dataset, index=index)[0]
    except Exception as error:
        raise Unreadable(f"a frame cannot be decoded: {one_line(error)}") from error
    return pixels


# --- to stored values ------------------------------------------------------------------


def conform(pixels: np.ndarray, record: FileRecord, is_rgb: bool) -> np.ndarray:
    """Check the decoded shape against the header and bring values to their stored form."""
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    expected = (record.rows, record.columns) + ((3,) if record.samples_per_pixel == 3 else ())
    if pixels.shape != expected:
        raise Unreadable(
            f"a frame decodes to {'x'.join(map(str, pixels.shape))} pixels but the header "
            f"says {'x'.join(map(str, expected))}"
        )
    if record.samples_per_pixel == 3:
        colour = np.ascontiguousarray(pixels.astype(pixels.dtype.newbyteorder("=")))
        needs_conversion = record.photometric_interpretation == "YBR_FULL" or (
            record.photometric_interpretation == "YBR_FULL_422" and record.encoding == NATIVE
        )
        return ybr_to_rgb(colour, record.bits_stored) if needs_conversion and not is_rgb else colour
    return stored_values(pixels, record)


def stored_values(pixels: np.ndarray, record: FileRecord) -> np.ndarray:
    """Grey values in the stored type: signedness from Pixel Representation, unused high
    bits cleared (unsigned) or sign-extended from Bits Stored (signed), as pydicom does."""
    size = 1 if record.bits_allocated <= 8 else record.bits_allocated // 8
    target = np.dtype(f"{'i' if record.pixel_representation == 1 else 'u'}{size}")
    native = pixels.astype(pixels.dtype.newbyteorder("="), copy=False)
    values = native.view(target) if native.dtype.itemsize == size else native.astype(target)
    values = np.array(values, copy=True)
    unused = size * 8 - record.bits_stored
    if unused > 0 and record.pixel_representation == 1:
        np.left_shift(values, unused, out=values)
        np.right_shift(values, unused, out=values)
    elif unused > 0:
        np.bitwise_and(values, (1 << record.bits_stored) - 1, out=values)
    return values


def ybr_to_rgb(pixels: np.ndarray, bits: int = 8) -> np.ndarray:
    """YBR_FULL to RGB by PS3.3 C.7.6.3.1.2 (ITU-R BT.601 full range)."""
    offset, top = float(1 << (bits - 1)), float((1 << bits) - 1)
    ybr = pixels.astype(np.float32)
    y, cb, cr = ybr[..., 0], ybr[..., 1] - offset, ybr[..., 2] - offset
    rgb = np.stack((y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb), axis=-1)
    return np.clip(np.rint(rgb), 0, top).astype(pixels.dtype)
