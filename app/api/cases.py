"""Cases, sharing, spärr and consent, emergency access, and patients."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import (
    Checked,
    access_control,
    authorize_case,
    aware,
    log,
    now_utc,
    refuse,
    visible_cases,
)
from app.api import json_object
from app.auth import Principal, current_principal
from app.extensions import db
from app.models import (
    Block,
    Case,
    Consent,
    EmergencyAccess,
    Image,
    Organisation,
    Patient,
    Share,
    Unit,
    User,
)
from app.policy import CARE_ROLES, CaseFacts, Decision
from samsyn import personnummer
from samsyn.errors import BadRequest, Forbidden, NotFound

bp = Blueprint("cases", __name__, url_prefix="/api")
PURPOSES = ("second_opinion", "care", "mdk", "teaching")
MASKED = "Skyddad identitet"


def body() -> dict[str, Any]:
    return json_object()


def text(data: dict[str, Any], name: str, limit: int = 255, required: bool = True) -> str | None:
    """A string field, trimmed; BadRequest when missing (if required), not text or too long."""
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{name} must be non-empty text")
    if len(value) > limit:
        raise BadRequest(f"{name} is longer than {limit} characters")
    return value.strip()


def patient_json(patient: Patient | None) -> dict[str, Any] | None:
    """A patient as shown to staff: protected identities have their name masked."""
    if patient is None:
        return None
    number = personnummer.IdentityNumber(patient.personnummer, int(patient.personnummer[6:8]) > 60)
    return {
        "id": patient.id,
        "personnummer": number.display(),
        "name": MASKED if patient.protected_identity else patient.name,
        "protected_identity": patient.protected_identity,
    }


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
    return aware(moment).isoformat() if moment else None


def find_patient(session: Session, key: str) -> Patient | None:
    """A patient by id or by personnummer in any accepted form."""
    if not isinstance(key, str) or len(key) > 32:
        return None
    patient = session.get(Patient, key)
    if patient is None and personnummer.is_valid(key):
        patient = session.scalar(
            select(Patient).where(Patient.personnummer == personnummer.parse(key).digits)
        )
    return patient


def care_assignment(principal: Principal) -> Any:
    """The principal's first care role: cases are created in its organisation and unit."""
    for membership in principal.memberships:
        if membership.role.role in CARE_ROLES | {"teacher"}:
            return membership
    raise Forbidden("creating a case needs a care or teaching role")


@bp.post("/cases")
def create_case() -> tuple[Response, int]:
    principal = current_principal()
    data = body()
    title = text(data, "title")
    image_ids = data.get("images", [])
    if (
        not isinstance(image_ids, list)
        or not all(isinstance(i, str) for i in image_ids)
        or len(image_ids) > 500
    ):
        raise BadRequest("images must be a list of image ids")
    assignment = care_assignment(principal)
    purpose = "teaching" if assignment.role.role == "teacher" else "care"
    with db.session() as session:
        patient = None
        if purpose == "care":
            patient = find_patient(session, text(data, "patient", 32) or "")
            if patient is None:
                raise NotFound("no such patient")
        images = [session.get(Image, i) for i in image_ids if len(i) <= 32]
        if len(images) != len(image_ids) or any(
            image is None or image.org_id != assignment.role.org_id or image.case_id
            for image in images
        ):
            raise NotFound(
                "an image is unknown, belongs to another organisation or to another case"
            )
        case = Case(
            title=title,
            patient_id=patient.id if patient else None,
            org_id=assignment.role.org_id,
            unit_id=assignment.role.unit_id,
            purpose=purpose,
            created_by=principal.user_id,
        )
        session.add(case)
        session.flush()
        for image in images:
            image.case_id = case.id  # type: ignore[union-attr]
        checked = access_control().check_case(session, principal, "edit", case)
        log(principal, checked, "edit", session=session)
        return jsonify(case_json(session, case, checked.decision)), 201


@bp.get("/cases")
def list_cases() -> Response:
    principal = current_principal()
    with db.session() as session:
        cases = list(session.scalars(select(Case).order_by(Case.created.desc())))
        return jsonify(
            [
                case_json(session, case, checked.decision)
                for case, checked in visible_cases(session, principal, cases)
            ]
        )


@bp.get("/cases/<case_id>")
def show_case(case_id: str) -> Response:
    with db.session() as session:
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
        "active": share.revoked is None and aware(share.until) > now_utc(),
    }


def share_target(session: Session, data: dict[str, Any]) -> dict[str, str]:
    """Exactly one of org, unit or user, by name (HSA-id accepted for org and unit)."""
    named = [key for key in ("org", "unit", "user") if data.get(key) is not None]
    if len(named) != 1:
        raise BadRequest("name exactly one of org, unit or user")
    key = named[0]
    value = text(data, key) or ""
    model: Any = {"org": Organisation, "unit": Unit, "user": User}[key]
    column = model.username if key == "user" else model.name
    found = session.scalar(select(model).where(column == value))
    if found is None and key != "user":
        found = session.scalar(select(model).where(model.hsa_id == value))
    if found is None:
        raise NotFound(f"no such {key}: {value}")
    return {f"{key}_id": found.id}


def parse_until(value: object, longest: timedelta) -> datetime:
    """An ISO 8601 time in the future, at most `longest` from now."""
    if not isinstance(value, str) or len(value) > 64:
        raise BadRequest("until must be an ISO 8601 time")
    try:
        until = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise BadRequest("until must be an ISO 8601 time") from error
    until = aware(until)
    now = now_utc()
    if until <= now:
        raise BadRequest("until lies in the past")
    if until > now + longest:
        raise BadRequest(f"until may be at most {longest.days} days ahead")
    return until


@bp.post("/cases/<case_id>/shares")
def create_share(case_id: str) -> tuple[Response, int]:
    principal = current_principal()
    data = body()
    with db.session() as session:
        case, _checked = authorize_case(session, "share", case_id)
        purpose = data.get("purpose", "second_opinion")
        if purpose not in PURPOSES:
            raise BadRequest(f"purpose must be one of {', '.join(PURPOSES)}")
        share = Share(
            case_id=case.id,
            purpose=purpose,
            until=parse_until(data.get("until"), timedelta(days=366)),
            created_by=principal.user_id,
            **share_target(session, data),
        )
        session.add(share)
        session.flush()
        result = share_json(session, share)
    current_app.extensions["samsyn_epoch"].bump()
    return jsonify(result), 201


@bp.get("/cases/<case_id>/shares")
def list_shares(case_id: str) -> Response:
    with db.session() as session:
        case, _checked = authorize_case(session, reading(current_principal()), case_id)
        shares = session.scalars(
            select(Share).where(Share.case_id == case.id).order_by(Share.created)
        )
        return jsonify([share_json(session, share) for share in shares])


@bp.delete("/cases/<case_id>/shares/<share_id>")
def revoke_share(case_id: str, share_id: str) -> Response:
    """Revoke at once: the policy epoch tells every process to drop cached decisions, tiles too."""
    principal = current_principal()
    with db.session() as session:
        case, _checked = authorize_case(session, "share", case_id)
        share = session.get(Share, share_id) if len(share_id) <= 32 else None
        if share is None or share.case_id != case.id:
            raise NotFound("no such share")
        if share.revoked is None:
            share.revoked, share.revoked_by = now_utc(), principal.user_id
        result = share_json(session, share)
    current_app.extensions["samsyn_epoch"].bump()
    return jsonify(result)


def patient_checked(
    session: Session, principal: Principal, patient: Patient
) -> tuple[Checked, bool]:
    """A view of a patient as a whole, allowed when viewing any of their cases is, and
    whether a spärr hides at least one of their cases from this caller."""
    cases = session.scalars(select(Case).where(Case.patient_id == patient.id)).all()
    checks = [access_control().check_case(session, principal, "view", case) for case in cases]
    hidden = any(check.decision.blocked for check in checks)
    resource = f"patient:{patient.id}"
    allowed = next((check for check in checks if check.decision.allowed), None)
    if allowed is not None:
        return Checked(allowed.decision, allowed.case, resource), hidden
    refusal = Decision(False, "blocked" if hidden else "no_relation", blocked=hidden)
    return Checked(refusal, CaseFacts(None, patient.org_id, None, patient.id), resource), hidden


@bp.get("/patients/<patient_key>")
def show_patient(patient_key: str) -> Response:
    """A patient the caller has a relation to; outside a spärr, only that blocked data exists."""
    principal = current_principal()
    with db.session() as session:
        patient = find_patient(session, patient_key)
        if patient is None:
            raise NotFound("no such resource, or you may not see it")
        checked, hidden = patient_checked(session, principal, patient)
        log(principal, checked, "view")
        if not checked.decision.allowed:
            if hidden:
                return jsonify({"blocked_information": True})
            refuse(checked)
        return jsonify({**(patient_json(patient) or {}), "blocked_information": hidden})


@bp.post("/patients/<patient_key>/emergency-access")
def emergency_access(patient_key: str) -> tuple[Response, int]:
    """Nödåtkomst: a care role, a reason, a few hours, this patient only; flagged for review."""
    principal = current_principal()
    reason = text(body(), "reason", limit=2000) or ""
    if len(reason) < 10:
        raise BadRequest("give the reason for emergency access in a sentence")
    if not principal.has_role(*CARE_ROLES):
        raise Forbidden("emergency access needs a care role")
    with db.session() as session:
        patient = find_patient(session, patient_key)
        if patient is None:
            _log_unknown_emergency(principal, patient_key, reason)
            raise NotFound("no such resource, or you may not see it")
        until = now_utc() + timedelta(hours=current_app.config["EMERGENCY_HOURS"])
        grant = EmergencyAccess(
            user_id=principal.user_id, patient_id=patient.id, reason=reason, until=until
        )
        session.add(grant)
        session.flush()
        facts = CaseFacts(None, patient.org_id, None, patient.id)
        decision = Decision(
            True, "emergency", purpose="emergency", basis=f"emergency:{grant.id}", flagged=True
        )
        assignment = next(m for m in principal.memberships if m.role.role in CARE_ROLES)
        decision = Decision(**{**decision.__dict__, "role": assignment.role})
        log(
            principal,
            Checked(decision, facts, f"patient:{patient.id}"),
            "emergency_access",
            session=session,
            reason=reason,
        )
        result = {"id": grant.id, "patient": patient.id, "reason": reason, "until": _iso(until)}
    current_app.extensions["samsyn_epoch"].bump()
    return jsonify(result), 201


def _log_unknown_emergency(principal: Principal, patient_key: str, reason: str) -> None:
    """An emergency request for a number samsyn does not hold is logged and flagged too:
    asking is itself worth a log reviewer's look."""
    role = next(m.role for m in principal.memberships if m.role.role in CARE_ROLES)
    refusal = Decision(False, "unknown_patient", purpose="emergency", role=role, flagged=True)
    checked = Checked(refusal, CaseFacts(None, None, None, None), "patient:unknown")
    log(principal, checked, "emergency_access", asked_for=patient_key[:32], reason=reason)


@bp.post("/patients/<patient_key>/blocks")
def create_block(patient_key: str) -> tuple[Response, int]:
    """A spärr recorded at the patient's request by their own organisation (or unit)."""
    principal = current_principal()
    data = body()
    with db.session() as session:
        patient = find_patient(session, patient_key)
        own = next(
            (m for m in principal.memberships if m.role.role in CARE_ROLES | {"admin"}), None
        )
        if patient is None or own is None:
            raise NotFound("no such resource, or you may not see it")
        unit_id = own.role.unit_id if data.get("unit_only") is True else None
        block = Block(
            patient_id=patient.id,
            org_id=own.role.org_id,
            unit_id=unit_id,
            reason=text(data, "reason", 2000, required=False),
        )
        session.add(block)
        session.flush()
        facts = CaseFacts(None, own.role.org_id, unit_id, patient.id)
        log(
            principal,
            Checked(
                Decision(True, "spärr", role=own.role, basis=f"block:{block.id}"),
                facts,
                f"patient:{patient.id}",
            ),
            "block",
            session=session,
        )
        result = {"id": block.id, "patient": patient.id, "org_id": block.org_id, "unit_id": unit_id}
    current_app.extensions["samsyn_epoch"].bump()
    return jsonify(result), 201


@bp.post("/patients/<patient_key>/consents")
def create_consent(patient_key: str) -> tuple[Response, int]:
    """Samtycke recorded by the reading organisation: lifts a spärr for it, at most 7 days.

    The consent does not create a care relation: a share or own-organisation case is
    still needed to read the data.
    """
    principal = current_principal()
    data = body()
    reason = text(data, "reason", 2000) or ""
    with db.session() as session:
        patient = find_patient(session, patient_key)
        if patient is None or not principal.has_role(*CARE_ROLES):
            raise NotFound("no such resource, or you may not see it")
        role = next(m.role for m in principal.memberships if m.role.role in CARE_ROLES)
        until = parse_until(data.get("until"), timedelta(days=7))
        consent = Consent(
            patient_id=patient.id,
            org_id=role.org_id,
            scope=str(data.get("scope", "all"))[:255],
            reason=reason,
            recorded_by=principal.user_id,
            until=until,
        )
        session.add(consent)
        session.flush()
        facts = CaseFacts(None, patient.org_id, None, patient.id)
        log(
            principal,
            Checked(
                Decision(True, "consent", role=role, basis=f"consent:{consent.id}"),
                facts,
                f"patient:{patient.id}",
            ),
            "consent",
            session=session,
            reason=reason,
        )
        result = {
            "id": consent.id,
            "patient": patient.id,
            "org_id": consent.org_id,
            "until": _iso(until),
        }
    current_app.extensions["samsyn_epoch"].bump()
    return jsonify(result), 201
