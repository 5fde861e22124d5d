"""The pages of the viewer: the image list and the viewer itself, served from static/."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, send_from_directory

bp = Blueprint("pages", __name__)


@bp.get("/")
def image_list() -> Response:
    return send_from_directory(current_app.static_folder or "", "index.html")


@bp.get("/viewer/<image_id>")
def viewer(image_id: str) -> Response:
    return send_from_directory(current_app.static_folder or "", "viewer.html")
