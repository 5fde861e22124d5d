"""Radiology series kept per process, and how pictures (tiles, frames) become HTTP responses.

`picture_headers` is shared by the Flask routes and the WSGI tile fast path, so a tile
carries the same caching headers whichever road it took.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request

from app.extensions import Database
from app.models import Image
from samsyn.errors import NotFound
from tiles.cache import EncodedTile
from tiles.lru import BoundedLRU
from tiles.radiology import FrameCache, Series


class SeriesShelf:
    """Radiology series rebuilt from their stored metadata, kept per process (most recent first).

    Rebuilding a 300-slice series costs a few milliseconds and one database read, so each
    is made once; frames decode into the shelf's bounded frame cache.
    """

    def __init__(self, database: Database, frames: FrameCache, capacity: int = 64) -> None:
        self.database = database
        self.frames = frames
        self._series: BoundedLRU[str, Series] = BoundedLRU(capacity)

    def get(self, image_id: str) -> Series:
        series = self._series.get(image_id)
        if series is None:
            series = Series(self._metadata(image_id), self.frames)
            self._series.put(image_id, series)
        return series

    def _metadata(self, image_id: str) -> dict[str, Any]:
        with self.database.session() as session:
            image = session.get(Image, image_id) if len(image_id) <= 32 else None
            if image is None or image.kind != "series" or not image.series_meta:
                raise NotFound("no such series")
            return dict(image.series_meta)


def picture_headers(tile: EncodedTile, max_age: int) -> dict[str, str]:
    """A strong entity tag and private caching: pictures of patients stay in the browser."""
    return {"ETag": f'"{tile.etag}"', "Cache-Control": f"private, max-age={max_age}"}


def not_modified(tile: EncodedTile, if_none_match: str) -> bool:
    """Whether the client already holds these bytes."""
    return f'"{tile.etag}"' in if_none_match


def picture_response(tile: EncodedTile) -> Response:
    """The bytes with their caching headers; 304 when the client has them."""
    headers = picture_headers(tile, current_app.config["TILE_MAX_AGE"])
    if not_modified(tile, request.headers.get("If-None-Match", "")):
        return Response(status=304, headers=headers)
    return Response(tile.data, mimetype=tile.media_type, headers=headers)
