"""Each organisation's list of annotation classes, kept in the database.

An organisation that has never touched its list gets the defaults of `annotations.classes`
the first time anyone asks for it; from then on its administrators add and retire classes.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from annotations.classes import DEFAULTS
from app.models import AnnotationClass, utcnow


def classes_of(session: Session, org_id: str, retired_too: bool = False) -> list[AnnotationClass]:
    """The organisation's classes by name (seeded with the defaults when it has none)."""
    rows = list(
        session.scalars(
            select(AnnotationClass)
            .where(AnnotationClass.org_id == org_id)
            .order_by(AnnotationClass.created, AnnotationClass.name)
        )
    )
    if not rows:
        rows = _seed(session, org_id)
    return [row for row in rows if retired_too or row.retired is None]


def _seed(session: Session, org_id: str) -> list[AnnotationClass]:
    """The defaults, written once; a concurrent first reader may have written them first."""
    try:
        with session.begin_nested():
            rows = [
                AnnotationClass(org_id=org_id, name=item.name, color=item.color, code=item.code)
                for item in DEFAULTS
            ]
            session.add_all(rows)
            session.flush()
    except IntegrityError:
        return classes_of(session, org_id, retired_too=True)
    return rows


def active_class(session: Session, org_id: str, name: str) -> AnnotationClass | None:
    """The organisation's class of this name, if it is on the list and not retired."""
    return next((row for row in classes_of(session, org_id) if row.name == name), None)


def add_class(
    session: Session, org_id: str, name: str, color: str, code: str | None
) -> AnnotationClass:
    """A new class, or a retired one of the same name brought back with the new colour."""
    existing = next(
        (row for row in classes_of(session, org_id, retired_too=True) if row.name == name), None
    )
    if existing is not None:
        existing.color, existing.code, existing.retired = color, code, None
        return existing
    row = AnnotationClass(org_id=org_id, name=name, color=color, code=code)
    session.add(row)
    session.flush()
    return row


def retire_class(session: Session, org_id: str, name: str) -> AnnotationClass | None:
    """Take a class off the list (old annotations keep its name); None when not on it."""
    row = active_class(session, org_id, name)
    if row is not None:
        row.retired = utcnow()
    return row


def class_json(row: AnnotationClass) -> dict[str, object]:
    item: dict[str, object] = {"name": row.name, "color": row.color}
    if row.code:
        item["code"] = row.code
    return item
