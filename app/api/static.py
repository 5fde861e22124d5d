"""The front end's files: the page modules and styles in src/ and the built npm assets in
dist/. Nothing else under static/ (the npm manifest, the lock file, the build script,
node_modules) is served."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, send_from_directory

from samsyn.errors import NotFound

bp = Blueprint("static", __name__)
SERVED = ("src", "dist", "i18n")


@bp.get("/static/<folder>/<path:name>")
def static_file(folder: str, name: str) -> Response:
    if folder not in SERVED:
        raise NotFound("no such file")
    root = Path(current_app.config["STATIC_DIR"]) / folder
    return send_from_directory(root, name, max_age=300)
