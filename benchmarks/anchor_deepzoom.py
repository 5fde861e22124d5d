"""The anchor: openslide-python's Deep Zoom example server, behind samsyn's gunicorn setup.

This is what a user would pick to serve slides from Python: `DeepZoomGenerator` with
254 px tiles, 1 px overlap and no bounds limit, each tile read through OpenSlide and
re-encoded as JPEG quality 75, one OpenSlide handle per worker process. Only the
routes the benchmark uses are kept. Run as
`python -m benchmarks.anchor_deepzoom SLIDE --port P --workers 2 --threads 4`.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort
from gunicorn.app.base import BaseApplication
from openslide import OpenSlide
from openslide.deepzoom import DeepZoomGenerator

from app.server import gunicorn_options

SLIDE_NAME = "slide"
TILE_SIZE = 254
OVERLAP = 1
QUALITY = 75
DZI_PATH = f"/{SLIDE_NAME}.dzi"
TILES_PATH = f"/{SLIDE_NAME}_files"


def create_app(slide_path: str) -> Flask:
    """The example's two Deep Zoom routes over one slide."""
    app = Flask(__name__)
    generator = DeepZoomGenerator(
        OpenSlide(slide_path), tile_size=TILE_SIZE, overlap=OVERLAP, limit_bounds=False
    )

    @app.get("/<slug>.dzi")
    def dzi(slug: str) -> Response:
        if slug != SLIDE_NAME:
            abort(404)
        return Response(generator.get_dzi("jpeg"), mimetype="application/xml")

    @app.get("/<slug>_files/<int:level>/<int:col>_<int:row>.<fmt>")
    def tile(slug: str, level: int, col: int, row: int, fmt: str) -> Response:
        if slug != SLIDE_NAME or fmt not in ("jpeg", "png"):
            abort(404)
        try:
            picture = generator.get_tile(level, (col, row))
        except ValueError:
            abort(404)
        buffer = io.BytesIO()
        picture.save(buffer, fmt, quality=QUALITY)
        return Response(buffer.getvalue(), mimetype=f"image/{fmt}")

    return app


class AnchorServer(BaseApplication):
    """gunicorn loading the app in each worker, so every worker opens its own OpenSlide handle."""

    def __init__(self, slide_path: str, options: dict[str, Any]) -> None:
        self.slide_path = slide_path
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return create_app(self.slide_path)


def serve_command(slide: Path, port: int, workers: int, threads: int) -> list[str]:
    """The command line that runs the anchor on 127.0.0.1:`port`."""
    return [
        sys.executable,
        "-m",
        "benchmarks.anchor_deepzoom",
        str(slide),
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--threads",
        str(threads),
    ]


def main(argv: Sequence[str] | None = None, server: type[AnchorServer] | None = None) -> None:
    """Parse the command line and run `server` (the anchor by default) on the slide."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("slide")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    arguments = parser.parse_args(argv)
    # samsyn's own gunicorn settings, so both servers run the same way.
    options = gunicorn_options(arguments.host, arguments.port, arguments.workers, arguments.threads)
    (server or AnchorServer)(arguments.slide, options).run()


if __name__ == "__main__":
    main()
