"""Annotations: the marks reviewers draw on slides and series, their classes, import and
export. Every route asks the policy (through app/access.py) and every change is in the
access log in the same transaction as the change itself."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint, Response, jsonify, request
from sqlalchemy.orm import Session

from annotations import store
from annotations.classes import NAME_LIMIT, normal_color, valid_code
from annotations.features import Canvas, Posted, class_name, frame_of, measured, posted
from annotations.formats import geojson
from annotations.geometry import (
    Bounds,
    Checked,
    Ellipse,
    InvalidGeometry,
    check_shape,
    ellipse_json,
)
from annotations.measure import PixelSize
from app.access import (
    UNKNOWN,
    authorize_annotation,
    authorize_image,
    authorize_image_reading,
    authorize_organisation,
    database,
    image_facts,
    recorded,
)
from app.access import Checked as Decided
from app.annotation_classes import active_class, add_class, class_json, classes_of, retire_class
from app.api import json_object
from app.api.fields import PreconditionRequired, sent_version
from app.auth import Principal, current_principal
from app.directory import names
from app.extensions import announce
from app.models import Image, Organisation, User
from app.policy import AnnotationFacts
from app.services import services
from samsyn.errors import BadRequest, Conflict, NotFound

bp = Blueprint("annotations", __name__, url_prefix="/api")
IMPORT_LIMIT = 200_000


@bp.before_request
def signed_in() -> None:
    """Every route here needs a signed-in user first: a stranger hears 401, nothing else."""
    current_principal()


class UnknownClass(BadRequest):
    code = "unknown_class"


# --- the image a mark is drawn on -------------------------------------------------------------


def canvas_of(image: Image) -> Canvas:
    """Size, frames and pixel size of an image: MPP per axis on a slide (µm), PixelSpacing
    (row, column) on a series (mm)."""
    pixel = None
    if image.kind == "series":
        spacing = (image.properties or {}).get("pixel_spacing_mm")
        if isinstance(spacing, list) and len(spacing) == 2 and min(spacing) > 0:
            pixel = PixelSize(float(spacing[1]), float(spacing[0]), "mm")
    elif image.mpp_x and image.mpp_y:
        pixel = PixelSize(float(image.mpp_x), float(image.mpp_y), "um")
    return Canvas(Bounds(image.width, image.height), image.frames, image.kind == "series", pixel)


def measurements_of(image: Image, shape: Checked, frame: int | None) -> dict[str, Any]:
    """The shape's measurements; on a series with the frame's values (HU on CT) inside it."""
    areal = shape.geometry.geom_type in ("Polygon", "MultiPolygon")
    values = frame_values(image, frame) if areal else None
    return measured(shape, canvas_of(image), *(values or ()))


def frame_values(image: Image, frame: int | None) -> tuple[Any, str] | None:
    """A series frame's modality values (those the `value` route reads) and their unit."""
    if image.kind != "series" or frame is None:
        return None
    series = services().series.get(image.id)
    return series.modality(frame), series.unit(frame)


def image_row(session: Session, image_id: str) -> Image:
    image = session.get(Image, image_id) if len(image_id) <= 32 else None
    if image is None:
        raise NotFound(UNKNOWN)
    return image


def authorize_on_image(session: Session, action: str, image_id: str) -> tuple[Image, Decided]:
    """The image and the decision for `action` on it; a refusal is logged and raised, an
    allowed change is logged with `recorded` once it is made."""
    checked = authorize_image(action, image_id, deferred=True)
    return image_row(session, image_id), checked


def writer_org(checked: Decided, principal: Principal) -> str | None:
    """The organisation the annotator acts for: the role the decision rests on."""
    if checked.decision.role is not None:
        return str(checked.decision.role.org_id)
    return principal.memberships[0].role.org_id if principal.memberships else None


# --- features in and out ----------------------------------------------------------------------


def classified(
    session: Session, org_id: str | None, name: str | None, strict: bool, color: str | None = None
) -> tuple[str | None, str | None]:
    """(class name, colour): on the REST routes the class must be on the annotator's
    organisation's list; an import keeps a name it does not know, with the file's colour."""
    if name is None:
        return None, None
    known = active_class(session, org_id, name) if org_id else None
    if known is not None:
        return known.name, known.color
    if strict:
        raise UnknownClass(
            f'"{name}" is not one of your organisation\'s annotation classes (GET /api/classes).'
        )
    return name, normal_color(color)


def draft_of(
    session: Session, image: Image, item: Posted, org_id: str | None, strict: bool = True
) -> store.Draft:
    name, color = classified(session, org_id, item.classification, strict)
    shape = item.shape
    return store.Draft(
        kind=shape.kind,
        geometry=shape.geojson(),
        bbox=shape.bbox,
        shape=ellipse_json(shape.ellipse) if shape.ellipse else None,
        classification=name,
        color=color,
        label=item.label,
        locked=item.locked,
        measurements=measurements_of(image, shape, item.frame),
    )


def feature_json(
    row: store.AnnotationRow, people: dict[str, str], orgs: dict[str, str]
) -> dict[str, Any]:
    """The contract's Feature: geometry and samsyn's properties."""
    properties: dict[str, Any] = {
        "kind": row.kind,
        "classification": {"name": row.classification, "color": row.color or "#a0a0a0"}
        if row.classification
        else None,
        "label": row.label,
        "author": row.author_id,
        "author_name": people.get(row.author_id),
        "org": orgs.get(row.org_id or ""),
        "org_id": row.org_id,
        "layer": row.layer,
        "version": row.version,
        "seq": row.seq,
        "created": row.created.isoformat(),
        "updated": row.updated.isoformat(),
        "frame": row.frame,
        "isLocked": row.locked,
        "objectType": row.object_type,
        "measurements": row.measurements or {},
    }
    if row.shape:
        properties["shape"] = row.shape
    return {"type": "Feature", "id": row.id, "geometry": row.geometry, "properties": properties}


def features_json(session: Session, rows: list[store.AnnotationRow]) -> list[dict[str, Any]]:
    """Features with their authors' and organisations' names, looked up once."""
    people = names(session, User, {row.author_id for row in rows})
    orgs = names(session, Organisation, {row.org_id for row in rows if row.org_id})
    return [feature_json(row, people, orgs) for row in rows]


def one_feature(session: Session, row: store.AnnotationRow) -> dict[str, Any]:
    return features_json(session, [row])[0]


def own_feature(session: Session, row: store.AnnotationRow, principal: Principal) -> dict[str, Any]:
    """The Feature the annotator just made or changed: their own name and their
    organisation's are known without asking the database."""
    people = {principal.user_id: principal.name}
    orgs = {m.role.org_id: m.org_name for m in principal.memberships}
    if row.author_id not in people or (row.org_id and row.org_id not in orgs):
        return one_feature(session, row)
    return feature_json(row, people, orgs)


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        x0, y0, x1, y1 = (float(part) for part in value.split(","))
    except ValueError as error:
        raise BadRequest("bbox is x0,y0,x1,y1 in image pixels.") from error
    if not all(abs(v) < 1e12 for v in (x0, y0, x1, y1)) or x1 < x0 or y1 < y0:
        raise BadRequest("bbox is x0,y0,x1,y1 with x0 <= x1 and y0 <= y1.")
    return x0, y0, x1, y1


def parse_frame(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or len(value) > 9:
        raise BadRequest("frame is a whole number from 0.")
    return int(value)


def base_version() -> int:
    """The version a change is made to, from If-Match (a bare number or an ETag)."""
    version = sent_version(request.headers.get("If-Match"), "annotation")
    if version is None:
        raise PreconditionRequired("Send If-Match with the version you are changing.")
    return version


def stale(session: Session, error: store.StaleVersion) -> Conflict:
    """A 409 that carries the current annotation, so the client can merge or redo."""
    return Conflict(error.message, {"current": one_feature(session, error.current)})


# --- routes -----------------------------------------------------------------------------------


@bp.get("/images/<image_id>/annotations")
def list_annotations(image_id: str) -> Response:
    """The shared annotations of an image and the caller's own drafts, within `bbox`."""
    bbox, frame = parse_bbox(request.args.get("bbox")), parse_frame(request.args.get("frame"))
    checked = authorize_image_reading(image_id, "annotations")
    principal = current_principal()
    with database().session() as session:
        # The case's sequence before the rows are read: a live client resyncs from here.
        seq = store.current_seq(session, checked.case.id)
        rows = unconcealed(
            store.in_view(session, image_id, principal.user_id, bbox, frame), checked
        )
        collection = {
            "type": "FeatureCollection",
            "seq": seq,
            "features": features_json(session, rows),
        }
    return json_response(collection)


def unconcealed(rows: list[store.AnnotationRow], checked: Decided) -> list[store.AnnotationRow]:
    """Without the marks a blinded reviewer may not see yet (the requester's own)."""
    hidden = checked.decision.conceal
    return rows if hidden is None else [row for row in rows if row.org_id != hidden]


def json_response(value: Any, status: int = 200) -> Response:
    """A JSON response through orjson: a slide's 100,000 features in a fraction of the time."""
    return Response(orjson.dumps(value), status=status, mimetype="application/json")


@bp.post("/images/<image_id>/annotations")
def create_annotation(image_id: str) -> tuple[Response, int]:
    data = json_object("send a GeoJSON Feature")
    with database().session() as session:
        row, feature = create_on(session, image_id, data)
    response = jsonify({"id": row.id, "version": row.version, "seq": row.seq, "feature": feature})
    response.headers["ETag"] = f'"{row.version}"'
    return response, 201


def create_on(
    session: Session, image_id: str, data: dict[str, Any], op_id: str | None = None
) -> tuple[store.AnnotationRow, dict[str, Any]]:
    """A new annotation from a posted Feature (a REST POST or a live `create` op), logged,
    and announced to the case's live room once committed."""
    principal = current_principal()
    image, checked = authorize_on_image(session, "annotate", image_id)
    item = posted(data, canvas_of(image))
    org_id = writer_org(checked, principal)
    draft = draft_of(session, image, item, org_id)
    with recorded(session, checked, "annotate", kind=item.shape.kind, **via(op_id)) as made:
        row = store.create(
            session,
            draft,
            image_id=image.id,
            case_id=image.case_id,
            frame=item.frame,
            author_id=principal.user_id,
            org_id=org_id,
            layer=item.layer,
        )
        made["annotation"] = row.id
    feature = own_feature(session, row, principal)
    announce_change(session, row, "create", feature, op_id)
    return row, feature


def via(op_id: str | None) -> dict[str, Any]:
    """The access log's note that a change came through the live room."""
    return {"via": "live", "op_id": op_id} if op_id is not None else {}


def announce_change(
    session: Session,
    row: store.AnnotationRow,
    kind: str,
    annotation: dict[str, Any],
    op_id: str | None,
) -> None:
    """Tell the case's live room of a change once it is committed: drafts only to their
    author's own connections."""
    if row.case_id is None:
        return
    announce(
        session,
        {
            "kind": "op",
            "case": row.case_id,
            "only_user": row.author_id if row.layer == "draft" else None,
            "payload": {
                "seq": row.seq,
                "op_id": op_id,
                "user": current_principal().user_id,
                "type": kind,
                "image": row.image_id,
                "frame": row.frame,
                "annotation": annotation,
            },
        },
    )


def annotation_and_image(session: Session, annotation_id: str) -> tuple[store.AnnotationRow, Image]:
    row = store.current(session, annotation_id)
    image = image_row(session, row.image_id)
    return row, image


def facts_of(session: Session, row: store.AnnotationRow) -> AnnotationFacts:
    case = image_facts(session, row.image_id)
    if case is None:
        raise NotFound(UNKNOWN)
    return AnnotationFacts(case, row.author_id, row.layer)


@bp.get("/annotations/<annotation_id>")
def show_annotation(annotation_id: str) -> Response:
    with database().session() as session:
        row, _image = annotation_and_image(session, annotation_id)
        checked = authorize_annotation(
            session, "read_annotation", annotation_id, facts_of(session, row), "view_annotations"
        )
        if not unconcealed([row], checked):
            raise NotFound(UNKNOWN)
        authorize_image_reading(row.image_id, "annotations")
        response = jsonify(one_feature(session, row))
    response.headers["ETag"] = f'"{row.version}"'
    return response


@bp.patch("/annotations/<annotation_id>")
def change_annotation(annotation_id: str) -> Response:
    """A new version of one's own annotation: geometry and properties as sent, the rest kept."""
    data = json_object("send a GeoJSON Feature with what changes")
    version = base_version()
    with database().session() as session:
        changed, feature = change_on(session, annotation_id, version, data)
    response = jsonify(feature)
    response.headers["ETag"] = f'"{changed.version}"'
    return response


def change_on(
    session: Session,
    annotation_id: str,
    version: int,
    data: dict[str, Any],
    op_id: str | None = None,
) -> tuple[store.AnnotationRow, dict[str, Any]]:
    """A PATCH or a live `update` op: the new version, logged and announced."""
    row, image = annotation_and_image(session, annotation_id)
    checked = authorize_annotation(
        session, "change_annotation", annotation_id, facts_of(session, row), "edit"
    )
    merged = _merged(row, data)
    item = posted(merged, canvas_of(image), default_layer=row.layer)
    if row.layer == "shared" and item.layer == "draft":
        raise BadRequest("A shared annotation cannot go back to being a draft.")
    if item.frame != row.frame:
        raise BadRequest("An annotation stays on its frame; draw a new one on the other frame.")
    draft = draft_of(session, image, item, row.org_id)
    user_id = current_principal().user_id
    try:
        with recorded(session, checked, "edit", annotation=annotation_id, **via(op_id)) as made:
            changed = store.change(session, annotation_id, version, draft, user_id)
            if item.layer == "shared" and changed.layer == "draft":
                changed = store.publish(session, annotation_id, changed.version, user_id)
            made["version"] = changed.version
    except store.StaleVersion as error:
        raise stale(session, error) from error
    feature = one_feature(session, changed)
    announce_change(session, changed, "update", feature, op_id)
    return changed, feature


def _merged(row: store.AnnotationRow, data: dict[str, Any]) -> dict[str, Any]:
    """The stored annotation with what the PATCH sends laid over it."""
    properties = {
        "kind": row.kind,
        "shape": row.shape,
        "classification": row.classification,
        "label": row.label,
        "frame": row.frame,
        "layer": row.layer,
        "isLocked": row.locked,
    }
    sent = data.get("properties", {})
    if not isinstance(sent, dict):
        raise BadRequest("The feature's properties must be a JSON object.")
    geometry = data.get("geometry", row.geometry)
    if "geometry" in data and "shape" not in sent and row.kind == "ellipse":
        properties["shape"] = None  # a reshaped ellipse arrives as its new outline
    if "kind" in sent and sent["kind"] != row.kind:
        raise BadRequest("An annotation keeps its kind; draw a new one instead.")
    properties.update({name: value for name, value in sent.items() if name != "kind"})
    return {"type": "Feature", "geometry": geometry, "properties": properties}


@bp.delete("/annotations/<annotation_id>")
def delete_annotation(annotation_id: str) -> Response:
    version = base_version()
    with database().session() as session:
        gone = delete_on(session, annotation_id, version)
    return jsonify({"id": gone.id, "version": gone.version, "seq": gone.seq, "deleted": True})


def delete_on(
    session: Session, annotation_id: str, version: int, op_id: str | None = None
) -> store.AnnotationRow:
    """A DELETE or a live `delete` op: the annotation gone (its versions kept), announced."""
    row, _image = annotation_and_image(session, annotation_id)
    checked = authorize_annotation(
        session, "delete_annotation", annotation_id, facts_of(session, row), "delete"
    )
    try:
        with recorded(session, checked, "delete", annotation=annotation_id, **via(op_id)) as made:
            gone = store.delete(session, annotation_id, version, current_principal().user_id)
            made["version"] = gone.version
    except store.StaleVersion as error:
        raise stale(session, error) from error
    announce_change(session, gone, "delete", deleted_json(gone), op_id)
    return gone


def deleted_json(row: store.AnnotationRow) -> dict[str, Any]:
    return {"id": row.id, "version": row.version, "seq": row.seq, "deleted": True}


@bp.get("/annotations/<annotation_id>/history")
def annotation_history(annotation_id: str) -> Response:
    """Every version: who, when, which operation, what it held."""
    with database().session() as session:
        row = store.current(session, annotation_id, deleted_too=True)
        checked = authorize_annotation(
            session, "read_annotation", annotation_id, facts_of(session, row), "view_annotations"
        )
        if not unconcealed([row], checked):
            raise NotFound(UNKNOWN)
        versions = store.history(session, annotation_id)
        people = names(session, User, {v.user_id for v in versions})
        return jsonify(
            [
                {
                    "version": v.version,
                    "op": v.op,
                    "user": v.user_id,
                    "user_name": people.get(v.user_id),
                    "at": v.at.isoformat(),
                    "geometry": v.snapshot.get("geometry"),
                    "classification": v.snapshot.get("classification"),
                    "label": v.snapshot.get("label"),
                    "deleted": v.snapshot.get("deleted"),
                }
                for v in versions
            ]
        )


@bp.post("/annotations/<annotation_id>/revert")
def revert_annotation(annotation_id: str) -> Response:
    """The content of an earlier version as the newest one (also undoes a deletion)."""
    data = json_object('send {"version": n}')
    target = data.get("version")
    if isinstance(target, bool) or not isinstance(target, int) or target < 1:
        raise BadRequest("version is the number of an earlier version.")
    version = base_version()
    with database().session() as session:
        row = store.current(session, annotation_id, deleted_too=True)
        checked = authorize_annotation(
            session, "change_annotation", annotation_id, facts_of(session, row), "edit"
        )
        try:
            with recorded(
                session, checked, "edit", annotation=annotation_id, reverted_to=target
            ) as made:
                reverted = store.revert(
                    session, annotation_id, version, target, current_principal().user_id
                )
                made["version"] = reverted.version
        except store.StaleVersion as error:
            raise stale(session, error) from error
        feature = one_feature(session, reverted)
        announce_change(session, reverted, "update", feature, None)
        response = jsonify(feature)
    response.headers["ETag"] = f'"{reverted.version}"'
    return response


@bp.get("/images/<image_id>/annotations.geojson")
def export_annotations(image_id: str) -> Response:
    """What QuPath opens: the shared layer and the caller's drafts, ellipses as polygons."""
    principal = current_principal()
    with database().session() as session:
        image, checked = authorize_on_image(session, "export", image_id)
        rows = unconcealed(store.in_view(session, image_id, principal.user_id), checked)
        exported = [_exported(row) for row in rows]
        with recorded(session, checked, "export", annotations=len(exported)):
            document = geojson.write(exported)
    response = Response(orjson.dumps(document), mimetype="application/geo+json")
    filename = "".join(c if c.isalnum() or c in "-_." else "_" for c in image.name)[:100]
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}.geojson"'
    return response


def _exported(row: store.AnnotationRow) -> geojson.Exported:
    from shapely.geometry import shape as to_shape

    ellipse = None
    if row.shape and row.kind == "ellipse":
        (cx, cy), (rx, ry) = row.shape["center"], row.shape["radii"]
        ellipse = Ellipse(cx, cy, rx, ry, row.shape.get("rotation", 0.0))
    numbers = {
        name: float(value)
        for name, value in (row.measurements or {}).items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    return geojson.Exported(
        id=row.id,
        shape=Checked(row.kind, to_shape(row.geometry), ellipse),
        classification=row.classification,
        color=row.color,
        name=row.label,
        locked=row.locked,
        object_type=row.object_type,
        measurements=numbers,
    )


@bp.post("/images/<image_id>/annotations/import")
def import_annotations(image_id: str) -> tuple[Response, int]:
    """A QuPath GeoJSON document onto the image: every feature imported or refused with the
    reason; classes the organisation does not know keep their names."""
    document = _document()
    principal = current_principal()
    with database().session() as session:
        image, checked = authorize_on_image(session, "annotate", image_id)
        canvas = canvas_of(image)
        frame = frame_of(parse_frame(request.args.get("frame")), canvas)
        layer = request.args.get("layer", "shared")
        if layer not in store.LAYERS:
            raise BadRequest('layer is "shared" or "draft".')
        org_id = writer_org(checked, principal)
        read = geojson.read(document)
        if len(read) > IMPORT_LIMIT:
            raise BadRequest(
                f"The file holds {len(read)} features; at most {IMPORT_LIMIT} at once."
            )
        known = {row.name: row.color for row in classes_of(session, org_id)} if org_id else {}
        values = frame_values(image, frame)
        drafts, report = _import_drafts(read, canvas, known, values)
        with recorded(session, checked, "import", annotations=len(drafts)) as made:
            ids = store.create_many(
                session,
                [draft for _index, draft in drafts],
                image_id=image.id,
                case_id=image.case_id,
                frame=frame,
                author_id=principal.user_id,
                org_id=org_id,
                layer=layer,
            )
            made["refused"] = len(report)
        if ids and image.case_id:
            # Too many for one op each: the room hears that the case moved on and resyncs.
            announce(session, {"kind": "sync", "case": image.case_id})
    taken = [{"index": index, "id": new} for (index, _draft), new in zip(drafts, ids, strict=True)]
    features = sorted([*taken, *report], key=lambda entry: int(entry["index"]))
    summary = {"imported": len(taken), "refused": len(report), "features": features}
    return jsonify(summary), 201 if taken else 200


def _document() -> object:
    """The uploaded GeoJSON (orjson reads a 30 MB file in a tenth of json's time)."""
    try:
        return orjson.loads(request.get_data(cache=False))
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"The file is not JSON: {error}.") from error


def _import_drafts(
    read: list[geojson.Feature | geojson.Refused],
    canvas: Canvas,
    known: dict[str, str],
    values: tuple[Any, str] | None,
) -> tuple[list[tuple[int, store.Draft]], list[dict[str, Any]]]:
    """Check each read feature against the image; what fails is reported, not stored."""
    drafts: list[tuple[int, store.Draft]] = []
    refused: list[dict[str, Any]] = []
    for feature in read:
        if isinstance(feature, geojson.Refused):
            refused.append({"index": feature.index, "refused": feature.reason})
            continue
        try:
            shape = check_shape(feature.kind, feature.geometry, canvas.bounds)
        except InvalidGeometry as error:
            refused.append({"index": feature.index, "refused": error.message})
            continue
        numbers = measured(shape, canvas, *(values or ()))
        color = known.get(feature.classification or "") or feature.color
        drafts.append(
            (
                feature.index,
                store.Draft(
                    kind=shape.kind,
                    geometry=shape.geojson(),
                    bbox=shape.bbox,
                    classification=feature.classification,
                    color=color,
                    label=feature.name,
                    locked=feature.locked,
                    object_type=feature.object_type,
                    measurements={**feature.measurements, **numbers},
                ),
            )
        )
    return drafts, refused


# --- classes ----------------------------------------------------------------------------------


def chosen_org(principal: Principal) -> str:
    """The organisation whose list is meant: `?org=` (id or name), else the caller's first."""
    wanted = request.args.get("org")
    if wanted is None:
        if not principal.memberships:
            raise NotFound(UNKNOWN)
        return principal.memberships[0].role.org_id
    for membership in principal.memberships:
        if wanted in (membership.role.org_id, membership.org_name):
            return membership.role.org_id
    raise NotFound(UNKNOWN)


@bp.get("/classes")
def list_classes() -> Response:
    principal = current_principal()
    org_id = chosen_org(principal)
    authorize_organisation("list_classes", org_id)
    with database().session() as session:
        return jsonify([class_json(row) for row in classes_of(session, org_id)])


@bp.post("/classes")
def create_class() -> tuple[Response, int]:
    data = json_object('send {"name", "color", "code"?}')
    principal = current_principal()
    org_id = chosen_org_for_admin(principal)
    checked = authorize_organisation("manage_classes", org_id)
    name = class_name(data.get("name"))
    if name is None or len(name) > NAME_LIMIT:
        raise BadRequest(f"Write the class name (at most {NAME_LIMIT} characters).")
    color = normal_color(data.get("color"))
    if color is None:
        raise BadRequest("The colour is #rrggbb, e.g. #c83232.")
    code = data.get("code")
    if code is not None and not valid_code(code):
        raise BadRequest("The SNOMED CT code is a concept id: 6 to 18 digits.")
    with database().session() as session:
        with recorded(session, checked, "manage", added_class=name):
            row = add_class(session, org_id, name, color, code)
        return jsonify(class_json(row)), 201


def chosen_org_for_admin(principal: Principal) -> str:
    """The organisation an admin manages: `?org=`, else the first where they are admin."""
    if request.args.get("org") is not None:
        return chosen_org(principal)
    admin = next((m for m in principal.memberships if m.role.role == "admin"), None)
    return admin.role.org_id if admin else chosen_org(principal)


@bp.delete("/classes/<name>")
def delete_class(name: str) -> Response:
    principal = current_principal()
    org_id = chosen_org_for_admin(principal)
    checked = authorize_organisation("manage_classes", org_id)
    with database().session() as session:
        if len(name) > 255 or active_class(session, org_id, name) is None:
            raise NotFound("no such class on your organisation's list")
        with recorded(session, checked, "manage", retired_class=name):
            retire_class(session, org_id, name)
        return jsonify({"name": name, "retired": True})
