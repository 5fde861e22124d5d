"""Images: the list, one image's description, and its associated pictures."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from app.access import authorize_image, database, visible_images
from app.auth import current_principal
from app.identity import masked_header
from app.imaging import picture_response
from app.models import Case, Image, Patient
from app.services import services
from samsyn.errors import NotFound
from tiles.cache import EncodedTile
from tiles.frames import parse_viewport
from tiles.radiology import WINDOW_PRESETS
from tiles.render import Encoding

bp = Blueprint("images", __name__, url_prefix="/api/images")
SERIES_FIELDS = (
    "patient_name",
    "patient_id",
    "personnummer",
    "patient_birth_date",
    "patient_sex",
    "study_date",
    "study_description",
    "series_description",
    "series_number",
    "accession_number",
    "body_part_examined",
    "manufacturer",
    "modality",
    "rows",
    "columns",
    "number_of_frames",
    "pixel_spacing_mm",
    "slice_thickness_mm",
    "spacing_between_slices_mm",
    "measured_spacing_mm",
    "orientation",
    "photometric_interpretation",
    "unit",
    "default_window",
    "warnings",
)
ASSOCIATED = ("thumbnail", "label", "macro")


def describe(image: Image) -> dict[str, Any]:
    """The contract's image object. `identity_warning` says when the file names another
    patient than its case's; never in teaching, which shows no identity."""
    session = object_session(image)
    case = session.get(Case, image.case_id) if session is not None and image.case_id else None
    # Fail closed: a case that cannot be looked up counts as teaching.
    teaching = case.purpose == "teaching" if case is not None else image.case_id is not None
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
        "pixel_spacing_mm": (image.properties or {}).get("pixel_spacing_mm")
        if image.kind == "series"
        else None,
        "modality": image.modality,
        "objective_power": image.objective_power,
        "frames": image.frames,
        "associated": sorted({"thumbnail", *image.associated}, key=ASSOCIATED.index),
        "size_bytes": image.size_bytes,
        "created": image.created.isoformat() if image.created else None,
        "identity_warning": None if teaching else image.identity_warning,
    }


@bp.get("")
def list_images() -> Response:
    """The images the caller may see, each listing of a patient's image logged."""
    principal = current_principal()
    with database().session() as session:
        images = session.scalars(select(Image).order_by(Image.name, Image.id)).all()
        return jsonify(
            [describe(image) for image in visible_images(session, principal, list(images))]
        )


@bp.get("/<image_id>")
def show_image(image_id: str) -> Response:
    checked = authorize_image("view", image_id)
    with database().session() as session:
        image = session.get(Image, image_id)
        if image is None:
            raise NotFound("no such image")
        described = describe(image)
        if image.kind == "series":
            protected = _protected(session, checked.case.patient_id)
            described["series"] = series_details(image, checked.decision.purpose, protected)
        return jsonify(described)


def _protected(session: Session, patient_id: str | None) -> bool:
    patient = session.get(Patient, patient_id) if patient_id else None
    return bool(patient and patient.protected_identity)


def series_details(image: Image, purpose: str, protected: bool) -> dict[str, Any]:
    """What a radiologist's viewer overlays: patient, study, series, geometry, windows.

    Teaching material carries no patient data; a protected identity shows no name.
    """
    meta = image.series_meta or {}
    header = {name: meta.get(name) for name in SERIES_FIELDS}
    details: dict[str, Any] = masked_header(header, purpose, protected)
    details["presets"] = {
        name: {"center": c, "width": w} for name, (c, w) in WINDOW_PRESETS.items()
    }
    details["frames"] = [_frame_overlay(frame) for frame in meta.get("frames", [])]
    return details


def _frame_overlay(frame: dict[str, Any]) -> dict[str, Any]:
    windows = frame.get("windows") or []
    return {
        "position": frame.get("position"),
        "location": frame.get("location"),
        "window": [windows[0]["center"], windows[0]["width"]] if windows else None,
        "unit": frame.get("unit", ""),
    }


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
    found = services()
    if found.registry.record(image_id).kind == "series":
        return picture_response(_series_thumbnail(image_id, name, fmt))
    opener = found.registry.opener(image_id)
    return picture_response(found.tiles.associated(image_id, opener, name, fmt))


def _series_thumbnail(image_id: str, name: str, fmt: str) -> EncodedTile:
    """A series' thumbnail is its middle frame in the file's own window; it has no label."""
    if name != "thumbnail":
        raise NotFound(f"a radiology series has no {name} image")
    series = services().series.get(image_id)
    size = parse_viewport("512,512", series.rows, series.columns)
    encoding = Encoding("png" if fmt == "png" else "jpg", 90)
    return services().frames.rendered(image_id, series, len(series) // 2, None, size, encoding)
