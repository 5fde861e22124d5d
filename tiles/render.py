"""Decode, compose, resize and encode: the pixels behind every tile that is not passed through."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from samsyn.errors import BadRequest, TooLarge
from tiles.pyramid import Rect, best_level_for
from tiles.sources.base import Source

MAX_SOURCE_PIXELS = 8192 * 8192
MEDIA_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
_PIL_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}


@dataclass(frozen=True)
class Encoding:
    """How a picture is sent: format (jpg, png, webp), quality for lossy formats, grey or colour."""

    format: str = "jpg"
    quality: int = 80
    grey: bool = False
    bitonal: bool = False
    subsampling: int = 2  # Pillow's code: 0 is 4:4:4 (full colour resolution), 2 is 4:2:0

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]


def region_at_size(source: Source, rect: Rect, width: int, height: int) -> np.ndarray:
    """The level-0 rectangle `rect` as a width x height RGB picture, read from the best level.

    The coarsest stored level that still has at least the requested detail is read and
    shrunk. Each axis keeps its own scale (scanners round level sizes unevenly), and the
    fractional source window goes to the resampler as it is, so nothing shifts or stretches.
    A region that would need too many source pixels is refused.
    """
    info = source.info
    index = best_level_for(info.levels, min(rect.width / width, rect.height / height))
    level = info.levels[index]
    scale_x, scale_y = info.width / level.width, info.height / level.height
    x0, y0 = rect.x / scale_x, rect.y / scale_y
    x1 = min((rect.x + rect.width) / scale_x, level.width)
    y1 = min((rect.y + rect.height) / scale_y, level.height)
    window = Rect(
        math.floor(x0),
        math.floor(y0),
        math.ceil(x1) - math.floor(x0),
        math.ceil(y1) - math.floor(y0),
    )
    if window.width * window.height > MAX_SOURCE_PIXELS:
        raise TooLarge("this view needs more source pixels than one request may decode")
    pixels = source.read_region(index, window)
    box = (x0 - window.x, y0 - window.y, x1 - window.x, y1 - window.y)
    return resize(pixels, width, height, box)


def resize(
    pixels: np.ndarray,
    width: int,
    height: int,
    box: tuple[float, float, float, float] | None = None,
) -> np.ndarray:
    """Resize (the `box` part of) a picture with a filter that does not alias when shrinking."""
    whole = box is None or box == (0, 0, pixels.shape[1], pixels.shape[0])
    if whole and pixels.shape[1] == width and pixels.shape[0] == height:
        return pixels
    image = Image.fromarray(pixels)
    return np.asarray(image.resize((width, height), Image.Resampling.LANCZOS, box=box))


def orient(pixels: np.ndarray, rotation: int, mirror: bool) -> np.ndarray:
    """Mirror (left-right) first, then rotate clockwise by a multiple of 90 degrees."""
    if mirror:
        pixels = pixels[:, ::-1]
    return np.ascontiguousarray(np.rot90(pixels, k=-(rotation // 90) % 4))


def encode(pixels: np.ndarray, encoding: Encoding) -> bytes:
    """The picture as JPEG, PNG or WebP bytes."""
    if encoding.format not in _PIL_FORMATS:
        raise BadRequest(f"format {encoding.format!r} is not offered")
    image = Image.fromarray(pixels)
    if encoding.grey:
        image = image.convert("L")
    elif encoding.bitonal:
        image = image.convert("L").point(lambda value: 255 if value >= 128 else 0).convert("1")
    buffer = io.BytesIO()
    options: dict[str, object] = {}
    if encoding.format in ("jpg", "jpeg", "webp"):
        options["quality"] = encoding.quality
    if encoding.format == "png":
        options["compress_level"] = 1  # lossless either way; level 1 is several times faster
    if encoding.format in ("jpg", "jpeg") and image.mode == "RGB":
        options["subsampling"] = encoding.subsampling
    image.save(buffer, _PIL_FORMATS[encoding.format], **options)
    return buffer.getvalue()


def thumbnail(source: Source, longest_side: int = 512) -> Image.Image:
    """A picture of the whole image whose longest side is `longest_side` (never enlarged)."""
    info = source.info
    scale = min(longest_side / max(info.width, info.height), 1.0)
    width, height = max(round(info.width * scale), 1), max(round(info.height * scale), 1)
    return Image.fromarray(
        region_at_size(source, Rect(0, 0, info.width, info.height), width, height)
    )
