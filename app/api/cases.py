"""Cases and their shares."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import (
    UNKNOWN,
    authorize_case,
    authorize_new_case,
    database,
    now_utc,
    recorded,
    visible_cases,
)
from app.api import json_object
from app.api.fields import future, ids, text
from app.auth import Principal, current_principal
from app.directory import find_patient
from app.identity import patient_json
from app.models import Case, Image, Organisation, Patient, Share, Unit, User
from app.policy import CARE_ROLES, CaseFacts, Decision
from samsyn.errors import BadRequest, Conflict, NotFound

bp = Blueprint("cases", __name__, url_prefix="/api")
PURPOSES = ("second_opinion", "care", "mdk", "teaching")
STATUSES = ("open", "in_review", "answered", "closed")
FRAME_FIELDS = ("question", "history", "status", "sender")
EDITABLE = ("title", *FRAME_FIELDS)
LONG_TEXT = 10_000
PROTECTED_NEEDS_CONFIRMATION = (
    "This patient has a protected identity (skyddad identitet): confirm that the recipient "
    "needs the case before sharing it."
)


def case_json(session: Session, case: Case, decision: Decision) -> dict[str, Any]:
    """The contract's case object, with its clinical frame (question, history, status,
    sender), what it holds and on which basis the caller sees it."""
    org = session.get(Organisation, case.org_id)
    unit = session.get(Unit, case.unit_id) if case.unit_id else None
    patient = session.get(Patient, case.patient_id) if case.patient_id else None
    images = session.execute(
        select(Image.id, Image.kind, Image.modality)
        .where(Image.case_id == case.id)
        .order_by(Image.name)
    ).all()
    return {
        "id": case.id,
        "title": case.title,
        "patient": patient_json(patient) if decision.purpose != "teaching" else None,
        "org": org.name if org else None,
        "org_id": case.org_id,
        "unit": unit.name if unit else None,
        "purpose": case.purpose,
        "images": [row.id for row in images],
        "holds": holdings([(row.kind, row.modality) for row in images]),
        "question": case.question,
        "history": case.history,
        "status": case.status or "open",
        "sender": case.sender,
        "access": access_json(session, decision, org, unit),
        "created": _iso(case.created),
        "updated": _iso(case.updated or case.created),
    }


def holdings(images: list[tuple[str, str | None]]) -> dict[str, Any]:
    """What a case holds, for a worklist that must not open images: counts and modalities."""
    return {
        "slides": sum(1 for kind, _modality in images if kind == "slide"),
        "series": sum(1 for kind, _modality in images if kind == "series"),
        "modalities": sorted({modality for _kind, modality in images if modality}),
    }


def access_json(
    session: Session, decision: Decision, org: Organisation | None, unit: Unit | None
) -> dict[str, Any]:
    """The caller's basis of access in words a clinician reads: which organisation (and
    unit) shared the case, with whom, for what purpose and until when."""
    share_id = next(
        (
            part.split(":", 1)[1]
            for part in (decision.basis or "").split("+")
            if part.startswith("share:")
        ),
        None,
    )
    share = session.get(Share, share_id) if share_id else None
    return {
        "basis": decision.basis,
        "purpose": decision.purpose,
        "until": _iso(decision.until),
        "org": org.name if org else None,
        "unit": unit.name if unit else None,
        "shared_with": recipient_name(session, share) if share else None,
    }


def recipient_name(session: Session, share: Share) -> str | None:
    """The organisation, unit or person a share names."""
    if share.org_id:
        found: Organisation | Unit | User | None = session.get(Organisation, share.org_id)
    elif share.unit_id:
        found = session.get(Unit, share.unit_id)
    else:
        found = session.get(User, share.user_id) if share.user_id else None
    return found.name if found else None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def new_case_facts(session: Session, principal: Principal, data: dict[str, Any]) -> CaseFacts:
    """The case asked for: a care case of the named patient, or (for a teacher naming no
    patient) a teaching case of the teacher's organisation. An unknown patient and one
    the caller may not create cases for look the same."""
    if "patient" not in data:
        if not principal.has_role("teacher"):
            raise BadRequest("Name the patient the case is about (personnummer).")
        org = next(m.role.org_id for m in principal.memberships if m.role.role == "teacher")
        return CaseFacts(None, org, None, None, "teaching")
    patient = find_patient(session, data.get("patient"))
    if patient is None:
        raise NotFound(UNKNOWN)
    return CaseFacts(None, patient.org_id, None, patient.id)


@bp.post("/cases")
def create_case() -> tuple[Response, int]:
    principal = current_principal()
    data = json_object()
    title = text(data, "title", label="case title")
    image_ids = ids(data, "images")
    frame = case_frame({key: data[key] for key in FRAME_FIELDS if key in data})
    with database().session() as session:
        facts = new_case_facts(session, principal, data)
        checked = authorize_new_case(session, facts)
        role = checked.decision.role
        assert role is not None  # the policy allows creating a case only on a role
        with recorded(session, checked, "create_case", title=title) as made:
            case = Case(
                title=title,
                patient_id=facts.patient_id,
                org_id=role.org_id,
                unit_id=role.unit_id,
                purpose=facts.purpose,
                created_by=principal.user_id,
                **frame,
            )
            session.add(case)
            session.flush()
            _take_images(session, case, image_ids)
            made.update(case=case.id, images=image_ids)
        return jsonify(case_json(session, case, checked.decision)), 201


def _take_images(session: Session, case: Case, image_ids: list[str]) -> None:
    """Put the organisation's loose images into the case; any other image (unknown, of
    another organisation, in a case already) is 404, and nothing is moved."""
    images = [session.get(Image, image_id) for image_id in image_ids]
    for image in images:
        if image is None or image.org_id != case.org_id or image.case_id:
            raise NotFound(
                "an image is unknown, belongs to another organisation or to another case"
            )
        image.case_id = case.id


def case_frame(data: dict[str, Any]) -> dict[str, Any]:
    """The clinical frame fields present in `data`, checked: question and history are
    multi-line texts (null clears them), the sender a line, the status one of STATUSES."""
    frame: dict[str, Any] = {}
    for name, label in (("question", "question"), ("history", "clinical history")):
        if name in data:
            frame[name] = text(data, name, LONG_TEXT, required=False, multiline=True, label=label)
    if "sender" in data:
        frame["sender"] = text(data, "sender", required=False, label="sender")
    if "status" in data:
        if data["status"] not in STATUSES:
            raise BadRequest(f"The status must be one of {', '.join(STATUSES)}.")
        frame["status"] = data["status"]
    return frame


def case_changes(data: dict[str, Any]) -> dict[str, Any]:
    """The changes a PATCH asks for: only the case's title and clinical frame."""
    if not data:
        raise BadRequest(f"Send at least one of {', '.join(EDITABLE)} to change.")
    if any(key not in EDITABLE for key in data):
        raise BadRequest(f"Only {', '.join(EDITABLE)} of a case can be changed here.")
    changes = case_frame(data)
    if "title" in data:
        changes["title"] = text(data, "title", label="case title")
    return changes


@bp.patch("/cases/<case_id>")
def edit_case(case_id: str) -> Response:
    """Change the title, question, history, status or sender: the owning organisation's
    care staff (teachers on their teaching cases). The log names the fields, not the text."""
    current_principal()  # 401 before any word about the body
    changes = case_changes(json_object())
    with database().session() as session:
        case, checked = authorize_case(session, "edit_case", case_id, deferred=True)
        with recorded(session, checked, "edit", fields=sorted(changes)) as made:
            for name, value in changes.items():
                setattr(case, name, value)
            case.updated = now_utc()
            made["status"] = case.status
        return jsonify(case_json(session, case, checked.decision))


@bp.get("/cases/<case_id>/loose-images")
def loose_images(case_id: str) -> Response:
    """The case organisation's images outside any case: what may be added to it."""
    with database().session() as session:
        case, _checked = authorize_case(session, "edit_case", case_id)
        images = session.scalars(
            select(Image)
            .where(Image.org_id == case.org_id, Image.case_id.is_(None))
            .order_by(Image.created.desc())
            .limit(200)
        )
        return jsonify([loose_json(image) for image in images])


def loose_json(image: Image) -> dict[str, Any]:
    """A loose image as the picker shows it (outside any case, so without a patient)."""
    return {
        "id": image.id,
        "name": image.name,
        "kind": image.kind,
        "modality": image.modality,
        "created": _iso(image.created),
    }


@bp.post("/cases/<case_id>/images")
def add_images(case_id: str) -> Response:
    """Add the case organisation's loose images to the case."""
    current_principal()
    image_ids = ids(json_object(), "images")
    if not image_ids:
        raise BadRequest("Choose at least one image to add.")
    with database().session() as session:
        case, checked = authorize_case(session, "edit_case", case_id, deferred=True)
        with recorded(session, checked, "edit", added=image_ids):
            _take_images(session, case, image_ids)
            _images_moved(session, case)
        return jsonify(case_json(session, case, checked.decision))


@bp.delete("/cases/<case_id>/images/<image_id>")
def remove_image(case_id: str, image_id: str) -> Response:
    """Take an image out of the case: it stays with the organisation, outside any case,
    and the case's shares no longer reach it."""
    with database().session() as session:
        case, checked = authorize_case(session, "edit_case", case_id, deferred=True)
        with recorded(session, checked, "edit", removed=image_id[:32]):
            image = session.get(Image, image_id) if len(image_id) <= 32 else None
            if image is None or image.case_id != case.id:
                raise NotFound("There is no such image in this case.")
            image.case_id = None
            _images_moved(session, case)
        return jsonify(case_json(session, case, checked.decision))


def _images_moved(session: Session, case: Case) -> None:
    """An image entering or leaving a case changes who may see it: the commit must bump
    the policy epoch (as a share does) so that no cached decision outlives the move."""
    case.updated = now_utc()
    session.info["policy_changed"] = True


@bp.get("/cases")
def list_cases() -> Response:
    principal = current_principal()
    with database().session() as session:
        cases = list(session.scalars(select(Case).order_by(Case.created.desc())))
        return jsonify(
            [
                case_json(session, case, checked.decision)
                for case, checked in visible_cases(session, principal, cases)
            ]
        )


@bp.get("/cases/<case_id>")
def show_case(case_id: str) -> Response:
    with database().session() as session:
        case, checked = authorize_case(session, reading(current_principal()), case_id)
        return jsonify(case_json(session, case, checked.decision))


def reading(principal: Principal) -> str:
    """The action a look at a case is: viewing for care and teaching roles, managing for
    an administrator (who handles shares but never sees images)."""
    if principal.has_role("admin") and not principal.has_role(*CARE_ROLES, "teacher", "student"):
        return "manage"
    return "view"


def share_json(session: Session, share: Share) -> dict[str, Any]:
    org = session.get(Organisation, share.org_id) if share.org_id else None
    unit = session.get(Unit, share.unit_id) if share.unit_id else None
    user = session.get(User, share.user_id) if share.user_id else None
    return {
        "id": share.id,
        "case": share.case_id,
        "org": org.name if org else None,
        "unit": unit.name if unit else None,
        "user": user.username if user else None,
        "purpose": share.purpose,
        "until": _iso(share.until),
        "created": _iso(share.created),
        "revoked": _iso(share.revoked),
        "active": share.revoked is None and share.until > now_utc(),
    }


def share_target(session: Session, data: dict[str, Any]) -> tuple[str, str, str]:
    """Exactly one of org, unit or user, by name (HSA-id accepted for org and unit):
    (column, id, name)."""
    named = [key for key in ("org", "unit", "user") if data.get(key) is not None]
    if len(named) != 1:
        raise BadRequest("Name exactly one recipient: an organisation, a unit or a user.")
    key = named[0]
    value = text(data, key, label="recipient") or ""
    model: Any = {"org": Organisation, "unit": Unit, "user": User}[key]
    column = model.username if key == "user" else model.name
    found = session.scalar(select(model).where(column == value))
    if found is None and key != "user":
        found = session.scalar(select(model).where(model.hsa_id == value))
    if found is None:
        raise NotFound(f"There is no {_KINDS[key]} called {value}.")
    return f"{key}_id", found.id, value


_KINDS = {"org": "organisation", "unit": "unit", "user": "user"}


def share_purpose(data: dict[str, Any]) -> str:
    purpose = data.get("purpose", "second_opinion")
    if purpose not in PURPOSES:
        raise BadRequest(f"The purpose must be one of {', '.join(PURPOSES)}.")
    return str(purpose)


@bp.post("/cases/<case_id>/shares")
def create_share(case_id: str) -> tuple[Response, int]:
    principal = current_principal()
    data = json_object()
    with database().session() as session:
        case, checked = authorize_case(session, "share", case_id, deferred=True)
        protected = _protected_identity(session, case)
        with recorded(session, checked, "share", flagged=protected) as made:
            if protected:
                made["protected_identity"] = True
                if data.get("confirm_protected") is not True:
                    raise Conflict(PROTECTED_NEEDS_CONFIRMATION)
            column, target, name = share_target(session, data)
            made["recipient"] = {column.removesuffix("_id"): name}
            share = Share(
                case_id=case.id,
                purpose=share_purpose(data),
                until=future(data.get("until"), timedelta(days=366)),
                created_by=principal.user_id,
                **{column: target},
            )
            session.add(share)
            session.flush()
            made.update(share=share.id, until=_iso(share.until), share_purpose=share.purpose)
        return jsonify(share_json(session, share)), 201


def _protected_identity(session: Session, case: Case) -> bool:
    """Whether the case's patient has skyddad identitet: sharing it is confirmed and flagged."""
    patient = session.get(Patient, case.patient_id) if case.patient_id else None
    return bool(patient and patient.protected_identity)


@bp.get("/cases/<case_id>/shares")
def list_shares(case_id: str) -> Response:
    with database().session() as session:
        case, _checked = authorize_case(session, reading(current_principal()), case_id)
        shares = session.scalars(
            select(Share).where(Share.case_id == case.id).order_by(Share.created)
        )
        return jsonify([share_json(session, share) for share in shares])


@bp.delete("/cases/<case_id>/shares/<share_id>")
def revoke_share(case_id: str, share_id: str) -> Response:
    """Revoke at once: the commit bumps the policy epoch, so every process drops its cached
    decisions, tiles included."""
    principal = current_principal()
    with database().session() as session:
        case, checked = authorize_case(session, "revoke", case_id, deferred=True)
        with recorded(session, checked, "revoke", share=share_id[:32]):
            share = session.get(Share, share_id) if len(share_id) <= 32 else None
            if share is None or share.case_id != case.id:
                raise NotFound("There is no such share of this case.")
            if share.revoked is None:
                share.revoked, share.revoked_by = now_utc(), principal.user_id
        return jsonify(share_json(session, share))
