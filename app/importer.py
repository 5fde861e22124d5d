"""Import: discover images in the given paths and register them, one line per outcome."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from flask import Flask

from app.directory import attach, find_org, find_patient_by_number
from app.registry import register
from app.services import services
from samsyn.errors import SamsynError
from tiles.discover import Failed, Found, Skipped, discover
from tiles.radiology import SeriesFound

Owner = tuple[str | None, str | None, str | None]


def import_paths(
    app: Flask, paths: Sequence[str], owner: Owner = (None, None, None)
) -> Iterator[tuple[str, bool]]:
    """(line, ok) for every object found: `imported <id> <kind> <path>`, `failed <path>: why`.

    The paths are discovered together, so the instances of one DICOM series or slide give
    one line however they are given: one by one, as a folder, or mixed.

    `owner` is (organisation, patient personnummer, case title): the organisation owns
    the images; with a case title they go into that case (a teaching case without a patient).
    """
    with app.app_context():
        problem = _owner_problem(owner)
        if problem is not None:
            yield f"failed {' '.join(paths)}: {problem}", False
            return
        for outcome in discover(*paths):  # all at once: a series' files may be given apart
            yield _report(outcome, owner)


def _owner_problem(owner: Owner) -> str | None:
    """Why the organisation, patient or case named for an import cannot be used, if so."""
    org, patient, _case = owner
    try:
        with services().db.session() as session:
            if org is not None:
                find_org(session, org)
            if patient is not None:
                find_patient_by_number(session, patient)
    except SamsynError as error:
        return error.message
    return None


def _report(outcome: Found | SeriesFound | Skipped | Failed, owner: Owner) -> tuple[str, bool]:
    if isinstance(outcome, Failed):
        return f"failed {outcome.path}: {_one_line(outcome.reason)}", False
    if isinstance(outcome, Skipped):
        return f"skipped {outcome.path}: {outcome.reason}", True
    database = services().db
    image, new = register(database, outcome)
    try:
        with database.session() as session:
            attach(session, image.id, *owner)
    except SamsynError as error:
        return f"failed {outcome.paths[0]}: {error.message}", False
    where = outcome.paths[0] if len(outcome.paths) == 1 else _folder(outcome.paths)
    note = "" if new else " (already registered)"
    warnings = getattr(outcome, "warnings", ())
    warned = f" (warnings: {'; '.join(warnings)})" if warnings else ""
    return f"imported {image.id} {image.kind} {where}{note}{warned}", True


def _folder(paths: tuple[str, ...]) -> str:
    return str(Path(paths[0]).parent)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
