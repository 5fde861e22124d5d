"""Radiology frames: rendered with the modality and VOI transforms, and values under the cursor."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from app.access import authorize_image
from app.imaging import picture_response
from app.services import services
from samsyn.errors import BadRequest
from tiles.frames import parse_quality, parse_viewport, parse_window
from tiles.render import Encoding

bp = Blueprint("series", __name__, url_prefix="/api/images")


def wants_png() -> bool:
    """PNG when asked for by `format=png` or an Accept header that prefers it over JPEG."""
    chosen = request.args.get("format")
    if chosen is not None:
        if chosen not in ("png", "jpg", "jpeg"):
            raise BadRequest("format is jpg or png")
        return chosen == "png"
    accept = request.accept_mimetypes
    return accept.quality("image/png") > accept.quality("image/jpeg")


@bp.get("/<image_id>/frames/<int:frame>/rendered")
def rendered_frame(image_id: str, frame: int) -> Response:
    """Frame k (0-based) windowed (`window=center,width`, else the file's own) and fitted
    into `viewport=w,h`, as JPEG (`quality`) or PNG."""
    authorize_image("render", image_id)
    series = services().series.get(image_id)
    window = parse_window(request.args.get("window"))
    size = parse_viewport(request.args.get("viewport"), series.rows, series.columns)
    quality = parse_quality(request.args.get("quality"))
    encoding = Encoding("png" if wants_png() else "jpg", quality)
    return picture_response(
        services().frames.rendered(image_id, series, frame, window, size, encoding)
    )


@bp.get("/<image_id>/frames/<int:frame>/value")
def frame_value(image_id: str, frame: int) -> Response:
    """The modality value at image pixel (x, y): HU for CT."""
    authorize_image("render", image_id)
    try:
        x, y = float(request.args["x"]), float(request.args["y"])
    except (KeyError, ValueError) as error:
        raise BadRequest("x and y are required numbers (image pixels)") from error
    value, unit = services().series.get(image_id).value(frame, x, y)
    return jsonify({"value": value, "unit": unit})
