"""The access log (DOMAIN rules 5-7): complete entries, folded tiles, a hash chain that
`samsyn audit verify` checks, the log reviewer's API (filters, CSV, scope, alerts) and the
patient's extract. SQLite and PostgreSQL.

Most tests share one directory per database (module scope, `world`); the tests that tamper
with the chain or hammer it from threads get a fresh database each (`db_app`).
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, insert, select, text, update

import app.auth
from app.audit import Access, append, verify
from app.directory import add_org, add_patient, add_unit, add_user
from app.importer import import_paths
from app.models import AccessEntry, EmergencyAccess, Image, Patient
from app.services import services
from tests.conftest import (
    DATABASES,
    REPO,
    TEST_ORG,
    TEST_PATIENT,
    database,
    database_for,
    import_one,
    login,
    make_app,
)

PASSWORD = "lösenord-för-test"
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
B, C = "Region Östergötland", "Privat Röntgen AB"
FORMULA_NAMES = ['=HYPERLINK("http://evil.example","klicka")', "+1+2", "-2+3", "@SUM(A1:A9)"]
CONTROL_NAMES = ["\t=1+1", "\r=1+1"]


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app.auth, "_hasher", CHEAP)
    monkeypatch.setattr(app.auth, "_DUMMY_HASH", CHEAP.hash("dummy"))


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- one directory per database ------------------------------------------------------------


@pytest.fixture(scope="module", params=DATABASES)
def audit_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """conftest's `database_url` at module scope: one directory per database for the module."""
    yield from database_for(request.param, tmp_path_factory.mktemp("audit"), "audit")


@dataclass
class World:
    app: Flask
    engine: Any
    sessions: Any
    clients: dict[str, FlaskClient] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)
    patients: dict[str, str] = field(default_factory=dict)
    orgs: dict[str, str] = field(default_factory=dict)
    marks: dict[str, datetime] = field(default_factory=dict)


def _import(
    application: Flask, source: Path, folder: Path, name: str, owner: tuple[Any, ...]
) -> str:
    path = folder / f"{name}.tif"
    shutil.copy(source, path)
    lines = [line for line, _ok in import_paths(application, [str(path)], owner)]
    assert lines[0].startswith("imported "), lines
    return lines[0].split()[1]


@pytest.fixture(scope="module")
def world(
    audit_database_url: str, tmp_path_factory: pytest.TempPathFactory, synthetic_slide: Path
) -> World:
    data_dir = tmp_path_factory.mktemp("audit-data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(app.auth, "_hasher", CHEAP)
        patch.setattr(app.auth, "_DUMMY_HASH", CHEAP.hash("dummy"))
        application = make_app(data_dir, audit_database_url)
        w = World(application, database(application).engine, None)
        with database(application).session() as session:
            w.orgs = {
                TEST_ORG: session.scalar(select(Patient.org_id)),
                B: add_org(session, B, "SE2321000032", "region").id,
                C: add_org(session, C, "SE5566778899", "private").id,
            }
            add_unit(session, "Patologi Linköping", B, "SE2321000032-P1")
            add_unit(session, "Röntgen Privat", C, "SE5566778899-R1")
            w.patients["P1"] = session.scalar(select(Patient.id))
            w.patients["P2"] = add_patient(session, "811228-9874", "Per Persson", TEST_ORG).id
            w.patients["PB"] = add_patient(session, "880320-0016", "Berit Bsson", B).id
            users = [
                (
                    "anna",
                    TEST_ORG,
                    "pathologist",
                    "Testpatologi",
                    "SE2321000065-1234",
                    "Anna Patolog",
                    None,
                ),
                ("viewer", TEST_ORG, "pathologist", "Testpatologi", None, "Vera Visare", None),
                ("rev_a", TEST_ORG, "log_reviewer", None, None, "Rut Revisor", None),
                ("admin_a", TEST_ORG, "admin", None, None, "Adam Admin", None),
                (
                    "b_path",
                    B,
                    "pathologist",
                    "Patologi Linköping",
                    "SE2321000032-77",
                    "Bo Bpatolog",
                    None,
                ),
                ("rev_b", B, "log_reviewer", None, None, "Rolf Revisor", None),
                ("c_rad", C, "radiologist", "Röntgen Privat", None, "Cia Röntgen", None),
                ("rev_c", C, "log_reviewer", None, None, "Cilla Revisor", None),
                ("pat1", TEST_ORG, "patient", None, None, "Test Testsson", TEST_PATIENT),
                ("pat2", TEST_ORG, "patient", None, None, "Per Persson", "811228-9874"),
            ]
            users += [
                (f"formula{n}", TEST_ORG, "pathologist", "Testpatologi", None, name, None)
                for n, name in enumerate(FORMULA_NAMES + CONTROL_NAMES)
            ]
            for username, org, role, unit, hsa, name, patient in users:
                user = add_user(session, username, org, role, PASSWORD, unit, hsa, name, patient)
                w.users[username] = user.id
        w.clients = {
            username: login(application.test_client(), username, PASSWORD) for username, *_ in users
        }
    folder = data_dir / "images"
    folder.mkdir()
    w.images["P1"] = _import(
        application, synthetic_slide, folder, "p1", (TEST_ORG, TEST_PATIENT, "Testfall")
    )
    w.images["P2"] = _import(
        application, synthetic_slide, folder, "p2", (TEST_ORG, "811228-9874", "Fall 2")
    )
    w.images["PB"] = _import(
        application, synthetic_slide, folder, "pb", (B, "880320-0016", "B-fall")
    )
    w.images["fold"] = _import(
        application, synthetic_slide, folder, "fold", (TEST_ORG, TEST_PATIENT, "Testfall")
    )
    w.images["fold_iiif"] = _import(
        application, synthetic_slide, folder, "fold2", (TEST_ORG, TEST_PATIENT, "Testfall")
    )
    clients = w.clients
    with database(application).session() as session:
        case_p1 = session.get(Image, w.images["P1"]).case_id
    until = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    shared = clients["anna"].post(f"/api/cases/{case_p1}/shares", json={"org": B, "until": until})
    assert shared.status_code == 201, shared.get_json()

    # the accesses the log is then read for
    assert (
        clients["anna"]
        .get(f"/api/images/{w.images['P1']}", environ_base={"REMOTE_ADDR": "192.0.2.10"})
        .status_code
        == 200
    )
    time.sleep(0.02)
    w.marks["between"] = datetime.now(UTC)
    time.sleep(0.02)
    assert clients["anna"].get(f"/api/images/{w.images['P2']}").status_code == 200
    assert clients["b_path"].get(f"/api/images/{w.images['P1']}").status_code == 200
    assert clients["b_path"].get(f"/api/images/{w.images['PB']}").status_code == 200
    assert clients["c_rad"].get(f"/api/images/{w.images['P1']}").status_code == 404
    with (
        database(application).session() as session
    ):  # emergency access of c_rad to P2 (the API is tested in test_access_matrix)
        session.add(
            EmergencyAccess(
                user_id=w.users["c_rad"],
                patient_id=w.patients["P2"],
                reason="Akut, patienten medvetslös",
                until=datetime.now(UTC) + timedelta(hours=4),
            )
        )
    services(application).epoch.bump()
    assert clients["c_rad"].get(f"/api/images/{w.images['P2']}").status_code == 200
    for n in range(len(FORMULA_NAMES + CONTROL_NAMES)):
        assert clients[f"formula{n}"].get(f"/api/images/{w.images['P1']}").status_code == 200
    # entries at known local times (Europe/Stockholm is UTC+1 in March 2025)
    probes = {
        "saturday": datetime(2025, 3, 8, 10, 0, tzinfo=UTC),  # Saturday 11:00
        "weekday-day": datetime(2025, 3, 5, 10, 0, tzinfo=UTC),  # Wednesday 11:00
        "weekday-evening": datetime(2025, 3, 5, 18, 30, tzinfo=UTC),  # Wednesday 19:30
        "weekday-early": datetime(2025, 3, 5, 5, 59, tzinfo=UTC),  # Wednesday 06:59
        "weekday-seven": datetime(2025, 3, 5, 6, 0, tzinfo=UTC),  # Wednesday 07:00
    }
    append(
        database(application),
        [
            Access(
                resource=f"image:probe-{name}",
                action="view",
                outcome="allowed",
                user_id=w.users["viewer"],
                username="viewer",
                role="pathologist",
                org_id=w.orgs[TEST_ORG],
                org_name=TEST_ORG,
                unit_name="Testpatologi",
                patient_id=w.patients["P1"],
                basis="own_org",
                at=at,
            )
            for name, at in probes.items()
        ],
    )
    return w


# The application the module-level log helpers read (set by the `w` fixture).
CURRENT: list[Flask] = []


@pytest.fixture()
def w(world: World) -> World:
    """The module's directory; the log helpers below read its database."""
    CURRENT[:] = [world.app]
    return world


def entries_of(username: str, **where: Any) -> list[AccessEntry]:
    with database(CURRENT[0]).session() as session:
        query = select(AccessEntry).where(AccessEntry.username == username)
        for name, value in where.items():
            query = query.where(getattr(AccessEntry, name) == value)
        return list(session.scalars(query.order_by(AccessEntry.seq)))


# --- what an entry holds ---------------------------------------------------------------------


def test_viewing_an_image_writes_a_complete_entry(w: World) -> None:
    (entry,) = entries_of("anna", action="view", resource=f"image:{w.images['P1']}")
    assert abs(aware(entry.at) - datetime.now(UTC)) < timedelta(minutes=5)
    assert aware(entry.at).utcoffset() == timedelta(0)
    assert entry.user_id == w.users["anna"]
    assert entry.user_name == "Anna Patolog"
    assert entry.user_hsa_id == "SE2321000065-1234"
    assert entry.role == "pathologist"
    assert entry.org_id == w.orgs[TEST_ORG] and entry.org_name == TEST_ORG
    assert entry.unit_name == "Testpatologi"
    assert entry.patient_id == w.patients["P1"]
    assert entry.purpose == "care"
    assert entry.outcome == "allowed"
    assert entry.basis == "own_org"
    assert entry.client == "192.0.2.10"
    assert entry.flagged is False


def test_an_access_through_a_share_names_the_share(w: World) -> None:
    (entry,) = entries_of("b_path", action="view", resource=f"image:{w.images['P1']}")
    assert entry.org_name == B and entry.unit_name == "Patologi Linköping"
    assert entry.user_hsa_id == "SE2321000032-77"
    assert entry.outcome == "allowed" and (entry.basis or "").startswith("share:")
    assert entry.purpose == "second_opinion"


def test_a_refusal_is_logged(w: World) -> None:
    (entry,) = entries_of("c_rad", action="view", resource=f"image:{w.images['P1']}")
    assert entry.outcome == "denied" and entry.patient_id == w.patients["P1"]
    assert entry.org_name == C


def test_tiles_are_folded_into_one_entry(w: World) -> None:
    client, image = w.clients["viewer"], w.images["fold"]
    folder = services(w.app).folder
    tiles = [(col, row) for row in range(6) for col in range(8)][:20]
    for col, row in tiles:
        assert client.get(f"/dzi/{image}_files/11/{col}_{row}.jpeg").status_code == 200
    assert (
        entries_of("viewer", action="render", resource=f"image:{image}") == []
    )  # not one per tile
    folder.flush(everything=True)
    (entry,) = entries_of("viewer", action="render", resource=f"image:{image}")
    assert entry.detail["tiles"] == 20
    start, end = (datetime.fromisoformat(entry.detail[k]) for k in ("from", "to"))
    assert start <= end and end - start < timedelta(minutes=5)
    assert entry.outcome == "allowed" and entry.patient_id == w.patients["P1"]
    assert entry.user_name == "Vera Visare" and entry.unit_name == "Testpatologi"


def test_iiif_tiles_are_counted_with_the_others(w: World) -> None:
    client, image = w.clients["viewer"], w.images["fold_iiif"]
    for n in range(10):
        assert (
            client.get(
                f"/dzi/{image}_files/11/{n}_0.jpeg".replace(f"/{n}_0", f"/{n % 8}_{n // 8}")
            ).status_code
            == 200
        )
        assert (
            client.get(
                f"/iiif/3/{image}/{256 * (n % 8)},512,256,256/256,/0/default.jpg"
            ).status_code
            == 200
        )
    services(w.app).folder.flush(everything=True)
    rendered = entries_of("viewer", action="render", resource=f"image:{image}")
    assert sum(e.detail["tiles"] for e in rendered) == 20


# --- the log reviewer ------------------------------------------------------------------------


def review(w: World, reviewer: str, **params: str) -> Any:
    response = w.clients[reviewer].get("/api/audit", query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_filters(w: World) -> None:
    by_patient = review(w, "rev_a", patient=TEST_PATIENT, action="view")
    assert by_patient and {e["patient"] for e in by_patient} == {"196408233234"}
    by_patient_id = review(w, "rev_a", patient=w.patients["P2"], action="view")
    assert by_patient_id and {e["patient"] for e in by_patient_id} == {"198112289874"}
    by_user = review(w, "rev_a", user="b_path")
    assert by_user and {e["username"] for e in by_user} == {"b_path"}
    by_org = review(w, "rev_a", org=B)
    assert by_org and {e["org_name"] for e in by_org} == {B}
    by_action = review(w, "rev_a", action="render")
    assert all(e["action"] == "render" for e in by_action)
    combined = review(w, "rev_a", user="anna", action="view")
    assert {e["resource"] for e in combined} == {
        f"image:{w.images['P1']}",
        f"image:{w.images['P2']}",
    }
    unknown = review(w, "rev_a", patient="121212-1212")
    assert unknown == []


@pytest.mark.parametrize("offset", ["+00:00", "Z", "+01:00", "-05:00"])
def test_time_filters(w: World, offset: str) -> None:
    """from/to in any UTC offset: the same instant selects the same entries."""
    between = w.marks["between"]
    if offset == "Z":
        stamp = between.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    else:
        hours = int(offset[:3])
        stamp = between.astimezone(UTC).replace(tzinfo=None) + timedelta(hours=hours)
        stamp = stamp.isoformat() + offset
    before = review(w, "rev_a", user="anna", action="view", to=stamp)
    after = review(w, "rev_a", user="anna", action="view", **{"from": stamp})
    assert [e["resource"] for e in before] == [f"image:{w.images['P1']}"]
    assert [e["resource"] for e in after] == [f"image:{w.images['P2']}"]
    probes = review(
        w,
        "rev_a",
        user="viewer",
        action="view",
        **{"from": "2025-03-05T00:00:00Z", "to": "2025-03-06T00:00:00Z"},
    )
    assert {e["resource"] for e in probes} == {
        "image:probe-weekday-day",
        "image:probe-weekday-evening",
        "image:probe-weekday-early",
        "image:probe-weekday-seven",
    }


def test_bad_filter_values_are_400(w: World) -> None:
    for params in ({"from": "yesterday"}, {"to": "2025-13-01"}, {"limit": "-1"}, {"limit": "many"}):
        response = w.clients["rev_a"].get("/api/audit", query_string=params)
        assert response.status_code == 400, params
        assert set(response.get_json()) == {"error", "message"}


def test_entries_carry_every_field_the_rules_ask_for(w: World) -> None:
    (entry,) = [
        e
        for e in review(w, "rev_a", user="anna", action="view")
        if e["resource"] == f"image:{w.images['P1']}"
    ]
    assert entry["at"].endswith("+00:00")
    for name, value in {
        "username": "anna",
        "user_name": "Anna Patolog",
        "user_hsa_id": "SE2321000065-1234",
        "role": "pathologist",
        "org_name": TEST_ORG,
        "unit_name": "Testpatologi",
        "patient": "196408233234",
        "action": "view",
        "purpose": "care",
        "outcome": "allowed",
        "basis": "own_org",
        "client": "192.0.2.10",
    }.items():
        assert entry[name] == value, name


def csv_rows(w: World, reviewer: str, **params: str) -> list[list[str]]:
    response = w.clients[reviewer].get("/api/audit", query_string={**params, "format": "csv"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_csv_export(w: World) -> None:
    rows = csv_rows(w, "rev_a", action="view")
    header, body = rows[0], rows[1:]
    for column in (
        "at",
        "username",
        "user_name",
        "user_hsa_id",
        "role",
        "org_name",
        "unit_name",
        "patient",
        "resource",
        "action",
        "purpose",
        "outcome",
        "basis",
        "client",
    ):
        assert column in header, column
    assert len(body) == len(review(w, "rev_a", action="view"))
    assert all(len(row) == len(header) for row in body)
    named = {row[header.index("user_name")] for row in body}
    assert "Anna Patolog" in named


def test_csv_neutralises_formulas(w: World) -> None:
    rows = csv_rows(w, "rev_a", action="view")
    header, body = rows[0], rows[1:]
    cells = [cell for row in body for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@")]
    names = [row[header.index("user_name")] for row in body]
    for name in FORMULA_NAMES:  # still there, only defused
        assert any(name in shown and shown != name for shown in names), name


def test_csv_neutralises_formulas_behind_tab_and_carriage_return(w: World) -> None:
    """OWASP's CSV-injection list also names a leading tab and carriage return."""
    rows = csv_rows(w, "rev_a", action="view")
    cells = [cell for row in rows[1:] for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("\t", "\r")]


def test_reviewers_see_only_their_organisation(w: World) -> None:
    a = review(w, "rev_a")
    assert a and all(
        e["org_name"] == TEST_ORG or e["patient"] in ("196408233234", "198112289874") for e in a
    )
    assert not [
        e for e in a if e["resource"] == f"image:{w.images['PB']}"
    ]  # B's own patient, B's staff
    b = review(w, "rev_b")
    assert b and {e["org_name"] for e in b} == {B}
    assert {e["username"] for e in b} <= {"b_path", "rev_b"}
    c = review(w, "rev_c")
    assert c and {e["org_name"] for e in c} == {C}
    assert {e["username"] for e in c} <= {"c_rad", "rev_c"}


def test_reading_the_log_is_itself_logged(w: World) -> None:
    before = len(entries_of("rev_b"))
    review(w, "rev_b", user="b_path")
    after = entries_of("rev_b")
    assert len(after) == before + 1 and after[-1].purpose == "log_review"


@pytest.mark.parametrize("user", ["anna", "b_path", "admin_a", "pat1", "c_rad"])
def test_the_log_is_for_log_reviewers_only(w: World, user: str) -> None:
    client = w.clients[user]
    for url in ("/api/audit", "/api/audit?format=csv", "/api/audit/alerts", "/api/audit/verify"):
        response = client.get(url)
        assert response.status_code == 403, (user, url)
        assert set(response.get_json()) == {"error", "message"}


def test_the_log_needs_a_login(w: World) -> None:
    for url in ("/api/audit", "/api/audit/alerts", "/api/audit/verify", "/api/me/access-log"):
        assert w.app.test_client().get(url).status_code == 401, url


def test_alerts(w: World) -> None:
    response = w.clients["rev_a"].get("/api/audit/alerts")
    assert response.status_code == 200
    alerts = response.get_json()
    rules: dict[str, set[str]] = {}
    for alert in alerts:
        if "entry" in alert:
            rules.setdefault(alert["entry"]["resource"], set()).add(alert["rule"])
    assert "emergency_access" in rules[f"image:{w.images['P2']}"]
    emergency = [a for a in alerts if a["rule"] == "emergency_access"]
    assert any(a["entry"]["username"] == "c_rad" for a in emergency)
    denied = [a for a in alerts if a["rule"] == "access_without_relation"]
    assert any(
        a["entry"]["username"] == "c_rad" and a["entry"]["outcome"] == "denied" for a in denied
    )
    assert "after_hours" in rules["image:probe-saturday"]
    assert "after_hours" in rules["image:probe-weekday-evening"]
    assert "after_hours" in rules["image:probe-weekday-early"]
    assert "after_hours" not in rules.get("image:probe-weekday-day", set())
    assert "after_hours" not in rules.get("image:probe-weekday-seven", set())


def test_a_patient_sees_who_accessed_their_data(w: World) -> None:
    response = w.clients["pat1"].get("/api/me/access-log")
    assert response.status_code == 200
    items = response.get_json()
    seen = {(i["org"], i["unit"]) for i in items}
    assert (TEST_ORG, "Testpatologi") in seen
    assert (B, "Patologi Linköping") in seen
    assert all(
        i["at"] and datetime.fromisoformat(i["at"]).utcoffset() == timedelta(0) for i in items
    )
    with database(w.app).session() as session:
        expected = session.scalar(
            select(func.count()).where(
                AccessEntry.patient_id == w.patients["P1"],
                AccessEntry.outcome == "allowed",
                AccessEntry.user_id != w.users["pat1"],
            )
        )
    assert len(items) == expected  # P1's entries, and nothing of P2's
    assert (C, "Röntgen Privat") not in seen  # c_rad was refused: nothing of P1 was read


def test_a_patient_sees_emergency_access_to_their_data(w: World) -> None:
    items = w.clients["pat2"].get("/api/me/access-log").get_json()
    assert any(i["org"] == C and i["purpose"] == "emergency" for i in items)
    assert not any(i["org"] == B for i in items)  # b_path read P1, never P2


def test_the_patient_extract_is_for_patients(w: World) -> None:
    for user in ("anna", "rev_a", "admin_a"):
        assert w.clients[user].get("/api/me/access-log").status_code == 403, user


# --- the chain -------------------------------------------------------------------------------


def fill(application: Flask, synthetic_slide: Path) -> int:
    """Real entries (a view, a listing, a refusal) and appended ones; returns how many there are."""
    CURRENT[:] = [application]
    image = import_one(application, synthetic_slide)
    client = login(application.test_client())
    assert client.get(f"/api/images/{image}").status_code == 200
    assert client.get("/api/images").status_code == 200
    assert client.get("/api/cases").status_code == 200
    assert client.get("/api/images/0123456789abcdef").status_code == 404
    services(application).folder.flush(everything=True)  # the folded listings
    append(
        database(application),
        [
            Access(
                resource=f"image:{image}",
                action="view",
                outcome="allowed",
                username=f"u{n}",
                user_name="Åsa Öberg ✓",
                detail={"n": n, "nested": {"list": [1, 2.5, None]}},
            )
            for n in range(12)
        ],
    )
    with database(application).session() as session:
        return session.scalar(select(func.count()).select_from(AccessEntry))


def verdict() -> Any:
    with database(CURRENT[0]).session() as session:
        return verify(session)


def run_verify(application: Flask, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SAMSYN_DATA_DIR": str(application.config["DATA_DIR"]),
        "SAMSYN_DATABASE_URL": database_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "audit", "verify"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_names(result: subprocess.CompletedProcess[str], seq: int) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert re.search(rf"\b{seq}\b", output), f"entry {seq} not named in {output!r}"
    assert "Traceback" not in output


def row_of(seq: int) -> dict[str, Any]:
    table = AccessEntry.__table__
    with database(CURRENT[0]).engine.begin() as connection:
        return dict(connection.execute(select(table).where(table.c.seq == seq)).mappings().one())


def restore(row: dict[str, Any]) -> None:
    table = AccessEntry.__table__
    with database(CURRENT[0]).engine.begin() as connection:
        connection.execute(delete(table).where(table.c.seq == row["seq"]))
        connection.execute(insert(table).values(**row))
    assert verdict().ok


def test_the_cli_verifies_and_names_an_edited_entry(
    db_app: Flask, database_url: str, synthetic_slide: Path
) -> None:
    count = fill(db_app, synthetic_slide)
    assert count >= 15 and verdict().ok and verdict().entries == count
    intact = run_verify(db_app, database_url)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert str(count) in intact.stdout
    with database(db_app).engine.begin() as connection:
        connection.execute(text("UPDATE access_log SET user_name = 'Någon Annan' WHERE seq = 7"))
    assert_names(run_verify(db_app, database_url), 7)


def test_the_cli_names_removed_entries(app: Flask, synthetic_slide: Path) -> None:
    url = app.config["DATABASE_URL"]
    count = fill(app, synthetic_slide)
    middle = row_of(5)
    with database(app).engine.begin() as connection:
        connection.execute(text("DELETE FROM access_log WHERE seq = 5"))
    assert_names(run_verify(app, url), 5)
    restore(middle)
    with database(app).engine.begin() as connection:
        connection.execute(text(f"DELETE FROM access_log WHERE seq >= {count - 1}"))
    assert_names(run_verify(app, url), count - 1)


def test_verify_finds_every_kind_of_tampering(db_app: Flask, synthetic_slide: Path) -> None:
    count = fill(db_app, synthetic_slide)
    table = AccessEntry.__table__
    edits = {
        "user_name": "Någon Annan",
        "outcome": "denied",
        "patient_id": "0000000000000000",
        "client": "10.0.0.1",
        "flagged": True,
        "detail": {"n": 99},
        "prev_hash": "0" * 64,
        "hash": "f" * 64,
    }
    for seq, (column, value) in zip(range(3, 3 + len(edits)), edits.items(), strict=True):
        original = row_of(seq)
        with database(db_app).engine.begin() as connection:
            connection.execute(update(table).where(table.c.seq == seq).values({column: value}))
        result = verdict()
        assert not result.ok and result.broken_seq == seq, (column, result)
        restore(original)
    original = row_of(4)
    with database(db_app).engine.begin() as connection:
        connection.execute(
            update(table)
            .where(table.c.seq == 4)
            .values(at=aware(original["at"]) + timedelta(seconds=1))
        )
    assert verdict().broken_seq == 4
    restore(original)
    first = row_of(1)
    with database(db_app).engine.begin() as connection:
        connection.execute(delete(table).where(table.c.seq == 1))
    assert verdict().broken_seq == 1
    restore(first)
    last = row_of(count)
    with database(db_app).engine.begin() as connection:
        connection.execute(delete(table).where(table.c.seq == count))
    result = verdict()
    assert not result.ok and result.broken_seq == count
    restore(last)
    assert verdict().ok and verdict().entries == count


def test_concurrent_appends_keep_the_chain_intact(db_app: Flask) -> None:
    CURRENT[:] = [db_app]
    threads_count, per_thread = 8, 50
    start = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def worker(number: int) -> None:
        try:
            start.wait()
            for n in range(per_thread):
                append(
                    database(db_app),
                    [
                        Access(
                            resource=f"image:t{number}",
                            action="render",
                            outcome="allowed",
                            username=f"thread{number}",
                            detail={"n": n},
                        )
                    ],
                )
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads_count)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=120)
    assert not errors, errors[:3]
    result = verdict()
    assert result.ok, result
    assert result.entries == threads_count * per_thread
    with database(CURRENT[0]).session() as session:
        seqs = session.scalars(select(AccessEntry.seq).order_by(AccessEntry.seq)).all()
        per_user = dict(
            session.execute(
                select(AccessEntry.username, func.count()).group_by(AccessEntry.username)
            ).all()
        )
    assert seqs == list(range(1, threads_count * per_thread + 1))
    assert per_user == {f"thread{n}": per_thread for n in range(threads_count)}


def test_entries_appended_while_the_log_is_verified_are_no_break(
    app: Flask, synthetic_slide: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every process appends while the audit page verifies: an entry committed between
    the walk and the head's read is not a removal; a removal still is."""
    log_module = verify.__globals__  # the log's own module (`app` is the fixture here)
    count = fill(app, synthetic_slide)
    walk = log_module["_entries"]

    def appending_meanwhile(session: Any) -> Any:
        yield from walk(session)
        late = Access(resource="image:late", action="view", outcome="allowed", username="late")
        append(database(app), [late])

    monkeypatch.setitem(log_module, "_entries", appending_meanwhile)
    assert verdict().ok, verdict()
    monkeypatch.setitem(log_module, "_entries", walk)
    assert verdict().ok and verdict().entries == count + 1
    with database(app).engine.begin() as connection:
        connection.execute(text(f"DELETE FROM access_log WHERE seq = {count + 1}"))
    monkeypatch.setitem(log_module, "_entries", appending_meanwhile)
    broken = verdict()
    assert not broken.ok and broken.reason == "entries at the end were removed", broken
