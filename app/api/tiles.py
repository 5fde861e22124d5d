"""Tiles for any viewer: IIIF Image API 3.0 and Deep Zoom."""

from __future__ import annotations

import re

from flask import Blueprint, Response, jsonify, request

from app.access import authorize_image
from app.imaging import frame_pictures, picture_response, registry, series_shelf, tile_service
from samsyn.errors import BadRequest, NotFound
from tiles.cache import EncodedTile
from tiles.frames import parse_window, series_deep_zoom
from tiles.render import Encoding

bp = Blueprint("tiles", __name__)


@bp.get("/dzi/<image_id>.dzi")
def dzi_descriptor(image_id: str) -> Response:
    authorize_image("render", image_id)
    if registry().record(image_id).kind == "series":
        zoom = series_deep_zoom(series_shelf().get(image_id))
    else:
        zoom = tile_service().deep_zoom(image_id, registry().opener(image_id))
    return Response(zoom.descriptor(), mimetype="application/xml")


@bp.get("/dzi/<image_id>_files/<int:level>/<int:col>_<int:row>.<fmt>")
def dzi_tile(image_id: str, level: int, col: int, row: int, fmt: str) -> Response:
    if fmt not in ("jpeg", "jpg", "png"):
        raise NotFound("Deep Zoom tiles are jpeg or png")
    authorize_image("render", image_id)
    if registry().record(image_id).kind == "series":
        return picture_response(_frame_tile(image_id, level, col, row, fmt))
    tile = tile_service().dzi_tile(image_id, registry().opener(image_id), level, col, row, fmt)
    return picture_response(tile)


def _frame_tile(image_id: str, level: int, col: int, row: int, fmt: str) -> EncodedTile:
    """A Deep Zoom tile of one radiology frame: `?frame=k&window=center,width`."""
    frame_text = request.args.get("frame", "0")
    if not re.fullmatch(r"[0-9]{1,100}", frame_text):
        raise BadRequest("frame is a whole number from 0")
    series = series_shelf().get(image_id)
    window = parse_window(request.args.get("window"))
    encoding = Encoding("png" if fmt == "png" else "jpg", 92)
    zoom = series_deep_zoom(series)
    return frame_pictures().tile(
        image_id, series, zoom, level, col, row, int(frame_text), window, encoding
    )


@bp.get("/iiif/3/<image_id>")
def iiif_base(image_id: str) -> Response:
    """The base URI redirects to the information document, as the specification asks."""
    authorize_image("render", image_id)
    _slides_only(image_id)
    response = Response(status=303)
    response.headers["Location"] = f"{request.base_url}/info.json"
    return response


@bp.get("/iiif/3/<image_id>/info.json")
def iiif_info(image_id: str) -> Response:
    authorize_image("render", image_id)
    _slides_only(image_id)
    service_id = request.base_url.removesuffix("/info.json")
    info = tile_service().iiif_info(image_id, registry().opener(image_id), service_id)
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
    opener = registry().opener(image_id)
    tile = tile_service().iiif_image(image_id, opener, region, size, rotation, quality, fmt)
    response = picture_response(tile)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _slides_only(image_id: str) -> None:
    """IIIF serves slides; a radiology series is served frame by frame."""
    if registry().record(image_id).kind == "series":
        raise NotFound("IIIF serves slides; a radiology series is served frame by frame")
