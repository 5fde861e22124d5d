"""Tiles for any viewer: IIIF Image API 3.0 and Deep Zoom."""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, jsonify, request

from app.access import authorize_image
from app.imaging import picture_response
from app.services import services
from samsyn.errors import BadRequest, NotFound
from tiles.cache import EncodedTile
from tiles.frames import parse_window, series_deep_zoom
from tiles.render import Encoding

bp = Blueprint("tiles", __name__)


@bp.get("/dzi/<image_id>.dzi")
def dzi_descriptor(image_id: str) -> Response:
    authorize_image("render", image_id)
    found = services()
    if found.registry.record(image_id).kind == "series":
        zoom = series_deep_zoom(found.series.get(image_id))
    else:
        zoom = found.tiles.deep_zoom(image_id, found.registry.opener(image_id))
    return Response(zoom.descriptor(), mimetype="application/xml")


@bp.get("/dzi/<image_id>_files/<int:level>/<int:col>_<int:row>.<fmt>")
def dzi_tile(image_id: str, level: int, col: int, row: int, fmt: str) -> Response:
    """A Deep Zoom tile. A slide's tile without a query string is normally answered by the
    WSGI fast path (app/fastpath.py) with the same authorisation, tile log and headers;
    this route answers what the fast path hands on: series frames, refusals, errors."""
    if fmt not in ("jpeg", "jpg", "png"):
        raise NotFound("Deep Zoom tiles are jpeg or png")
    authorize_image("render", image_id)
    found = services()
    if found.registry.record(image_id).kind == "series":
        return picture_response(_frame_tile(image_id, level, col, row, fmt))
    opener = found.registry.opener(image_id)
    return picture_response(found.tiles.dzi_tile(image_id, opener, level, col, row, fmt))


def _frame_tile(image_id: str, level: int, col: int, row: int, fmt: str) -> EncodedTile:
    """A Deep Zoom tile of one radiology frame: `?frame=k&window=center,width`."""
    frame_text = request.args.get("frame", "0")
    if not re.fullmatch(r"[0-9]{1,100}", frame_text):
        raise BadRequest("frame is a whole number from 0")
    series = services().series.get(image_id)
    window = parse_window(request.args.get("window"))
    encoding = Encoding("png" if fmt == "png" else "jpg", 92)
    zoom = series_deep_zoom(series)
    return services().frames.tile(
        image_id, series, zoom, level, col, row, int(frame_text), window, encoding
    )


@bp.get("/iiif/3/<image_id>")
def iiif_base(image_id: str) -> Response:
    """The base URI redirects to the information document, as the specification asks."""
    authorize_image("render", image_id)
    _slides_only(image_id)
    response = Response(status=303)
    response.headers["Location"] = f"{iiif_id(image_id)}/info.json"
    return response


@bp.get("/iiif/3/<image_id>/info.json")
def iiif_info(image_id: str) -> Response:
    authorize_image("render", image_id)
    _slides_only(image_id)
    found = services()
    info = found.tiles.iiif_info(image_id, found.registry.opener(image_id), iiif_id(image_id))
    response = jsonify(info)
    if "application/ld+json" in request.headers.get("Accept", ""):
        response.mimetype = "application/ld+json"
        response.headers["Content-Type"] = (
            'application/ld+json;profile="http://iiif.io/api/image/3/context.json"'
        )
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/iiif/3/<image_id>/<region>/<size>/<rotation>/<quality>.<fmt>")
def iiif_image(
    image_id: str, region: str, size: str, rotation: str, quality: str, fmt: str
) -> Response:
    authorize_image("render", image_id)
    _slides_only(image_id)
    found = services()
    opener = found.registry.opener(image_id)
    tile = found.tiles.iiif_image(image_id, opener, region, size, rotation, quality, fmt)
    response = picture_response(tile)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def iiif_id(image_id: str) -> str:
    """The image's IIIF id under the configured public address, never the request's Host."""
    return f"{current_app.config['PUBLIC_URL']}/iiif/3/{image_id}"


def _slides_only(image_id: str) -> None:
    """IIIF serves slides; a radiology series is served frame by frame."""
    if services().registry.record(image_id).kind == "series":
        raise NotFound("IIIF serves slides; a radiology series is served frame by frame")
