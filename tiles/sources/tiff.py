"""Tiled and stripped TIFF slides read with tifffile: Aperio SVS, Hamamatsu NDPI, OME-TIFF
(single- and multi-level, SubIFDs) and generic pyramidal TIFF.

Chunks (tiles, strips, NDPI restart intervals) are read with `os.pread` on a file
descriptor of our own, so any number of threads can read one slide at once, and decoded
by tifffile's own per-page decoder (JPEG tables, NDPI headers, predictors, codecs).
"""

from __future__ import annotations

import logging
import math
import os
import re
import xml.etree.ElementTree as ET

import numpy as np
import tifffile
from PIL import Image

from samsyn.errors import NotFound, Unreadable
from tiles.passthrough import servable_jpeg
from tiles.pyramid import Level, Rect
from tiles.sources.base import SlideInfo, Source, as_rgb8, paste

JPEG = 7
# tifffile reports every damaged tag it meets; samsyn says what matters in one line instead.
logging.getLogger("tifffile").setLevel(logging.CRITICAL)
ASSOCIATED_NAMES = ("thumbnail", "label", "macro")
_MPP_RANGE = (0.01, 50.0)


class TiffSource(Source):
    """A slide in a TIFF container that tifffile understands."""

    def __init__(self, path: str) -> None:
        super().__init__([path])
        try:
            self._tiff = tifffile.TiffFile(path)
            series = self._tiff.series[0]
            self._pages = [level.keyframe for level in series.levels]
        except Exception as error:  # tifffile raises many kinds on damaged files
            raise Unreadable(f"not a readable TIFF: {error}") from error
        self._fd = os.open(path, os.O_RDONLY)
        self._associated = _associated_series(self._tiff)
        self.info = self._describe()
        self._pass_through = [_passes_through(page) for page in self._pages]

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            os.close(self._fd)
            self._fd = -1
            self._tiff.close()

    def _describe(self) -> SlideInfo:
        size = os.fstat(self._fd).st_size
        for page in self._pages:
            check_decodable(page)
            check_complete(page, size)
        base = self._pages[0]
        levels = tuple(_level_of(page, base) for page in self._pages)
        return SlideInfo(
            format=_format_name(self._tiff),
            vendor=_vendor(self._tiff),
            reader="tifffile",
            levels=levels,
            mpp=_mpp(self._tiff, base),
            objective_power=_objective_power(self._tiff),
            associated=tuple(sorted(self._associated)),
        )

    def read_region(self, level: int, rect: Rect) -> np.ndarray:
        page = self._pages[level]
        chunk_h, chunk_w = page.chunks[0], page.chunks[1]
        rows, cols = page.chunked[0], page.chunked[1]
        canvas = self.blank(rect)
        for row in range(
            max(rect.y // chunk_h, 0), min(_ceil_div(rect.y + rect.height, chunk_h), rows)
        ):
            for col in range(
                max(rect.x // chunk_w, 0), min(_ceil_div(rect.x + rect.width, chunk_w), cols)
            ):
                pixels = self._decode_chunk(page, row * cols + col)
                if pixels is not None:
                    # Edge chunks are padded to full size; the padding is not image.
                    pixels = pixels[
                        : page.imagelength - row * chunk_h, : page.imagewidth - col * chunk_w
                    ]
                    paste(canvas, pixels, col * chunk_w - rect.x, row * chunk_h - rect.y)
        return canvas

    def _decode_chunk(self, page: tifffile.TiffPage, index: int) -> np.ndarray | None:
        """One chunk as RGB, or None for a chunk the file leaves empty (sparse slides)."""
        length = page.databytecounts[index]
        if length == 0:
            return None
        data = os.pread(self._fd, length, page.dataoffsets[index])
        if len(data) != length:
            raise Unreadable("the file was truncated while open: a tile lies beyond its end")
        try:
            pixels = page.decode(
                data, index, jpegtables=page.jpegtables, jpegheader=page.jpegheader
            )[0]
        except Exception as error:
            raise Unreadable(f"tile {index} of this level cannot be decoded: {error}") from error
        if pixels is None:
            return None
        return as_rgb8(pixels[0], page.bitspersample)

    def stored_tile(self, level: int, col: int, row: int) -> bytes | None:
        page = self._pages[level]
        if not self._pass_through[level]:
            return None
        tile_h, tile_w = page.chunks[0], page.chunks[1]
        if (col + 1) * tile_w > page.imagewidth or (row + 1) * tile_h > page.imagelength:
            return None
        index = row * page.chunked[1] + col
        length = page.databytecounts[index]
        if length == 0:
            return None
        data = os.pread(self._fd, length, page.dataoffsets[index])
        if len(data) != length:
            raise Unreadable("the file was truncated while open: a tile lies beyond its end")
        return servable_jpeg(data, page.jpegtables, rgb=page.photometric == 2)

    def associated_image(self, name: str) -> Image.Image:
        if name not in self._associated:
            raise NotFound(f"this slide has no {name} image")
        try:
            pixels = self._tiff.series[self._associated[name]].asarray()
        except Exception as error:
            raise Unreadable(f"the {name} image cannot be decoded: {error}") from error
        return Image.fromarray(as_rgb8(pixels))


def check_complete(page: tifffile.TiffPage, file_size: int) -> None:
    """Refuse pages whose chunk table is missing or points beyond the end of the file."""
    expected = math.prod(page.chunked)
    offsets, counts = page.dataoffsets, page.databytecounts
    if len(offsets) < expected or len(counts) < expected:
        raise Unreadable("the file is damaged: its tile table is incomplete")
    ends = [offset + count for offset, count in zip(offsets, counts, strict=False) if count]
    if ends and max(ends) > file_size:
        raise Unreadable("the file is truncated: tiles lie beyond its end")


def check_decodable(page: tifffile.TiffPage) -> None:
    """Refuse pages whose layout or codec this reader cannot turn into RGB tiles."""
    try:
        codec = tifffile.TIFF.DECOMPRESSORS[page.compression]
    except Exception as error:
        raise Unreadable(f"unsupported compression {page.compression!r}") from error
    if codec is None and page.compression != 1:
        raise Unreadable(f"unsupported compression {page.compression!r}")
    if page.planarconfig == 2 and page.samplesperpixel > 1:
        raise Unreadable("separate colour planes are not supported")
    if page.dtype is None or page.dtype.kind not in "uif":
        raise Unreadable(f"unsupported sample format {page.dtype}")


def _passes_through(page: tifffile.TiffPage) -> bool:
    """Whether this page's tiles are self-contained baseline JPEGs in RGB or YCbCr."""
    return (
        page.is_tiled
        and page.compression == JPEG
        and not page.is_ndpi
        and page.photometric in (2, 6)
        and page.samplesperpixel == 3
        and page.bitspersample == 8
    )


def _level_of(page: tifffile.TiffPage, base: tifffile.TiffPage) -> Level:
    downsample = (base.imagewidth / page.imagewidth + base.imagelength / page.imagelength) / 2
    return Level(page.imagewidth, page.imagelength, downsample, page.chunks[1], page.chunks[0])


def _associated_series(tiff: tifffile.TiffFile) -> dict[str, int]:
    found = {}
    for index, series in enumerate(tiff.series[1:], start=1):
        name = (series.name or "").lower()
        if name in ASSOCIATED_NAMES:
            found[name] = index
    return found


def _format_name(tiff: tifffile.TiffFile) -> str:
    if tiff.is_svs:
        return "aperio-svs"
    if tiff.is_ndpi:
        return "hamamatsu-ndpi"
    if tiff.is_ome:
        return "ome-tiff"
    return "tiff"


def _vendor(tiff: tifffile.TiffFile) -> str:
    if tiff.is_svs:
        return "aperio"
    if tiff.is_ndpi:
        return "hamamatsu"
    if tiff.is_ome:
        return "ome"
    return "generic-tiff"


def _mpp(tiff: tifffile.TiffFile, base: tifffile.TiffPage) -> tuple[float, float] | None:
    """Microns per pixel from vendor metadata first, then the resolution tags."""
    if tiff.is_svs:
        match = re.search(r"\|\s*MPP\s*=\s*([0-9.]+)", base.description)
        if match:
            return _plausible(float(match.group(1)), float(match.group(1)))
    if tiff.is_ome and tiff.ome_metadata:
        return _ome_mpp(tiff.ome_metadata)
    return _resolution_mpp(base)


def _ome_mpp(xml: str) -> tuple[float, float] | None:
    factors = {"µm": 1.0, "um": 1.0, "nm": 1e-3, "mm": 1e3, "cm": 1e4}
    try:
        pixels = next(el for el in ET.fromstring(xml).iter() if el.tag.endswith("Pixels"))
    except (ET.ParseError, StopIteration):
        return None
    sizes = []
    for axis in ("X", "Y"):
        value = pixels.get(f"PhysicalSize{axis}")
        unit = pixels.get(f"PhysicalSize{axis}Unit", "µm")
        if value is None or unit not in factors:
            return None
        sizes.append(float(value) * factors[unit])
    return _plausible(sizes[0], sizes[1])


def _resolution_mpp(page: tifffile.TiffPage) -> tuple[float, float] | None:
    unit_tag = page.tags.get("ResolutionUnit")
    microns = {2: 25400.0, 3: 10000.0}.get(int(unit_tag.value) if unit_tag else 2)
    x_tag, y_tag = page.tags.get("XResolution"), page.tags.get("YResolution")
    if microns is None or x_tag is None or y_tag is None:
        return None
    x_res, y_res = (_rational(tag.value) for tag in (x_tag, y_tag))
    if not x_res or not y_res:
        return None
    return _plausible(microns / x_res, microns / y_res)


def _rational(value: object) -> float:
    if isinstance(value, tuple) and len(value) == 2 and value[1]:
        return float(value[0]) / float(value[1])
    return float(value) if isinstance(value, int | float) else 0.0


def _plausible(mpp_x: float, mpp_y: float) -> tuple[float, float] | None:
    """A pixel size only if it could be a microscope's: screen DPI tags are not."""
    low, high = _MPP_RANGE
    if low <= mpp_x <= high and low <= mpp_y <= high:
        return (mpp_x, mpp_y)
    return None


def _objective_power(tiff: tifffile.TiffFile) -> float | None:
    if tiff.is_svs:
        match = re.search(r"\|\s*AppMag\s*=\s*([0-9.]+)", tiff.pages.first.description)
        return float(match.group(1)) if match else None
    if tiff.is_ndpi:
        value = (tiff.pages.first.ndpi_tags or {}).get("Magnification")
        return float(value) if value else None
    if tiff.is_ome and tiff.ome_metadata:
        match = re.search(r'NominalMagnification="([0-9.]+)"', tiff.ome_metadata)
        return float(match.group(1)) if match else None
    return None


def _ceil_div(a: int, b: int) -> int:
    return math.ceil(a / b)
