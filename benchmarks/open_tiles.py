"""samsyn's tile path with login, access check and access log switched off: the comparison
that shows what security costs per tile (issue: at least 80 % of this throughput with it on).

The same `tiles.service.TileService` (source cache, pass-through, rendering, ETags) behind a
plain WSGI function (samsyn's own tiles skip Flask too, see app/fastpath.py), under the same
gunicorn configuration. Benchmark-only: the product
itself has no way to switch security off. Run as
`python -m benchmarks.open_tiles SLIDE --port P --workers 2 --threads 4`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from benchmarks.anchor_deepzoom import AnchorServer, main
from tiles import Source, open_source
from tiles.service import TileService

SLIDE_NAME = "slide"
DZI_PATH = f"/dzi/{SLIDE_NAME}.dzi"
TILE_PATH = re.compile(rf"^/dzi/{SLIDE_NAME}_files/([0-9]+)/([0-9]+)_([0-9]+)\.(jpeg|jpg|png)$")
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def create_app(slide_path: str) -> WsgiApp:
    """Deep Zoom descriptor and tiles of one slide through samsyn's tile service, no login:
    a plain WSGI application, like samsyn's own tile fast path minus session, policy and log."""
    service = TileService()

    def opener() -> Source:
        return open_source([slide_path])

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == DZI_PATH:
            body = service.deep_zoom(SLIDE_NAME, opener).descriptor().encode()
            start_response("200 OK", [("Content-Type", "application/xml")])
            return [body]
        match = TILE_PATH.match(path)
        if match is None:
            start_response("404 NOT FOUND", [("Content-Type", "text/plain")])
            return [b"not found"]
        level, col, row, fmt = match.groups()
        tile = service.dzi_tile(SLIDE_NAME, opener, int(level), int(col), int(row), fmt)
        headers = [
            ("ETag", f'"{tile.etag}"'),
            ("Cache-Control", "private, max-age=3600"),
            ("Content-Type", tile.media_type),
            ("Content-Length", str(len(tile.data))),
        ]
        start_response("200 OK", headers)
        return [tile.data]

    return application


class OpenTilesServer(AnchorServer):
    def load(self) -> WsgiApp:  # type: ignore[override]
        return create_app(self.slide_path)


if __name__ == "__main__":
    main(server=OpenTilesServer)
