"""Plain photographs (JPEG, PNG): gross specimens, macroscopic pictures, screenshots.

The image is decoded once and a pyramid of halvings is kept in memory, so a photograph
zooms like a slide.
"""

from __future__ import annotations

import warnings

import numpy as np
from PIL import Image, ImageOps

from samsyn.errors import TooLarge, Unreadable
from tiles.pyramid import Level, Rect
from tiles.sources.base import SlideInfo, Source, as_rgb8, paste

MAX_PIXELS = 20000 * 20000
TILE = 256


class PhotoSource(Source):
    """A JPEG or PNG held in memory as a small pyramid."""

    def __init__(self, path: str) -> None:
        super().__init__([path])
        self._pyramid = _decode_pyramid(path)
        levels = tuple(
            Level(
                pixels.shape[1],
                pixels.shape[0],
                self._pyramid[0].shape[1] / pixels.shape[1],
                TILE,
                TILE,
            )
            for pixels in self._pyramid
        )
        self.info = SlideInfo(
            format=_format_of(path), vendor="photo", reader="pillow", levels=levels
        )

    def read_region(self, level: int, rect: Rect) -> np.ndarray:
        canvas = self.blank(rect)
        paste(canvas, self._pyramid[level], -rect.x, -rect.y)
        return canvas


def _decode_pyramid(path: str) -> list[np.ndarray]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                if opened.width * opened.height > MAX_PIXELS:
                    raise TooLarge(f"a photograph of {opened.width} x {opened.height} is too large")
                image = ImageOps.exif_transpose(opened)
                pixels = _as_rgb(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning) as error:
        raise Unreadable(f"not a readable photograph: {error}") from error
    pyramid = [pixels]
    while max(pyramid[-1].shape[:2]) > TILE:
        smaller = Image.fromarray(pyramid[-1]).reduce(2)
        pyramid.append(np.asarray(smaller))
    return pyramid


def _as_rgb(image: Image.Image) -> np.ndarray:
    """8-bit RGB of any photograph; 16-bit grey is scaled, not clipped."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return as_rgb8(np.asarray(image).astype(np.uint16), bits=16)
    return as_rgb8(np.asarray(image.convert("RGB")))


def _format_of(path: str) -> str:
    with open(path, "rb") as handle:
        return "png" if handle.read(4) == b"\x89PNG" else "jpeg"
