"""Referrals (remiss) and their answers (svar) through the HTTP routes, and the policy rows
that make an accepted referral a care relation (DOMAIN.md rule 2).

The world (one per module: logins cost an argon2 hash each) has three organisations:
A is conftest's Testregion (pathologist `tester` of Testpatologi, the requester; a
clinician of Testkirurgi; a clinician of Testonkologi who sends the worklist's referrals),
B is Region Östergötland (two pathologists, a clinician and a student of its pathology
unit, a radiologist of its radiology unit), C is Region Jönköping (a pathologist of one
unit, and one of another unit that receives only the worklist's referrals). Every test
makes its own case with its own slide, so tests do not see each other's relations.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

import app.auth
from app.directory import add_org, add_patient, add_unit, add_user
from app.models import (
    AccessEntry,
    Addendum,
    Image,
    Patient,
    Referral,
    ReferralStep,
    Report,
    User,
    new_id,
)
from app.policy import (
    Actor,
    BlockFacts,
    CaseFacts,
    ReferralFacts,
    ReferralSubject,
    Relations,
    Role,
    ShareFacts,
    decide,
)
from app.services import services
from tests.conftest import TEST_ORG, TEST_PATIENT, TEST_USER, database, import_one, login, make_app

PASSWORD = "lösenord för test"
B_ORG, B_UNIT, B_RAD = "Region Östergötland", "Klinisk patologi Linköping", "Röntgen Linköping"
B_UNIT_HSA = "SE2321000032-PAT"
C_ORG, C_UNIT, C_LIST = "Region Jönköping", "Patologi Jönköping", "Patologi Värnamo"
A_UNIT, A_KIR, A_ONK = "Testpatologi", "Testkirurgi", "Testonkologi"
# Patients who get a spärr, one test each; no other test uses them.
BLOCKED_PATIENT, BLOCKED_TOO = "811228-9874", "880320-0016"
HEX64 = re.compile(r"[0-9a-f]{64}")

USERS: dict[str, tuple[str, str, str, str]] = {
    # key: (username, organisation, role, unit)
    "a_klin": ("a.klin", TEST_ORG, "clinician", A_KIR),
    "a_onk": ("a.onk", TEST_ORG, "clinician", A_ONK),
    "b_path": ("b.patolog", B_ORG, "pathologist", B_UNIT),
    "b_path2": ("b.patolog2", B_ORG, "pathologist", B_UNIT),
    "b_klin": ("b.klin", B_ORG, "clinician", B_UNIT),
    "b_student": ("b.student", B_ORG, "student", B_UNIT),
    "b_rad": ("b.radiolog", B_ORG, "radiologist", B_RAD),
    "c_path": ("c.patolog", C_ORG, "pathologist", C_UNIT),
    "c_list": ("c.lista", C_ORG, "pathologist", C_LIST),
}


@dataclass
class World:
    app: Flask
    slide_dir: Path
    template: str  # an imported slide whose row is copied for every new case
    clients: dict[str, FlaskClient] = field(default_factory=dict)

    def __getitem__(self, key: str) -> FlaskClient:
        return self.clients[key]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, synthetic_slide: Path) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("referrals")
    with pytest.MonkeyPatch.context() as patch:
        # Cheap argon2 parameters: ten users log in; the referral rules are what is tested.
        cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        patch.setattr(app.auth, "_hasher", cheap)
        patch.setattr(app.auth, "_DUMMY_HASH", cheap.hash("dummy"))
        application = make_app(data_dir)
        with database(application).session() as session:
            add_org(session, B_ORG, "SE2321000032", "region")
            add_org(session, C_ORG, "SE2321000057", "region")
            for unit, org, hsa in (
                (A_KIR, TEST_ORG, "SE0000000001-K1"),
                (A_ONK, TEST_ORG, "SE0000000001-O1"),
                (B_UNIT, B_ORG, B_UNIT_HSA),
                (B_RAD, B_ORG, "SE2321000032-RAD"),
                (C_UNIT, C_ORG, "SE2321000057-PAT"),
                (C_LIST, C_ORG, "SE2321000057-VAR"),
            ):
                add_unit(session, unit, org, hsa)
            add_patient(session, BLOCKED_PATIENT, "Sparr Sparrsson", TEST_ORG)
            add_patient(session, BLOCKED_TOO, "Spärrad Spärrsson", TEST_ORG)
            for username, org, role, unit in USERS.values():
                add_user(session, username, org, role, PASSWORD, unit, name=f"Namn {username}")
            add_user(session, "a.patient", TEST_ORG, "patient", PASSWORD, patient=TEST_PATIENT)
        slide_dir = tmp_path_factory.mktemp("referral-slides")
        shutil.copy(synthetic_slide, slide_dir / "template.tif")
        template = import_one(application, slide_dir / "template.tif")
        w = World(application, slide_dir, template)
        w.clients["tester"] = login(application.test_client())
        for key, (username, *_rest) in USERS.items():
            w.clients[key] = login(application.test_client(), username, PASSWORD)
        w.clients["patient"] = login(application.test_client(), "a.patient", PASSWORD)
        yield w


# --- helpers --------------------------------------------------------------------------------------


def loose_slide(world: World) -> str:
    """A new slide of organisation A outside any case, on the template's readable file."""
    with database(world.app).session() as session:
        template = session.get(Image, world.template)
        assert template is not None
        columns = {
            column.name: getattr(template, column.name)
            for column in Image.__table__.columns
            if column.name not in ("id", "source_key", "case_id", "created")
        }
        image = Image(**{**columns, "source_key": new_id(), "case_id": None})
        session.add(image)
        session.flush()
        return image.id


@dataclass(frozen=True)
class CaseMade:
    id: str
    image: str


def new_case(world: World, patient: str = TEST_PATIENT) -> CaseMade:
    image = loose_slide(world)
    response = world["tester"].post(
        "/api/cases", json={"title": "Remissfall", "patient": patient, "images": [image]}
    )
    assert response.status_code == 201, response.get_json()
    return CaseMade(response.get_json()["id"], image)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.get_json())
    return response.get_json()


def error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.get_json())
    body = response.get_json()
    assert isinstance(body, dict) and {"error", "message"} <= set(body), body
    if code is not None:
        assert body["error"] == code, body
    return dict(body)


def due_in(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def refer(world: World, case: CaseMade, by: str = "tester", **body: Any) -> Any:  # the raw response
    payload: dict[str, Any] = {
        "case": case.id,
        "to_unit": B_UNIT,
        "question": "Malignitet? Vänligen bedöm marginalerna.",
        "history": "Resektat.\nTidigare benignt.",
        "priority": "routine",
    }
    payload.update(body)
    payload = {key: value for key, value in payload.items() if value is not None}
    return world[by].post("/api/referrals", json=payload)


def sent(
    world: World, case: CaseMade | None = None, **body: Any
) -> tuple[CaseMade, dict[str, Any]]:
    case = case or new_case(world)
    return case, ok(refer(world, case, **body), 201)


def accepted(world: World, by: str = "b_path", **body: Any) -> tuple[CaseMade, dict[str, Any]]:
    case, referral = sent(world, **body)
    return case, ok(world[by].post(f"/api/referrals/{referral['id']}/accept"))


def referral_rows(world: World, case_id: str) -> tuple[int, int]:
    """(referrals, steps) stored for the case."""
    with database(world.app).session() as session:
        referrals = session.scalar(
            select(func.count()).select_from(Referral).where(Referral.case_id == case_id)
        )
        steps = session.scalar(
            select(func.count())
            .select_from(ReferralStep)
            .join(Referral, Referral.id == ReferralStep.referral_id)
            .where(Referral.case_id == case_id)
        )
        return int(referrals or 0), int(steps or 0)


def log_entries(world: World, resource: str) -> list[AccessEntry]:
    with database(world.app).session() as session:
        return list(
            session.scalars(
                select(AccessEntry)
                .where(AccessEntry.resource == resource)
                .order_by(AccessEntry.seq)
            )
        )


def entries_by(world: World, username: str) -> list[AccessEntry]:
    with database(world.app).session() as session:
        return list(session.scalars(select(AccessEntry).where(AccessEntry.username == username)))


def entries_naming(world: World, referral_id: str) -> list[AccessEntry]:
    """Every access-log entry about a referral: as its resource, or naming it in detail."""
    with database(world.app).session() as session:
        rows = session.scalars(select(AccessEntry).order_by(AccessEntry.seq)).all()
        return [
            row
            for row in rows
            if row.resource == f"referral:{referral_id}"
            or (row.detail or {}).get("referral") == referral_id
        ]


def opens(client: FlaskClient, case: CaseMade) -> list[int]:
    """The statuses of the case, its image and its IIIF info for one user."""
    return [
        client.get(f"/api/cases/{case.id}").status_code,
        client.get(f"/api/images/{case.image}").status_code,
        client.get(f"/iiif/3/{case.image}/info.json").status_code,
    ]


CLOSED = [404, 404, 404]
OPEN = [200, 200, 200]


def incoming(client: FlaskClient, query: str = "") -> dict[str, Any]:
    return dict(ok(client.get(f"/api/referrals?box=incoming{query}")))


def user_id(world: World, username: str) -> str:
    with database(world.app).session() as session:
        found = session.scalar(select(User.id).where(User.username == username))
        assert found is not None
        return str(found)


# --- sending --------------------------------------------------------------------------------------


def test_a_referral_is_sent_to_a_unit_of_another_region(world: World) -> None:
    case = new_case(world)
    referral = ok(refer(world, case, priority="urgent", due=due_in(days=3)), 201)
    assert referral["status"] == "sent" and referral["priority"] == "urgent"
    assert referral["case"] == case.id and referral["images"] == [case.image]
    assert referral["to"] == {"org": B_ORG, "unit": B_UNIT, "user": None}
    assert referral["from"]["unit"] == A_UNIT and referral["from"]["org"] == TEST_ORG
    assert referral["question"].startswith("Malignitet?")
    assert referral["history"] == "Resektat.\nTidigare benignt."
    assert referral["overdue"] is False and referral["due"] is not None
    assert [step["step"] for step in referral["steps"]] == ["create"]
    assert referral["steps"][0]["user"] and referral["steps"][0]["at"]
    assert referral["report"] is None
    shown = ok(world["tester"].get(f"/api/referrals/{referral['id']}"))
    assert shown["status"] == "sent" and shown["id"] == referral["id"]


def test_the_unit_may_be_named_by_hsa_id(world: World) -> None:
    _case, referral = sent(world, to_unit=B_UNIT_HSA)
    assert referral["to"]["unit"] == B_UNIT


def test_a_draft_is_sent_later_by_the_requester_only(world: World) -> None:
    case = new_case(world)
    draft = ok(refer(world, case, draft=True), 201)
    assert draft["status"] == "draft"
    listed = incoming(world["b_path"])["referrals"]
    assert draft["id"] not in [item["id"] for item in listed]
    # the receiving side does not know of a draft at all
    error(world["b_path"].post(f"/api/referrals/{draft['id']}/send"), 404)
    error(world["b_path"].post(f"/api/referrals/{draft['id']}/accept"), 404)
    now_sent = ok(world["tester"].post(f"/api/referrals/{draft['id']}/send"))
    assert now_sent["status"] == "sent"
    assert [step["step"] for step in now_sent["steps"]] == ["create", "send"]
    error(world["tester"].post(f"/api/referrals/{draft['id']}/send"), 409, "wrong_state")
    listed = incoming(world["b_path"])["referrals"]
    assert draft["id"] in [item["id"] for item in listed]


def test_a_draft_is_not_the_receivers_to_read(world: World) -> None:
    """Until it is sent, a draft is the requester's own: the receiving unit does not learn
    of it (its question, its patient) by guessing or keeping its id."""
    case = new_case(world)
    draft = ok(refer(world, case, draft=True), 201)
    response = world["b_path"].get(f"/api/referrals/{draft['id']}")
    assert response.status_code == 404, response.get_json()
    assert "Malignitet" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"to_unit": "Ingen sådan enhet"}, 404),
        ({"to_unit": None, "to_user": "ingen.alls"}, 404),
        ({"to_unit": None, "to_user": "b.student"}, 404),  # not a specialist (care role)
        ({"to_unit": A_UNIT}, 400),  # the requester's own unit
        ({"to_unit": None, "to_user": TEST_USER}, 400),  # oneself
        ({"to_unit": B_UNIT, "to_user": "b.patolog"}, 400),  # both
        ({"to_unit": None}, 400),  # neither
        ({"to_unit": ""}, 400),
        ({"to_unit": ["x"]}, 400),
        ({"priority": "high"}, 400),
        ({"priority": "ACUTE"}, 400),
        ({"priority": 1}, 400),
        ({"due": "2020-01-01T00:00:00Z"}, 400),  # past
        ({"due": "2031-01-01T00:00:00Z"}, 400),  # years ahead
        ({"due": "next tuesday"}, 400),  # not ISO 8601
        ({"due": "\ud800"}, 400),  # lone surrogate
        ({"due": 1767225600}, 400),
        ({"question": None}, 400),
        ({"question": "   "}, 400),
        ({"question": "x" * 20_001}, 400),
        ({"question": "Fråga \ud800"}, 400),
        ({"history": "bell\u0007"}, 400),
        ({"images": "abc"}, 400),
        ({"images": ["../x"]}, 400),
        ({"draft": "yes"}, 400),
        ({"blinded": 1}, 400),
        ({"copy": "a.klin"}, 400),
        ({"copy": ["ingen.alls"]}, 404),
    ],
)
def test_bad_referrals_are_refused_and_nothing_is_stored(
    world: World, body: dict[str, Any], status: int
) -> None:
    case = new_case(world)
    error(refer(world, case, **body), status)  # a None value leaves the field out
    assert referral_rows(world, case.id) == (0, 0)


def test_images_not_of_the_case_are_refused(world: World) -> None:
    case, other = new_case(world), new_case(world)
    error(refer(world, case, images=[other.image]), 400)
    error(refer(world, case, images=[case.image, loose_slide(world)]), 400)
    error(refer(world, case, images=["0" * 32]), 400)
    assert referral_rows(world, case.id) == (0, 0)


@pytest.mark.parametrize("body", ["[1]", "null", "nonsense", '"text"'])
def test_the_body_must_be_a_json_object(world: World, body: str) -> None:
    response = world["tester"].post("/api/referrals", data=body, content_type="application/json")
    error(response, 400)


def test_unknown_case_is_404(world: World) -> None:
    error(refer(world, CaseMade("0" * 32, "x")), 404)
    error(refer(world, CaseMade("y" * 40, "x")), 400)  # not an id at all


def test_another_organisation_cannot_refer_the_case(world: World) -> None:
    case = new_case(world)
    for key in ("c_path", "b_path"):
        response = refer(world, case, by=key, to_unit=C_UNIT if key == "b_path" else B_UNIT)
        assert response.status_code == 404, (key, response.get_json())
    # a share lets B read the case, never refer it onwards
    share = {"org": B_ORG, "until": due_in(days=5), "purpose": "second_opinion"}
    ok(world["tester"].post(f"/api/cases/{case.id}/shares", json=share), 201)
    assert world["b_path"].get(f"/api/cases/{case.id}").status_code == 200
    error(refer(world, case, by="b_path", to_unit=C_UNIT), 403)
    assert referral_rows(world, case.id) == (0, 0)
    denied = [e for e in log_entries(world, f"case:{case.id}") if e.action == "referral"]
    assert denied and all(entry.outcome == "denied" for entry in denied)


def test_not_logged_in_is_401(world: World) -> None:
    anonymous = world.app.test_client()
    assert anonymous.get("/api/referrals").status_code == 401
    assert anonymous.post("/api/referrals", json={}).status_code in (401, 403)


# --- the care relation ----------------------------------------------------------------------------


def test_before_acceptance_the_receiver_reads_the_referral_but_not_the_case(world: World) -> None:
    case, referral = sent(world)
    b = world["b_path"]
    assert opens(b, case) == CLOSED
    shown = ok(b.get(f"/api/referrals/{referral['id']}"))
    assert shown["status"] == "sent" and shown["question"] == referral["question"]
    assert referral["id"] in [item["id"] for item in incoming(b)["referrals"]]
    # the whole receiving unit sees it, another unit and another region do not
    assert referral["id"] in [item["id"] for item in incoming(world["b_klin"])["referrals"]]
    for key in ("b_rad", "c_path", "b_student"):
        assert referral["id"] not in [item["id"] for item in incoming(world[key])["referrals"]]
        assert world[key].get(f"/api/referrals/{referral['id']}").status_code == 404, key
        assert opens(world[key], case) == CLOSED, key


def test_acceptance_opens_the_case_for_a_second_opinion(world: World) -> None:
    case, referral = sent(world)
    b = world["b_path"]
    assert opens(b, case) == CLOSED
    accepted_ = ok(b.post(f"/api/referrals/{referral['id']}/accept"))
    assert accepted_["status"] == "accepted"
    assert [step["step"] for step in accepted_["steps"]] == ["create", "accept"]
    assert opens(b, case) == OPEN
    shown = ok(b.get(f"/api/cases/{case.id}"))
    basis = f"referral:{referral['id']}"
    assert shown["access"]["basis"] == basis and shown["access"]["purpose"] == "second_opinion"
    for resource in (f"case:{case.id}", f"image:{case.image}"):
        views = [e for e in log_entries(world, resource) if e.username == "b.patolog"]
        allowed = [e for e in views if e.outcome == "allowed"]
        assert allowed, resource
        assert all(e.basis == basis and e.purpose == "second_opinion" for e in allowed)
        assert any(e.outcome == "denied" for e in views)  # the look before accepting
    # the whole receiving unit now sees it; another unit of B and the student do not
    assert opens(world["b_klin"], case) == OPEN
    assert opens(world["b_rad"], case) == CLOSED
    assert opens(world["b_student"], case) == CLOSED
    assert opens(world["c_path"], case) == CLOSED
    # a second opinion reads and marks up, it does not share the case onwards
    share = {"org": C_ORG, "until": due_in(days=5)}
    error(b.post(f"/api/cases/{case.id}/shares", json=share), 403)


def test_a_referral_to_a_named_specialist_opens_the_case_to_them_alone(world: World) -> None:
    case, referral = sent(world, to_unit=None, to_user="b.patolog")
    assert referral["to"]["user"] == "Namn b.patolog" and referral["to"]["unit"] == B_UNIT
    other = world["b_path2"]
    assert other.get(f"/api/referrals/{referral['id']}").status_code == 404
    assert other.post(f"/api/referrals/{referral['id']}/accept").status_code == 404
    ok(world["b_path"].post(f"/api/referrals/{referral['id']}/accept"))
    assert opens(world["b_path"], case) == OPEN
    assert opens(other, case) == CLOSED


def test_decline_needs_a_reason_and_opens_nothing(world: World) -> None:
    case, referral = sent(world)
    url = f"/api/referrals/{referral['id']}/decline"
    b = world["b_path"]
    error(b.post(url, json={}), 400)
    error(b.post(url, json={"reason": "  "}), 400)
    error(b.post(url), 400)
    assert ok(b.get(f"/api/referrals/{referral['id']}"))["status"] == "sent"
    declined = ok(b.post(url, json={"reason": "Fel mottagare: skicka till Jönköping."}))
    assert declined["status"] == "declined"
    assert declined["reason"] == "Fel mottagare: skicka till Jönköping."
    assert opens(b, case) == CLOSED
    error(b.post(f"/api/referrals/{referral['id']}/accept"), 409, "wrong_state")
    assert opens(b, case) == CLOSED
    shown = ok(world["tester"].get(f"/api/referrals/{referral['id']}"))
    assert shown["status"] == "declined" and shown["reason"].startswith("Fel mottagare")


def test_closing_ends_the_access_at_once(world: World) -> None:
    case, referral = accepted(world)
    b = world["b_path"]
    assert opens(b, case) == OPEN  # and the decision is now cached
    closed = ok(world["tester"].post(f"/api/referrals/{referral['id']}/close"))
    assert closed["status"] == "closed"
    assert opens(b, case) == CLOSED
    assert b.get(f"/iiif/3/{case.image}/full/64,/0/default.jpg").status_code == 404
    # the record of the referral stays readable to both sides
    assert ok(b.get(f"/api/referrals/{referral['id']}"))["status"] == "closed"
    error(b.post(f"/api/referrals/{referral['id']}/accept"), 409, "wrong_state")
    error(b.post(f"/api/referrals/{referral['id']}/close"), 409, "wrong_state")


def test_the_receiver_may_close_too(world: World) -> None:
    case, referral = accepted(world)
    ok(world["b_path"].post(f"/api/referrals/{referral['id']}/close"))
    assert opens(world["b_path"], case) == CLOSED


def test_withdrawal_by_the_requester_before_acceptance(world: World) -> None:
    case, referral = sent(world)
    url = f"/api/referrals/{referral['id']}/withdraw"
    error(world["b_path"].post(url), 403)  # the receiver does not withdraw
    withdrawn = ok(world["tester"].post(url))
    assert withdrawn["status"] == "withdrawn"
    error(world["b_path"].post(f"/api/referrals/{referral['id']}/accept"), 409, "wrong_state")
    assert opens(world["b_path"], case) == CLOSED
    # after acceptance there is nothing to withdraw
    _case, later = accepted(world)
    error(world["tester"].post(f"/api/referrals/{later['id']}/withdraw"), 409, "wrong_state")


def test_a_spärr_still_wins_over_an_accepted_referral(world: World) -> None:
    case = new_case(world, patient=BLOCKED_PATIENT)
    _case, referral = sent(world, case)
    b = world["b_path"]
    ok(b.post(f"/api/referrals/{referral['id']}/accept"))
    assert opens(b, case) == OPEN
    block = {"reason": "Patienten begär spärr mot andra vårdgivare."}
    ok(world["tester"].post(f"/api/patients/{BLOCKED_PATIENT}/blocks", json=block), 201)
    assert opens(b, case) == CLOSED
    assert world["tester"].get(f"/api/cases/{case.id}").status_code == 200  # inside A
    denied = [e for e in log_entries(world, f"case:{case.id}") if e.username == "b.patolog"]
    assert denied[-1].outcome == "denied" and denied[-1].flagged


def test_a_spärr_hides_the_patient_in_the_referral_from_the_other_side(world: World) -> None:
    """DOMAIN.md rule 3: the other side sees only that blocked information exists, with no
    metadata; the referral names the patient, so under a spärr it must not name them to
    the receiving organisation (neither when read nor in the worklist)."""
    case = new_case(world, patient=BLOCKED_TOO)
    _case, referral = sent(world, case)
    block = {"reason": "Patienten begär spärr mot andra vårdgivare."}
    ok(world["tester"].post(f"/api/patients/{BLOCKED_TOO}/blocks", json=block), 201)

    def seen(client: FlaskClient, url: str) -> str:
        return json.dumps(ok(client.get(url)), ensure_ascii=False)

    own = seen(world["tester"], f"/api/referrals/{referral['id']}")
    assert "Spärrsson" in own  # inside A, the referral still names its patient
    shown = world["b_path"].get(f"/api/referrals/{referral['id']}")
    listed = world["b_path"].get("/api/referrals?box=incoming")
    for response in (shown, listed):
        text = json.dumps(response.get_json(), ensure_ascii=False)
        assert "Spärrsson" not in text and "0320-0016" not in text, text[:300]


# --- who may take the steps -----------------------------------------------------------------------


def test_accepting_as_another_unit_or_organisation_is_refused(world: World) -> None:
    case, referral = sent(world)
    url = f"/api/referrals/{referral['id']}/accept"
    for key in ("b_rad", "c_path", "b_student", "a_klin"):
        response = world[key].post(url)
        assert response.status_code in (403, 404), (key, response.get_json())
    error(world["tester"].post(url), 403)  # the requester knows it, but does not accept
    shown = ok(world["tester"].get(f"/api/referrals/{referral['id']}"))
    assert shown["status"] == "sent" and [s["step"] for s in shown["steps"]] == ["create"]
    assert opens(world["b_rad"], case) == CLOSED


def test_accepting_twice_is_409_wrong_state(world: World) -> None:
    _case, referral = accepted(world)
    body = error(world["b_path2"].post(f"/api/referrals/{referral['id']}/accept"), 409)
    assert body["error"] == "wrong_state" and body["status"] == "accepted"
    steps = ok(world["tester"].get(f"/api/referrals/{referral['id']}"))["steps"]
    assert [step["step"] for step in steps] == ["create", "accept"]
    failed = [e for e in log_entries(world, f"referral:{referral['id']}") if e.outcome == "failed"]
    assert [e.action for e in failed] == ["accept"]


def test_unknown_referral_is_404(world: World) -> None:
    for path in ("", "/accept", "/close", "/withdraw", "/report/sign"):
        method = world["b_path"].get if path == "" else world["b_path"].post
        error(method(f"/api/referrals/{'0' * 32}{path}"), 404)
    error(world["b_path"].put(f"/api/referrals/{'0' * 32}/report", json={"findings": "x"}), 404)
    error(world["b_path"].get(f"/api/referrals/{'z' * 40}"), 404)


# --- the report -----------------------------------------------------------------------------------


REPORT = {
    "findings": "Invasivt duktalt karcinom, grad 2.",
    "conclusion": "Malignt. Fria marginaler.",
    "codes": ["363346000"],
}


def report_url(referral: dict[str, Any]) -> str:
    return f"/api/referrals/{referral['id']}/report"


def test_no_report_before_acceptance(world: World) -> None:
    _case, referral = sent(world)
    error(world["b_path"].put(report_url(referral), json=REPORT), 409)
    shown = ok(world["tester"].get(f"/api/referrals/{referral['id']}"))
    assert shown["status"] == "sent" and shown["report"] is None
    with database(world.app).session() as session:
        assert session.scalar(select(Report).where(Report.referral_id == referral["id"])) is None


def test_the_report_is_versioned_like_annotations(world: World) -> None:
    _case, referral = accepted(world)
    b, url = world["b_path"], report_url(referral)
    first = b.put(url, json=REPORT)
    report = ok(first)
    assert report["version"] == 1 and report["status"] == "preliminary"
    assert report["findings"] == REPORT["findings"] and report["signed"] is None
    assert report["codes"] == [{"code": "363346000", "display": ""}]
    assert first.headers["ETag"] == '"1"'
    assert ok(b.get(f"/api/referrals/{referral['id']}"))["status"] == "in_review"
    # no If-Match on an existing report: 428
    error(b.put(url, json=REPORT), 428)
    second = ok(b.put(url, json={**REPORT, "conclusion": "Malignt."}, headers={"If-Match": '"1"'}))
    assert second["version"] == 2 and second["conclusion"] == "Malignt."
    # a stale version: 409 with the current report
    stale = error(
        world["b_path2"].put(
            url, json={**REPORT, "conclusion": "Benignt."}, headers={"If-Match": "1"}
        ),
        409,
    )
    assert stale["current"]["version"] == 2 and stale["current"]["conclusion"] == "Malignt."
    error(b.put(url, json=REPORT, headers={"If-Match": "två"}), 400)
    shown = ok(b.get(f"/api/referrals/{referral['id']}"))["report"]
    assert shown["version"] == 2 and shown["conclusion"] == "Malignt."
    # the requesting side reads the answer once it is signed, not while it is written
    assert ok(world["tester"].get(f"/api/referrals/{referral['id']}"))["report"] is None


def test_the_report_is_written_by_the_receiving_side_only(world: World) -> None:
    _case, referral = accepted(world)
    url = report_url(referral)
    error(world["tester"].put(url, json=REPORT), 403)
    for key in ("b_rad", "c_path", "b_student"):
        assert world[key].put(url, json=REPORT).status_code in (403, 404), key
    assert ok(world["tester"].get(f"/api/referrals/{referral['id']}"))["report"] is None


def test_signing_makes_the_report_final_and_immutable(world: World) -> None:
    _case, referral = accepted(world)
    b, url = world["b_path"], report_url(referral)
    error(b.post(f"{url}/sign"), 400)  # nothing written yet
    ok(b.put(url, json=REPORT))
    signed = ok(b.post(f"{url}/sign"))
    assert signed["status"] == "answered"
    report = signed["report"]
    assert report["status"] == "final" and report["signed_by"] == "Namn b.patolog"
    assert datetime.fromisoformat(report["signed"]) <= datetime.now(UTC)
    assert HEX64.fullmatch(report["content_hash"])
    error(b.post(f"{url}/sign"), 409)  # signing twice
    error(b.put(url, json=REPORT, headers={"If-Match": "1"}), 409)  # editing a signed report
    error(b.put(url, json=REPORT), 409)
    error(world["tester"].post(f"{url}/sign"), 403)
    after = ok(world["tester"].get(f"/api/referrals/{referral['id']}"))
    assert after["report"]["content_hash"] == report["content_hash"]
    assert after["report"]["findings"] == REPORT["findings"] and after["status"] == "answered"
    assert [s["step"] for s in after["steps"]] == ["create", "accept", "report", "sign"]


def test_the_content_hash_depends_on_the_content(world: World) -> None:
    hashes = []
    for conclusion in ("Malignt.", "Benignt."):
        _case, referral = accepted(world)
        b, url = world["b_path"], report_url(referral)
        ok(b.put(url, json={**REPORT, "conclusion": conclusion}))
        hashes.append(ok(b.post(f"{url}/sign"))["report"]["content_hash"])
    assert hashes[0] != hashes[1]


def test_an_addendum_amends_the_signed_report(world: World) -> None:
    _case, referral = accepted(world)
    b, url = world["b_path"], report_url(referral)
    ok(b.put(url, json=REPORT))
    error(b.post(f"{url}/addenda", json={"text": "För tidigt."}), 409)  # not signed yet
    signed = ok(b.post(f"{url}/sign"))["report"]
    error(b.post(f"{url}/addenda", json={}), 400)
    error(b.post(f"{url}/addenda", json={"text": ""}), 400)
    error(world["tester"].post(f"{url}/addenda", json={"text": "Från remittenten."}), 403)
    amended = ok(b.post(f"{url}/addenda", json={"text": "Tillägg: HER2 negativ."}), 201)
    report = amended["report"]
    assert report["status"] == "amended" and amended["status"] == "answered"
    assert report["content_hash"] == signed["content_hash"]  # the signed report is untouched
    [addendum] = report["addenda"]
    assert addendum["text"] == "Tillägg: HER2 negativ."
    assert addendum["signed_by"] == "Namn b.patolog" and addendum["signed"]
    assert HEX64.fullmatch(addendum["content_hash"])
    with database(world.app).session() as session:
        stored = session.scalar(
            select(func.count())
            .select_from(Addendum)
            .join(Report, Report.id == Addendum.report_id)
            .where(Report.referral_id == referral["id"])
        )
    assert stored == 1


@pytest.mark.parametrize(
    "codes",
    [
        "363346000",
        ["abc"],
        ["12345"],  # too short
        ["1" * 19],  # too long
        [363346000],  # a number, not a digit string
        [{"code": "36334600x"}],
        [{"code": "363346000", "display": 5}],
        ["363 346 000"],
        ["٣٦٣٣٤٦٠٠٠"],  # Arabic-Indic digits: str.isdigit() but not a SNOMED CT id
        ["³⁶³³⁴⁶⁰⁰⁰"],  # superscript digits
        [None],
    ],
)
def test_codes_must_be_snomed_ct_digit_strings(world: World, codes: Any) -> None:
    _case, referral = accepted(world)
    error(world["b_path"].put(report_url(referral), json={**REPORT, "codes": codes}), 400)
    assert ok(world["tester"].get(f"/api/referrals/{referral['id']}"))["report"] is None


def test_a_code_may_carry_its_display_text(world: World) -> None:
    _case, referral = accepted(world)
    codes = [{"code": "363346000", "display": "Malign tumörsjukdom"}, "86049000"]
    report = ok(world["b_path"].put(report_url(referral), json={**REPORT, "codes": codes}))
    assert report["codes"] == [
        {"code": "363346000", "display": "Malign tumörsjukdom"},
        {"code": "86049000", "display": ""},
    ]


def test_nothing_is_answered_after_closing(world: World) -> None:
    _case, referral = accepted(world)
    ok(world["b_path"].post(f"/api/referrals/{referral['id']}/close"))
    error(world["b_path"].put(report_url(referral), json=REPORT), 409)


def test_a_copied_clinician_follows_the_referral_and_reads_the_answer(world: World) -> None:
    _case, referral = accepted(world, copy=["a.klin"])
    b, url = world["b_path"], report_url(referral)
    ok(b.put(url, json=REPORT))
    ok(b.post(f"{url}/sign"))
    klin = world["a_klin"]
    outgoing = ok(klin.get("/api/referrals?box=outgoing"))["referrals"]
    assert referral["id"] in [item["id"] for item in outgoing]
    shown = ok(klin.get(f"/api/referrals/{referral['id']}"))
    assert shown["status"] == "answered" and shown["report"]["status"] == "final"
    error(klin.post(f"/api/referrals/{referral['id']}/accept"), 403)


# --- assignment -----------------------------------------------------------------------------------


def test_a_referral_is_assigned_to_a_reviewer_of_the_receiving_unit(world: World) -> None:
    _case, referral = sent(world)
    url = f"/api/referrals/{referral['id']}/assign"
    assigned = ok(world["b_path"].post(url, json={"user": "b.patolog2"}))
    assert assigned["assignee"] == "Namn b.patolog2" and assigned["status"] == "sent"
    mine = incoming(world["b_path2"], "&assignee=me")["referrals"]
    assert [item["id"] for item in mine if item["id"] == referral["id"]] == [referral["id"]]
    assert referral["id"] not in [
        item["id"] for item in incoming(world["b_path"], "&assignee=me")["referrals"]
    ]
    steps = ok(world["tester"].get(f"/api/referrals/{referral['id']}"))["steps"]
    assert [step["step"] for step in steps] == ["create", "assign"]


@pytest.mark.parametrize(
    "user", ["b.radiolog", "c.patolog", "b.student", TEST_USER, "ingen.alls", "", None]
)
def test_assigning_to_someone_outside_the_receiving_unit_is_400(
    world: World, user: str | None
) -> None:
    _case, referral = sent(world)
    url = f"/api/referrals/{referral['id']}/assign"
    error(world["b_path"].post(url, json={"user": user}), 400)
    assert ok(world["b_path"].get(f"/api/referrals/{referral['id']}"))["assignee"] is None


def test_the_requester_does_not_assign(world: World) -> None:
    _case, referral = sent(world)
    url = f"/api/referrals/{referral['id']}/assign"
    error(world["tester"].post(url, json={"user": "b.patolog2"}), 403)
    assert world["c_path"].post(url, json={"user": "b.patolog2"}).status_code == 404
    assert ok(world["b_path"].get(f"/api/referrals/{referral['id']}"))["assignee"] is None


# --- worklists ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Worklist:
    ids: dict[str, str]  # name -> referral id


@pytest.fixture(scope="module")
def worklist(world: World) -> Worklist:
    """From A's oncology clinician to C's Värnamo unit: routine, acute, urgent, an overdue
    routine, a declined urgent, an accepted acute and a draft, in that order of sending."""
    made: dict[str, str] = {}
    plan: list[tuple[str, str, dict[str, Any]]] = [
        ("routine", "routine", {}),
        ("acute", "acute", {}),
        ("urgent", "urgent", {}),
        ("overdue", "routine", {"due": due_in(days=2)}),
        ("declined", "urgent", {}),
        ("taken", "acute", {}),
        ("draft", "acute", {"draft": True}),
    ]
    for name, priority, more in plan:
        case = new_case(world)
        referral = ok(
            refer(world, case, by="a_onk", to_unit=C_LIST, priority=priority, **more), 201
        )
        made[name] = referral["id"]
    lister = world["c_list"]
    ok(lister.post(f"/api/referrals/{made['declined']}/decline", json={"reason": "Ej vår."}))
    ok(lister.post(f"/api/referrals/{made['taken']}/accept"))
    with database(world.app).session() as session:
        row = session.get(Referral, made["overdue"])
        assert row is not None
        row.due = datetime.now(UTC) - timedelta(hours=2)
    return Worklist(made)


def test_incoming_is_sorted_by_priority_with_the_finished_last(
    world: World, worklist: Worklist
) -> None:
    listed = incoming(world["c_list"])
    order = [item["id"] for item in listed["referrals"]]
    names = {value: key for key, value in worklist.ids.items()}
    assert [names[rid] for rid in order] == [
        "acute",
        "taken",
        "urgent",
        "overdue",
        "routine",
        "declined",
    ]
    assert listed["box"] == "incoming"
    assert listed["counts"] == {"sent": 4, "accepted": 1, "declined": 1}


def test_overdue_referrals_are_marked(world: World, worklist: Worklist) -> None:
    listed = incoming(world["c_list"])
    overdue = [item["id"] for item in listed["referrals"] if item["overdue"]]
    assert overdue == [worklist.ids["overdue"]] and listed["overdue"] == 1
    shown = ok(world["c_list"].get(f"/api/referrals/{worklist.ids['overdue']}"))
    assert shown["overdue"] is True


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("&status=sent", ["acute", "urgent", "overdue", "routine"]),
        ("&priority=acute", ["acute", "taken"]),
        ("&status=sent&priority=routine", ["overdue", "routine"]),
        ("&status=declined", ["declined"]),
        ("&status=answered", []),
        ("&status=draft", []),  # a draft is never anyone's incoming work
    ],
)
def test_incoming_filters(
    world: World, worklist: Worklist, query: str, expected: list[str]
) -> None:
    listed = incoming(world["c_list"], query)
    names = {value: key for key, value in worklist.ids.items()}
    assert [names[item["id"]] for item in listed["referrals"]] == expected
    assert all(name != "draft" for name in expected)


def test_outgoing_lists_what_the_requester_sent(world: World, worklist: Worklist) -> None:
    listed = ok(world["a_onk"].get("/api/referrals?box=outgoing"))
    assert listed["box"] == "outgoing"
    assert {item["id"] for item in listed["referrals"]} == set(worklist.ids.values())
    assert listed["counts"] == {"sent": 4, "accepted": 1, "declined": 1, "draft": 1}
    statuses = {item["id"]: item["status"] for item in listed["referrals"]}
    assert statuses[worklist.ids["taken"]] == "accepted"
    assert incoming(world["a_onk"])["referrals"] == []
    receiving = ok(world["c_list"].get("/api/referrals?box=outgoing"))["referrals"]
    assert receiving == []
    others = {item["id"] for item in incoming(world["c_path"])["referrals"]}
    assert not others & set(worklist.ids.values())


@pytest.mark.parametrize("query", ["box=all", "box=incoming&status=open", "priority=high"])
def test_worklist_refuses_unknown_filters(world: World, query: str) -> None:
    error(world["c_list"].get(f"/api/referrals?{query}"), 400)


# --- the access log -------------------------------------------------------------------------------


def test_every_step_is_in_the_access_log_with_the_referral(world: World) -> None:
    case, referral = sent(world)
    rid, b, url = referral["id"], world["b_path"], report_url(referral)
    ok(b.get(f"/api/referrals/{rid}"))
    ok(b.post(f"/api/referrals/{rid}/accept"))
    ok(b.put(url, json=REPORT))
    ok(b.post(f"{url}/sign"))
    ok(b.post(f"{url}/addenda", json={"text": "Tillägg."}), 201)
    ok(world["tester"].post(f"/api/referrals/{rid}/close"))
    _case2, declined = sent(world)
    ok(b.post(f"/api/referrals/{declined['id']}/decline", json={"reason": "Ej vår."}))

    with database(world.app).session() as session:
        patient = session.scalar(select(Patient.id).where(Patient.personnummer == "196408233234"))
    entries = [e for e in entries_naming(world, rid) if e.outcome == "allowed"]
    actions = [e.action for e in entries]
    assert actions == ["referral", "read_referral", "accept", "report", "sign", "addendum", "close"]
    assert all(e.patient_id == patient for e in entries)
    created, *steps = entries
    assert created.username == TEST_USER and created.detail["referral"] == rid
    assert created.resource in (f"referral:{rid}", f"case:{case.id}")
    for entry in steps:
        assert entry.resource == f"referral:{rid}", entry.action
        assert entry.basis == f"referral:{rid}", entry.action
    receiving = [e for e in steps if e.username == "b.patolog"]
    assert [e.action for e in receiving] == [
        "read_referral",
        "accept",
        "report",
        "sign",
        "addendum",
    ]
    assert all(e.purpose == "second_opinion" and e.org_name == B_ORG for e in receiving)
    assert all(e.unit_name == B_UNIT for e in receiving)
    assert steps[-1].username == TEST_USER and steps[-1].purpose == "care"
    [decline] = [e for e in entries_naming(world, declined["id"]) if e.action == "decline"]
    assert decline.outcome == "allowed" and decline.resource == f"referral:{declined['id']}"
    assert decline.basis == f"referral:{declined['id']}" and decline.detail["status"] == "declined"


def test_reading_the_worklist_is_in_the_access_log(world: World, worklist: Worklist) -> None:
    """The worklist shows patients (name, personnummer) and their clinical questions: a list
    of patient data, logged like a list of cases (DOMAIN.md rule 5), folded per period."""
    before = {row.seq for row in entries_by(world, "c.lista")}
    listed = incoming(world["c_list"])
    assert listed["referrals"] and listed["referrals"][0]["patient"]["personnummer"]
    services(world.app).access.folder.flush(everything=True)
    new = [row for row in entries_by(world, "c.lista") if row.seq not in before]
    named = set(worklist.ids.values())
    listings = [
        row
        for row in new
        if row.action == "list"
        and row.patient_id is not None
        and (row.resource.split(":", 1)[-1] in named or (row.detail or {}).get("referral") in named)
    ]
    assert listings, [(row.action, row.resource) for row in new]


def test_refusals_are_logged_as_denied(world: World) -> None:
    _case, referral = sent(world)
    rid = referral["id"]
    world["c_path"].get(f"/api/referrals/{rid}")
    world["b_rad"].post(f"/api/referrals/{rid}/accept")
    denied = [e for e in log_entries(world, f"referral:{rid}") if e.outcome == "denied"]
    assert {(e.username, e.action) for e in denied} == {
        ("c.patolog", "read_referral"),
        ("b.radiolog", "accept_referral"),
    }


def test_the_patients_own_log_shows_who_gave_the_second_opinion(world: World) -> None:
    """The entries of the receiving side carry the patient, organisation and unit."""
    case, referral = accepted(world)
    ok(world["b_path"].get(f"/api/cases/{case.id}"))
    with database(world.app).session() as session:
        patient = session.scalar(select(Patient.id).where(Patient.personnummer == "196408233234"))
        rows = session.scalars(
            select(AccessEntry).where(
                AccessEntry.patient_id == patient,
                AccessEntry.basis == f"referral:{referral['id']}",
            )
        ).all()
    assert {(row.org_name, row.unit_name) for row in rows} == {(B_ORG, B_UNIT)}
    assert {"accept", "view"} <= {row.action for row in rows}


# --- live announcement ----------------------------------------------------------------------------


def test_a_step_is_announced_to_both_sides(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each committed step hands a `referral` message to the live channel, addressed to the
    requester and the receiving unit, with the report once signed."""
    database_ = database(world.app)
    heard: list[dict[str, Any]] = []
    previous = database_.on_announce

    def listen(messages: list[dict[str, Any]]) -> None:
        heard.extend(messages)
        if previous is not None:
            previous(messages)

    monkeypatch.setattr(database_, "on_announce", listen)
    _case, referral = accepted(world)
    b, url = world["b_path"], report_url(referral)
    ok(b.put(url, json=REPORT))
    ok(b.post(f"{url}/sign"))
    mine = [
        m for m in heard if m.get("kind") == "referral" and m["payload"]["id"] == referral["id"]
    ]
    assert [m["payload"]["status"] for m in mine] == ["sent", "accepted", "in_review", "answered"]
    users = set(mine[-1]["users"])
    assert {
        user_id(world, TEST_USER),
        user_id(world, "b.patolog"),
        user_id(world, "b.klin"),
    } <= users
    assert user_id(world, "c.patolog") not in users and user_id(world, "b.radiolog") not in users
    assert "report" not in mine[1]["payload"]
    assert mine[-1]["payload"]["report"]["status"] == "final"


# --- the policy as a table ------------------------------------------------------------------------

NOW = datetime(2025, 3, 5, 10, 0, tzinfo=UTC)
WEEK = NOW + timedelta(days=7)
A, B, C = "org-a", "org-b", "org-c"
A_PAT, B_PAT, B_ONK = "unit-a-pat", "unit-b-pat", "unit-b-onk"

PATH_A = Actor("u-path-a", (Role("pathologist", A, A_PAT),))
PATH_B = Actor("u-path-b", (Role("pathologist", B, B_PAT),))
CLIN_B_PAT = Actor("u-clin-b", (Role("clinician", B, B_PAT),))
RAD_B_ONK = Actor("u-rad-b", (Role("radiologist", B, B_ONK),))
PATH_B_NO_UNIT = Actor("u-path-b0", (Role("pathologist", B),))
STUDENT_B_PAT = Actor("u-stud-b", (Role("student", B, B_PAT),))
ADMIN_B = Actor("u-admin-b", (Role("admin", B),))
PATH_C = Actor("u-path-c", (Role("pathologist", C),))

CARE = CaseFacts("case-1", A, A_PAT, "p1")


def to_unit(status: str, rid: str = "r1") -> ReferralFacts:
    return ReferralFacts(rid, B, B_PAT, None, status)


TO_USER = ReferralFacts("r-user", B, B_PAT, "u-path-b", "accepted")
TO_ORG = ReferralFacts("r-org", B, None, None, "accepted")


def with_referrals(*referrals: ReferralFacts, blocks: tuple[BlockFacts, ...] = ()) -> Relations:
    return Relations(blocks=blocks, referrals=referrals)


def opened(rid: str = "r1") -> dict[str, Any]:
    return {
        "allowed": True,
        "reason": "referral",
        "basis": f"referral:{rid}",
        "purpose": "second_opinion",
        "flagged": False,
    }


HIDDEN = {"allowed": False, "visible": False}
ACCEPTED = Relations(referrals=(to_unit("accepted"),))  # to B's pathology unit


def refused(reason: str) -> dict[str, Any]:
    return {"allowed": False, "visible": True, "reason": reason}


@dataclass(frozen=True)
class CaseRow:
    name: str
    actor: Actor
    action: str
    relations: Relations
    expected: dict[str, Any]


CASE_ROWS = [
    # --- the receiving unit, by the referral's state ----------------------------------------------
    *[
        CaseRow(
            f"unit referral {status}: pathologist views",
            PATH_B,
            "view",
            with_referrals(to_unit(status)),
            opened(),
        )
        for status in ("accepted", "in_review", "answered")
    ],
    *[
        CaseRow(
            f"unit referral {status}: nothing opens",
            PATH_B,
            "view",
            with_referrals(to_unit(status)),
            HIDDEN,
        )
        for status in ("draft", "sent", "declined", "closed", "withdrawn")
    ],
    CaseRow("accepted: tiles", PATH_B, "render", ACCEPTED, opened()),
    CaseRow("accepted: listing", PATH_B, "list", with_referrals(to_unit("in_review")), opened()),
    CaseRow("accepted: annotate", PATH_B, "annotate", ACCEPTED, opened()),
    CaseRow("accepted: clinician of the unit", CLIN_B_PAT, "view", ACCEPTED, opened()),
    CaseRow("accepted: no re-share", PATH_B, "share", ACCEPTED, refused("not_with_a_referral")),
    CaseRow("accepted: no delete", PATH_B, "delete", ACCEPTED, refused("not_with_a_referral")),
    CaseRow(
        "accepted: no case edit", PATH_B, "edit_case", ACCEPTED, refused("not_with_a_referral")
    ),
    CaseRow("sent: no share either", PATH_B, "share", with_referrals(to_unit("sent")), HIDDEN),
    # --- who else ---------------------------------------------------------------------------------
    CaseRow("accepted: other unit of the org", RAD_B_ONK, "view", ACCEPTED, HIDDEN),
    CaseRow("accepted: same org without unit", PATH_B_NO_UNIT, "view", ACCEPTED, HIDDEN),
    CaseRow("accepted: student of the unit", STUDENT_B_PAT, "view", ACCEPTED, HIDDEN),
    CaseRow("accepted: admin of the org", ADMIN_B, "list", ACCEPTED, HIDDEN),
    CaseRow("accepted: another org", PATH_C, "view", ACCEPTED, HIDDEN),
    CaseRow(
        "to a named user: that user", PATH_B, "view", with_referrals(TO_USER), opened("r-user")
    ),
    CaseRow(
        "to a named user: a colleague of the unit",
        CLIN_B_PAT,
        "view",
        with_referrals(TO_USER),
        HIDDEN,
    ),
    CaseRow(
        "to the org: any unit's care role",
        RAD_B_ONK,
        "view",
        with_referrals(TO_ORG),
        opened("r-org"),
    ),
    CaseRow("to the org: not a student", STUDENT_B_PAT, "view", with_referrals(TO_ORG), HIDDEN),
    CaseRow(
        "one closed, one accepted: the accepted counts",
        PATH_B,
        "view",
        with_referrals(to_unit("closed", "r0"), to_unit("accepted", "r2")),
        opened("r2"),
    ),
    # --- a spärr wins -----------------------------------------------------------------------------
    CaseRow(
        "accepted but blocked by A",
        PATH_B,
        "view",
        with_referrals(to_unit("accepted"), blocks=(BlockFacts("b1", A, None),)),
        {"allowed": False, "blocked": True, "reason": "blocked"},
    ),
    CaseRow(
        "accepted, block of another org",
        PATH_B,
        "view",
        with_referrals(to_unit("accepted"), blocks=(BlockFacts("b2", C, None),)),
        opened(),
    ),
    # --- the owner is unaffected ------------------------------------------------------------------
    CaseRow(
        "owner keeps own_org", PATH_A, "share", ACCEPTED, {"allowed": True, "basis": "own_org"}
    ),
]


def test_case_row_names_are_unique() -> None:
    names = [row.name for row in CASE_ROWS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("row", CASE_ROWS, ids=[row.name for row in CASE_ROWS])
def test_decide_on_a_case_with_referrals(row: CaseRow) -> None:
    decision = decide(row.actor, row.action, CARE, row.relations, NOW)
    observed = {name: getattr(decision, name) for name in row.expected}
    assert observed == row.expected, f"{row.name}: {decision}"
    if decision.allowed:
        assert decision.role in row.actor.roles


def test_an_expired_share_does_not_hide_an_accepted_referral() -> None:
    expired = ShareFacts("s-old", B, None, None, "mdk", NOW - timedelta(minutes=1))
    relations = Relations(shares=(expired,), referrals=(to_unit("accepted"),))
    decision = decide(PATH_B, "view", CARE, relations, NOW)
    assert decision.allowed and decision.basis == "referral:r1"


# The referral itself as the subject: who reads it and takes which step.
SUBJECT = ReferralSubject(to_unit("sent"), "u-path-a", A, A_PAT, copied=("u-clin-a",))
SUBJECT_TO_USER = ReferralSubject(
    ReferralFacts("r-user", B, B_PAT, "u-path-b", "sent"), "u-path-a", A, A_PAT
)
CLIN_A_COPIED = Actor("u-clin-a", (Role("clinician", A, "unit-a-kir"),))
CLIN_A_PAT = Actor("u-clin-a2", (Role("clinician", A, A_PAT),))
RAD_A_OTHER = Actor("u-rad-a", (Role("radiologist", A, "unit-a-rad"),))

RECEIVER_STEPS = (
    "read_referral",
    "accept_referral",
    "decline_referral",
    "assign_referral",
    "answer_referral",
    "sign_referral",
    "close_referral",
)
REQUESTER_STEPS = ("read_referral", "withdraw_referral", "close_referral")
ALL_STEPS = tuple(dict.fromkeys(RECEIVER_STEPS + REQUESTER_STEPS))


@pytest.mark.parametrize(
    ("name", "actor", "subject", "allowed_steps", "basis_purpose", "refusal_visible"),
    [
        ("receiving pathologist", PATH_B, SUBJECT, RECEIVER_STEPS, "second_opinion", True),
        ("receiving clinician", CLIN_B_PAT, SUBJECT, RECEIVER_STEPS, "second_opinion", True),
        ("receiving unit's student", STUDENT_B_PAT, SUBJECT, (), None, False),
        ("other unit of the receiver", RAD_B_ONK, SUBJECT, (), None, False),
        ("receiver's admin", ADMIN_B, SUBJECT, (), None, False),
        ("another org", PATH_C, SUBJECT, (), None, False),
        ("the requester", PATH_A, SUBJECT, REQUESTER_STEPS, "care", True),
        ("copied clinician", CLIN_A_COPIED, SUBJECT, REQUESTER_STEPS, "care", True),
        ("care staff of the requesting unit", CLIN_A_PAT, SUBJECT, REQUESTER_STEPS, "care", True),
        ("another unit of the requester", RAD_A_OTHER, SUBJECT, (), None, False),
        ("named specialist", PATH_B, SUBJECT_TO_USER, RECEIVER_STEPS, "second_opinion", True),
        ("colleague of the named specialist", CLIN_B_PAT, SUBJECT_TO_USER, (), None, False),
    ],
)
def test_decide_on_the_referral(
    name: str,
    actor: Actor,
    subject: ReferralSubject,
    allowed_steps: tuple[str, ...],
    basis_purpose: str | None,
    refusal_visible: bool,
) -> None:
    for action in ALL_STEPS:
        decision = decide(actor, action, subject, Relations(), NOW)
        if action in allowed_steps:
            assert decision.allowed, (name, action, decision)
            assert decision.basis == f"referral:{subject.referral.id}", (name, action)
            assert decision.purpose == basis_purpose, (name, action)
            assert decision.role in actor.roles
        else:
            assert not decision.allowed, (name, action, decision)
            assert decision.visible == refusal_visible, (name, action, decision)


def test_a_referral_action_needs_a_referral() -> None:
    assert decide(PATH_B, "accept_referral", CARE, Relations(), NOW).reason == "wrong_subject"
    assert not decide(PATH_B, "view", SUBJECT, Relations(), NOW).allowed


# --- FHIR -----------------------------------------------------------------------------------------

PERSONNUMMER_SYSTEM = "http://electronichealth.se/identifier/personnummer"
HSA_SYSTEM = "urn:oid:1.2.752.29.4.19"


def resources(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["resource"]["resourceType"]: entry["resource"] for entry in bundle["entry"]}


def test_a_referral_exports_as_a_valid_fhir_r4_bundle_through_its_life(world: World) -> None:
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.diagnosticreport import DiagnosticReport
    from fhir.resources.R4B.servicerequest import ServiceRequest
    from fhir.resources.R4B.task import Task

    _case, referral = sent(world, priority="acute")
    rid = referral["id"]

    def bundle() -> dict[str, dict[str, Any]]:
        response = world["tester"].get(f"/api/referrals/{rid}/fhir")
        assert response.status_code == 200 and response.mimetype == "application/fhir+json"
        body = response.get_json()
        Bundle.model_validate(body)
        found = resources(body)
        ServiceRequest.model_validate(found["ServiceRequest"])
        Task.model_validate(found["Task"])
        return found

    first = bundle()
    request = first["ServiceRequest"]
    assert (request["status"], request["intent"], request["priority"]) == (
        "active",
        "order",
        "stat",
    )
    assert request["reasonCode"][0]["text"].startswith("Malignitet?")
    assert request["performer"][0]["identifier"] == {"system": HSA_SYSTEM, "value": B_UNIT_HSA}
    patient = first["Patient"]
    assert patient["identifier"][0] == {"system": PERSONNUMMER_SYSTEM, "value": "196408233234"}
    assert first["Task"]["status"] == "requested" and "DiagnosticReport" not in first
    ok(world["b_path"].post(f"/api/referrals/{rid}/accept"))
    assert bundle()["Task"]["status"] == "accepted"
    ok(
        world["b_path"].put(
            f"/api/referrals/{rid}/report",
            json={"findings": "F.", "conclusion": "C.", "codes": ["35917007"]},
        )
    )
    report = bundle()["DiagnosticReport"]
    DiagnosticReport.model_validate(report)
    assert report["status"] == "preliminary" and report["conclusion"] == "C."
    assert report["conclusionCode"][0]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "35917007",
    }
    ok(world["b_path"].post(f"/api/referrals/{rid}/report/sign"))
    signed = bundle()
    assert (signed["DiagnosticReport"]["status"], signed["Task"]["status"]) == (
        "final",
        "completed",
    )
    assert signed["DiagnosticReport"]["issued"]
    ok(world["b_path"].post(f"/api/referrals/{rid}/report/addenda", json={"text": "Tillägg."}), 201)
    assert bundle()["DiagnosticReport"]["status"] == "amended"
    assert world["c_path"].get(f"/api/referrals/{rid}/fhir").status_code == 404


def test_a_fhir_service_request_becomes_a_referral(world: World) -> None:
    case = new_case(world)
    request = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "priority": "urgent",
        "subject": {"identifier": {"system": PERSONNUMMER_SYSTEM, "value": "196408233234"}},
        "performer": [{"identifier": {"system": HSA_SYSTEM, "value": B_UNIT_HSA}}],
        "reasonCode": [{"text": "Second opinion from FHIR"}],
        "note": [{"text": "Anamnes från FHIR."}],
        "supportingInfo": [
            {"identifier": {"system": "http://127.0.0.1:5000/images", "value": case.image}}
        ],
    }
    made = ok(world["tester"].post("/api/fhir/ServiceRequest", json=request), 201)
    assert (made["status"], made["priority"], made["case"]) == ("sent", "urgent", case.id)
    assert made["history"] == "Anamnes från FHIR." and made["images"] == [case.image]
    assert made["id"] in [item["id"] for item in incoming(world["b_path"])["referrals"]]


@pytest.mark.parametrize(
    "change, status",
    [
        ({"resourceType": "Patient"}, 400),
        ({"status": 5}, 400),
        ({"intent": None}, 400),
        ({"subject": {"reference": "Patient/1"}}, 400),
        ({"subject": {"identifier": {"system": PERSONNUMMER_SYSTEM, "value": "880320-0018"}}}, 400),
        (
            {"subject": {"identifier": {"system": PERSONNUMMER_SYSTEM, "value": "197010632391"}}},
            404,
        ),
        ({"performer": [{"identifier": {"system": HSA_SYSTEM, "value": "SE-NOWHERE"}}]}, 404),
        ({"performer": []}, 400),
        ({"reasonCode": []}, 400),
        ({"occurrenceDateTime": "1999-01-01T00:00:00Z"}, 400),
        ({"supportingInfo": [{"identifier": {"system": "x/images", "value": "nosuchimage"}}]}, 400),
    ],
)
def test_malformed_fhir_is_refused_and_stores_nothing(
    world: World, change: dict[str, Any], status: int
) -> None:
    case = new_case(world)
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "subject": {"identifier": {"system": PERSONNUMMER_SYSTEM, "value": "196408233234"}},
        "performer": [{"identifier": {"system": HSA_SYSTEM, "value": B_UNIT_HSA}}],
        "reasonCode": [{"text": "Frågeställning"}],
        "supportingInfo": [{"identifier": {"system": "x/images", "value": case.image}}],
    }
    request.update(change)
    before = referral_rows(world, case.id)
    error(world["tester"].post("/api/fhir/ServiceRequest", json=request), status)
    assert referral_rows(world, case.id) == before
    error(world["tester"].post("/api/fhir/ServiceRequest", data="{not json"), 400)


# --- blinded --------------------------------------------------------------------------------------


def test_a_blinded_reviewer_sees_the_images_but_not_the_requesters_marks_until_signing(
    world: World,
) -> None:
    case = new_case(world)
    mark = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [5, 5]},
        "properties": {},
    }
    own = ok(world["tester"].post(f"/api/images/{case.image}/annotations", json=mark), 201)
    note = {"text": "Misstänkt tumör här."}
    ok(world["tester"].post(f"/api/cases/{case.id}/notes", json=note), 201)
    _case, referral = sent(
        world, case, blinded=True, preliminary="Troligen adenokarcinom", regions=[own["id"]]
    )
    rid = referral["id"]
    ok(world["b_path"].post(f"/api/referrals/{rid}/accept"))
    reviewer = world["b_path"]
    assert reviewer.get(f"/iiif/3/{case.image}/info.json").status_code == 200
    assert ok(reviewer.get(f"/api/images/{case.image}/annotations"))["features"] == []
    assert reviewer.get(f"/api/annotations/{own['id']}").status_code == 404
    assert ok(reviewer.get(f"/api/cases/{case.id}/notes"))["notes"] == []
    shown = ok(reviewer.get(f"/api/referrals/{rid}"))
    assert shown["preliminary"] is None and shown["regions"] == []
    # the reviewer's own mark is theirs to see
    ok(reviewer.post(f"/api/images/{case.image}/annotations", json=mark), 201)
    assert len(ok(reviewer.get(f"/api/images/{case.image}/annotations"))["features"]) == 1
    # the requester sees everything all along
    assert (
        ok(world["tester"].get(f"/api/referrals/{rid}"))["preliminary"] == "Troligen adenokarcinom"
    )
    ok(reviewer.put(f"/api/referrals/{rid}/report", json={"findings": "F.", "conclusion": "C."}))
    ok(reviewer.post(f"/api/referrals/{rid}/report/sign"))
    assert len(ok(reviewer.get(f"/api/images/{case.image}/annotations"))["features"]) == 2
    assert len(ok(reviewer.get(f"/api/cases/{case.id}/notes"))["notes"]) == 1
    after = ok(reviewer.get(f"/api/referrals/{rid}"))
    assert after["preliminary"] == "Troligen adenokarcinom" and after["regions"] == [own["id"]]


def test_the_patient_s_own_log_shows_which_unit_gave_the_second_opinion(world: World) -> None:
    case, referral = accepted(world)
    ok(world["b_path"].get(f"/api/cases/{case.id}"))
    services(world.app).folder.flush(everything=True)
    entries = ok(world["patient"].get("/api/me/access-log"))
    second = [e for e in entries if (e["org"], e["unit"]) == (B_ORG, B_UNIT)]
    assert second, entries[:3]
    # the reviewer opened the case for the second opinion, and accepted on that basis
    assert {(e["action"], e["purpose"]) for e in second} >= {("view", "second_opinion")}
    grouped = json.dumps(ok(world["patient"].get("/api/me/access-log/grouped")), ensure_ascii=False)
    assert B_ORG in grouped and B_UNIT in grouped


def test_notes_written_while_a_referral_is_under_review_belong_to_its_record(world: World) -> None:
    case, referral = accepted(world)
    ok(world["b_path"].post(f"/api/cases/{case.id}/notes", json={"text": "Se marginalen."}), 201)
    ok(world["tester"].post(f"/api/cases/{case.id}/notes", json={"text": "Tack!"}), 201)
    record = ok(world["tester"].get(f"/api/referrals/{referral['id']}"))
    assert [note["text"] for note in record["notes"]] == ["Se marginalen.", "Tack!"]
    assert {note["referral"] for note in record["notes"]} == {referral["id"]}
