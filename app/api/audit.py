"""The access log for log reviewers (filters, CSV, alerts) and for patients (their own)."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import Select, or_, select

from app.access import Checked, authorize_log, database, log
from app.api.fields import moment
from app.api.static import LANGUAGES, catalogue
from app.audit import verify
from app.auth import Principal, current_principal
from app.directory import find_patient
from app.extract import extract_json, formatted_personnummer, group, pdf
from app.identity import MASKED_NAME
from app.models import AccessEntry, Organisation, Patient, User
from samsyn.errors import BadRequest

bp = Blueprint("audit", __name__, url_prefix="/api")
STOCKHOLM = ZoneInfo("Europe/Stockholm")
COLUMNS = (
    "seq",
    "at",
    "username",
    "user_name",
    "user_hsa_id",
    "role",
    "org_name",
    "unit_name",
    "patient",
    "resource",
    "action",
    "purpose",
    "outcome",
    "basis",
    "client",
    "flagged",
    "detail",
)
HIGH_VOLUME_PATIENTS = 30


def reviewer_orgs(resource: str) -> tuple[Checked, set[str]]:
    """The log reviewer's decision and the organisations whose log it covers."""
    checked = authorize_log("read_log", resource)
    return checked, set(checked.decision.scope)


def scoped(orgs: set[str]) -> Select[Any]:
    """Entries of the reviewer's organisations: their staff's accesses, and accesses to
    their patients."""
    own_patients = select(Patient.id).where(Patient.org_id.in_(orgs))
    return select(AccessEntry).where(
        or_(AccessEntry.org_id.in_(orgs), AccessEntry.patient_id.in_(own_patients))
    )


def filtered(query: Select[Any], args: Any) -> Select[Any]:
    """Apply the contract's filters: patient, user, org, action, from, to."""
    with database().session() as session:
        if args.get("patient"):
            patient = find_patient(session, args["patient"])
            query = query.where(AccessEntry.patient_id == (patient.id if patient else "-"))
        if args.get("user"):
            query = query.where(AccessEntry.username == args["user"])
        if args.get("org"):
            org = session.scalar(
                select(Organisation).where(
                    or_(Organisation.name == args["org"], Organisation.id == args["org"])
                )
            )
            query = query.where(AccessEntry.org_id == (org.id if org else "-"))
    if args.get("action"):
        query = query.where(AccessEntry.action == args["action"])
    if args.get("from"):
        query = query.where(AccessEntry.at >= _time(args["from"]))
    if args.get("to"):
        query = query.where(AccessEntry.at <= _time(args["to"]))
    return query


def _time(value: str) -> datetime:
    return moment(value, "time")


def entry_json(entry: AccessEntry, patients: dict[str, str]) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "username": entry.username,
        "user_name": entry.user_name,
        "user_hsa_id": entry.user_hsa_id,
        "role": entry.role,
        "org_name": entry.org_name,
        "unit_name": entry.unit_name,
        "patient": patients.get(entry.patient_id or "", entry.patient_id),
        "resource": entry.resource,
        "action": entry.action,
        "purpose": entry.purpose,
        "outcome": entry.outcome,
        "basis": entry.basis,
        "client": entry.client,
        "flagged": entry.flagged,
        "detail": entry.detail,
    }


def _personnummer_of(entries: list[AccessEntry]) -> dict[str, str]:
    ids = {e.patient_id for e in entries if e.patient_id}
    with database().session() as session:
        rows = session.execute(
            select(Patient.id, Patient.personnummer).where(Patient.id.in_(ids))
        ).all()
    return {row[0]: row[1] for row in rows}


@bp.get("/audit")
def audit_log() -> Response:
    checked, orgs = reviewer_orgs("access_log")
    limit = _limit(request.args.get("limit", "1000"))
    query = filtered(scoped(orgs), request.args).order_by(AccessEntry.seq.desc()).limit(limit)
    with database().session() as session:
        entries: list[AccessEntry] = list(session.scalars(query))
    patients = _personnummer_of(entries)
    rows = [entry_json(entry, patients) for entry in entries]
    fmt = request.args.get("format", "json")
    _log_review(checked, "export" if fmt == "csv" else "list", len(rows))
    if request.args.get("format") == "csv":
        return _csv(rows)
    return jsonify(rows)


def _limit(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 100_000:
        raise BadRequest("limit must be a number from 1 to 100000")
    return int(value)


def _csv(rows: list[dict[str, Any]]) -> Response:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _cell(value) for key, value in row.items()})
    response = Response(buffer.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="samsyn-access-log.csv"'
    return response


def _cell(value: Any) -> Any:
    """Values as CSV cells (structured values as JSON); text that a spreadsheet would run
    as a formula is quoted."""
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    else:
        text = str(value) if value is not None else ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _log_review(checked: Checked, action: str, count: int) -> None:
    """Reading the log is itself recorded."""
    log(current_principal(), checked, action, entries=count, filters=dict(request.args))


@bp.get("/audit/alerts")
def audit_alerts() -> Response:
    """Rule-based alerts: emergency access, refused access, after hours, own record, high volume."""
    checked, orgs = reviewer_orgs("access_log:alerts")
    query = filtered(scoped(orgs), request.args).order_by(AccessEntry.seq.desc()).limit(20_000)
    with database().session() as session:
        entries: list[AccessEntry] = list(session.scalars(query))
        users = select(User.id, User.patient_id).where(User.patient_id.is_not(None))
        own_patient: dict[str, str | None] = {row[0]: row[1] for row in session.execute(users)}
    patients = _personnummer_of(entries)
    alerts = [
        {"rule": rule, "entry": entry_json(entry, patients)}
        for entry in entries
        for rule in alert_rules(entry, own_patient)
    ]
    alerts += _high_volume(entries)
    _log_review(checked, "list", len(alerts))
    return jsonify(alerts)


def alert_rules(entry: AccessEntry, own_patient: dict[str, str | None]) -> list[str]:
    """The rules one entry trips."""
    rules = []
    if entry.action == "emergency_access" or entry.purpose == "emergency":
        rules.append("emergency_access")
    if entry.outcome == "denied":
        rules.append("access_without_relation")
    if entry.basis and "consent:" in entry.basis and entry.action != "consent":
        rules.append("consent_access")
    if (
        entry.patient_id
        and own_patient.get(entry.user_id or "") == entry.patient_id
        and entry.role != "patient"
    ):
        rules.append("own_record")
    local = entry.at.astimezone(STOCKHOLM)
    if entry.patient_id and (local.weekday() >= 5 or not 7 <= local.hour < 19):
        rules.append("after_hours")
    return rules


def _high_volume(entries: list[AccessEntry]) -> list[dict[str, Any]]:
    per_user_day: Counter[tuple[str, str]] = Counter()
    seen: set[tuple[str, str, str]] = set()
    for entry in entries:
        if entry.patient_id and entry.username and entry.outcome == "allowed":
            day = entry.at.astimezone(STOCKHOLM).date().isoformat()
            if (entry.username, day, entry.patient_id) not in seen:
                seen.add((entry.username, day, entry.patient_id))
                per_user_day[(entry.username, day)] += 1
    return [
        {"rule": "high_volume", "user": user, "day": day, "patients": count}
        for (user, day), count in per_user_day.items()
        if count >= HIGH_VOLUME_PATIENTS
    ]


@bp.get("/audit/verify")
def audit_verify() -> Response:
    checked, _orgs = reviewer_orgs("access_log:chain")
    with database().session() as session:
        verdict = verify(session)
    _log_review(checked, "verify", verdict.entries)
    return jsonify(verdict.__dict__)


def own_entries(principal: Principal) -> list[AccessEntry]:
    """The patient's allowed entries, newest first, without their own reading of them."""
    query = (
        select(AccessEntry)
        .where(AccessEntry.patient_id == principal.patient_id, AccessEntry.outcome == "allowed")
        .order_by(AccessEntry.seq.desc())
        .limit(5000)
    )
    with database().session() as session:
        entries = list(session.scalars(query))
    return [entry for entry in entries if entry.user_id != principal.user_id]


@bp.get("/me/access-log")
def my_access_log() -> Response:
    """A patient's loggutdrag: which organisation and unit accessed their data, when and why.

    The flat list (one item per entry); `/me/access-log/grouped` is the same in plain words."""
    principal = current_principal()
    authorize_log("read_own_log", "access_log:own")
    return jsonify(
        [
            {
                "at": entry.at.isoformat(),
                "org": entry.org_name,
                "unit": entry.unit_name,
                "action": entry.action,
                "purpose": entry.purpose,
                "role": entry.role,
            }
            for entry in own_entries(principal)
        ]
    )


@bp.get("/me/access-log/grouped")
def my_access_log_grouped() -> Response:
    """The loggutdrag as the patient reads it: days, organisations, units, lines (app.extract);
    names, times and roles only, no internal ids."""
    principal = current_principal()
    authorize_log("read_own_log", "access_log:own")
    days = group(reversed(own_entries(principal)))  # oldest first: ties keep log order
    name, personnummer = _who(principal)
    return jsonify({**extract_json(days), "patient": {"name": name, "personnummer": personnummer}})


@bp.get("/me/access-log.pdf")
def my_access_log_pdf() -> Response:
    """The same loggutdrag as a PDF file in the patient's language, to save and print."""
    principal = current_principal()
    authorize_log("read_own_log", "access_log:own")
    days = group(reversed(own_entries(principal)))  # oldest first: ties keep log order
    name, personnummer = _who(principal)
    language = principal.language if principal.language in LANGUAGES else "sv"
    texts = catalogue(Path(current_app.config["STATIC_DIR"]), language)
    compress = bool(current_app.config.get("EXTRACT_PDF_COMPRESS", True))
    body = pdf(days, texts, name, personnummer, datetime.now(UTC), compress=compress)
    response = Response(body, mimetype="application/pdf")
    filename = f"samsyn-loggutdrag-{datetime.now(STOCKHOLM).date().isoformat()}.pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _who(principal: Principal) -> tuple[str, str]:
    """The patient's name (masked for skyddad identitet) and personnummer, YYYYMMDD-NNNN."""
    with database().session() as session:
        patient = session.get(Patient, principal.patient_id) if principal.patient_id else None
    if patient is None:
        return principal.name, ""
    name = MASKED_NAME if patient.protected_identity else patient.name
    return name, formatted_personnummer(patient.personnummer)
