"""The patient's loggutdrag in plain words (app/extract.py) and its routes: grouped by day,
organisation and unit, in time order, without listing noise and without internal ids;
`GET /api/me/access-log/grouped` for the page and `GET /api/me/access-log.pdf` to save and
print, both for the patient alone."""

from __future__ import annotations

import contextlib
import json
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

import app.auth
from app.api.static import catalogue
from app.audit import Access, append
from app.directory import add_org, add_patient, add_unit, add_user
from app.extract import group, line_words, pdf
from app.models import Organisation, Patient, User
from tests.conftest import TEST_ORG, TEST_PATIENT, database, login, make_app

STATIC = Path(__file__).resolve().parents[2] / "static"
SV, EN = catalogue(STATIC, "sv"), catalogue(STATIC, "en")
PASSWORD = "lösenord-för-test"
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
B = "Region Östergötland"
# Wednesday 5 March 2025; Stockholm is UTC+1.
MORNING = datetime(2025, 3, 5, 8, 0, tzinfo=UTC)
IDS = ("share-7f3a", "image-91c2", "case-44d0", "user-0b1e", "consent-5e5e", "grant-e111")


@dataclass
class E:
    """An access-log entry as app.extract reads it."""

    at: datetime
    action: str = "view"
    purpose: str = "care"
    basis: str | None = "own_org"
    role: str | None = "pathologist"
    org_name: str | None = TEST_ORG
    unit_name: str | None = "Testpatologi"
    detail: dict[str, Any] = field(default_factory=dict)


def at(minutes: float, days: int = 0) -> datetime:
    return MORNING + timedelta(days=days, minutes=minutes)


def lines_of(days: list[Any]) -> list[tuple[str, str | None, str | None, Any]]:
    return [
        (day.day.isoformat(), org.org, unit.unit, line)
        for day in days
        for org in day.orgs
        for unit in org.units
        for line in unit.lines
    ]


# --- grouping ------------------------------------------------------------------------------


def test_days_newest_first_then_organisations_units_and_lines_in_time_order() -> None:
    entries = [
        E(at(60), org_name=B, unit_name="Patologi Linköping", action="render"),
        E(at(0, days=1)),
        E(at(5)),
        E(at(30), unit_name="Röntgen"),
    ]
    days = group(entries)
    assert [d.day.isoformat() for d in days] == ["2025-03-06", "2025-03-05"]
    first = days[1]
    assert [o.org for o in first.orgs] == [TEST_ORG, B]
    assert [u.unit for u in first.orgs[0].units] == ["Testpatologi", "Röntgen"]
    lines = [line.start for _d, _o, _u, line in lines_of([first])]
    assert lines == sorted(lines)


def test_the_swedish_day_is_the_day_in_stockholm() -> None:
    late = datetime(2025, 3, 5, 23, 30, tzinfo=UTC)  # 00:30 on the 6th in Stockholm
    (day,) = group([E(late)])
    assert day.day.isoformat() == "2025-03-06"
    assert line_words(day.orgs[0].units[0].lines[0], SV)[0] == "00:30"


def test_folded_tile_entries_show_their_from_to_time() -> None:
    detail = {"tiles": 240, "from": at(0).isoformat(), "to": at(12).isoformat()}
    (day,) = group([E(at(0), action="render", detail=detail)])
    line = day.orgs[0].units[0].lines[0]
    time, what, why, role = line_words(line, SV)
    assert (time, what, why, role) == ("09:00–09:12", "Visade bilderna", "För din vård", "patolog")


def test_repeated_accesses_close_in_time_are_one_line_with_a_range() -> None:
    days = group([E(at(0)), E(at(3)), E(at(7)), E(at(60))])
    lines = [line for *_where, line in lines_of(days)]
    assert [(line_words(line, SV)[0], line.count) for line in lines] == [
        ("09:00–09:07", 3),
        ("10:00", 1),
    ]
    assert line_words(lines[0], SV)[1] == "Öppnade ditt fall (3 gånger)"


def test_listings_are_one_line_per_organisation_and_day() -> None:
    listing = {"listings": 4}
    entries = [
        E(at(0), action="list", detail=listing),
        E(at(40), action="list", unit_name="Röntgen", detail=listing),
        E(at(90), action="list", detail=listing),
        E(at(0, days=1), action="list", detail=listing),
        E(at(10), action="list", org_name=B, unit_name="Patologi Linköping"),
        E(at(20)),
    ]
    listed = [(d, o, line) for d, o, _u, line in lines_of(group(entries)) if line.what == "listed"]
    assert [(d, o) for d, o, _line in listed] == [
        ("2025-03-06", TEST_ORG),
        ("2025-03-05", TEST_ORG),
        ("2025-03-05", B),
    ]
    assert line_words(listed[1][2], SV)[1].startswith("Såg ditt fall i en lista")


def test_emergency_consent_and_second_opinion_are_named() -> None:
    entries = [
        E(at(0), purpose="emergency", basis="emergency:grant-e111", role="radiologist"),
        E(at(30), purpose="second_opinion", basis="share:share-7f3a+consent:consent-5e5e"),
        E(at(60), action="report", purpose="second_opinion", basis="share:share-7f3a"),
        E(at(90), action="read_log", purpose="log_review", role="log_reviewer"),
    ]
    words = [line_words(line, SV) for *_where, line in lines_of(group(entries))]
    assert words[0][2] == "Vid nödåtkomst, granskas i efterhand" and words[0][3] == "radiolog"
    assert words[1][2] == "För ett utlåtande (second opinion), med ditt samtycke"
    assert words[2][1] == "Gav ett utlåtande (second opinion)"
    assert words[3][1] == "Granskade loggen"
    english = [line_words(line, EN) for *_where, line in lines_of(group(entries))]
    assert english[1][2] == "For a second opinion, with your consent"
    assert english[0][2].startswith("Under emergency access")


def test_the_grouped_extract_holds_no_internal_ids() -> None:
    entries = [
        E(at(0), action="render", basis="share:share-7f3a", detail={"image": "image-91c2"}),
        E(at(5), action="view", basis="emergency:grant-e111", detail={"case": "case-44d0"}),
        E(at(9), action="share", detail={"share": "share-7f3a", "user": "user-0b1e"}),
    ]
    from app.extract import extract_json

    text = json.dumps(extract_json(group(entries)))
    assert not [name for name in IDS if name in text]


def test_every_code_has_words_in_both_languages() -> None:
    from app.extract import WHAT, WHY

    codes = [f"extract.what.{c}" for c in {*WHAT.values(), "gave_opinion", "used_data"}]
    codes += [f"extract.why.{c}" for c in {*WHY.values(), "consent"}]
    for texts in (SV, EN):
        assert not [code for code in codes if code not in texts]


def test_the_pdf_holds_the_patient_the_period_and_the_lines() -> None:
    days = group([E(at(0), action="render"), E(at(30), purpose="emergency", basis="emergency:x")])
    body = pdf(days, SV, "Test Testsson", "19640823-3234", at(0), compress=False)
    assert body.startswith(b"%PDF")
    text = pdf_text(body)
    for expected in (
        "Loggutdrag",
        "Test Testsson",
        "19640823-3234",
        "2025-03-05 - 2025-03-05",
        "Vårdgivare: Testregion",
        "Vårdenhet: Testpatologi",
        "09:00   Visade bilderna · För din vård · patolog",
        "Vid nödåtkomst",
    ):
        assert expected in text, expected


def pdf_text(body: bytes) -> str:
    """The text shown by a PDF's (possibly compressed) content streams: the strings of its
    Tj operators, in order, decoded as Latin-1."""
    chunks = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", body, re.S):
        with contextlib.suppress(zlib.error):
            stream = zlib.decompress(stream)
        for string in re.findall(rb"\((.*?)(?<!\\)\)\s*Tj", stream, re.S):
            chunks.append(re.sub(rb"\\(.)", rb"\1", string).decode("latin-1"))
    return "\n".join(chunks)


# --- the routes ----------------------------------------------------------------------------


@dataclass
class World:
    app: Flask
    clients: dict[str, FlaskClient]


@pytest.fixture()
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setattr(app.auth, "_hasher", CHEAP)
    monkeypatch.setattr(app.auth, "_DUMMY_HASH", CHEAP.hash("dummy"))
    application = make_app(tmp_path)
    with database(application).session() as session:
        add_org(session, B, "SE2321000032", "region")
        add_unit(session, "Patologi Linköping", B, "SE2321000032-P1")
        other = add_patient(session, "811228-9874", "Per Persson", TEST_ORG)
        hidden = add_patient(session, "880320-0016", "Hemlig Person", TEST_ORG, protected=True)
        users = [
            ("pat1", TEST_ORG, "patient", None, TEST_PATIENT),
            ("pat2", TEST_ORG, "patient", None, "811228-9874"),
            ("pat3", TEST_ORG, "patient", None, "880320-0016"),
            ("anna", TEST_ORG, "pathologist", "Testpatologi", None),
            ("bo", B, "pathologist", "Patologi Linköping", None),
            ("rev", TEST_ORG, "log_reviewer", None, None),
            ("admin", TEST_ORG, "admin", None, None),
        ]
        for username, org, role, unit, number in users:
            add_user(session, username, org, role, PASSWORD, unit, None, username.title(), number)
        p1 = session.scalar(select(Patient.id).where(Patient.name == "Test Testsson"))
        org_a = session.scalar(select(Organisation.id).where(Organisation.name == TEST_ORG))
        org_b = session.scalar(select(Organisation.id).where(Organisation.name == B))
        anna = session.scalar(select(User.id).where(User.username == "anna"))
        other_id, hidden_id = other.id, hidden.id
    today = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

    def access(patient: str | None, **values: Any) -> Access:
        base: dict[str, Any] = {
            "resource": "image:image-91c2",
            "action": "view",
            "outcome": "allowed",
            "user_id": anna,
            "username": "anna",
            "user_name": "Anna",
            "role": "pathologist",
            "org_id": org_a,
            "org_name": TEST_ORG,
            "unit_name": "Testpatologi",
            "patient_id": patient,
            "basis": "own_org",
            "at": today,
        }
        return Access(**{**base, **values})

    until = today + timedelta(minutes=9)
    tiles = {"tiles": 80, "from": today.isoformat(), "to": until.isoformat()}
    append(
        database(application),
        [
            access(p1, action="list", resource="case:case-44d0", detail={"listings": 3}),
            access(p1, action="render", detail=tiles),
            access(
                p1,
                username="bo",
                user_name="Bo",
                org_id=org_b,
                org_name=B,
                unit_name="Patologi Linköping",
                purpose="second_opinion",
                basis="share:share-7f3a",
                at=today + timedelta(minutes=20),
            ),
            access(p1, action="view", outcome="denied", org_name="Nekad Region"),
            access(other_id, org_name="Per Perssons Region", purpose="emergency"),
            access(hidden_id, action="render"),
        ],
    )
    clients = {
        username: login(application.test_client(), username, PASSWORD) for username, *_ in users
    }
    application.config["EXTRACT_PDF_COMPRESS"] = False
    return World(application, clients)


def test_the_patient_gets_the_grouped_extract(world: World) -> None:
    response = world.clients["pat1"].get("/api/me/access-log/grouped")
    assert response.status_code == 200
    extract = response.get_json()
    assert extract["patient"] == {"name": "Test Testsson", "personnummer": "19640823-3234"}
    (day,) = extract["days"]
    assert extract["from"] == extract["to"] == day["day"]
    assert [org["org"] for org in day["orgs"]] == [TEST_ORG, B]
    ours = day["orgs"][0]["units"][0]
    assert ours["unit"] == "Testpatologi"
    assert [line["what"] for line in ours["lines"]] == ["listed", "viewed_images"]
    theirs = day["orgs"][1]["units"][0]["lines"][0]
    assert theirs["why"] == ["second_opinion"] and theirs["role"] == "pathologist"
    text = response.get_data(as_text=True)
    assert not [name for name in IDS if name in text]
    for never in ("Nekad Region", "Per Perssons Region", "anna", "Anna"):
        assert never not in text  # refusals, another patient's entries, staff names


def test_the_flat_list_is_kept(world: World) -> None:
    items = world.clients["pat1"].get("/api/me/access-log").get_json()
    assert {item["org"] for item in items} == {TEST_ORG, B}
    assert {"at", "org", "unit", "action", "purpose", "role"} == set(items[0])


@pytest.mark.parametrize("user", ["anna", "rev", "admin", "bo"])
def test_the_extract_routes_refuse_everyone_but_the_patient(world: World, user: str) -> None:
    for url in ("/api/me/access-log/grouped", "/api/me/access-log.pdf"):
        response = world.clients[user].get(url)
        assert response.status_code == 403, (user, url)
        assert response.is_json


def test_the_extract_routes_need_a_login(world: World) -> None:
    for url in ("/api/me/access-log/grouped", "/api/me/access-log.pdf"):
        assert world.app.test_client().get(url).status_code == 401


def test_another_patients_entries_never_appear(world: World) -> None:
    extract = world.clients["pat2"].get("/api/me/access-log/grouped").get_json()
    assert [org["org"] for day in extract["days"] for org in day["orgs"]] == ["Per Perssons Region"]
    line = extract["days"][0]["orgs"][0]["units"][0]["lines"][0]
    assert line["why"] == ["emergency"]


def test_the_pdf_is_an_attachment_in_the_patients_language(world: World) -> None:
    response = world.clients["pat1"].get("/api/me/access-log.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    body = response.get_data()
    assert body.startswith(b"%PDF")
    text = pdf_text(body)
    assert "Test Testsson" in text and "19640823-3234" in text
    assert "Vårdgivare: Region Östergötland" in text and "Vårdenhet: Patologi Linköping" in text
    assert "Visade bilderna · För din vård · patolog" in text
    assert "För ett utlåtande (second opinion)" in text
    assert not [name for name in IDS if name in text]

    client = world.clients["pat1"]
    assert client.put("/api/me/language", json={"language": "en"}).status_code == 200
    english = pdf_text(client.get("/api/me/access-log.pdf").get_data())
    assert "Looked at your images · For your care · pathologist" in english
    assert "Care provider: Region Östergötland" in english


def test_the_pdf_masks_a_protected_identity(world: World) -> None:
    text = pdf_text(world.clients["pat3"].get("/api/me/access-log.pdf").get_data())
    assert "Skyddad identitet" in text and "Hemlig" not in text
    grouped = world.clients["pat3"].get("/api/me/access-log/grouped").get_json()
    assert grouped["patient"]["name"] == "Skyddad identitet"
