"""Tiles for any viewer: IIIF Image API 3.0 and Deep Zoom."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from app.access import authorize_image
from app.imaging import picture_response, registry, tile_service
from samsyn.errors import NotFound

bp = Blueprint("tiles", __name__)


@bp.get("/dzi/<image_id>.dzi")
def dzi_descriptor(image_id: str) -> Response:
    authorize_image("render", image_id)
    zoom = tile_service().deep_zoom(image_id, registry().opener(image_id))
    return Response(zoom.descriptor(), mimetype="application/xml")


@bp.get("/dzi/<image_id>_files/<int:level>/<int:col>_<int:row>.<fmt>")
def dzi_tile(image_id: str, level: int, col: int, row: int, fmt: str) -> Response:
    if fmt not in ("jpeg", "jpg", "png"):
        raise NotFound("Deep Zoom tiles are jpeg or png")
    authorize_image("render", image_id)
    tile = tile_service().dzi_tile(image_id, registry().opener(image_id), level, col, row, fmt)
    return picture_response(tile)


@bp.get("/iiif/3/<image_id>")
def iiif_base(image_id: str) -> Response:
    """The base URI redirects to the information document, as the specification asks."""
    authorize_image("render", image_id)
    response = Response(status=303)
    response.headers["Location"] = f"{request.base_url}/info.json"
    return response


@bp.get("/iiif/3/<image_id>/info.json")
def iiif_info(image_id: str) -> Response:
    authorize_image("render", image_id)
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
    opener = registry().opener(image_id)
    tile = tile_service().iiif_image(image_id, opener, region, size, rotation, quality, fmt)
    response = picture_response(tile)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
