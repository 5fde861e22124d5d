"""The `Source` extension point: one subclass per file family, all speaking level-0 pixels."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from samsyn.errors import NotFound
from tiles.pyramid import Level, Rect

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)


@dataclass(frozen=True)
class SlideInfo:
    """What an opened image says about itself; stored in the database at import."""

    format: str
    vendor: str
    reader: str
    levels: tuple[Level, ...]
    mpp: tuple[float, float] | None = None
    objective_power: float | None = None
    associated: tuple[str, ...] = ()
    background: tuple[int, int, int] = WHITE
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return self.levels[0].width

    @property
    def height(self) -> int:
        return self.levels[0].height


class Source(ABC):
    """An open image. Thread-safe for reading; closed when the last reference goes away."""

    info: SlideInfo

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self.fingerprint = file_fingerprint(paths)

    @abstractmethod
    def read_region(self, level: int, rect: Rect) -> np.ndarray:
        """RGB uint8 pixels of `rect` given in the coordinates of stored `level`.

        Parts of the rectangle outside the level are filled with the background colour.
        """

    def stored_tile(self, level: int, col: int, row: int) -> bytes | None:
        """The stored tile as a complete JPEG that can be sent unchanged, or None.

        None when the file does not store this tile as a self-contained baseline JPEG
        of the full tile size (edge tiles, other codecs, composite fluorescence).
        """
        return None

    def associated_image(self, name: str) -> Image.Image:
        """The label, macro or thumbnail image stored beside the pyramid."""
        raise NotFound(f"this image has no {name} image")

    def close(self) -> None:
        """Release the file handles now rather than at garbage collection."""

    def blank(self, rect: Rect) -> np.ndarray:
        """A canvas of the rectangle's size in the background colour."""
        canvas = np.empty((rect.height, rect.width, 3), dtype=np.uint8)
        canvas[:] = self.info.background
        return canvas


def file_fingerprint(paths: list[str]) -> str:
    """A short string that changes when any of the files is replaced or rewritten."""
    parts = []
    for path in sorted(paths):
        stat = os.stat(path)
        parts.append(f"{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts)


def paste(canvas: np.ndarray, piece: np.ndarray, x: int, y: int) -> None:
    """Copy `piece` into `canvas` with its top-left corner at (x, y), cut at the borders."""
    height, width = canvas.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + piece.shape[1], width), min(y + piece.shape[0], height)
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = piece[y0 - y : y1 - y, x0 - x : x1 - x]


def as_rgb8(pixels: np.ndarray, bits: int | None = None) -> np.ndarray:
    """Any grey, grey+alpha, RGB or RGBA array of 8 or 16 bits as RGB uint8."""
    if pixels.dtype != np.uint8:
        top = float(2 ** (bits or 8 * pixels.dtype.itemsize) - 1)
        pixels = np.clip(pixels.astype(np.float32) * (255.0 / top), 0, 255).astype(np.uint8)
    if pixels.ndim == 2:
        return np.repeat(pixels[:, :, None], 3, axis=2)
    if pixels.shape[2] == 1 or pixels.shape[2] == 2:
        return np.repeat(pixels[:, :, :1], 3, axis=2)
    return np.ascontiguousarray(pixels[:, :, :3])
