"""The application's image registry and tile service, and how tiles become HTTP responses."""

from __future__ import annotations

from flask import Flask, Response, current_app, request

from app.extensions import db
from app.registry import Registry
from tiles.cache import EncodedTile, SourceCache, TileCache
from tiles.service import TileService


def init_app(app: Flask) -> None:
    """Attach one registry and one tile service (with their bounded caches) to the app."""
    app.extensions["samsyn_registry"] = Registry(db)
    app.extensions["samsyn_tiles"] = TileService(
        SourceCache(app.config["SOURCE_CACHE_SIZE"]), TileCache(app.config["TILE_CACHE_BYTES"])
    )


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
