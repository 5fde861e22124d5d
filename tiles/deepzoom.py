"""Deep Zoom (DZI) geometry: the descriptor, the tile grid, and which tiles are stored."""

from __future__ import annotations

import math
from dataclasses import dataclass

from samsyn.errors import NotFound
from tiles.pyramid import Rect, dzi_level_size, dzi_max_level, dzi_tile_rect, nominal_scale
from tiles.sources.base import SlideInfo

DEFAULT_TILE = 256


@dataclass(frozen=True)
class StoredTile:
    """A tile of a stored level: level index, column and row."""

    level: int
    col: int
    row: int


@dataclass(frozen=True)
class DeepZoom:
    """The Deep Zoom pyramid of one image, with no overlap between tiles."""

    width: int
    height: int
    tile_size: int

    @property
    def max_level(self) -> int:
        return dzi_max_level(self.width, self.height)

    def descriptor(self, image_format: str = "jpeg") -> str:
        """The .dzi XML document."""
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" '
            f'Format="{image_format}" Overlap="0" TileSize="{self.tile_size}">'
            f'<Size Width="{self.width}" Height="{self.height}"/></Image>'
        )

    def tile(self, level: int, col: int, row: int) -> tuple[Rect, int, int]:
        """Level-0 rectangle and output width and height of a tile; NotFound off the grid."""
        if not 0 <= level <= self.max_level:
            raise NotFound(f"there is no Deep Zoom level {level}")
        width, height = dzi_level_size(self.width, self.height, level)
        if not (
            0 <= col < math.ceil(width / self.tile_size)
            and 0 <= row < math.ceil(height / self.tile_size)
        ):
            raise NotFound(f"there is no tile {col},{row} at level {level}")
        out_w = min(self.tile_size, width - col * self.tile_size)
        out_h = min(self.tile_size, height - row * self.tile_size)
        return dzi_tile_rect(self.width, self.height, level, col, row, self.tile_size), out_w, out_h

    stored_levels: tuple[tuple[int, int], ...] = ()

    def stored(self, level: int, col: int, row: int) -> StoredTile | None:
        """The stored tile that is exactly this Deep Zoom tile, if the file has one."""
        scale = 2 ** (self.max_level - level)
        for stored_scale, index in self.stored_levels:
            if stored_scale == scale:
                return StoredTile(index, col, row)
        return None


def deep_zoom_for(info: SlideInfo) -> DeepZoom:
    """Deep Zoom tiles the size of the stored tiles where they are square, so they pass through.

    `stored_levels` lists (scale, level index) of the stored levels whose tile grid is the
    Deep Zoom grid at a power-of-two scale.
    """
    base = info.levels[0]
    square = base.tile_width == base.tile_height and 64 <= base.tile_width <= 1024
    tile = base.tile_width if square else DEFAULT_TILE
    stored = tuple(
        (scale, index)
        for index, level in enumerate(info.levels)
        if level.tile_width == level.tile_height == tile
        and (scale := nominal_scale(level, info.width, info.height)) is not None
        and scale & (scale - 1) == 0
    )
    return DeepZoom(info.width, info.height, tile, stored)
