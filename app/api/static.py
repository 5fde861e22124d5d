"""The front end's files: the page modules and styles in src/, the built npm assets in
dist/ and the message catalogues. Nothing else under static/ (the npm manifest, the lock
file, the build script, node_modules) is served.

A catalogue is kept in parts, one per area of the interface (static/i18n/parts/
<area>.<lang>.json) beside the common words (static/i18n/<lang>.json); the page gets them
merged as one /static/i18n/<lang>.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, send_from_directory

from samsyn.errors import NotFound

bp = Blueprint("static", __name__)
SERVED = ("src", "dist")
LANGUAGES = ("sv", "en")


@bp.get("/static/<folder>/<path:name>")
def static_file(folder: str, name: str) -> Response:
    if folder == "i18n" and name.removesuffix(".json") in LANGUAGES:
        response = jsonify(catalogue(Path(current_app.config["STATIC_DIR"]), name[:2]))
        response.headers["Cache-Control"] = "no-cache"
        return response
    if folder not in SERVED:
        raise NotFound("no such file")
    root = Path(current_app.config["STATIC_DIR"]) / folder
    return send_from_directory(root, name, max_age=300)


def catalogue(static: Path, language: str) -> dict[str, Any]:
    """The common words and every area's messages in one language."""
    merged: dict[str, Any] = json.loads((static / "i18n" / f"{language}.json").read_text("utf-8"))
    for part in sorted((static / "i18n" / "parts").glob(f"*.{language}.json")):
        merged.update(json.loads(part.read_text("utf-8")))
    return merged
