"""Guards for the findings of the review: identity in teaching, identity through the back door
(case creation, patient lookup), who may share a recipient's teaching case, spärr and samtycke
without a relation, consent scope, security headers, hostile text, static files, and what the
access log records. The pure policy table for the new actions closes the file.

One directory per database (module scope, built through the real API where it can be), on
SQLite and PostgreSQL; the tests that are not about the database (headers, static files) run
on SQLite only.

  Region Kalmar (A): Patologi Kalmar (A-P)
  Region Östergötland (B): Patologi Linköping (B-P)
  Privat Röntgen AB (C): Röntgen Privat (C-R)
  Testregion (conftest): Testpatologi, `tester`, patient 640823-3234

  case   patient                 owner  relation
  KP     P 811228-9874           A      slide; shared to organisation B
  CS     P                       A      DICOM series with identifying headers (care)
  KQ     Q 880320-0016           A      slide; spärr on A; shared to B
  K1,K2  R 701063-2391           A      slides; spärr on A; both shared to B
  TS     none (teaching)         A      the same kind of DICOM series, imported as teaching
  TA     none (teaching)         A      made by a_teacher through the API; shared to B (teaching)
  KT1    640823-3234             Test   slide of conftest's Testfall; spärr on Testregion;
  KT2    640823-3234             Test   both shared to B (unscoped consent; hostile input)

Nobody of C has any relation to P, Q or R. 19121212-1212 is a valid number nobody registered.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from pydicom.uid import generate_uid
from sqlalchemy import func, select

import app.auth
from app.directory import add_org, add_patient, add_unit, add_user
from app.importer import import_paths
from app.models import AccessEntry, Block, Case, Consent, EmergencyAccess, Image, Patient, Share
from app.policy import (
    Actor,
    BlockFacts,
    CaseFacts,
    PatientFacts,
    Relations,
    Role,
    ShareFacts,
    decide,
)
from app.services import services
from tests.conftest import (
    DATABASES,
    TEST_CASE,
    TEST_ORG,
    TEST_PASSWORD,
    TEST_PATIENT,
    TEST_USER,
    database,
    database_for,
    login,
    make_app,
)
from tiles.radiology.synthetic import phantom, write_ct_slice

PASSWORD = "lösenord-för-test"
A, B, C = "Region Kalmar", "Region Östergötland", "Privat Röntgen AB"
A_P, B_P, C_R = "Patologi Kalmar", "Patologi Linköping", "Röntgen Privat"
P = ("811228-9874", "Petra Patientsson")
Q = ("880320-0016", "Sara Spärrsson")
R = ("701063-2391", "Rut Relationsson")
UNKNOWN = "19121212-1212"  # valid, and registered nowhere
UNKNOWN_ID = "0123456789abcdef"
# username: (organisation, role, unit, patient number for the patient role)
USERS: dict[str, tuple[str, str, str | None, str | None]] = {
    "a_path": (A, "pathologist", A_P, None),
    "a_lister": (A, "pathologist", A_P, None),  # lists only, in the folding test
    "a_reviewer": (A, "log_reviewer", None, None),
    "a_teacher": (A, "teacher", None, None),
    "a_student": (A, "student", None, None),
    "pat_p": (A, "patient", None, P[0]),
    "b_path": (B, "pathologist", B_P, None),
    "b_teacher": (B, "teacher", None, None),
    "c_rad": (C, "radiologist", C_R, None),
    "c_clin": (C, "clinician", C_R, None),
}

# DICOM attributes that identify the patient, the study or the people: none may reach teaching.
IDENTIFYING = {
    "PatientName": "Hemlig^Person",
    "PatientID": "HEMLIG-PID-77",
    "PatientBirthDate": "19121212",
    "AccessionNumber": "ACC-98765",
    "StudyDate": "20240102",
    "SeriesDate": "20240102",
    "AcquisitionDate": "20240102",
    "ContentDate": "20240102",
    "StudyTime": "134501",
    "InstitutionName": "Hemliga Sjukhuset",
    "InstitutionAddress": "Lonngatan 7, Gomstad",
    "ReferringPhysicianName": "Doktor^Remiss",
    "OperatorsName": "Operator^Olle",
    "PerformingPhysicianName": "Utforare^Ulla",
    "StudyID": "STUDY-4242",
    "OtherPatientIDs": "HEMLIG-OTHER-31",
}
SECRETS = (
    "Hemlig",
    "HEMLIG",
    "ACC-98765",
    "Lonngatan",
    "Gomstad",
    "Doktor",
    "Remiss",
    "Operator",
    "Olle",
    "Utforare",
    "Ulla",
    "STUDY-4242",
    "2024-01-02",
    "20240102",
    "1912-12-12",
    "19121212",
    "134501",
    "13:45:01",
)
IDENTIFYING_KEYS = (
    "personnummer",
    "patient_name",
    "patient_id",
    "birth_date",
    "accession",
    "study_date",
    "study_time",
    "study_id",
    "series_date",
    "acquisition_date",
    "content_date",
    "institution",
    "referring",
    "operator",
    "physician",
)
# Hostile text goes into the JSON as this marker and leaves as the raw escape.
MARK = "@@HOSTILE@@"


def _until(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def flush_access_log(application: Flask) -> None:
    """Write the folded access-log entries (tiles, listings) now, instead of at the period's
    end."""
    services(application).folder.flush(everything=True)


def _bump_epoch(application: Flask) -> None:
    """After direct writes to rows that decide access (a commit through the application's
    database bumps it by itself; this makes the test independent of that)."""
    services(application).epoch.bump()


def assert_json_error(response: Any, status: int) -> dict[str, Any]:
    """The contract's error shape with the expected status (and never a 500)."""
    assert response.status_code == status, (
        response.status_code,
        response.get_data(as_text=True)[:300],
    )
    assert response.is_json, response.content_type
    body = response.get_json()
    assert set(body) == {"error", "message"}, body
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["message"], str)
    return body


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (
        response.status_code,
        response.get_data(as_text=True)[:300],
    )
    return response.get_json()


def hostile(body: dict[str, Any], escape: str) -> bytes:
    """The JSON of `body` with MARK replaced by a raw JSON escape such as \\ud800, so the
    escape itself reaches the server (a lone surrogate cannot be encoded client-side)."""
    return json.dumps(body).replace(MARK, escape).encode()


def post_raw(client: FlaskClient, url: str, data: bytes) -> Any:
    return client.post(url, data=data, content_type="application/json")


# --- the directory ---------------------------------------------------------------------


@dataclass
class World:
    app: Flask
    kind: str
    clients: dict[str, FlaskClient]
    users: dict[str, str] = field(default_factory=dict)
    patients: dict[str, str] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)
    cases: dict[str, str] = field(default_factory=dict)
    shares: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module", params=DATABASES)
def review_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from database_for(request.param, tmp_path_factory.mktemp("review"), "review")


# Tests that are not about the database: the SQLite directory only.
sqlite_only = pytest.mark.parametrize("review_database_url", ["sqlite"], indirect=True)


def write_identifying_series(folder: Path, seed: int, slices: int = 4) -> Path:
    """A small CT series (64 x 64) whose headers carry every identifying attribute above."""
    folder.mkdir(parents=True)
    study_uid = generate_uid(entropy_srcs=[f"review-study-{seed}"])
    series_uid = generate_uid(entropy_srcs=[f"review-series-{seed}"])
    for index in range(slices):
        write_ct_slice(
            folder / f"CT{index:02d}.dcm",
            phantom(64, index / max(slices - 1, 1), 0.0, seed),
            study_uid=study_uid,
            series_uid=series_uid,
            position=(-22.0, -22.0, 2.0 * index),
            instance_number=index + 1,
            thickness=2.0,
            **IDENTIFYING,
        )
    return folder


def _import(
    application: Flask, path: Path, owner: tuple[str, str | None, str], accept: bool = False
) -> str:
    lines = [
        line for line, _ok in import_paths(application, [str(path)], owner, accept_mismatch=accept)
    ]
    assert len(lines) == 1 and lines[0].startswith("imported "), lines
    return lines[0].split()[1]


@pytest.fixture(scope="module")
def world(
    review_database_url: str, tmp_path_factory: pytest.TempPathFactory, synthetic_slide: Path
) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("review-data")
    kind = "sqlite" if review_database_url.startswith("sqlite") else "postgresql"
    with pytest.MonkeyPatch.context() as patch:
        # Cheap argon2 parameters: a dozen users log in; the rules are what is tested here.
        cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        patch.setattr(app.auth, "_hasher", cheap)
        patch.setattr(app.auth, "_DUMMY_HASH", cheap.hash("dummy"))
        application = make_app(data_dir, review_database_url)
        w = World(application, kind, {})
        with database(application).session() as session:
            for name, hsa, org_kind in (
                (A, "SE2321000065", "region"),
                (B, "SE2321000032", "region"),
                (C, "SE5566778899", "private"),
            ):
                add_org(session, name, hsa, org_kind)
            for unit, org, hsa in (
                (A_P, A, "SE2321000065-P1"),
                (B_P, B, "SE2321000032-P1"),
                (C_R, C, "SE5566778899-R1"),
            ):
                add_unit(session, unit, org, hsa)
            for key, (number, name) in {"P": P, "Q": Q, "R": R}.items():
                w.patients[key] = add_patient(session, number, name, A).id
            w.patients["T"] = session.scalar(
                select(Patient.id).where(Patient.personnummer == "196408233234")
            )
            for username, (org, role, unit, patient) in USERS.items():
                user = add_user(
                    session,
                    username,
                    org,
                    role,
                    PASSWORD,
                    unit,
                    hsa_id=f"HSA-{username}",
                    name=f"Namn {username}",
                    patient=patient,
                )
                w.users[username] = user.id
        w.clients = {user: login(application.test_client(), user, PASSWORD) for user in USERS}
        w.clients[TEST_USER] = login(application.test_client(), TEST_USER, TEST_PASSWORD)

    folder = data_dir / "images"
    folder.mkdir()
    for key, owner in {
        "KP": (A, P[0], "Fall P"),
        "KQ": (A, Q[0], "Fall Q"),
        "K1": (A, R[0], "Fall R1"),
        "K2": (A, R[0], "Fall R2"),
        "KT1": (TEST_ORG, TEST_PATIENT, TEST_CASE),
        "KT2": (TEST_ORG, TEST_PATIENT, "Testfall 2"),
    }.items():
        path = folder / f"{key}.tif"
        shutil.copy(synthetic_slide, path)
        w.images[key] = _import(application, path, owner)
    w.images["TS"] = _import(
        application,
        write_identifying_series(folder / "teaching-ct", 1),
        (A, None, "Undervisning CT"),
    )
    w.images["CS"] = _import(
        application,
        write_identifying_series(folder / "care-ct", 2),
        (A, P[0], "CT-fall P"),
        accept=True,  # its header names "Hemlig^Person": imported with the warning
    )
    with database(application).session() as session:
        for key, image in w.images.items():
            case_id = session.get(Image, image).case_id
            assert case_id is not None, key
            w.cases[key] = case_id

    a = w.clients["a_path"]
    for key in ("KP", "KQ", "K1", "K2"):
        body = {"org": B, "until": _until(days=30), "purpose": "second_opinion"}
        w.shares[key] = _ok(a.post(f"/api/cases/{w.cases[key]}/shares", json=body), 201)["id"]
    for key in ("Q", "R"):  # the spärr, recorded by the patient's own organisation
        url = f"/api/patients/{w.patients[key]}/blocks"
        _ok(a.post(url, json={"reason": "Patientens begäran"}), 201)
    tester = w.clients[TEST_USER]
    for key in ("KT1", "KT2"):
        body = {"org": B, "until": _until(days=30), "purpose": "second_opinion"}
        w.shares[key] = _ok(tester.post(f"/api/cases/{w.cases[key]}/shares", json=body), 201)["id"]
    url = f"/api/patients/{TEST_PATIENT}/blocks"
    _ok(tester.post(url, json={"reason": "Patientens begäran"}), 201)
    _bump_epoch(application)

    teacher = w.clients["a_teacher"]
    w.cases["TA"] = _ok(teacher.post("/api/cases", json={"title": "Undervisning delad"}), 201)["id"]
    body = {"org": B, "until": _until(days=30), "purpose": "teaching"}
    w.shares["TA"] = _ok(teacher.post(f"/api/cases/{w.cases['TA']}/shares", json=body), 201)["id"]
    yield w
    database(application).engine.dispose()


def rows(w: World, **where: Any) -> list[SimpleNamespace]:
    """Access-log entries (read from the table) matching `where`, oldest first."""
    columns = ("seq", "user_id", "username", "resource", "action", "purpose", "outcome")
    columns += ("basis", "client", "detail", "flagged", "patient_id")
    with database(w.app).session() as session:
        query = select(AccessEntry)
        for name, value in where.items():
            query = query.where(getattr(AccessEntry, name) == value)
        found = session.scalars(query.order_by(AccessEntry.seq)).all()
        return [SimpleNamespace(**{c: getattr(e, c) for c in columns}) for e in found]


def count(w: World, model: Any, **where: Any) -> int:
    with database(w.app).session() as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(session.scalar(query) or 0)


def test_the_directory_was_built(world: World) -> None:
    assert len(world.cases) == 9 and len(world.shares) == 7
    b = world.clients["b_path"]
    assert b.get(f"/api/cases/{world.cases['KP']}").status_code == 200  # the share works
    assert b.get(f"/api/cases/{world.cases['KQ']}").status_code == 404  # the spärr works


# --- 1. teaching leaks identity ---------------------------------------------------------


def _identifying_keys(value: Any, path: str = "") -> list[str]:
    """Keys anywhere in a JSON value that name identifying data and hold a value."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if any(token in key.lower() for token in IDENTIFYING_KEYS) and item not in (None, ""):
                found.append(f"{path}.{key}={item!r}")
            found += _identifying_keys(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _identifying_keys(item, f"{path}[{index}]")
    return found


@pytest.mark.parametrize("what", ["image", "image list", "case list", "case"])
def test_teaching_shows_no_identity(world: World, what: str) -> None:
    student = world.clients["a_student"]
    image, case = world.images["TS"], world.cases["TS"]
    url = {
        "image": f"/api/images/{image}",
        "image list": "/api/images",
        "case list": "/api/cases",
        "case": f"/api/cases/{case}",
    }[what]
    response = student.get(url)
    body = _ok(response)
    text = response.get_data(as_text=True)
    leaked = [secret for secret in SECRETS if secret in text]
    assert not leaked, f"{url} shows {leaked}"
    assert not _identifying_keys(body), _identifying_keys(body)
    if what == "image":
        assert body["kind"] == "series" and body["id"] == image
    if what == "image list":
        assert image in {i["id"] for i in body}
    if what == "case list":
        (listed,) = [c for c in body if c["id"] == case]
        assert listed["patient"] is None and listed["images"] == [image]
    if what == "case":
        assert body["patient"] is None and body["images"] == [image]


def test_care_case_still_shows_the_patient(world: World) -> None:
    """The control: in a care case the pathologist sees whose images they are."""
    case = _ok(world.clients["a_path"].get(f"/api/cases/{world.cases['CS']}"))
    assert case["patient"]["name"] == P[1]
    assert case["patient"]["personnummer"] == "19811228-9874"
    assert case["images"] == [world.images["CS"]]


# --- 3. identity through the back door --------------------------------------------------


@pytest.mark.parametrize("patient", ["P", "Q"], ids=["without spärr", "with spärr"])
def test_unrelated_patient_lookup_is_unknown(world: World, patient: str) -> None:
    """No relation: the same 404 as for a number nobody registered, spärr or not."""
    number, name = {"P": P, "Q": Q}[patient]
    c = world.clients["c_rad"]
    for key, unknown_key in ((number, UNKNOWN), (world.patients[patient], UNKNOWN_ID)):
        unknown = c.get(f"/api/patients/{unknown_key}")
        assert_json_error(unknown, 404)
        response = c.get(f"/api/patients/{key}")
        assert response.status_code == 404, (key, response.get_json())
        assert response.get_json() == unknown.get_json(), key
        text = response.get_data(as_text=True)
        assert name not in text and world.patients[patient] not in text
        assert "blocked_information" not in text


def test_relation_blocked_by_a_spärr_learns_only_that_blocked_data_exists(world: World) -> None:
    response = world.clients["b_path"].get(f"/api/patients/{Q[0]}")
    assert _ok(response) == {"blocked_information": True}
    assert Q[1] not in response.get_data(as_text=True)


@pytest.mark.parametrize("patient", ["P", "Q"], ids=["without spärr", "with spärr"])
def test_unrelated_user_cannot_create_a_case_for_a_patient(world: World, patient: str) -> None:
    number, name = {"P": P, "Q": Q}[patient]
    c = world.clients["c_rad"]
    unknown = c.post("/api/cases", json={"title": "x", "patient": UNKNOWN, "images": []})
    assert_json_error(unknown, 404)
    response = c.post("/api/cases", json={"title": "x", "patient": number, "images": []})
    assert response.status_code == 404, response.get_json()
    assert response.get_json() == unknown.get_json()
    text = response.get_data(as_text=True)
    assert name not in text and world.patients[patient] not in text
    assert count(world, Case, patient_id=world.patients[patient], title="x") == 0


def test_own_organisation_creates_a_case_for_its_patient(world: World) -> None:
    body = {"title": "Ny remiss P", "patient": P[0], "images": []}
    case = _ok(world.clients["a_path"].post("/api/cases", json=body), 201)
    assert case["patient"]["personnummer"] == "19811228-9874"
    assert case["org"] == A


# --- 4. a recipient teacher can neither share nor revoke --------------------------------


def test_recipient_teacher_cannot_share_or_revoke(world: World) -> None:
    case, share = world.cases["TA"], world.shares["TA"]
    b_teacher, a_teacher = world.clients["b_teacher"], world.clients["a_teacher"]
    assert b_teacher.get(f"/api/cases/{case}").status_code == 200  # the share is in force
    body = {"org": C, "until": _until(days=5), "purpose": "teaching"}
    assert_json_error(b_teacher.post(f"/api/cases/{case}/shares", json=body), 403)
    assert_json_error(b_teacher.delete(f"/api/cases/{case}/shares/{share}"), 403)
    shares = _ok(a_teacher.get(f"/api/cases/{case}/shares"))
    assert [(s["id"], s["active"]) for s in shares] == [(share, True)]
    # the owning teacher still shares and revokes
    made = _ok(a_teacher.post(f"/api/cases/{case}/shares", json=body), 201)
    revoked = _ok(a_teacher.delete(f"/api/cases/{case}/shares/{made['id']}"))
    assert revoked["active"] is False


# --- 5. spärr and samtycke without a relation; consent scope ----------------------------


@pytest.mark.parametrize("what", ["blocks", "consents"])
def test_unrelated_clinician_records_no_block_or_consent(world: World, what: str) -> None:
    c = world.clients["c_clin"]
    body = {"reason": "Patienten ber om det i telefon"}
    if what == "consents":
        body["until"] = _until(days=3)
    unknown = c.post(f"/api/patients/{UNKNOWN}/{what}", json=body)
    assert_json_error(unknown, 404)
    model = Block if what == "blocks" else Consent
    before = count(world, model, patient_id=world.patients["P"])
    response = c.post(f"/api/patients/{P[0]}/{what}", json=body)
    assert response.status_code == 404, response.get_json()
    assert response.get_json() == unknown.get_json()
    assert count(world, model, patient_id=world.patients["P"]) == before == 0
    # the patient's data stays where it was visible
    for user in ("a_path", "b_path"):
        assert world.clients[user].get(f"/api/cases/{world.cases['KP']}").status_code == 200, user


@pytest.fixture(scope="module")
def scoped_consent(world: World) -> dict[str, Any]:
    """R's data is blocked at A; B (a share of K1 and of K2) records a consent for K1 only."""
    b = world.clients["b_path"]
    for key in ("K1", "K2"):
        assert b.get(f"/api/cases/{world.cases[key]}").status_code == 404, key
    body = {
        "reason": "Patienten samtycker muntligt till att B läser fall R1",
        "until": _until(days=3),
        "scope": {"cases": [world.cases["K1"]]},
    }
    consent = _ok(b.post(f"/api/patients/{R[0]}/consents", json=body), 201)
    assert consent["id"]
    return consent


def test_consent_scope_is_enforced(world: World, scoped_consent: dict[str, Any]) -> None:
    b = world.clients["b_path"]
    assert b.get(f"/api/cases/{world.cases['K1']}").status_code == 200
    assert b.get(f"/api/images/{world.images['K1']}").status_code == 200
    assert b.get(f"/api/cases/{world.cases['K2']}").status_code == 404
    assert b.get(f"/api/images/{world.images['K2']}").status_code == 404
    listed = {c["id"] for c in _ok(b.get("/api/cases"))}
    assert world.cases["K1"] in listed and world.cases["K2"] not in listed


def test_access_through_a_consent_is_flagged(world: World, scoped_consent: dict[str, Any]) -> None:
    b = world.clients["b_path"]
    assert b.get(f"/api/cases/{world.cases['K1']}").status_code == 200
    assert b.get(f"/api/images/{world.images['K1']}").status_code == 200
    for resource in (f"case:{world.cases['K1']}", f"image:{world.images['K1']}"):
        entries = rows(world, username="b_path", resource=resource, action="view")
        allowed = [e for e in entries if e.outcome == "allowed"]
        assert allowed, resource
        assert all(e.flagged for e in allowed), [(e.basis, e.flagged) for e in allowed]
        assert all("consent:" in (e.basis or "") for e in allowed), [e.basis for e in allowed]
    alerts = _ok(world.clients["a_reviewer"].get("/api/audit/alerts"))
    consent_alerts = [
        a
        for a in alerts
        if a["rule"] == "consent_access" and a.get("entry", {}).get("username") == "b_path"
    ]
    assert consent_alerts, sorted({a["rule"] for a in alerts})
    assert any(
        a["entry"]["resource"] in (f"case:{world.cases['K1']}", f"image:{world.images['K1']}")
        for a in consent_alerts
    )


def test_consent_without_scope_covers_all_the_patients_cases(world: World) -> None:
    """The control: `"scope": "all"` (or none) lifts the spärr for every case of the patient."""
    b = world.clients["b_path"]
    for key in ("KT1", "KT2"):
        assert b.get(f"/api/cases/{world.cases[key]}").status_code == 404, key
    body = {"reason": "Patienten samtycker till att B läser allt", "until": _until(days=2)}
    _ok(b.post(f"/api/patients/{TEST_PATIENT}/consents", json=body), 201)
    for key in ("KT1", "KT2"):
        assert b.get(f"/api/cases/{world.cases[key]}").status_code == 200, key
        assert b.get(f"/api/images/{world.images[key]}").status_code == 200, key


def test_consent_scope_naming_another_patients_case_is_refused(world: World) -> None:
    before = count(world, Consent, patient_id=world.patients["R"])
    body = {
        "reason": "Samtycke som pekar på fel patient",
        "until": _until(days=3),
        "scope": {"cases": [world.cases["KP"]]},  # P's case, not R's
    }
    assert_json_error(
        world.clients["b_path"].post(f"/api/patients/{R[0]}/consents", json=body), 400
    )
    assert count(world, Consent, patient_id=world.patients["R"]) == before


# --- 6. headers on every response (not about the database: SQLite) ----------------------

CSP_PARTS = ("default-src 'self'", "frame-ancestors 'none'")
REFERRER_POLICIES = {"no-referrer", "same-origin", "strict-origin-when-cross-origin"}
MAX_AGE = re.compile(r"^private, max-age=\d+$")


def _header_response(w: World, what: str) -> Any:
    a, anonymous = w.clients["a_path"], w.app.test_client()
    slide = w.images["KP"]
    dzi = f"/dzi/{slide}_files/11/0_0.jpeg"
    iiif = f"/iiif/3/{slide}/0,0,256,256/256,/0/default.jpg"
    if what == "login page":
        return anonymous.get("/login")
    if what == "cases page":
        return a.get("/cases")
    if what == "api json":
        return a.get("/api/images")
    if what == "api error 404":
        return a.get(f"/api/images/{UNKNOWN_ID}")
    if what == "api error 401":
        return anonymous.get("/api/images")
    if what == "static file":
        return anonymous.get("/static/src/samsyn.css")
    if what in ("dzi tile", "dzi tile 304"):
        first = a.get(dzi)
        if what == "dzi tile":
            return first
        return a.get(dzi, headers={"If-None-Match": first.headers["ETag"]})
    first = a.get(iiif)
    if what == "iiif tile":
        return first
    return a.get(iiif, headers={"If-None-Match": first.headers["ETag"]})


HEADER_CASES = {
    "login page": 200,
    "cases page": 200,
    "api json": 200,
    "api error 404": 404,
    "api error 401": 401,
    "static file": 200,
    "dzi tile": 200,  # the WSGI fast path below Flask
    "dzi tile 304": 304,
    "iiif tile": 200,
    "iiif tile 304": 304,
}


@sqlite_only
@pytest.mark.parametrize("what", list(HEADER_CASES))
def test_security_headers_on_every_response(world: World, what: str) -> None:
    response = _header_response(world, what)
    assert response.status_code == HEADER_CASES[what], response.get_data(as_text=True)[:200]
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    missing = [part for part in CSP_PARTS if part not in csp]
    assert not missing, (what, csp)
    assert headers.get("X-Content-Type-Options") == "nosniff", what
    assert (headers.get("X-Frame-Options") or "").upper() == "DENY", what
    assert headers.get("Referrer-Policy") in REFERRER_POLICIES, (
        what,
        headers.get("Referrer-Policy"),
    )
    if "tile" in what:
        assert MAX_AGE.match(headers.get("Cache-Control", "")), (what, headers.get("Cache-Control"))


def _patient_json_url(w: World, what: str) -> tuple[str, str]:
    return {
        "case list": ("a_path", "/api/cases"),
        "case": ("a_path", f"/api/cases/{w.cases['KP']}"),
        "patient": ("a_path", f"/api/patients/{P[0]}"),
        "image": ("a_path", f"/api/images/{w.images['KP']}"),
        "audit": ("a_reviewer", "/api/audit"),
        "own access log": ("pat_p", "/api/me/access-log"),
    }[what]


@sqlite_only
@pytest.mark.parametrize(
    "what", ["case list", "case", "patient", "image", "audit", "own access log"]
)
def test_patient_json_is_not_stored_by_caches(world: World, what: str) -> None:
    user, url = _patient_json_url(world, what)
    response = world.clients[user].get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:200]
    assert "no-store" in response.headers.get("Cache-Control", ""), (
        url,
        response.headers.get("Cache-Control"),
    )


# --- 7c. lone surrogates and control characters -----------------------------------------


def _hostile_request(w: World, what: str, escape: str) -> tuple[FlaskClient, str, bytes]:
    """(client, url, raw body) for one field carrying a hostile escape."""
    tester, b = w.clients[TEST_USER], w.clients["b_path"]
    share_url = f"/api/cases/{w.cases['KT1']}/shares"
    consent_url = f"/api/patients/{Q[0]}/consents"  # B has a share of Q's case; Q is blocked
    soon = _until(days=2)
    requests: dict[str, tuple[FlaskClient, str, dict[str, Any]]] = {
        "case title": (
            tester,
            "/api/cases",
            {"title": f"Fall {MARK}", "patient": TEST_PATIENT, "images": []},
        ),
        "emergency reason": (
            tester,
            f"/api/patients/{TEST_PATIENT}/emergency-access",
            {"reason": f"Akut läge, patienten är medvetslös {MARK}"},
        ),
        "emergency reason, unknown patient": (
            tester,
            f"/api/patients/{UNKNOWN}/emergency-access",
            {"reason": f"Akut läge, patienten är medvetslös {MARK}"},
        ),
        "block reason": (
            tester,
            f"/api/patients/{TEST_PATIENT}/blocks",
            {"reason": f"Patientens begäran {MARK}"},
        ),
        "consent reason": (b, consent_url, {"reason": f"Muntligt samtycke {MARK}", "until": soon}),
        "consent scope": (
            b,
            consent_url,
            {"reason": "Muntligt samtycke", "until": soon, "scope": MARK},
        ),
        "consent scope case": (
            b,
            consent_url,
            {"reason": "Muntligt samtycke", "until": soon, "scope": {"cases": [MARK]}},
        ),
        "share org": (tester, share_url, {"org": f"Region {MARK}", "until": soon}),
        "share unit": (tester, share_url, {"unit": f"Patologi {MARK}", "until": soon}),
        "share user": (tester, share_url, {"user": f"b_{MARK}", "until": soon}),
        "share purpose": (tester, share_url, {"org": B, "until": soon, "purpose": MARK}),
        "share until": (tester, share_url, {"org": B, "until": f"2030-01-01T00:00:00{MARK}"}),
    }
    client, url, body = requests[what]
    return client, url, hostile(body, escape)


HOSTILE_FIELDS = [
    "case title",
    "emergency reason",
    "emergency reason, unknown patient",
    "block reason",
    "consent reason",
    "consent scope",
    "consent scope case",
    "share org",
    "share unit",
    "share user",
    "share purpose",
    "share until",
]


def _stored(w: World) -> dict[str, int]:
    """How many rows of each kind a refused write must leave unchanged."""
    return {
        model.__name__: count(w, model) for model in (Case, Share, Block, Consent, EmergencyAccess)
    }


@pytest.mark.parametrize("what", HOSTILE_FIELDS)
def test_lone_surrogate_is_refused_with_400(world: World, what: str) -> None:
    client, url, data = _hostile_request(world, what, "\\ud800")
    before = _stored(world)
    assert_json_error(post_raw(client, url, data), 400)
    assert _stored(world) == before


@pytest.mark.parametrize("what", ["case title", "emergency reason", "block reason"])
def test_nul_is_refused_with_400(world: World, what: str) -> None:
    client, url, data = _hostile_request(world, what, "\\u0000")
    before = _stored(world)
    assert_json_error(post_raw(client, url, data), 400)
    assert _stored(world) == before


@pytest.mark.parametrize("what", ["emergency-access", "blocks"])
def test_a_newline_inside_a_reason_is_allowed(world: World, what: str) -> None:
    reason = "Akut blödning på akuten.\nPatienten är medvetslös; tidigare PAD behövs nu."
    response = world.clients[TEST_USER].post(
        f"/api/patients/{TEST_PATIENT}/{what}", json={"reason": reason}
    )
    assert response.status_code == 201, response.get_json()
    model = EmergencyAccess if what == "emergency-access" else Block
    with database(world.app).session() as session:
        stored = session.get(model, response.get_json()["id"])
        assert stored is not None and stored.reason == reason


# --- 7e. reading the alerts is logged; 7g. static files ---------------------------------


def test_reading_the_alerts_is_logged(world: World) -> None:
    def review_entries() -> list[SimpleNamespace]:
        return [
            e
            for e in rows(world, username="a_reviewer", action="list")
            if e.purpose == "log_review" and "alert" in e.resource
        ]

    before = len(review_entries())
    _ok(world.clients["a_reviewer"].get("/api/audit/alerts"))
    after = review_entries()
    assert len(after) == before + 1, [e.resource for e in after]
    assert after[-1].outcome == "allowed"


@sqlite_only
@pytest.mark.parametrize(
    "path",
    [
        "/static/package.json",
        "/static/package-lock.json",
        "/static/build.mjs",
        "/static/node_modules/openseadragon/package.json",
        "/static/node_modules/.package-lock.json",
    ],
)
def test_build_files_are_not_served(world: World, path: str) -> None:
    for client in (world.app.test_client(), world.clients["a_path"]):
        assert client.get(path).status_code == 404, path


@sqlite_only
@pytest.mark.parametrize(
    "path", ["/static/src/samsyn.css", "/static/dist/openseadragon/openseadragon.min.js"]
)
def test_assets_are_served(world: World, path: str) -> None:
    assert world.app.test_client().get(path).status_code == 200, path


# --- 8. the access log says what happened -----------------------------------------------


def _audit(w: World, **params: str) -> list[dict[str, Any]]:
    return _ok(w.clients["a_reviewer"].get("/api/audit", query_string=params))


def _same_time(a: str, b: str) -> bool:
    return datetime.fromisoformat(a.replace("Z", "+00:00")) == datetime.fromisoformat(
        b.replace("Z", "+00:00")
    )


def test_a_share_and_its_revocation_are_logged(world: World) -> None:
    a, case = world.clients["a_path"], world.cases["KP"]
    until = _until(days=9)
    body = {"unit": B_P, "until": until, "purpose": "second_opinion"}
    share = _ok(a.post(f"/api/cases/{case}/shares", json=body), 201)
    logged = [
        e for e in _audit(world, action="share") if (e["detail"] or {}).get("share") == share["id"]
    ]
    assert len(logged) == 1, logged
    (entry,) = logged
    assert entry["outcome"] == "allowed" and entry["username"] == "a_path"
    assert B_P in json.dumps(entry["detail"], ensure_ascii=False), entry["detail"]
    assert _same_time(entry["detail"]["until"], until), entry["detail"]
    _ok(a.delete(f"/api/cases/{case}/shares/{share['id']}"))
    revoked = [
        e for e in _audit(world, action="revoke") if (e["detail"] or {}).get("share") == share["id"]
    ]
    assert len(revoked) == 1 and revoked[0]["outcome"] == "allowed", revoked


def test_a_failed_share_is_not_logged_as_allowed(world: World) -> None:
    def allowed_shares() -> int:
        return len(rows(world, username="a_path", action="share", outcome="allowed"))

    before = allowed_shares()
    body = {"org": B, "until": _until(minutes=-5), "purpose": "second_opinion"}
    response = world.clients["a_path"].post(f"/api/cases/{world.cases['KP']}/shares", json=body)
    assert_json_error(response, 400)
    assert allowed_shares() == before


def _logged_with_id(w: World, username: str, action: str, ident: str) -> list[SimpleNamespace]:
    return [
        e
        for e in rows(w, username=username, action=action)
        if ident in json.dumps(e.detail or {}) and e.outcome == "allowed"
    ]


def test_a_block_is_logged_with_its_id(world: World) -> None:
    response = world.clients[TEST_USER].post(
        f"/api/patients/{TEST_PATIENT}/blocks", json={"reason": "Patientens begäran"}
    )
    block = _ok(response, 201)["id"]
    assert len(_logged_with_id(world, TEST_USER, "block", block)) == 1


def test_a_consent_is_logged_with_its_id(world: World, scoped_consent: dict[str, Any]) -> None:
    assert len(_logged_with_id(world, "b_path", "consent", scoped_consent["id"])) == 1


def test_emergency_access_is_logged_with_the_grant_id(world: World) -> None:
    body = {"reason": "Medvetslös patient på akuten, tidigare PAD behövs"}
    response = world.clients[TEST_USER].post(
        f"/api/patients/{TEST_PATIENT}/emergency-access", json=body
    )
    grant = _ok(response, 201)["id"]
    (entry,) = _logged_with_id(world, TEST_USER, "emergency_access", grant)
    assert entry.flagged


def test_listings_are_folded(world: World) -> None:
    lister = world.clients["a_lister"]
    for _ in range(20):
        cases = _ok(lister.get("/api/cases"))
        _ok(lister.get("/api/images"))
    flush_access_log(world.app)
    entries = rows(world, username="a_lister", action="list")
    per_resource: dict[str, list[SimpleNamespace]] = {}
    for entry in entries:
        per_resource.setdefault(entry.resource, []).append(entry)
    patient_cases = [f"case:{c['id']}" for c in cases if c["patient"] is not None]
    assert patient_cases and set(patient_cases) <= set(per_resource)
    too_many = {r: len(e) for r, e in per_resource.items() if len(e) > 1}
    assert not too_many, f"{len(entries)} list entries; more than one for {too_many}"
    for resource, (entry,) in per_resource.items():
        assert (entry.detail or {}).get("listings", 0) >= 20, (resource, entry.detail)


def test_csv_detail_is_json(world: World) -> None:
    response = world.clients["a_reviewer"].get("/api/audit", query_string={"format": "csv"})
    assert response.status_code == 200
    table = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert table and "detail" in table[0]
    for row in table:
        assert isinstance(json.loads(row["detail"]), dict), row["detail"]


# =========================================================================================
# 9. ONE POLICY FOR EVERY DECISION: `app.policy.decide` for the patient-level actions.
#
#     decide(actor, action, subject, relations, now)
# where, for a patient-level action, `subject` is
#     app.policy.PatientFacts(id, org_id, cases=((CaseFacts, Relations), ...))
# (each of the patient's cases with that case's relations: its shares) and `relations`
# holds the patient's blocks, consents and emergency grants; creating a case takes the
# CaseFacts of the case to be made, and the log actions no subject.
# =========================================================================================

NOW = datetime(2025, 3, 5, 10, 0, tzinfo=UTC)
WEEK = NOW + timedelta(days=7)
PA, PB, PC = "org-a", "org-b", "org-c"
PATH_A = Actor("u-path-a", (Role("pathologist", PA, "unit-a-pat"),))
CLIN_A = Actor("u-clin-a", (Role("clinician", PA, "unit-a-kir"),))
PATH_B = Actor("u-path-b", (Role("pathologist", PB, "unit-b-pat"),))
RAD_C = Actor("u-rad-c", (Role("radiologist", PC),))
ADMIN_A = Actor("u-admin-a", (Role("admin", PA),))
REVIEWER_A = Actor("u-rev-a", (Role("log_reviewer", PA),))
STUDENT_A = Actor("u-stud-a", (Role("student", PA),))
TEACHER_A = Actor("u-teach-a", (Role("teacher", PA),))
PATIENT_1 = Actor("u-pat-1", (Role("patient", PA),), patient_id="p1")

CASE_1 = CaseFacts("case-1", PA, "unit-a-pat", "p1")
SHARE_TO_B = ShareFacts("s-b", PB, None, None, "second_opinion", WEEK)
BLOCK_AT_A = BlockFacts("b-a", PA, None)
NO_RELATIONS = Relations()
BLOCKED = Relations(blocks=(BLOCK_AT_A,))
# the patient's cases: none, or case-1 (recorded at A) shared to organisation B
NO_CASES: tuple[tuple[CaseFacts, Relations], ...] = ()
SHARED_TO_B = ((CASE_1, Relations(shares=(SHARE_TO_B,))),)


@dataclass(frozen=True)
class PatientRow:
    name: str
    actor: Actor
    action: str
    expected: dict[str, Any]
    cases: tuple[tuple[CaseFacts, Relations], ...] = NO_CASES
    relations: Relations = NO_RELATIONS


ALLOWED = {"allowed": True}
FLAGGED = {"allowed": True, "flagged": True}
HIDDEN = {"allowed": False, "visible": False}  # refused, and the patient must look unknown
REFUSED = {"allowed": False}

PATIENT_ROWS = [
    # create_case: a care role of the patient's organisation
    PatientRow("create_case: pathologist of the patient's org", PATH_A, "create_case", ALLOWED),
    PatientRow("create_case: clinician of the patient's org", CLIN_A, "create_case", ALLOWED),
    PatientRow("create_case: radiologist of another org", RAD_C, "create_case", HIDDEN),
    PatientRow("create_case: another org, spärr", RAD_C, "create_case", HIDDEN, NO_CASES, BLOCKED),
    PatientRow("create_case: a student", STUDENT_A, "create_case", REFUSED),
    # block: a care role or an admin of the patient's organisation
    PatientRow("block: pathologist of the patient's org", PATH_A, "block", ALLOWED),
    PatientRow("block: admin of the patient's org", ADMIN_A, "block", ALLOWED),
    PatientRow("block: radiologist of an unrelated org", RAD_C, "block", HIDDEN),
    PatientRow("block: pathologist of an org with a share", PATH_B, "block", REFUSED, SHARED_TO_B),
    PatientRow("block: a student of the patient's org", STUDENT_A, "block", REFUSED),
    PatientRow("block: a log reviewer", REVIEWER_A, "block", REFUSED),
    # consent: a care role of an organisation with a share of one of the cases, blocked
    PatientRow(
        "consent: org with a share, blocked", PATH_B, "consent", ALLOWED, SHARED_TO_B, BLOCKED
    ),
    PatientRow("consent: unrelated org", RAD_C, "consent", HIDDEN, SHARED_TO_B, BLOCKED),
    PatientRow("consent: org without a share", PATH_B, "consent", HIDDEN, NO_CASES, BLOCKED),
    # emergency_access: any care role, always flagged
    PatientRow("emergency: unrelated radiologist", RAD_C, "emergency_access", FLAGGED),
    PatientRow(
        "emergency: unrelated, spärr", RAD_C, "emergency_access", FLAGGED, SHARED_TO_B, BLOCKED
    ),
    PatientRow(
        "emergency: org with a share", PATH_B, "emergency_access", FLAGGED, SHARED_TO_B, BLOCKED
    ),
    PatientRow("emergency: clinician of the patient's org", CLIN_A, "emergency_access", FLAGGED),
    PatientRow("emergency: admin", ADMIN_A, "emergency_access", REFUSED),
    PatientRow("emergency: student", STUDENT_A, "emergency_access", REFUSED),
    PatientRow("emergency: teacher", TEACHER_A, "emergency_access", REFUSED),
    PatientRow("emergency: log reviewer", REVIEWER_A, "emergency_access", REFUSED),
    # read_log: log reviewers only
    PatientRow("read_log: log reviewer", REVIEWER_A, "read_log", ALLOWED, SHARED_TO_B),
    PatientRow("read_log: pathologist", PATH_A, "read_log", REFUSED, SHARED_TO_B),
    PatientRow("read_log: admin", ADMIN_A, "read_log", REFUSED, SHARED_TO_B),
    PatientRow("read_log: the patient", PATIENT_1, "read_log", REFUSED, SHARED_TO_B),
    # read_own_log: a patient, their own record only
    PatientRow("read_own_log: the patient", PATIENT_1, "read_own_log", ALLOWED, SHARED_TO_B),
    PatientRow("read_own_log: pathologist", PATH_A, "read_own_log", REFUSED, SHARED_TO_B),
    PatientRow("read_own_log: log reviewer", REVIEWER_A, "read_own_log", REFUSED, SHARED_TO_B),
]


@pytest.mark.parametrize("row", PATIENT_ROWS, ids=[row.name for row in PATIENT_ROWS])
def test_patient_level_policy(row: PatientRow) -> None:
    """Patient actions take the patient with their cases; creating a case takes the case
    about to be made (no id yet, the patient's organisation); log actions no subject."""
    subject: Any = PatientFacts("p1", PA, cases=row.cases)
    if row.action == "create_case":
        subject = CaseFacts(None, PA, None, "p1")
    elif row.action in ("read_log", "read_own_log"):
        subject = None
    decision = decide(row.actor, row.action, subject, row.relations, NOW)
    observed = {key: getattr(decision, key) for key in row.expected}
    assert observed == row.expected, (row.name, decision)
    assert decision.reason != "unknown_action", row.name
