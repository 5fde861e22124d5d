"""Organisations, units, users and patients: created by the CLI and the demo data."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.auth import hash_password
from app.models import Case, Image, Membership, Organisation, Patient, Unit, User
from app.policy import ROLES
from samsyn import personnummer
from samsyn.errors import BadRequest, Conflict, NotFound

ORG_KINDS = ("region", "private", "teaching")


def names(
    session: Session,
    model: type[User] | type[Organisation] | type[Unit],
    ids: Iterable[str | None],
) -> dict[str, str]:
    """The names of these users, organisations or units (ids that are None are skipped),
    looked up in one query."""
    wanted = {key for key in ids if key}
    if not wanted:
        return {}
    return dict(session.execute(select(model.id, model.name).where(model.id.in_(wanted))).all())


def find_org(session: Session, key: str) -> Organisation:
    """An organisation by name, HSA-id or id."""
    org = session.scalar(
        select(Organisation).where(
            or_(Organisation.name == key, Organisation.hsa_id == key, Organisation.id == key)
        )
    )
    if org is None:
        raise NotFound(f"no organisation {key!r}")
    return org


def find_unit(session: Session, key: str, org: Organisation | None = None) -> Unit:
    query = select(Unit).where(or_(Unit.name == key, Unit.hsa_id == key, Unit.id == key))
    if org is not None:
        query = query.where(Unit.org_id == org.id)
    unit = session.scalar(query)
    if unit is None:
        raise NotFound(f"no unit {key!r}")
    return unit


def add_org(session: Session, name: str, hsa_id: str, kind: str) -> Organisation:
    if kind not in ORG_KINDS:
        raise BadRequest(f"kind must be one of {', '.join(ORG_KINDS)}")
    if session.scalar(
        select(Organisation).where(or_(Organisation.name == name, Organisation.hsa_id == hsa_id))
    ):
        raise Conflict(f"an organisation named {name!r} or with HSA-id {hsa_id!r} exists")
    org = Organisation(name=name, hsa_id=hsa_id, kind=kind)
    session.add(org)
    session.flush()
    return org


def add_unit(session: Session, name: str, org_key: str, hsa_id: str) -> Unit:
    org = find_org(session, org_key)
    if session.scalar(select(Unit).where(Unit.hsa_id == hsa_id)):
        raise Conflict(f"a unit with HSA-id {hsa_id!r} exists")
    unit = Unit(name=name, org_id=org.id, hsa_id=hsa_id)
    session.add(unit)
    session.flush()
    return unit


def add_user(
    session: Session,
    username: str,
    org_key: str,
    role: str,
    password: str,
    unit_key: str | None = None,
    hsa_id: str | None = None,
    name: str | None = None,
    patient: str | None = None,
) -> User:
    """A user with one role; adding an existing username adds the role to that user."""
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(sorted(ROLES))}")
    if len(password) < 8:
        raise BadRequest("a password needs at least 8 characters")
    org = find_org(session, org_key)
    unit = find_unit(session, unit_key, org) if unit_key else None
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(
            username=username,
            name=name or username,
            hsa_id=hsa_id,
            password_hash=hash_password(password),
        )
        session.add(user)
        session.flush()
    if role == "patient":
        user.patient_id = find_patient_by_number(session, patient or "").id
    session.add(
        Membership(user_id=user.id, org_id=org.id, unit_id=unit.id if unit else None, role=role)
    )
    session.flush()
    return user


def find_patient(session: Session, key: object) -> Patient | None:
    """The one patient look-up: by id, or by personnummer / samordningsnummer in any form
    DOMAIN.md accepts; None when samsyn holds no such patient."""
    if not isinstance(key, str) or not key or len(key) > 32 or not key.isascii():
        return None
    if personnummer.is_valid(key):
        digits = personnummer.parse(key).digits
        return session.scalar(select(Patient).where(Patient.personnummer == digits))
    return session.get(Patient, key)


def find_patient_by_number(session: Session, number: str) -> Patient:
    """A patient by personnummer, or NotFound naming the number (for the command line)."""
    personnummer.parse(number)  # an invalid number is refused with its reason
    found = find_patient(session, number)
    if found is None:
        raise NotFound(f"no patient {number}")
    return found


def add_patient(
    session: Session, number: str, name: str, org_key: str, protected: bool = False
) -> Patient:
    digits = personnummer.parse(number).digits
    if session.scalar(select(Patient).where(Patient.personnummer == digits)):
        raise Conflict(f"patient {number} exists")
    patient = Patient(
        personnummer=digits,
        name=name,
        org_id=find_org(session, org_key).id,
        protected_identity=protected,
    )
    session.add(patient)
    session.flush()
    return patient


def attach(
    session: Session,
    image_id: str,
    org_key: str | None,
    patient: str | None,
    case_title: str | None,
) -> None:
    """Give an imported image its owner and, with a case title, put it in that case."""
    image = session.get(Image, image_id)
    if image is None or org_key is None:
        return
    org = find_org(session, org_key)
    image.org_id = org.id
    if case_title is None:
        return
    owner = find_patient_by_number(session, patient) if patient else None
    case = session.scalar(
        select(Case).where(
            Case.title == case_title,
            Case.org_id == org.id,
            Case.patient_id == (owner.id if owner else None),
        )
    )
    if case is None:
        case = Case(
            title=case_title,
            org_id=org.id,
            patient_id=owner.id if owner else None,
            purpose="care" if owner else "teaching",
        )
        session.add(case)
        session.flush()
    image.case_id = case.id
