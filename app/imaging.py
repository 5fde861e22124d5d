"""The application's image registry and tile service, and how tiles become HTTP responses."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from flask import Flask, Response, current_app, request

from app.extensions import db
from app.models import Image
from app.registry import Registry
from samsyn.errors import NotFound
from tiles.cache import EncodedTile, SourceCache, TileCache
from tiles.frames import FramePictures
from tiles.radiology import Series
from tiles.service import TileService


def init_app(app: Flask) -> None:
    """Attach one registry and one tile service (with their bounded caches) to the app."""
    app.extensions["samsyn_registry"] = Registry(db)
    tiles = TileCache(app.config["TILE_CACHE_BYTES"])
    app.extensions["samsyn_tiles"] = TileService(
        SourceCache(app.config["SOURCE_CACHE_SIZE"]), tiles
    )
    app.extensions["samsyn_series"] = SeriesShelf()
    app.extensions["samsyn_frames"] = FramePictures(tiles)


class SeriesShelf:
    """Radiology series rebuilt from their stored metadata, kept per process (most recent first).

    Rebuilding a 300-slice series costs a few milliseconds and one database read, so each
    is made once; frames decode into the library's shared, bounded frame cache.
    """

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self._series: OrderedDict[str, Series] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, image_id: str) -> Series:
        with self._lock:
            if image_id in self._series:
                self._series.move_to_end(image_id)
                return self._series[image_id]
        series = Series(self._metadata(image_id))
        with self._lock:
            self._series[image_id] = series
            while len(self._series) > self.capacity:
                self._series.popitem(last=False)
        return series

    def _metadata(self, image_id: str) -> dict[str, Any]:
        with db.session() as session:
            image = session.get(Image, image_id) if len(image_id) <= 32 else None
            if image is None or image.kind != "series" or not image.series_meta:
                raise NotFound("no such series")
            return dict(image.series_meta)


def series_shelf() -> SeriesShelf:
    return current_app.extensions["samsyn_series"]


def frame_pictures() -> FramePictures:
    return current_app.extensions["samsyn_frames"]


def registry() -> Registry:
    return current_app.extensions["samsyn_registry"]


def tile_service() -> TileService:
    return current_app.extensions["samsyn_tiles"]


def picture_response(tile: EncodedTile) -> Response:
    """The bytes with a strong ETag and private caching; 304 when the client has them."""
    etag = f'"{tile.etag}"'
    headers = {
        "ETag": etag,
        "Cache-Control": f"private, max-age={current_app.config['TILE_MAX_AGE']}",
    }
    if etag in request.headers.get("If-None-Match", ""):
        return Response(status=304, headers=headers)
    return Response(tile.data, mimetype=tile.media_type, headers=headers)
