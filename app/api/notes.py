"""Consult notes of a case over HTTP: the list a page shows on opening (the live room sends
the new ones), and writing one without a live connection."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app.access import authorize_case, database
from app.api import json_object
from app.auth import current_principal
from app.notes import case_notes, note_draft, notes_json, write_note

bp = Blueprint("notes", __name__, url_prefix="/api")


@bp.before_request
def signed_in() -> None:
    """A stranger hears 401 before anything else."""
    current_principal()


@bp.get("/cases/<case_id>/notes")
def list_notes(case_id: str) -> Response:
    """The case's notes, oldest first."""
    with database().session() as session:
        _case, checked = authorize_case(session, "view", case_id, log_as="view_notes")
        hidden = checked.decision.conceal  # a blinded reviewer's view: not the requester's
        notes = [n for n in case_notes(session, case_id) if hidden is None or n.org_id != hidden]
        return jsonify({"notes": notes_json(session, notes)})


@bp.post("/cases/<case_id>/notes")
def create_note(case_id: str) -> tuple[Response, int]:
    draft = note_draft(json_object('send {"text", "image"?, "frame"?, "anchor"?}'))
    principal = current_principal()
    with database().session() as session:
        note = write_note(session, principal, case_id, draft, via="http")
        payload = notes_json(session, [note])[0]
    return jsonify(payload), 201
