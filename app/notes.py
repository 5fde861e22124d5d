"""Consult notes (konsultanteckningar): what reviewers write to each other in a case's room.

A note is plain text (pages render it as text, never as HTML), stored with the case's
sequence number before anyone hears of it, optionally pinned to a point of an image.
Written through the live room or `POST /api/cases/<cid>/notes`; both ask the policy and
are in the access log.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from annotations import store
from app.access import authorize_case, recorded
from app.auth import Principal
from app.directory import names
from app.extensions import announce
from app.models import ConsultNote, Image, Organisation, Referral, User
from samsyn.errors import BadRequest
from samsyn.text import storable

NOTE_LIMIT = 4000


@dataclass(frozen=True)
class NoteDraft:
    text: str
    image: str | None = None
    frame: int | None = None
    anchor: tuple[float, float] | None = None


def note_draft(data: dict[str, Any]) -> NoteDraft:
    """A note as sent: text of 1 to 4,000 characters, an image of the case, a frame, a point."""
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("A note needs its text.")
    if len(text) > NOTE_LIMIT:
        raise BadRequest(f"A note holds at most {NOTE_LIMIT} characters.")
    if not storable(text, multiline=True):
        raise BadRequest("The note holds characters that cannot be stored.")
    image = data.get("image")
    if image is not None and (not isinstance(image, str) or len(image) > 32):
        raise BadRequest("image is the id of one of the case's images.")
    frame = data.get("frame")
    if frame is not None and (
        isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < 1_000_000
    ):
        raise BadRequest("frame is a whole number from 0.")
    anchor = data.get("anchor")
    point: tuple[float, float] | None = None
    if anchor is not None:
        point = anchor_point(anchor)
        if image is None:
            raise BadRequest("A note pinned to a point names the image it is on.")
    return NoteDraft(text.strip(), image, frame, point)


def anchor_point(anchor: object) -> tuple[float, float]:
    if (
        not isinstance(anchor, list)
        or len(anchor) != 2
        or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in anchor
        )
    ):
        raise BadRequest("anchor is [x, y] in image pixels.")
    return float(anchor[0]), float(anchor[1])


def write_note(
    session: Session, principal: Principal, case_id: str, draft: NoteDraft, via: str
) -> ConsultNote:
    """Store a note in the case (after the policy allows it), logged and announced once
    committed."""
    case, checked = authorize_case(session, "annotate", case_id, deferred=True)
    if draft.image is not None:
        image = session.get(Image, draft.image)
        if image is None or image.case_id != case.id:
            raise BadRequest("The note's image is not one of the case's images.")
        if draft.anchor is not None and not (
            0 <= draft.anchor[0] <= image.width and 0 <= draft.anchor[1] <= image.height
        ):
            raise BadRequest("The note's point lies outside the image.")
    role = checked.decision.role
    with recorded(session, checked, "note", via=via) as made:
        note = ConsultNote(
            case_id=case.id,
            seq=store.next_seq(session, case.id),
            author_id=principal.user_id,
            org_id=role.org_id if role else None,
            text=draft.text,
            image_id=draft.image,
            frame=draft.frame,
            anchor_x=draft.anchor[0] if draft.anchor else None,
            anchor_y=draft.anchor[1] if draft.anchor else None,
            referral_id=open_referral(session, case.id),
            created=datetime.now(UTC),
        )
        session.add(note)
        session.flush()
        made["note"] = note.id
    payload = notes_json(session, [note])[0]
    announce(session, {"kind": "note", "case": case.id, "payload": payload})
    return note


def open_referral(session: Session, case_id: str) -> str | None:
    """The case's referral under review now (the newest accepted one): a note written
    in the room meanwhile is part of its record."""
    return session.scalar(
        select(Referral.id)
        .where(Referral.case_id == case_id, Referral.status.in_(("accepted", "in_review")))
        .order_by(Referral.updated.desc())
    )


def case_notes(session: Session, case_id: str, since: int = 0) -> list[ConsultNote]:
    return list(
        session.scalars(
            select(ConsultNote)
            .where(ConsultNote.case_id == case_id, ConsultNote.seq > since)
            .order_by(ConsultNote.seq)
        )
    )


def notes_json(session: Session, notes: list[ConsultNote]) -> list[dict[str, Any]]:
    """The contract's note payloads, with the authors' and organisations' names."""
    people = names(session, User, {n.author_id for n in notes})
    orgs = names(session, Organisation, {n.org_id for n in notes})
    return [
        {
            "seq": note.seq,
            "id": note.id,
            "user": note.author_id,
            "name": people.get(note.author_id),
            "org": note.org_id,
            "org_name": orgs.get(note.org_id or ""),
            "color": org_color(session, note.org_id),
            "text": note.text,
            "created": note.created.astimezone(UTC).isoformat(),
            "image": note.image_id,
            "frame": note.frame,
            "anchor": [note.anchor_x, note.anchor_y] if note.anchor_x is not None else None,
            "referral": note.referral_id,
        }
        for note in notes
    ]


# Colours that stay apart from each other and from the annotation classes' defaults.
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
_colors: dict[str, str] = {}


def org_color(session: Session, org_id: str | None) -> str:
    """An organisation's colour in the live room: by its place among all organisations,
    so two regions never share one while there are fewer than eight."""
    if org_id is None:
        return "#607080"
    if org_id not in _colors:
        order = list(
            session.scalars(select(Organisation.id).order_by(Organisation.created, Organisation.id))
        )
        for index, known in enumerate(order):
            _colors[known] = PALETTE[index % len(PALETTE)]
    return _colors.get(org_id, "#607080")
