"""THE access table: users of every role x cases x actions, through the HTTP API, on SQLite and
on PostgreSQL.

One directory is built per database (module scope: building it hashes passwords, imports
slides and creates cases, shares, a spärr and an emergency grant through the real API), then
every (user, action) pair is checked against the expected status of every case at once, so a
failure shows the whole row: which cases answered differently.

The directory:

  Region Kalmar (A): Patologi Kalmar (A-P), Kirurgi Kalmar (A-K)
  Region Östergötland (B): Patologi Linköping (B-P), Onkologi Linköping (B-O)
  Privat Röntgen AB (C): Röntgen Privat (C-R)
  Region Jönköping (D): no users; the target of the shares made by the "share" column

  case  patient                     owner   relation
  K1    P1 640823-3234              A, A-P  shared to organisation B
  K2    P2 811228-9874 (protected)  A, A-P  shared to unit B-P
  K3    P1                          A, A-P  shared to user b_named (B-O)
  K4    P3 880320-0016              A, A-P  spärr on organisation A; shared to B
  K5    P4 701063-2391              A, A-P  emergency access of c_rad
  K6    P1                          A, A-P  share to B expired (inserted with a past `until`)
  K7    P1                          A, A-P  share to B revoked with DELETE
  K8    P5 19121212-1212            A, A-P  spärr on unit A-P; shared to B
  K9    P5                          A, A-K  (outside the unit spärr) shared to B
  KT    none (teaching)             A       teaching case made by a_teacher
  KB    P1                          B, B-P  organisation B's own case
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

import app.auth
from app.directory import add_org, add_patient, add_unit, add_user
from app.importer import import_paths
from app.models import AccessEntry, Block, Case, EmergencyAccess, Image, Patient, Share, Unit
from app.services import services
from tests.conftest import (
    DATABASES,
    TEST_ORG,
    TEST_PATIENT,
    database,
    database_for,
    login,
    make_app,
)

PASSWORD = "lösenord-för-test"
A, B, C, D = "Region Kalmar", "Region Östergötland", "Privat Röntgen AB", "Region Jönköping"
A_P, A_K, B_P, B_O, C_R = (
    "Patologi Kalmar",
    "Kirurgi Kalmar",
    "Patologi Linköping",
    "Onkologi Linköping",
    "Röntgen Privat",
)
PATIENTS = {
    "P1": ("640823-3234", "Test Testsson", False),  # made by make_app (conftest)
    "P2": ("811228-9874", "Hemlig Hemligsson", True),
    "P3": ("880320-0016", "Cecilia Spärrsson", False),
    "P4": ("701063-2391", "David Nödsson", False),
    "P5": ("19121212-1212", "Erik Enhetsson", False),
}
# username: (organisation, role, unit, patient)
USERS = {
    "a_path": (A, "pathologist", A_P, None),
    "a_clin": (A, "clinician", A_K, None),
    "a_admin": (A, "admin", None, None),
    "a_reviewer": (A, "log_reviewer", None, None),
    "a_teacher": (A, "teacher", None, None),
    "a_student": (A, "student", None, None),
    "b_path": (B, "pathologist", B_P, None),
    "b_onk": (B, "clinician", B_O, None),
    "b_named": (B, "radiologist", B_O, None),
    "b_student": (B, "student", None, None),
    "c_rad": (C, "radiologist", C_R, None),
    "pat1": (A, "patient", None, "P1"),
    "pat2": (A, "patient", None, "P2"),
}
# case: (creator, patient or None for teaching)
CASES = {
    "K1": ("a_path", "P1"),
    "K2": ("a_path", "P2"),
    "K3": ("a_path", "P1"),
    "K4": ("a_path", "P3"),
    "K5": ("a_path", "P4"),
    "K6": ("a_path", "P1"),
    "K7": ("a_path", "P1"),
    "K8": ("a_path", "P5"),
    "K9": ("a_clin", "P5"),
    "KT": ("a_teacher", None),
    "KB": ("b_path", "P1"),
    # not in the table: used by the tests that change shares while they run
    "R1": ("a_path", "P1"),
    "R2": ("a_path", "P1"),
    "X1": ("a_path", "P1"),
}
TABLE_CASES = ["K1", "K2", "K3", "K4", "K5", "K6", "K7", "K8", "K9", "KT", "KB"]
ACTIONS = [
    "list_images",
    "list_cases",
    "view_image",
    "view_case",
    "thumbnail",
    "dzi_tile",
    "iiif_tile",
    "label",
    "share",
]

# What each kind of access answers, per action.
NONE = dict(
    list_images=False,
    list_cases=False,
    view_image=404,
    view_case=404,
    thumbnail=404,
    dzi_tile=404,
    iiif_tile=404,
    label=404,
    share=404,
)
OWN = dict(
    list_images=True,
    list_cases=True,
    view_image=200,
    view_case=200,
    thumbnail=200,
    dzi_tile=200,
    iiif_tile=200,
    label=200,
    share=201,
)
READ = {**OWN, "share": 403}  # a share, an emergency grant, the patient's own record
# An administrator manages shares: sees a case's facts (logged as "manage"), never its images.
ADMIN = dict(
    list_images=True,
    list_cases=True,
    view_image=403,
    view_case=200,
    thumbnail=403,
    dzi_tile=403,
    iiif_tile=403,
    label=403,
    share=201,
)
TEACH_READ = {**OWN, "label": 404, "share": 403}  # labels carry names: never in teaching
TEACH_OWN = {**OWN, "label": 404}


def row(default: dict[str, Any], **cases: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {case: cases.get(case, default) for case in TABLE_CASES}


EXPECTED: dict[str, dict[str, dict[str, Any]]] = {
    "a_path": row(OWN, KT=TEACH_READ, KB=NONE),
    "a_clin": row(OWN, K8=NONE, KT=TEACH_READ, KB=NONE),  # K8: spärr on unit A-P
    # K8: the unit spärr hides A-P's data from everyone outside A-P (DOMAIN rule 3)
    "a_admin": row(ADMIN, K8=NONE, KB=NONE),
    "a_reviewer": row(NONE),
    "a_teacher": row(NONE, KT=TEACH_OWN),
    "a_student": row(NONE, KT=TEACH_READ),
    "b_path": row(NONE, K1=READ, K2=READ, K9=READ, KB=OWN),
    "b_onk": row(NONE, K1=READ, K9=READ, KB=OWN),
    "b_named": row(NONE, K1=READ, K3=READ, K9=READ, KB=OWN),
    "b_student": row(NONE),
    "c_rad": row(NONE, K5=READ),
    "pat1": row(NONE, K1=READ, K3=READ, K6=READ, K7=READ, KB=READ),
    "pat2": row(NONE, K2=READ),
}


def _until(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


@pytest.fixture(scope="module", params=DATABASES)
def matrix_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """conftest's `database_url` at module scope: the table's directory is built once per
    database (building it takes seconds; the table has over a hundred tests)."""
    yield from database_for(request.param, tmp_path_factory.mktemp("matrix"), "matrix")


@pytest.fixture(scope="module")
def labelled_slide(synthetic_slide: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic slide with a label image (a series named "label"), as scanners write it."""
    path = tmp_path_factory.mktemp("labelled") / "labelled.tif"
    shutil.copy(synthetic_slide, path)
    with tifffile.TiffWriter(path, append=True) as writer:
        writer.write(
            np.full((120, 240, 3), 230, np.uint8), photometric="rgb", metadata={"name": "label"}
        )
    return path


@dataclass
class World:
    app: Flask
    engine: Any
    sessions: Any
    clients: dict[str, FlaskClient]
    images: dict[str, str] = field(default_factory=dict)
    cases: dict[str, str] = field(default_factory=dict)
    patients: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    shares: dict[str, str] = field(default_factory=dict)
    setup_notes: dict[str, Any] = field(default_factory=dict)
    _lists: dict[str, tuple[set[str], set[str]]] = field(default_factory=dict)

    def lists(self, user: str) -> tuple[set[str], set[str]]:
        """(image ids of GET /api/images, case ids of GET /api/cases) for a user, fetched once."""
        if user not in self._lists:
            client = self.clients[user]
            images, cases = client.get("/api/images"), client.get("/api/cases")
            assert images.status_code == 200 and cases.status_code == 200
            self._lists[user] = (
                {i["id"] for i in images.get_json()},
                {c["id"] for c in cases.get_json()},
            )
        return self._lists[user]


def _json_ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    return response.get_json()


@pytest.fixture(scope="module")
def world(
    matrix_database_url: str, tmp_path_factory: pytest.TempPathFactory, labelled_slide: Path
) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("matrix-data")
    with pytest.MonkeyPatch.context() as patch:
        # Cheap argon2 parameters: the table logs in 13 users; the rules are what is tested here.
        cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        patch.setattr(app.auth, "_hasher", cheap)
        patch.setattr(app.auth, "_DUMMY_HASH", cheap.hash("dummy"))
        database_url = matrix_database_url
        application = make_app(data_dir, database_url)
        with database(application).session() as session:
            orgs = {}
            for name, hsa, kind in (
                (A, "SE2321000065", "region"),
                (B, "SE2321000032", "region"),
                (C, "SE5566778899", "private"),
                (D, "SE2321000057", "region"),
            ):
                orgs[name] = add_org(session, name, hsa, kind)
            for unit, org, hsa in (
                (A_P, A, "SE2321000065-P1"),
                (A_K, A, "SE2321000065-K1"),
                (B_P, B, "SE2321000032-P1"),
                (B_O, B, "SE2321000032-O1"),
                (C_R, C, "SE5566778899-R1"),
            ):
                add_unit(session, unit, org, hsa)
            patients = {
                key: add_patient(session, number, name, A, protected).id
                for key, (number, name, protected) in PATIENTS.items()
                if key != "P1"
            }
            patients["P1"] = session.scalar(
                select(Patient.id).where(Patient.personnummer == "196408233234")
            )
            users = {}
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
                    patient=PATIENTS[patient][0] if patient else None,
                )
                users[username] = user.id
        clients = {user: login(application.test_client(), user, PASSWORD) for user in USERS}
    w = World(
        application, database(application).engine, None, clients, patients=patients, users=users
    )

    # Cases through app.directory (`import --org --patient --case`), then placed in the creator's
    # unit: attach() makes cases without a unit. (POST /api/cases is tested on its own below.)
    images_dir = data_dir / "images"
    images_dir.mkdir()
    for key, (creator, patient) in CASES.items():
        path = images_dir / f"{key}.tif"
        shutil.copy(labelled_slide, path)
        org, _role, unit, _patient = USERS[creator]
        owner = (org, PATIENTS[patient][0] if patient else None, f"Fall {key}")
        lines = [line for line, _ok in import_paths(application, [str(path)], owner)]
        assert len(lines) == 1 and lines[0].startswith("imported "), lines
        w.images[key] = lines[0].split()[1]
    with database(application).session() as session:
        for key, (creator, _patient) in CASES.items():
            case = session.get(Case, session.get(Image, w.images[key]).case_id)
            assert case is not None and case.title == f"Fall {key}"
            unit = USERS[creator][2]
            case.unit_id = (
                session.scalar(select(Unit.id).where(Unit.name == unit)) if unit else None
            )
            case.created_by = users[creator]
            w.cases[key] = case.id
    services(application).epoch.bump()

    def share(user: str, case: str, target: dict[str, Any], days: int = 30) -> str:
        # K2's patient has skyddad identitet: the sharer confirms it (other shares ignore it)
        body = {
            **target,
            "until": _until(timedelta(days=days)),
            "purpose": "second_opinion",
            "confirm_protected": True,
        }
        return _json_ok(clients[user].post(f"/api/cases/{w.cases[case]}/shares", json=body), 201)[
            "id"
        ]

    w.shares["K1"] = share("a_path", "K1", {"org": B})
    w.shares["K2"] = share("a_admin", "K2", {"unit": B_P})
    w.shares["K3"] = share("a_path", "K3", {"user": "b_named"})
    w.shares["K4"] = share("a_path", "K4", {"org": B})
    w.shares["K7"] = share("a_path", "K7", {"org": B})
    w.shares["K8"] = share("a_path", "K8", {"org": B})
    w.shares["K9"] = share("a_clin", "K9", {"org": B})
    with database(w.app).session() as session:
        expired = Share(
            case_id=w.cases["K6"],
            org_id=orgs[B].id,
            purpose="second_opinion",
            until=datetime.now(UTC) - timedelta(hours=1),
        )
        session.add(expired)
        session.flush()
        w.shares["K6"] = expired.id
        session.add(
            Block(patient_id=patients["P3"], org_id=orgs[A].id, reason="patientens begäran")
        )
        unit_a_p = session.scalar(select(Unit.id).where(Unit.name == A_P))
        session.add(Block(patient_id=patients["P5"], org_id=orgs[A].id, unit_id=unit_a_p))
    services(application).epoch.bump()

    # K7: visible to B before the revocation, then revoked through the API.
    k7 = w.images["K7"]
    w.setup_notes["K7 before revocation"] = (
        clients["b_path"].get(f"/api/images/{k7}").status_code,
        clients["b_path"].get(f"/dzi/{k7}_files/11/0_0.jpeg").status_code,
    )
    revoked = clients["a_path"].delete(f"/api/cases/{w.cases['K7']}/shares/{w.shares['K7']}")
    w.setup_notes["K7 revocation"] = (revoked.status_code, revoked.get_json())

    if database_url.startswith("sqlite"):
        # POST emergency-access never answers on SQLite (the grant's write transaction and the
        # access-log append deadlock for 30 s: see test_writes_that_log_answer_promptly), so
        # the SQLite table gets its grant directly; PostgreSQL gets it through the API.
        with database(w.app).session() as session:
            grant_row = EmergencyAccess(
                user_id=users["c_rad"],
                patient_id=patients["P4"],
                reason="Medvetslös patient i akuten, tidigare PAD behövs nu",
                until=datetime.now(UTC) + timedelta(hours=4),
            )
            session.add(grant_row)
            session.flush()
            w.setup_notes["emergency"] = (201, {"id": grant_row.id, "until": "direct"})
        services(application).epoch.bump()
    else:
        grant = clients["c_rad"].post(
            f"/api/patients/{patients['P4']}/emergency-access",
            json={"reason": "Medvetslös patient i akuten, tidigare PAD behövs nu"},
        )
        w.setup_notes["emergency"] = (grant.status_code, grant.get_json())
    yield w


def observe(w: World, user: str, action: str, case: str) -> Any:
    client = w.clients[user]
    image, case_id = w.images[case], w.cases[case]
    if action == "list_images":
        return image in w.lists(user)[0]
    if action == "list_cases":
        return case_id in w.lists(user)[1]
    url = {
        "view_image": f"/api/images/{image}",
        "view_case": f"/api/cases/{case_id}",
        "thumbnail": f"/api/images/{image}/associated/thumbnail.jpg",
        "dzi_tile": f"/dzi/{image}_files/11/0_0.jpeg",
        "iiif_tile": f"/iiif/3/{image}/0,0,256,256/256,/0/default.jpg",
        "label": f"/api/images/{image}/associated/label.jpg",
    }.get(action)
    if url is not None:
        return client.get(url).status_code
    assert action == "share"
    body = {
        "org": D,
        "until": _until(timedelta(hours=1)),
        "purpose": "second_opinion",
        "confirm_protected": True,  # K2 (skyddad identitet) is confirmed; others ignore it
    }
    return client.post(f"/api/cases/{case_id}/shares", json=body).status_code


def test_the_directory_was_built(world: World) -> None:
    assert world.setup_notes["K7 before revocation"] == (200, 200)
    status, body = world.setup_notes["K7 revocation"]
    assert status == 200 and body["active"] is False and body["revoked"]
    status, body = world.setup_notes["emergency"]
    assert status == 201 and body["until"]


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("user", list(USERS))
def test_access_table(world: World, user: str, action: str) -> None:
    expected = {case: EXPECTED[user][case][action] for case in TABLE_CASES}
    observed = {case: observe(world, user, action, case) for case in TABLE_CASES}
    differing = {
        case: (observed[case], expected[case])
        for case in TABLE_CASES
        if observed[case] != expected[case]
    }
    assert not differing, f"{user} {action}: case -> (observed, expected): {differing}"


def _share_to_b(world: World, case: str) -> str:
    body = {"org": B, "until": _until(timedelta(days=1)), "purpose": "second_opinion"}
    return _json_ok(
        world.clients["a_path"].post(f"/api/cases/{world.cases[case]}/shares", json=body), 201
    )["id"]


def test_revoked_share_stops_dzi_tiles_at_once(world: World) -> None:
    """DELETE takes effect at once: the next tile on the same client is 404, not a cached 200."""
    share_id = _share_to_b(world, "R1")
    b = world.clients["b_path"]
    image = world.images["R1"]
    tile, descriptor = f"/dzi/{image}_files/11/1_1.jpeg", f"/dzi/{image}.dzi"
    for _ in range(3):  # warm every cache there is
        assert b.get(tile).status_code == 200
    assert b.get(descriptor).status_code == 200
    assert b.get(f"/api/images/{image}").status_code == 200
    assert b.get(f"/api/images/{image}/associated/thumbnail.jpg").status_code == 200
    revoked = world.clients["a_path"].delete(f"/api/cases/{world.cases['R1']}/shares/{share_id}")
    assert revoked.status_code == 200
    assert b.get(tile).status_code == 404
    assert b.get(descriptor).status_code == 404
    assert b.get(f"/api/images/{image}").status_code == 404
    assert b.get(f"/api/images/{image}/associated/thumbnail.jpg").status_code == 404
    assert b.get(f"/api/cases/{world.cases['R1']}").status_code == 404
    assert image not in {i["id"] for i in b.get("/api/images").get_json()}


def test_revoked_share_stops_iiif_tiles_at_once(world: World) -> None:
    share_id = _share_to_b(world, "R2")
    b = world.clients["b_path"]
    image = world.images["R2"]
    tile, info = f"/iiif/3/{image}/256,256,256,256/256,/0/default.jpg", f"/iiif/3/{image}/info.json"
    for _ in range(3):
        assert b.get(tile).status_code == 200
    assert b.get(info).status_code == 200
    revoked = world.clients["a_path"].delete(f"/api/cases/{world.cases['R2']}/shares/{share_id}")
    assert revoked.status_code == 200
    assert b.get(info).status_code == 404
    assert b.get(tile).status_code == 404


def test_share_expires_while_in_use(world: World) -> None:
    """A share with `until` a few seconds ahead: tiles stop when it ends, cache or not."""
    image, case = world.images["X1"], world.cases["X1"]
    until = datetime.now(UTC) + timedelta(seconds=3)
    body = {"user": "c_rad", "until": until.isoformat(), "purpose": "second_opinion"}
    _json_ok(world.clients["a_path"].post(f"/api/cases/{case}/shares", json=body), 201)
    c = world.clients["c_rad"]
    tile = f"/dzi/{image}_files/11/2_2.jpeg"
    assert c.get(tile).status_code == 200
    assert c.get(f"/api/images/{image}").status_code == 200
    assert c.get(f"/api/cases/{case}").status_code == 200
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.3)
    assert c.get(tile).status_code == 404
    assert c.get(f"/api/images/{image}").status_code == 404
    assert c.get(f"/api/cases/{case}").status_code == 404
    shares = world.clients["a_path"].get(f"/api/cases/{case}/shares").get_json()
    assert [s["active"] for s in shares] == [False]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"org": D, "until": "PAST"}, 400),
        ({"org": D, "until": "FAR"}, 400),
        ({"org": D, "until": "not a time"}, 400),
        ({"org": D}, 400),
        ({"org": D, "unit": B_P, "until": "SOON"}, 400),
        ({"until": "SOON"}, 400),
        ({"org": "Region Gotland", "until": "SOON"}, 404),
        ({"user": "nobody", "until": "SOON"}, 404),
        ({"org": D, "until": "SOON", "purpose": "curiosity"}, 400),
        ({"org": ["Region Jönköping"], "until": "SOON"}, 400),
    ],
    ids=[
        "until in the past",
        "until beyond a year",
        "until not a time",
        "no until",
        "two targets",
        "no target",
        "unknown org",
        "unknown user",
        "unknown purpose",
        "target not text",
    ],
)
def test_share_requests_are_validated(world: World, body: dict[str, Any], status: int) -> None:
    times = {"PAST": timedelta(minutes=-1), "FAR": timedelta(days=400), "SOON": timedelta(hours=1)}
    body = {
        k: (_until(times[v]) if isinstance(v, str) and v in times else v) for k, v in body.items()
    }
    response = world.clients["a_path"].post(f"/api/cases/{world.cases['K1']}/shares", json=body)
    assert response.status_code == status, response.get_json()
    assert set(response.get_json()) == {"error", "message"}


def test_expired_share_is_listed_as_inactive(world: World) -> None:
    shares = _json_ok(world.clients["a_path"].get(f"/api/cases/{world.cases['K6']}/shares"))
    assert [s["active"] for s in shares if s["id"] == world.shares["K6"]] == [False]
    shares = _json_ok(world.clients["a_path"].get(f"/api/cases/{world.cases['K7']}/shares"))
    (revoked,) = [s for s in shares if s["id"] == world.shares["K7"]]
    assert revoked["active"] is False and revoked["revoked"]


def test_protected_identity_is_masked(world: World) -> None:
    name = PATIENTS["P2"][1]
    k2 = world.cases["K2"]
    for user in ("a_path", "a_clin", "a_admin", "b_path", "pat2"):
        client = world.clients[user]
        listing = client.get("/api/cases")
        assert listing.status_code == 200
        assert name not in listing.get_data(as_text=True), user
        (case,) = [c for c in listing.get_json() if c["id"] == k2]
        assert case["patient"]["name"] == "Skyddad identitet", user
        assert case["patient"]["protected_identity"] is True
        if user != "a_admin":
            one = client.get(f"/api/cases/{k2}")
            assert one.status_code == 200 and name not in one.get_data(as_text=True), user
            assert one.get_json()["patient"]["name"] == "Skyddad identitet"
    for user in ("a_path", "b_path"):
        response = world.clients[user].get(f"/api/patients/{PATIENTS['P2'][0]}")
        assert _json_ok(response)["name"] == "Skyddad identitet", user
        assert name not in response.get_data(as_text=True)
    # the control: an unprotected patient's name is shown, so the check above can see names
    k1 = [
        c
        for c in world.clients["a_path"].get("/api/cases").get_json()
        if c["id"] == world.cases["K1"]
    ]
    assert k1[0]["patient"]["name"] == PATIENTS["P1"][1]


def test_blocked_patient_shows_only_that_blocked_information_exists(world: World) -> None:
    """b_path's organisation holds a share of P3's case, which the spärr hides."""
    client = world.clients["b_path"]
    for key in (PATIENTS["P3"][0], "198803200016", world.patients["P3"]):
        response = client.get(f"/api/patients/{key}")
        assert response.status_code == 200, (key, response.get_json())
        assert response.get_json() == {"blocked_information": True}, key
        text = response.get_data(as_text=True)
        assert PATIENTS["P3"][1] not in text and "880320" not in text


def test_a_blocked_patient_is_unknown_without_a_relation(world: World) -> None:
    """c_rad has no relation to P3 at all: not even the spärr is revealed."""
    client = world.clients["c_rad"]
    unknown = client.get("/api/patients/121212-1212")
    for key in (PATIENTS["P3"][0], "198803200016", world.patients["P3"]):
        response = client.get(f"/api/patients/{key}")
        assert response.status_code == 404, (key, response.get_json())
        assert response.get_json() == unknown.get_json()


def test_blocked_patient_is_shown_inside_the_blocking_organisation(world: World) -> None:
    patient = _json_ok(world.clients["a_path"].get(f"/api/patients/{PATIENTS['P3'][0]}"))
    assert patient["name"] == PATIENTS["P3"][1]
    assert patient["personnummer"] == "19880320-0016"


def test_unrelated_patient_is_unknown(world: World) -> None:
    """No relation and no spärr: the same 404 as a patient that does not exist."""
    client = world.clients["c_rad"]
    related = client.get(f"/api/patients/{PATIENTS['P1'][0]}")
    unknown = client.get("/api/patients/121212-1212x")
    assert related.status_code == 404
    assert related.get_json() == unknown.get_json()


def test_emergency_access_is_flagged_in_the_log(world: World) -> None:
    image = world.images["K5"]
    assert world.clients["c_rad"].get(f"/api/images/{image}").status_code == 200
    with database(world.app).session() as session:
        entries = session.scalars(
            select(AccessEntry).where(
                AccessEntry.user_id == world.users["c_rad"],
                AccessEntry.resource == f"image:{image}",
                AccessEntry.action == "view",
            )
        ).all()
        grants = session.scalars(
            select(AccessEntry).where(
                AccessEntry.user_id == world.users["c_rad"],
                AccessEntry.action == "emergency_access",
            )
        ).all()
    assert entries and all(e.purpose == "emergency" and e.flagged for e in entries)
    assert all((e.basis or "").startswith("emergency:") for e in entries)
    if world.setup_notes["emergency"][1].get("until") != "direct":  # granted through the API
        assert len(grants) == 1 and grants[0].flagged
        assert grants[0].patient_id == world.patients["P4"]
        assert "reason" in grants[0].detail


def test_emergency_access_needs_a_reason_and_a_care_role(world: World) -> None:
    url = f"/api/patients/{world.patients['P1']}/emergency-access"
    assert world.clients["b_path"].post(url, json={}).status_code == 400
    assert world.clients["b_path"].post(url, json={"reason": "akut"}).status_code == 400
    reason = {"reason": "Akut läge, patienten kan inte svara"}
    assert world.clients["a_admin"].post(url, json=reason).status_code == 403
    assert world.clients["b_student"].post(url, json=reason).status_code == 403
    assert world.clients["a_reviewer"].post(url, json=reason).status_code == 403


# --- writes that are logged: they must answer (PostgreSQL and SQLite) ----------------------


WRITE_WAIT = 3.0  # seconds; a healthy write answers in well under one


def _answer_within(seconds: float, request: Callable[[], Any]) -> Any:
    """The response, or None when the request has not answered in time (it may be deadlocked;
    the daemon thread is left to end on its own against this test's private database)."""
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.setdefault("response", request()), daemon=True)
    thread.start()
    thread.join(seconds)
    return result.get("response")


def _blocked_from_tester(application: Flask) -> None:
    """A case of the test patient in another unit of Testregion, under a unit spärr: tester
    (Testpatologi) sees it only with the patient's consent."""
    with database(application).session() as session:
        unit = add_unit(session, "Testkirurgi", TEST_ORG, "SE0000000001-K1")
        patient = session.scalar(select(Patient).where(Patient.personnummer == "196408233234"))
        assert patient is not None
        session.add(
            Case(title="Kirurgi", patient_id=patient.id, org_id=unit.org_id, unit_id=unit.id)
        )
        session.add(Block(patient_id=patient.id, org_id=unit.org_id, unit_id=unit.id))


@pytest.fixture()
def writer(db_app: Flask, labelled_slide: Path, tmp_path: Path) -> tuple[FlaskClient, str]:
    """`tester` (pathologist of Testregion, unit Testpatologi) and a Testregion image in no case."""
    path = tmp_path / "loose.tif"
    shutil.copy(labelled_slide, path)
    lines = [line for line, _ok in import_paths(db_app, [str(path)], (TEST_ORG, None, None))]
    assert lines[0].startswith("imported "), lines
    return login(db_app.test_client()), lines[0].split()[1]


def test_create_case_through_the_api(writer: tuple[FlaskClient, str]) -> None:
    client, image = writer
    body = {"title": "Remiss 1", "patient": TEST_PATIENT, "images": [image]}
    response = _answer_within(WRITE_WAIT, lambda: client.post("/api/cases", json=body))
    assert response is not None, f"POST /api/cases did not answer within {WRITE_WAIT} s"
    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    assert case["unit"] == "Testpatologi" and case["images"] == [image]
    assert case["patient"]["personnummer"] == "19640823-3234"
    assert client.get(f"/api/cases/{case['id']}").status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("emergency-access", {"reason": "Akut blödning, patienten medvetslös"}),
        ("blocks", {"reason": "Patientens begäran"}),
        ("consents", {"reason": "Muntligt samtycke", "until": "DAYS:2"}),
    ],
    ids=["emergency-access", "block", "consent"],
)
def test_patient_grants_through_the_api(
    writer: tuple[FlaskClient, str], path: str, body: dict[str, str]
) -> None:
    client, _image = writer
    body = {k: (_until(timedelta(days=2)) if v == "DAYS:2" else v) for k, v in body.items()}
    if path == "consents":
        _blocked_from_tester(client.application)
    url = f"/api/patients/{TEST_PATIENT}/{path}"
    response = _answer_within(WRITE_WAIT, lambda: client.post(url, json=body))
    assert response is not None, f"POST {url} did not answer within {WRITE_WAIT} s"
    assert response.status_code == 201, response.get_json()
