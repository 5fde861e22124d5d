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

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]


def region_at_size(source: Source, rect: Rect, width: int, height: int) -> np.ndarray:
    """The level-0 rectangle `rect` as a width x height RGB picture, read from the best level.

    The coarsest stored level that still has at least the requested detail is read,
    then shrunk; a region that would need too many source pixels is refused.
    """
    levels = source.info.levels
    index = best_level_for(levels, min(rect.width / width, rect.height / height))
    downsample = levels[index].downsample
    x0, y0 = math.floor(rect.x / downsample), math.floor(rect.y / downsample)
    x1 = math.ceil((rect.x + rect.width) / downsample)
    y1 = math.ceil((rect.y + rect.height) / downsample)
    if (x1 - x0) * (y1 - y0) > MAX_SOURCE_PIXELS:
        raise TooLarge("this view needs more source pixels than one request may decode")
    pixels = source.read_region(index, Rect(x0, y0, x1 - x0, y1 - y0))
    return resize(pixels, width, height)


def resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize with a filter that neither aliases when shrinking nor blurs at 1:1."""
    if pixels.shape[1] == width and pixels.shape[0] == height:
        return pixels
    image = Image.fromarray(pixels)
    return np.asarray(image.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0))


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
