"""The directory a recipient is picked from: organisations (vårdgivare), units (vårdenheter)
and staff, found by a few letters of a name, an HSA-id or a username.

Staff only: patients are never listed, and the search is itself refused to patients. The
directory holds no patient data, so a search is not an access-log entry.
"""

from __future__ import annotations

from itertools import chain, zip_longest
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.access import access_control, database, refuse
from app.api.fields import text
from app.auth import current_principal
from app.models import Membership, Organisation, Unit, User
from app.policy import STAFF_ROLES

bp = Blueprint("directory", __name__, url_prefix="/api")
MOST = 20


@bp.get("/directory")
def search_directory() -> Response:
    """`?q=<text>` → {"organisations", "units", "people"}, at most MOST entries in all."""
    principal = current_principal()
    checked = access_control().check_log(principal, "search_directory", "directory")
    if not checked.decision.allowed:
        refuse(checked)
    query = text({"q": request.args.get("q")}, "q", limit=100, label="search text") or ""
    with database().session() as session:
        return jsonify(found(session, query))


def found(session: Session, query: str) -> dict[str, list[dict[str, Any]]]:
    """Matches of each kind, trimmed together to MOST so that every kind keeps its best."""
    pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    kinds = {
        "organisations": organisations(session, pattern),
        "units": units(session, pattern),
        "people": people(session, pattern),
    }
    kept = {id(entry) for entry in _round_robin(list(kinds.values()))[:MOST]}
    return {
        kind: [entry for entry in entries if id(entry) in kept] for kind, entries in kinds.items()
    }


def _round_robin(lists: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [entry for entry in chain.from_iterable(zip_longest(*lists)) if entry is not None]


def _like(pattern: str, *columns: Any) -> Any:
    return or_(*(column.ilike(pattern, escape="\\") for column in columns))


def organisations(session: Session, pattern: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Organisation)
        .where(_like(pattern, Organisation.name, Organisation.hsa_id))
        .order_by(Organisation.name)
        .limit(MOST)
    )
    return [{"name": org.name, "hsa_id": org.hsa_id, "kind": org.kind} for org in rows]


def units(session: Session, pattern: str) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Unit, Organisation.name)
        .join(Organisation, Organisation.id == Unit.org_id)
        .where(_like(pattern, Unit.name, Unit.hsa_id, Organisation.name))
        .order_by(Unit.name)
        .limit(MOST)
    )
    return [{"name": unit.name, "hsa_id": unit.hsa_id, "org": org} for unit, org in rows]


def people(session: Session, pattern: str) -> list[dict[str, Any]]:
    """Active staff with a staff role; a user who is (also) a patient is never listed."""
    rows = session.execute(
        select(User, Membership.role, Organisation.name, Unit.name)
        .join(Membership, Membership.user_id == User.id)
        .join(Organisation, Organisation.id == Membership.org_id)
        .outerjoin(Unit, Unit.id == Membership.unit_id)
        .where(
            User.active.is_(True),
            User.patient_id.is_(None),
            Membership.role.in_(sorted(STAFF_ROLES)),
            _like(pattern, User.name, User.username),
        )
        .order_by(User.name)
        .limit(MOST * 2)
    )
    listed: dict[str, dict[str, Any]] = {}
    for user, role, org, unit in rows:
        listed.setdefault(
            user.id,
            {"name": user.name, "username": user.username, "role": role, "unit": unit, "org": org},
        )
    return list(listed.values())[:MOST]
