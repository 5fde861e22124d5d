"""samsyn's tile path with login, access check and access log switched off: the comparison
that shows what security costs per tile (issue: at least 80 % of this throughput with it on).

The same `tiles.service.TileService` (source cache, pass-through, rendering, ETags) behind a
bare Flask route, under the same gunicorn configuration. Benchmark-only: the product
itself has no way to switch security off. Run as
`python -m benchmarks.open_tiles SLIDE --port P --workers 2 --threads 4`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from flask import Flask, Response, abort

from benchmarks.anchor_deepzoom import AnchorServer, gunicorn_options
from tiles import Source, open_source
from tiles.service import TileService

SLIDE_NAME = "slide"
DZI_PATH = f"/dzi/{SLIDE_NAME}.dzi"


def create_app(slide_path: str) -> Flask:
    """Deep Zoom descriptor and tiles of one slide through samsyn's tile service, no login."""
    app = Flask(__name__)
    service = TileService()

    def opener() -> Source:
        return open_source([slide_path])

    @app.get("/dzi/<slug>.dzi")
    def dzi(slug: str) -> Response:
        if slug != SLIDE_NAME:
            abort(404)
        return Response(service.deep_zoom(slug, opener).descriptor(), mimetype="application/xml")

    @app.get("/dzi/<slug>_files/<int:level>/<int:col>_<int:row>.<fmt>")
    def tile(slug: str, level: int, col: int, row: int, fmt: str) -> Response:
        if slug != SLIDE_NAME:
            abort(404)
        encoded = service.dzi_tile(slug, opener, level, col, row, fmt)
        headers = {"ETag": f'"{encoded.etag}"', "Cache-Control": "private, max-age=3600"}
        return Response(encoded.data, mimetype=encoded.media_type, headers=headers)

    return app


class OpenTilesServer(AnchorServer):
    def load(self) -> Flask:
        return create_app(self.slide_path)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("slide")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    arguments = parser.parse_args(argv)
    options = gunicorn_options(arguments.host, arguments.port, arguments.workers, arguments.threads)
    OpenTilesServer(arguments.slide, options).run()


if __name__ == "__main__":
    main()
