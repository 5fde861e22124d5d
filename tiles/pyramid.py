"""Level and tile geometry of an image pyramid: frozen dataclasses and pure functions.

Coordinates are level-0 pixels unless a name says otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Level:
    """One stored resolution of an image: its size, its downsample from level 0, its tiles."""

    width: int
    height: int
    downsample: float
    tile_width: int
    tile_height: int

    @property
    def columns(self) -> int:
        return math.ceil(self.width / self.tile_width)

    @property
    def rows(self) -> int:
        return math.ceil(self.height / self.tile_height)


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle: x, y of the top-left corner, width and height."""

    x: int
    y: int
    width: int
    height: int

    def clipped(self, width: int, height: int) -> Rect:
        """This rectangle cut to the image of the given size (may become empty)."""
        x0, y0 = max(self.x, 0), max(self.y, 0)
        x1, y1 = min(self.x + self.width, width), min(self.y + self.height, height)
        return Rect(x0, y0, max(x1 - x0, 0), max(y1 - y0, 0))


def nominal_scale(level: Level, width0: int, height0: int) -> int | None:
    """The whole-number downsample of a stored level, if its size is level 0 divided by it.

    Scanners round level sizes up or down, so 2220 px at 4x may be 555 or 556 px wide;
    a level whose size is off by more than a pixel has no exact integer scale.
    """
    scale = round(width0 / level.width)
    if scale < 1:
        return None
    fits_x = abs(level.width - width0 / scale) <= 1
    fits_y = abs(level.height - height0 / scale) <= 1
    return scale if fits_x and fits_y else None


def best_level_for(levels: tuple[Level, ...], downsample: float) -> int:
    """Index of the coarsest stored level that is at least as fine as `downsample`.

    Reading from a finer level and shrinking keeps detail; a small tolerance stops a
    level at 3.9997x from being skipped for a 4x request.
    """
    best = 0
    for index, level in enumerate(levels):
        if level.downsample <= downsample * 1.01:
            best = index if level.downsample >= levels[best].downsample else best
    return best


def dzi_max_level(width: int, height: int) -> int:
    """The Deep Zoom level that shows the image at full resolution (level 0 is 1 x 1)."""
    return math.ceil(math.log2(max(width, height, 1)))


def dzi_level_size(width: int, height: int, level: int) -> tuple[int, int]:
    """Width and height of the image at a Deep Zoom level."""
    scale = 2 ** (dzi_max_level(width, height) - level)
    return max(math.ceil(width / scale), 1), max(math.ceil(height / scale), 1)


def dzi_tile_rect(width: int, height: int, level: int, col: int, row: int, tile: int) -> Rect:
    """The level-0 rectangle a Deep Zoom tile (no overlap) shows, clipped to the image."""
    scale = 2 ** (dzi_max_level(width, height) - level)
    rect = Rect(col * tile * scale, row * tile * scale, tile * scale, tile * scale)
    return rect.clipped(width, height)
