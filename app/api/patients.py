"""Patients: looking one up, spärr, samtycke and nödåtkomst."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import (
    access_control,
    authorize_patient,
    case_facts,
    database,
    log,
    now_utc,
    recorded,
)
from app.api import json_object
from app.api.fields import future, ids, text
from app.auth import current_principal
from app.directory import find_patient
from app.identity import patient_json
from app.models import Block, Case, Consent, EmergencyAccess, Patient
from samsyn.errors import BadRequest

bp = Blueprint("patients", __name__, url_prefix="/api")
CONSENT_LONGEST = timedelta(days=7)


@bp.get("/patients/<patient_key>")
def show_patient(patient_key: str) -> Response:
    """A patient the caller has a relation to. Behind a spärr the caller learns only that
    blocked information exists; without any relation, nothing (the same 404 as for a
    number samsyn does not hold)."""
    with database().session() as session:
        patient = find_patient(session, patient_key)
        checked = authorize_patient(session, "view_patient", patient)
        assert patient is not None  # an unknown patient is refused above
        if not checked.decision.allowed:
            return jsonify({"blocked_information": True})
        hidden = _partly_blocked(session, patient)
        log(current_principal(), checked, "view", session=session)
        return jsonify({**(patient_json(patient) or {}), "blocked_information": hidden})


def _partly_blocked(session: Session, patient: Patient) -> bool:
    """Whether a spärr hides at least one of the patient's cases from this caller."""
    principal = current_principal()
    cases = session.scalars(select(Case).where(Case.patient_id == patient.id)).all()
    return any(
        access_control().check_case(session, principal, "view", case_facts(case)).decision.blocked
        for case in cases
    )


@bp.post("/patients/<patient_key>/emergency-access")
def emergency_access(patient_key: str) -> tuple[Response, int]:
    """Nödåtkomst: a care role, a reason, a few hours, this patient only; flagged for review.
    Asking for a number samsyn does not hold is logged and flagged too."""
    principal = current_principal()
    reason = text(json_object(), "reason", limit=2000, multiline=True, label="reason") or ""
    with database().session() as session:
        patient = find_patient(session, patient_key)
        checked = authorize_patient(
            session, "emergency_access", patient, asked_for=patient_key[:32], reason=reason
        )
        assert patient is not None
        with recorded(session, checked, "emergency_access", reason=reason) as made:
            if len(reason) < 10:
                raise BadRequest("Give the reason for emergency access in a sentence.")
            until = now_utc() + timedelta(hours=current_app.config["EMERGENCY_HOURS"])
            grant = EmergencyAccess(
                user_id=principal.user_id, patient_id=patient.id, reason=reason, until=until
            )
            session.add(grant)
            session.flush()
            made.update(grant=grant.id, until=until.isoformat())
        result = {
            "id": grant.id,
            "patient": patient.id,
            "reason": reason,
            "until": until.isoformat(),
        }
    return jsonify(result), 201


@bp.post("/patients/<patient_key>/blocks")
def create_block(patient_key: str) -> tuple[Response, int]:
    """A spärr recorded at the patient's request by an organisation holding their data
    (for one of its units with `unit_only`)."""
    data = json_object()
    with database().session() as session:
        patient = find_patient(session, patient_key)
        checked = authorize_patient(session, "block", patient)
        assert patient is not None and checked.decision.role is not None
        role = checked.decision.role
        with recorded(session, checked, "block") as made:
            reason = text(data, "reason", 2000, required=False, multiline=True, label="reason")
            unit_id = role.unit_id if data.get("unit_only") is True else None
            block = Block(patient_id=patient.id, org_id=role.org_id, unit_id=unit_id, reason=reason)
            session.add(block)
            session.flush()
            made.update(block=block.id, org=role.org_id, unit=unit_id)
        result = {"id": block.id, "patient": patient.id, "org_id": block.org_id, "unit_id": unit_id}
    return jsonify(result), 201


@bp.post("/patients/<patient_key>/consents")
def create_consent(patient_key: str) -> tuple[Response, int]:
    """Samtycke recorded by the reading organisation: lifts a spärr for it, at most 7 days,
    for all of the patient's cases or those its scope names.

    The consent does not create a care relation: a share or own-organisation case is
    still needed to read the data.
    """
    principal = current_principal()
    data = json_object()
    with database().session() as session:
        patient = find_patient(session, patient_key)
        checked = authorize_patient(session, "consent", patient)
        assert patient is not None and checked.decision.role is not None
        with recorded(session, checked, "consent") as made:
            reason = text(data, "reason", 2000, multiline=True, label="reason") or ""
            scope = consent_scope(session, patient, data.get("scope", "all"))
            consent = Consent(
                patient_id=patient.id,
                org_id=checked.decision.role.org_id,
                scope="all" if scope is None else "cases",
                cases=scope,
                reason=reason,
                recorded_by=principal.user_id,
                until=future(data.get("until"), CONSENT_LONGEST),
            )
            session.add(consent)
            session.flush()
            made.update(consent=consent.id, scope=scope or "all", until=consent.until.isoformat())
        result = {
            "id": consent.id,
            "patient": patient.id,
            "org_id": consent.org_id,
            "scope": {"cases": scope} if scope is not None else "all",
            "until": consent.until.isoformat(),
        }
    return jsonify(result), 201


def consent_scope(session: Session, patient: Patient, scope: object) -> list[str] | None:
    """None for all of the patient's cases, else the case ids named (each the patient's)."""
    if scope == "all":
        return None
    if not isinstance(scope, dict) or set(scope) != {"cases"}:
        raise BadRequest('The scope is "all" or {"cases": [case ids of this patient]}.')
    named = ids(scope, "cases", limit=100)
    owned = set(
        session.scalars(select(Case.id).where(Case.patient_id == patient.id, Case.id.in_(named)))
    )
    if not named or owned != set(named):
        raise BadRequest("The scope names cases that are not this patient's.")
    return named
