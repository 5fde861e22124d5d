"""Referrals (remiss) and their answers (svar): sent from one unit to a unit (or a named
specialist) of any organisation, accepted or declined there, answered with a report that
is signed and then immutable (corrections are signed addenda).

Every step asks the policy (`authorize_referral`, `authorize_case`), follows the state
table of `app/referral_flow.py`, is stamped with who and when (`ReferralStep`), written to
the access log with the referral as the basis, and announced live (`referral`) to everyone
on both sides, wherever they are logged in.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import String, case, cast, func, or_, select
from sqlalchemy.orm import Session

from app.access import (
    authorize_case,
    authorize_referral,
    database,
    recorded,
    referral_subject,
    visible_referrals,
)
from app.api import json_object
from app.api.fields import PreconditionRequired, future, ids, sent_version, text
from app.auth import Principal, current_principal
from app.directory import names
from app.extensions import announce
from app.fhir import read_service_request, referral_bundle
from app.identity import patient_json
from app.models import (
    Addendum,
    Case,
    ConsultNote,
    Image,
    Membership,
    Organisation,
    Patient,
    Referral,
    ReferralStep,
    Report,
    Unit,
    User,
    utcnow,
)
from app.notes import notes_json
from app.policy import CARE_ROLES, Actor, Role, receiving
from app.referral_flow import PRIORITIES, STATES, after
from samsyn.errors import BadRequest, Conflict, NotFound

bp = Blueprint("referrals", __name__, url_prefix="/api")
LONGEST_WAIT = timedelta(days=366)
TEXT_LIMIT = 20_000
PRIORITY_ORDER = {"acute": 0, "urgent": 1, "routine": 2}


@bp.before_request
def signed_in() -> None:
    current_principal()


# --- who is who ---------------------------------------------------------------------------


def requester_role(principal: Principal, case: Case) -> Membership | None:
    """The requester's care role in the case's organisation (the unit they send from)."""
    for assignment in principal.memberships:
        if assignment.role.role in CARE_ROLES and assignment.role.org_id == case.org_id:
            role = assignment.role
            return Membership(
                user_id=principal.user_id, org_id=role.org_id, unit_id=role.unit_id, role=role.role
            )
    return None


def receiver(session: Session, data: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """(organisation, unit, user) the referral goes to: `to_unit` (name or HSA-id) or
    `to_user` (a username of a care role)."""
    unit_name, user_name = data.get("to_unit"), data.get("to_user")
    if (unit_name is None) == (user_name is None):
        raise BadRequest(
            "Name the receiving unit (to_unit) or a specialist (to_user), one of them."
        )
    if unit_name is not None:
        name = text(data, "to_unit", label="receiving unit") or ""
        unit = session.scalar(select(Unit).where(or_(Unit.name == name, Unit.hsa_id == name)))
        if unit is None:
            raise NotFound(f"There is no unit called {name}.")
        return unit.org_id, unit.id, None
    name = text(data, "to_user", label="specialist") or ""
    user = session.scalar(select(User).where(User.username == name))
    role = (
        session.scalar(
            select(Membership).where(
                Membership.user_id == user.id, Membership.role.in_(sorted(CARE_ROLES))
            )
        )
        if user is not None and user.active
        else None
    )
    if user is None or role is None:
        raise NotFound(f"There is no specialist called {name}.")
    return role.org_id, role.unit_id, user.id


def copied_users(session: Session, data: dict[str, Any], org_id: str) -> list[str]:
    """Users of the requesting organisation kept informed (the referring clinician)."""
    names = data.get("copy", [])
    if not isinstance(names, list) or len(names) > 20 or not all(isinstance(n, str) for n in names):
        raise BadRequest("copy is a list of usernames.")
    found = []
    for name in names:
        user = session.scalar(select(User).where(User.username == name))
        colleague = user is not None and session.scalar(
            select(Membership.id).where(Membership.user_id == user.id, Membership.org_id == org_id)
        )
        if user is None or not colleague:
            raise NotFound(f"There is no colleague called {name} in your organisation.")
        found.append(user.id)
    return list(dict.fromkeys(found))


# --- sending ------------------------------------------------------------------------------


@bp.post("/referrals")
def create_referral() -> tuple[Response, int]:
    data = json_object("send the referral")
    principal = current_principal()
    with database().session() as session:
        referral = new_referral(session, principal, data, via="http")
        body = referral_json(session, referral, principal)
    return jsonify(body), 201


def new_referral(
    session: Session, principal: Principal, data: dict[str, Any], via: str
) -> Referral:
    """A referral of the case named in `data`, from the caller's unit (the contract's
    POST body; a FHIR ServiceRequest is read into the same shape)."""
    case_id = data.get("case")
    if not isinstance(case_id, str) or not 0 < len(case_id) <= 32:
        raise BadRequest("case is the id of the case referred.")
    case, checked = authorize_case(session, "share", case_id, deferred=True, log_as="referral")
    sender = requester_role(principal, case)
    if sender is None:
        raise BadRequest("Send a referral from a care role of the case's organisation.")
    to_org, to_unit, to_user = receiver(session, data)
    if to_unit is not None and to_unit == sender.unit_id or to_user == principal.user_id:
        raise BadRequest("A referral goes to another unit or colleague, not to your own.")
    referral = Referral(
        case_id=case.id,
        requester_id=principal.user_id,
        requester_org_id=case.org_id,
        requester_unit_id=sender.unit_id,
        copied=copied_users(session, data, case.org_id),
        to_org_id=to_org,
        to_unit_id=to_unit,
        to_user_id=to_user,
        question=text(data, "question", TEXT_LIMIT, multiline=True, label="clinical question"),
        history=text(data, "history", TEXT_LIMIT, required=False, multiline=True),
        preliminary=text(data, "preliminary", TEXT_LIMIT, required=False, multiline=True),
        priority=priority_of(data),
        due=future(data["due"], LONGEST_WAIT, "due") if data.get("due") is not None else None,
        images=case_images(session, case, ids(data, "images")),
        regions=case_regions(session, case, ids(data, "regions")),
        blinded=flag(data, "blinded"),
        status="draft" if flag(data, "draft") else "sent",
    )
    with recorded(session, checked, "referral", status=referral.status, via=via) as made:
        session.add(referral)
        session.flush()
        made["referral"] = referral.id
        stamp(session, referral, "create", principal, {"via": via})
    announce_referral(session, referral)
    return referral


def priority_of(data: dict[str, Any]) -> str:
    priority = data.get("priority")
    if priority not in PRIORITIES:
        raise BadRequest("priority is acute, urgent or routine.")
    return str(priority)


def flag(data: dict[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise BadRequest(f"{name} is true or false.")
    return value


def case_images(session: Session, case: Case, wanted: list[str]) -> list[str]:
    held = set(session.scalars(select(Image.id).where(Image.case_id == case.id)))
    if not set(wanted) <= held:
        raise BadRequest("images must be images of the case.")
    return wanted or sorted(held)


def case_regions(session: Session, case: Case, wanted: list[str]) -> list[str]:
    """Regions of interest: annotations drawn on the case's images."""
    from annotations.store import AnnotationRow

    if not wanted:
        return []
    found = set(
        session.scalars(
            select(AnnotationRow.id).where(
                AnnotationRow.id.in_(wanted),
                AnnotationRow.case_id == case.id,
                AnnotationRow.deleted.is_(None),
            )
        )
    )
    if found != set(wanted):
        raise BadRequest("regions must be annotations on the case's images.")
    return wanted


def stamp(
    session: Session, referral: Referral, step: str, principal: Principal, detail: dict[str, Any]
) -> None:
    referral.updated = utcnow()
    session.add(
        ReferralStep(
            referral_id=referral.id,
            step=step,
            status=referral.status,
            user_id=principal.user_id,
            at=referral.updated,
            detail=detail,
        )
    )


# --- the steps ------------------------------------------------------------------------------


def take_step(
    referral_id: str, step: str, action: str, **detail: Any
) -> tuple[Referral, dict[str, Any]]:
    """One step of the referral's life: allowed by the policy, fitting its state, stamped,
    logged and announced."""
    principal = current_principal()
    with database().session() as session:
        referral, _case, checked = authorize_referral(session, action, referral_id)
        with recorded(session, checked, step, referral=referral.id, **detail) as made:
            referral.status = after(referral.status, step)
            if step == "decline":
                referral.reason = detail["declined_because"]
            if step == "assign":
                referral.assignee_id = detail["assignee"]
            stamp(session, referral, step, principal, detail)
            made["status"] = referral.status
        announce_referral(session, referral)
        return referral, referral_json(session, referral, principal)


@bp.post("/referrals/<referral_id>/send")
def send_referral(referral_id: str) -> Response:
    return jsonify(take_step(referral_id, "send", "withdraw_referral")[1])


@bp.post("/referrals/<referral_id>/accept")
def accept_referral(referral_id: str) -> Response:
    return jsonify(take_step(referral_id, "accept", "accept_referral")[1])


@bp.post("/referrals/<referral_id>/decline")
def decline_referral(referral_id: str) -> Response:
    data = json_object('send {"reason"}')
    reason = text(data, "reason", 2000, multiline=True, label="reason for declining")
    return jsonify(
        take_step(referral_id, "decline", "decline_referral", declined_because=reason)[1]
    )


@bp.post("/referrals/<referral_id>/withdraw")
def withdraw_referral(referral_id: str) -> Response:
    return jsonify(take_step(referral_id, "withdraw", "withdraw_referral")[1])


@bp.post("/referrals/<referral_id>/close")
def close_referral(referral_id: str) -> Response:
    return jsonify(take_step(referral_id, "close", "close_referral")[1])


@bp.post("/referrals/<referral_id>/assign")
def assign_referral(referral_id: str) -> Response:
    """Give the referral to one reviewer of the receiving unit."""
    data = json_object('send {"user": username}')
    name = text(data, "user", label="reviewer") or ""
    with database().session() as session:
        referral = session.get(Referral, referral_id) if len(referral_id) <= 32 else None
        user = session.scalar(select(User).where(User.username == name))
        if user is None or referral is None or not receives(session, referral, user.id):
            raise BadRequest(f"{name} is not a reviewer of the receiving unit.")
        assignee = user.id
    return jsonify(take_step(referral_id, "assign", "assign_referral", assignee=assignee)[1])


def receives_principal(referral: Referral, principal: Principal) -> bool:
    """Whether the caller reads the referral as its receiver (else as its requester)."""
    return receiving(principal.actor, referral_subject(referral).referral)


def receives(session: Session, referral: Referral, user_id: str) -> bool:
    """Whether a user (an assignee to be) is on the referral's receiving side."""
    roles = tuple(
        Role(m.role, m.org_id, m.unit_id)
        for m in session.scalars(select(Membership).where(Membership.user_id == user_id))
    )
    return receiving(Actor(user_id, roles), referral_subject(referral).referral)


# --- the report -----------------------------------------------------------------------------


def report_fields(data: dict[str, Any], session: Session, case_id: str) -> dict[str, Any]:
    codes = data.get("codes", [])
    if not isinstance(codes, list) or len(codes) > 50:
        raise BadRequest("codes is a list of SNOMED CT codes.")
    checked_codes = [snomed_code(code) for code in codes]
    annotations = ids(data, "annotations")
    if annotations:
        from annotations.store import AnnotationRow

        held = set(
            session.scalars(
                select(AnnotationRow.id).where(
                    AnnotationRow.id.in_(annotations), AnnotationRow.case_id == case_id
                )
            )
        )
        if held != set(annotations):
            raise BadRequest("annotations must be annotations of the case.")
    return {
        "findings": text(data, "findings", TEXT_LIMIT, required=False, multiline=True) or "",
        "conclusion": text(data, "conclusion", TEXT_LIMIT, required=False, multiline=True) or "",
        "codes": checked_codes,
        "annotations": annotations,
        "views": ids(data, "views"),
    }


def snomed_code(code: object) -> dict[str, str]:
    """A SNOMED CT concept: its id (6 to 18 digits, Verhoeff check not enforced) and a
    display text."""
    if isinstance(code, str):
        code = {"code": code}
    if not isinstance(code, dict):
        raise BadRequest('A code is {"code": "<SNOMED CT id>", "display"?}.')
    value = code.get("code")
    if (
        not isinstance(value, str)
        or not (value.isascii() and value.isdigit())
        or not 6 <= len(value) <= 18
    ):
        raise BadRequest("A SNOMED CT code is 6 to 18 digits.")
    display = code.get("display")
    if display is not None and (not isinstance(display, str) or len(display) > 255):
        raise BadRequest("A code's display is a short text.")
    return {"code": value, "display": display or ""}


@bp.put("/referrals/<referral_id>/report")
def write_report(referral_id: str) -> Response:
    """The preliminary report, a new version each time (If-Match: the version changed;
    a first report needs none)."""
    data = json_object('send {"findings", "conclusion", "codes"?, "annotations"?}')
    version = sent_version(request.headers.get("If-Match"), "report")
    principal = current_principal()
    with database().session() as session:
        referral, _case, checked = authorize_referral(session, "answer_referral", referral_id)
        report = session.scalar(select(Report).where(Report.referral_id == referral.id))
        if report is not None and report.signed is not None:
            raise Conflict("The report is signed; correct it with a signed addendum.")
        fields = report_fields(data, session, referral.case_id)
        with recorded(session, checked, "report", referral=referral.id) as made:
            referral.status = after(referral.status, "report")
            if report is None:
                if version not in (None, 0):
                    raise Conflict("There is no report yet; send no If-Match for the first.")
                report = Report(referral_id=referral.id, author_id=principal.user_id, version=1)
                session.add(report)
            else:
                if version is None:
                    raise PreconditionRequired("Send If-Match with the report version you changed.")
                if version != report.version:
                    raise Conflict(
                        f"the report is at version {report.version}; reload it",
                        {"current": report_json(session, report)},
                    )
                report.version += 1
            for name, value in fields.items():
                setattr(report, name, value)
            report.updated = utcnow()
            session.flush()
            made["version"] = report.version
            stamp(session, referral, "report", principal, {"version": report.version})
        announce_referral(session, referral)
        response = jsonify(report_json(session, report))
    response.headers["ETag"] = f'"{report.version}"'
    return response


def content_hash(fields: dict[str, Any]) -> str:
    """SHA-256 over the signed content in a canonical JSON form."""
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def signed_content(report: Report, referral: Referral, signer: str, at: datetime) -> dict[str, Any]:
    return {
        "referral": referral.id,
        "version": report.version,
        "findings": report.findings,
        "conclusion": report.conclusion,
        "codes": report.codes,
        "annotations": report.annotations,
        "signed_by": signer,
        "signed": at.isoformat(),
    }


@bp.post("/referrals/<referral_id>/report/sign")
def sign_report(referral_id: str) -> Response:
    principal = current_principal()
    with database().session() as session:
        referral, _case, checked = authorize_referral(session, "sign_referral", referral_id)
        report = session.scalar(select(Report).where(Report.referral_id == referral.id))
        if report is None or not (report.findings or report.conclusion):
            raise BadRequest("Write the report before signing it.")
        if report.signed is not None:
            raise Conflict("The report is already signed.")
        with recorded(session, checked, "sign", referral=referral.id) as made:
            referral.status = after(referral.status, "sign")
            now = utcnow()
            report.signed_by, report.signed = principal.user_id, now
            report.content_hash = content_hash(
                signed_content(report, referral, principal.user_id, now)
            )
            made.update(version=report.version, content_hash=report.content_hash)
            stamp(session, referral, "sign", principal, {"content_hash": report.content_hash})
        announce_referral(session, referral)
        return jsonify(referral_json(session, referral, principal))


@bp.post("/referrals/<referral_id>/report/addenda")
def add_addendum(referral_id: str) -> tuple[Response, int]:
    data = json_object('send {"text"}')
    body = text(data, "text", TEXT_LIMIT, multiline=True, label="addendum") or ""
    principal = current_principal()
    with database().session() as session:
        referral, _case, checked = authorize_referral(session, "sign_referral", referral_id)
        report = session.scalar(select(Report).where(Report.referral_id == referral.id))
        if report is None or report.signed is None:
            raise Conflict("An addendum follows a signed report.")
        with recorded(session, checked, "addendum", referral=referral.id) as made:
            after(referral.status, "addendum")
            now = utcnow()
            addendum = Addendum(
                report_id=report.id,
                text=body,
                signed_by=principal.user_id,
                signed=now,
                content_hash=content_hash(
                    {
                        "report": report.id,
                        "text": body,
                        "by": principal.user_id,
                        "at": now.isoformat(),
                    }
                ),
            )
            session.add(addendum)
            session.flush()
            made["addendum"] = addendum.id
            stamp(session, referral, "addendum", principal, {"addendum": addendum.id})
        announce_referral(session, referral)
        return jsonify(referral_json(session, referral, principal)), 201


# --- reading --------------------------------------------------------------------------------


@bp.get("/referrals/<referral_id>")
def show_referral(referral_id: str) -> Response:
    principal = current_principal()
    with database().session() as session:
        referral, _case, _checked = authorize_referral(
            session, "read_referral", referral_id, deferred=False
        )
        return jsonify(referral_json(session, referral, principal))


@bp.get("/referrals")
def worklist() -> Response:
    """The caller's incoming (their units' and their own) or outgoing referrals, filtered
    by status, priority, assignee and modality, most pressing first; with counts."""
    principal = current_principal()
    box = request.args.get("box", "incoming")
    if box not in ("incoming", "outgoing"):
        raise BadRequest("box is incoming or outgoing.")
    status = request.args.get("status")
    if status is not None and status not in STATES:
        raise BadRequest(f"status is one of {', '.join(STATES)}.")
    priority = request.args.get("priority")
    if priority is not None and priority not in PRIORITIES:
        raise BadRequest("priority is acute, urgent or routine.")
    limit, offset = paging()
    with database().session() as session:
        scope = mine(principal, box)
        query = select(Referral).where(scope)
        if status is not None:
            query = query.where(Referral.status == status)
        if priority is not None:
            query = query.where(Referral.priority == priority)
        if request.args.get("assignee") == "me":
            query = query.where(Referral.assignee_id == principal.user_id)
        rows = list(session.scalars(query.order_by(*URGENCY).limit(limit).offset(offset)))
        found = lookups_for(session, rows)
        items = [
            referral_json(session, row, principal, brief=True, found=found)
            if checked.decision.allowed
            else blocked_json(row)
            for row, checked in visible_referrals(session, principal, rows, found.cases)
        ]
        counts = dict(
            session.execute(
                select(Referral.status, func.count()).where(scope).group_by(Referral.status)
            ).all()
        )
        overdue = session.scalar(
            select(func.count()).where(scope, Referral.due < utcnow(), Referral.status.in_(WAITING))
        )
    modality = request.args.get("modality")
    if modality:
        items = [item for item in items if modality in (item["holds"] or {})]
    return jsonify({"box": box, "referrals": items, "counts": counts, "overdue": overdue or 0})


WAITING = ("sent", "accepted", "in_review")
# Most pressing first: what is still to be done, then acute before urgent before routine,
# the earliest wish-by time, the oldest.
URGENCY = (
    case((Referral.status.in_(("answered", "closed", "declined", "withdrawn")), 1), else_=0),
    case(*((Referral.priority == name, rank) for name, rank in PRIORITY_ORDER.items()), else_=3),
    case((Referral.due.is_(None), 1), else_=0),
    Referral.due,
    Referral.created,
)


def blocked_json(referral: Referral) -> dict[str, Any]:
    """A referral whose patient a spärr hides from the caller: that it exists, no more."""
    return {
        "id": referral.id,
        "status": referral.status,
        "priority": referral.priority,
        "blocked": True,
        "patient": None,
        "question": None,
        "holds": {},
        "overdue": False,
        "due": None,
        "created": referral.created.isoformat(),
    }


def paging() -> tuple[int, int]:
    try:
        limit = int(request.args.get("limit", "200"))
        offset = int(request.args.get("offset", "0"))
    except ValueError as error:
        raise BadRequest("limit and offset are whole numbers.") from error
    if not 0 <= limit <= 1000 or not 0 <= offset < 10**9:
        raise BadRequest("limit is 0 (counts only) to 1000, offset from 0.")
    return limit, offset


@dataclass
class Lookups:
    """What the rows of a worklist name, looked up once for all of them."""

    cases: dict[str, Case]
    patients: dict[str, Patient]
    people: dict[str, str]
    units: dict[str, str]
    orgs: dict[str, str]
    kinds: dict[str, str]


def lookups_for(session: Session, rows: list[Referral]) -> Lookups:
    cases = {
        c.id: c for c in session.scalars(select(Case).where(Case.id.in_({r.case_id for r in rows})))
    }
    patients = {
        p.id: p
        for p in session.scalars(
            select(Patient).where(Patient.id.in_({c.patient_id for c in cases.values()}))
        )
    }
    users = {u for r in rows for u in (r.requester_id, r.to_user_id, r.assignee_id, *r.copied)}
    units = {u for r in rows for u in (r.requester_unit_id, r.to_unit_id)}
    orgs = {o for r in rows for o in (r.requester_org_id, r.to_org_id)}
    images = {i for r in rows for i in r.images}
    kinds = {
        image_id: modality or kind
        for image_id, kind, modality in session.execute(
            select(Image.id, Image.kind, Image.modality).where(Image.id.in_(images))
        )
    }
    return Lookups(
        cases,
        patients,
        names(session, User, users),
        names(session, Unit, units),
        names(session, Organisation, orgs),
        kinds,
    )


def mine(principal: Principal, box: str) -> Any:
    care = [m.role for m in principal.memberships if m.role.role in CARE_ROLES]
    if box == "outgoing":
        units = [role.unit_id for role in care if role.unit_id]
        return or_(
            Referral.requester_id == principal.user_id,
            Referral.requester_unit_id.in_(units),
            cast(Referral.copied, String).like(f'%"{principal.user_id}"%'),
        )
    conditions = [Referral.to_user_id == principal.user_id]
    for role in care:
        if role.unit_id:
            conditions.append((Referral.to_unit_id == role.unit_id) & Referral.to_user_id.is_(None))
        conditions.append(
            (Referral.to_org_id == role.org_id)
            & Referral.to_unit_id.is_(None)
            & Referral.to_user_id.is_(None)
        )
    return or_(*conditions) & (Referral.status != "draft")


def referral_json(
    session: Session,
    referral: Referral,
    principal: Principal,
    brief: bool = False,
    found: Lookups | None = None,
) -> dict[str, Any]:
    found = found or lookups_for(session, [referral])
    case_row = found.cases[referral.case_id]
    patient = found.patients.get(case_row.patient_id or "")
    people, units, orgs = found.people, found.units, found.orgs
    now = utcnow()
    open_states = ("sent", "accepted", "in_review")
    side = "receiver" if receives_principal(referral, principal) else "requester"
    blind = (
        referral.blinded and referral.status not in ("answered", "closed") and side == "receiver"
    )
    body: dict[str, Any] = {
        "id": referral.id,
        "side": side,
        "case": referral.case_id,
        "case_title": case_row.title,
        "patient": patient_json(patient),
        "status": referral.status,
        "priority": referral.priority,
        "question": referral.question,
        "history": referral.history,
        "preliminary": None if blind else referral.preliminary,
        "due": referral.due.isoformat() if referral.due else None,
        "overdue": bool(referral.due and referral.due < now and referral.status in open_states),
        "blinded": referral.blinded,
        "from": {
            "user": referral.requester_id,
            "name": people.get(referral.requester_id),
            "unit": units.get(referral.requester_unit_id or ""),
            "org": orgs.get(referral.requester_org_id),
        },
        "to": {
            "org": orgs.get(referral.to_org_id),
            "unit": units.get(referral.to_unit_id or ""),
            "user": people.get(referral.to_user_id or ""),
        },
        "assignee": people.get(referral.assignee_id or ""),
        "images": referral.images,
        "regions": [] if blind else referral.regions,
        "holds": holds_of(referral.images, found.kinds),
        "created": referral.created.isoformat(),
        "updated": referral.updated.isoformat(),
        "reason": referral.reason,
    }
    if brief:
        return body
    steps = session.scalars(
        select(ReferralStep)
        .where(ReferralStep.referral_id == referral.id)
        .order_by(ReferralStep.at, ReferralStep.id)
    ).all()
    stepped = names(session, User, {step.user_id for step in steps})
    body["steps"] = [
        {"step": s.step, "status": s.status, "user": stepped.get(s.user_id), "at": s.at.isoformat()}
        for s in steps
    ]
    report = session.scalar(select(Report).where(Report.referral_id == referral.id))
    # The requesting side reads the answer once it is signed, not while it is written.
    unsigned = report is not None and report.signed is None and side == "requester"
    body["report"] = report_json(session, report) if report is not None and not unsigned else None
    body["copied"] = [people.get(user) for user in referral.copied]
    notes = session.scalars(
        select(ConsultNote).where(ConsultNote.referral_id == referral.id).order_by(ConsultNote.seq)
    ).all()
    shown = [n for n in notes if not blind or n.org_id != referral.requester_org_id]
    body["notes"] = notes_json(session, shown)
    return body


def holds_of(image_ids: list[str], kinds: dict[str, str]) -> dict[str, int]:
    """What the referred images are: their modality (CT, MR, ...) or "slide", counted."""
    held: dict[str, int] = {}
    for image_id in image_ids:
        key = kinds.get(image_id)
        if key is not None:
            held[key] = held.get(key, 0) + 1
    return held


def report_json(session: Session, report: Report) -> dict[str, Any]:
    addenda = session.scalars(
        select(Addendum).where(Addendum.report_id == report.id).order_by(Addendum.signed)
    ).all()
    people = names(
        session, User, {report.author_id, report.signed_by, *(a.signed_by for a in addenda)}
    )
    status = "preliminary" if report.signed is None else ("amended" if addenda else "final")
    return {
        "status": status,
        "version": report.version,
        "findings": report.findings,
        "conclusion": report.conclusion,
        "codes": report.codes,
        "annotations": report.annotations,
        "views": report.views,
        "author": people.get(report.author_id),
        "updated": report.updated.isoformat(),
        "signed_by": people.get(report.signed_by or ""),
        "signed": report.signed.isoformat() if report.signed else None,
        "content_hash": report.content_hash,
        "addenda": [
            {
                "text": a.text,
                "signed_by": people.get(a.signed_by),
                "signed": a.signed.isoformat(),
                "content_hash": a.content_hash,
            }
            for a in addenda
        ],
    }


# --- FHIR ------------------------------------------------------------------------------------


@bp.get("/referrals/<referral_id>/fhir")
def referral_fhir(referral_id: str) -> Response:
    """The referral as a FHIR R4 Bundle: ServiceRequest, Task and the DiagnosticReport."""
    with database().session() as session:
        referral, _case, _checked = authorize_referral(
            session, "read_referral", referral_id, deferred=False
        )
        bundle = referral_bundle(session, referral, current_app.config["PUBLIC_URL"])
    response = jsonify(bundle)
    response.mimetype = "application/fhir+json"
    return response


@bp.post("/fhir/ServiceRequest")
def import_service_request() -> tuple[Response, int]:
    """A FHIR ServiceRequest from another system becomes a referral of the caller's."""
    principal = current_principal()
    document = request.get_json(silent=True)
    care = [m.role for m in principal.memberships if m.role.role in CARE_ROLES]
    if not care:
        raise BadRequest("A referral is sent from a care role.")
    with database().session() as session:
        data = read_service_request(session, document, care[0].org_id)
        referral = new_referral(session, principal, data, via="fhir")
        body = referral_json(session, referral, principal)
    return jsonify(body), 201


# --- live -----------------------------------------------------------------------------------


def announce_referral(session: Session, referral: Referral) -> None:
    """Everyone on both sides hears of the new state (and the report once signed) on every
    page they have open, once the step is committed."""
    users = {referral.requester_id, *referral.copied}
    if referral.status == "draft":
        pass  # a draft is the requesting side's own
    elif referral.to_user_id is not None:
        users.add(referral.to_user_id)
    else:
        query = select(Membership.user_id).where(
            Membership.org_id == referral.to_org_id, Membership.role.in_(sorted(CARE_ROLES))
        )
        if referral.to_unit_id is not None:
            query = query.where(Membership.unit_id == referral.to_unit_id)
        users |= set(session.scalars(query))
    if referral.requester_unit_id is not None:
        users |= set(
            session.scalars(
                select(Membership.user_id).where(
                    Membership.unit_id == referral.requester_unit_id,
                    Membership.role.in_(sorted(CARE_ROLES)),
                )
            )
        )
    report = session.scalar(select(Report).where(Report.referral_id == referral.id))
    payload: dict[str, Any] = {"id": referral.id, "status": referral.status}
    if report is not None and report.signed is not None:
        payload["report"] = report_json(session, report)
    announce(session, {"kind": "referral", "users": sorted(users), "payload": payload})
