"""Radiology frames as pictures: a rendered frame fitted to a viewport, and Deep Zoom tiles
of a frame, windowed, encoded and cached like slide tiles."""

from __future__ import annotations

import math
import re

import numpy as np

from samsyn.errors import BadRequest
from tiles.cache import EncodedTile, TileCache
from tiles.deepzoom import DeepZoom
from tiles.pyramid import Rect
from tiles.radiology import Series
from tiles.render import Encoding, resize

MAX_VIEWPORT = 4096
Window = tuple[float, float]


def parse_window(text: str | None) -> Window | None:
    """`center,width` in modality units (HU for CT); width must be positive."""
    if text is None or text == "":
        return None
    parts = text.split(",")
    try:
        center, width = (float(part) for part in parts)
    except ValueError as error:
        raise BadRequest("window is center,width (two numbers)") from error
    if not (math.isfinite(center) and math.isfinite(width)) or width <= 0:
        raise BadRequest("the window width must be a positive number")
    return center, width


def parse_viewport(text: str | None, rows: int, columns: int) -> tuple[int, int]:
    """The output size: the frame fitted inside `w,h` keeping its aspect, or the frame's own."""
    if text is None or text == "":
        return columns, rows
    try:
        width, height = (int(part) for part in text.split(","))
    except ValueError as error:
        raise BadRequest("viewport is width,height (two whole numbers)") from error
    if not (1 <= width <= MAX_VIEWPORT and 1 <= height <= MAX_VIEWPORT):
        raise BadRequest(f"the viewport must be 1 to {MAX_VIEWPORT} pixels each way")
    scale = min(width / columns, height / rows)
    return max(round(columns * scale), 1), max(round(rows * scale), 1)


def parse_quality(text: str | None) -> int:
    if text is None or text == "":
        return 90
    if not re.fullmatch(r"[0-9]{1,3}", text) or not 1 <= int(text) <= 100:
        raise BadRequest("quality is a whole number from 1 to 100")
    return int(text)


def _window_key(window: Window | None) -> str:
    return "file" if window is None else f"{window[0]!r},{window[1]!r}"


class FramePictures:
    """Encoded frames and frame tiles of radiology series, in a bounded cache."""

    def __init__(self, tiles: TileCache) -> None:
        self.tiles = tiles

    def rendered(
        self,
        image_id: str,
        series: Series,
        k: int,
        window: Window | None,
        size: tuple[int, int],
        encoding: Encoding,
    ) -> EncodedTile:
        """Frame k windowed, fitted to `size`, encoded."""
        key = f"{image_id}/frame/{k}/{_window_key(window)}/{size[0]}x{size[1]}/{encoding}"

        def pixels() -> np.ndarray:
            return resize(series.render(k, window), *size)

        return self.tiles.picture(key, pixels, encoding)

    def tile(
        self,
        image_id: str,
        series: Series,
        zoom: DeepZoom,
        level: int,
        col: int,
        row: int,
        k: int,
        window: Window | None,
        encoding: Encoding,
    ) -> EncodedTile:
        """One Deep Zoom tile of frame k."""
        rect, width, height = zoom.tile(level, col, row)
        key = f"{image_id}/frame/{k}/{_window_key(window)}/dzi/{level}/{col}_{row}/{encoding}"

        def pixels() -> np.ndarray:
            return resize(_crop(series.render(k, window), rect), width, height)

        return self.tiles.picture(key, pixels, encoding)


def _crop(picture: np.ndarray, rect: Rect) -> np.ndarray:
    return picture[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width]


def series_deep_zoom(series: Series) -> DeepZoom:
    """Deep Zoom over one frame: tiles of 512 pixels, so most frames are one tile per level."""
    return DeepZoom(series.columns, series.rows, 512)
