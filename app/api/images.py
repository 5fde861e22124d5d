"""Images: the list, one image's description, and its associated pictures."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import select

from app.access import authorize_image, visible_images
from app.auth import current_principal
from app.extensions import db
from app.imaging import picture_response, registry, tile_service
from app.models import Image
from samsyn.errors import NotFound

bp = Blueprint("images", __name__, url_prefix="/api/images")
ASSOCIATED = ("thumbnail", "label", "macro")


def describe(image: Image) -> dict[str, Any]:
    """The contract's image object."""
    mpp = [image.mpp_x, image.mpp_y] if image.mpp_x and image.mpp_y else None
    return {
        "id": image.id,
        "name": image.name,
        "kind": image.kind,
        "format": image.format,
        "vendor": image.vendor,
        "width": image.width,
        "height": image.height,
        "levels": image.levels,
        "tile_size": [image.tile_width, image.tile_height],
        "mpp": mpp,
        "pixel_spacing_mm": None,
        "objective_power": image.objective_power,
        "frames": image.frames,
        "associated": sorted({"thumbnail", *image.associated}, key=ASSOCIATED.index),
        "size_bytes": image.size_bytes,
        "created": image.created.isoformat() if image.created else None,
    }


@bp.get("")
def list_images() -> Response:
    """The images the caller may see, each listing of a patient's image logged."""
    principal = current_principal()
    with db.session() as session:
        images = session.scalars(select(Image).order_by(Image.name, Image.id)).all()
        return jsonify(
            [describe(image) for image in visible_images(session, principal, list(images))]
        )


@bp.get("/<image_id>")
def show_image(image_id: str) -> Response:
    authorize_image("view", image_id)
    with db.session() as session:
        image = session.get(Image, image_id)
        if image is None:
            raise NotFound("no such image")
        return jsonify(describe(image))


@bp.get("/<image_id>/associated/<name>.<fmt>")
def associated_image(image_id: str, name: str, fmt: str) -> Response:
    """Thumbnail for anyone who may see the image; label and macro only in care, never teaching.

    Labels and macro photographs carry names, barcodes and accession numbers.
    """
    if name not in ASSOCIATED or fmt not in ("jpg", "png"):
        raise NotFound("no such associated image")
    checked = authorize_image("render" if name == "thumbnail" else "view", image_id)
    if name != "thumbnail" and checked.decision.purpose == "teaching":
        raise NotFound("label and macro images are not part of teaching material")
    opener = registry().opener(image_id)
    return picture_response(tile_service().associated(image_id, opener, name, fmt))
