"""The fast path for slide tiles: Deep Zoom tile requests answered below Flask.

A viewer fetches hundreds of tiles a minute, and Flask's request machinery costs more
than the tile itself. This WSGI layer answers a Deep Zoom tile of a slide when, and only
when, the same session check, the same access policy (`AccessControl.check_image`) and the
same tile log (`count_tile`) that the Flask route `app/api/tiles.py:dzi_tile` uses say
yes, with the same picture and security headers. Everything else (no cookie, an unknown
or expired session, a refusal, a series, a query string, an error) falls through to the
Flask route, which answers and logs it the usual way. There is no second policy here:
only a shorter road to the first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from app.access import Checked, count_tile
from app.auth import session_token
from app.clients import environ_client
from app.headers import SECURITY_HEADERS
from app.imaging import not_modified, picture_headers
from app.services import Services, services
from samsyn.errors import SamsynError
from tiles.cache import EncodedTile

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
TILE_PATH = re.compile(
    r"^/dzi/([0-9a-f]{1,32})_files/([0-9]{1,3})/([0-9]{1,7})_([0-9]{1,7})\.(jpeg|jpg|png)$"
)


class FastTiles:
    """WSGI middleware in front of the Flask application."""

    def __init__(self, app: Flask, inner: WsgiApp) -> None:
        self.inner = inner
        self.found: Services = services(app)
        self.max_age = app.config["TILE_MAX_AGE"]
        self.served = 0  # tiles answered here (tests read it)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        tile = self._tile(environ) if environ.get("REQUEST_METHOD") == "GET" else None
        if tile is None:
            return self.inner(environ, start_response)
        self.served += 1
        return self._respond(environ, start_response, tile)

    def _tile(self, environ: dict[str, Any]) -> EncodedTile | None:
        """The tile, when this is a slide tile the caller may see; None means: ask Flask."""
        match = TILE_PATH.match(environ.get("PATH_INFO", ""))
        if match is None or environ.get("QUERY_STRING"):
            return None
        image_id, level, col, row, fmt = match.groups()
        found = self.found
        epoch = found.epoch.current()
        principal = found.sessions.principal(session_token(environ), epoch)
        if principal is None:
            return None
        try:
            if found.registry.record(image_id).kind != "slide":
                return None
            checked: Checked | None = found.access.check_image(principal, "render", image_id, epoch)
            if checked is None or not checked.decision.allowed:
                return None
            opener = found.registry.opener(image_id)
            tile = found.tiles.dzi_tile(image_id, opener, int(level), int(col), int(row), fmt)
        except SamsynError:
            return None
        client = environ_client(environ, found.config["TRUSTED_PROXIES"])
        count_tile(found.folder, principal, image_id, checked, client)
        return tile

    def _respond(
        self, environ: dict[str, Any], start_response: Callable[..., Any], tile: EncodedTile
    ) -> Iterable[bytes]:
        headers = [*picture_headers(tile, self.max_age).items(), *SECURITY_HEADERS]
        if not_modified(tile, environ.get("HTTP_IF_NONE_MATCH", "")):
            start_response("304 NOT MODIFIED", headers)
            return [b""]
        headers += [("Content-Type", tile.media_type), ("Content-Length", str(len(tile.data)))]
        start_response("200 OK", headers)
        return [tile.data]
