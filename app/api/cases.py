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
from samsyn.errors import BadRequest, NotFound

bp = Blueprint("cases", __name__, url_prefix="/api")
PURPOSES = ("second_opinion", "care", "mdk", "teaching")


def case_json(session: Session, case: Case, decision: Decision) -> dict[str, Any]:
    org = session.get(Organisation, case.org_id)
    unit = session.get(Unit, case.unit_id) if case.unit_id else None
    patient = session.get(Patient, case.patient_id) if case.patient_id else None
    images = session.scalars(
        select(Image.id).where(Image.case_id == case.id).order_by(Image.name)
    ).all()
    return {
        "id": case.id,
        "title": case.title,
        "patient": patient_json(patient) if decision.purpose != "teaching" else None,
        "org": org.name if org else None,
        "org_id": case.org_id,
        "unit": unit.name if unit else None,
        "purpose": case.purpose,
        "images": list(images),
        "access": {
            "basis": decision.basis,
            "purpose": decision.purpose,
            "until": _iso(decision.until),
        },
        "created": _iso(case.created),
    }


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
            )
            session.add(case)
            session.flush()
            _take_images(session, case, image_ids)
            made.update(case=case.id, images=image_ids)
        return jsonify(case_json(session, case, checked.decision)), 201


def _take_images(session: Session, case: Case, image_ids: list[str]) -> None:
    """Put the organisation's loose images into the new case."""
    images = [session.get(Image, image_id) for image_id in image_ids]
    for image in images:
        if image is None or image.org_id != case.org_id or image.case_id:
            raise NotFound(
                "an image is unknown, belongs to another organisation or to another case"
            )
        image.case_id = case.id


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
        with recorded(session, checked, "share") as made:
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
