"""Import: discover images in the given paths and register them, one line per outcome."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from flask import Flask

from app.directory import attach, find_org, find_patient_by_number
from app.identity import MASKED_NAME
from app.models import Image
from app.registry import register
from app.services import services
from samsyn.errors import SamsynError
from tiles.discover import Failed, Found, Skipped, discover
from tiles.identity import Mismatch, compare, identity_of
from tiles.radiology import SeriesFound

Owner = tuple[str | None, str | None, str | None]


def import_paths(
    app: Flask,
    paths: Sequence[str],
    owner: Owner = (None, None, None),
    accept_mismatch: bool = False,
) -> Iterator[tuple[str, bool]]:
    """(line, ok) for every object found: `imported <id> <kind> <path>`, `failed <path>: why`.

    The paths are discovered together, so the instances of one DICOM series or slide give
    one line however they are given: one by one, as a folder, or mixed.

    `owner` is (organisation, patient personnummer, case title): the organisation owns
    the images; with a case title they go into that case (a teaching case without a patient).

    With a patient, the patient the file itself names is compared with them: a file naming
    another patient is refused, or with `accept_mismatch` imported with a standing
    `identity_warning` on the image. A mismatch is never silent.
    """
    with app.app_context():
        problem = _owner_problem(owner)
        if problem is not None:
            yield f"failed {' '.join(paths)}: {problem}", False
            return
        for outcome in discover(*paths):  # all at once: a series' files may be given apart
            yield _report(outcome, owner, accept_mismatch)


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


def _report(
    outcome: Found | SeriesFound | Skipped | Failed, owner: Owner, accept_mismatch: bool
) -> tuple[str, bool]:
    if isinstance(outcome, Failed):
        return f"failed {outcome.path}: {_one_line(outcome.reason)}", False
    if isinstance(outcome, Skipped):
        return f"skipped {outcome.path}: {outcome.reason}", True
    where = outcome.paths[0] if len(outcome.paths) == 1 else _folder(outcome.paths)
    said = _mismatch(outcome, owner[1])
    if said is not None and not accept_mismatch:
        return f"failed {where}: the image's header names another patient ({said})", False
    database = services().db
    image, new = register(database, outcome)
    try:
        with database.session() as session:
            attach(session, image.id, *owner)
            if owner[1] is not None:
                _keep_warning(session.get(Image, image.id), said)
    except SamsynError as error:
        return f"failed {outcome.paths[0]}: {error.message}", False
    note = "" if new else " (already registered)"
    warnings = list(getattr(outcome, "warnings", ()))
    if said is not None:
        warnings.append(f"the image's header names another patient ({said})")
    warned = f" (warnings: {'; '.join(warnings)})" if warnings else ""
    return f"imported {image.id} {image.kind} {where}{note}{warned}", True


def _mismatch(found: Found | SeriesFound, patient_number: str | None) -> str | None:
    """What the file says about its patient when that is another patient than the one it is
    imported for (its name masked for a patient with skyddad identitet); None when it
    matches, names nobody, or the import is not for a patient (teaching)."""
    if patient_number is None:
        return None
    with services().db.session() as session:
        patient = find_patient_by_number(session, patient_number)
        number, name, protected = patient.personnummer, patient.name, patient.protected_identity
    mismatch: Mismatch | None = compare(identity_of(found), number, name)
    if mismatch is None:
        return None
    return mismatch.what_file_says(MASKED_NAME if protected else None)


def _keep_warning(image: Image | None, said: str | None) -> None:
    """Store the standing warning of an image imported for a patient its file contradicts;
    an import for the patient the file names clears an earlier one."""
    if image is not None:
        image.identity_warning = (
            None if said is None else f"Bildens huvud anger en annan patient ({said})."
        )


def _folder(paths: tuple[str, ...]) -> str:
    return str(Path(paths[0]).parent)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
