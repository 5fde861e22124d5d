"""The case as a worklist item: its clinical frame edited by the owning organisation, images
added and removed, the recipient directory, and sharing a protected identity.

Organisation A is conftest's Testregion (pathologist `tester`, patient 640823-3234). B is a
second region with a pathologist; A also has an administrator, a patient user and a patient
with skyddad identitet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.directory import add_org, add_patient, add_unit, add_user
from app.models import AccessEntry, Image, Organisation, new_id
from tests.conftest import TEST_ORG, TEST_PATIENT, database, login, make_app

PASSWORD = "lösenord för test"
PROTECTED = "811228-9874"
B_ORG, B_UNIT = "Region Östergötland", "Klinisk patologi Linköping"


@dataclass
class World:
    app: Flask
    owner: FlaskClient
    other: FlaskClient
    admin: FlaskClient
    patient: FlaskClient
    anonymous: FlaskClient
    loose_a: str
    loose_b: str


def add_image(application: Flask, org_name: str, name: str) -> str:
    """A registered slide of `org_name` outside any case (no file behind it: not rendered)."""
    with database(application).session() as session:
        org = session.scalar(select(Organisation).where(Organisation.name == org_name))
        assert org is not None
        image = Image(
            name=name,
            kind="slide",
            format="tiff",
            vendor="synthetic",
            reader="tifffile",
            files=[],
            source_key=new_id(),
            width=10,
            height=10,
            levels=[],
            tile_width=10,
            tile_height=10,
            associated=[],
            size_bytes=0,
            org_id=org.id,
        )
        session.add(image)
        session.flush()
        return image.id


@pytest.fixture()
def world(tmp_path: Path) -> World:
    application = make_app(tmp_path)
    with database(application).session() as session:
        add_org(session, B_ORG, "SE2321000032", "region")
        add_unit(session, B_UNIT, B_ORG, "SE2321000032-PAT")
        add_user(session, "b.patolog", B_ORG, "pathologist", PASSWORD, B_UNIT, name="Berit Patolog")
        add_user(session, "a.admin", TEST_ORG, "admin", PASSWORD, name="Adam Admin")
        add_user(
            session,
            "a.patient",
            TEST_ORG,
            "patient",
            PASSWORD,
            patient=TEST_PATIENT,
            name="Test Testsson",
        )
        add_patient(session, PROTECTED, "Hemlig Hemligsson", TEST_ORG, protected=True)
    return World(
        application,
        login(application.test_client()),
        login(application.test_client(), "b.patolog", PASSWORD),
        login(application.test_client(), "a.admin", PASSWORD),
        login(application.test_client(), "a.patient", PASSWORD),
        application.test_client(),
        add_image(application, TEST_ORG, "A loose slide"),
        add_image(application, B_ORG, "B loose slide"),
    )


def new_case(client: FlaskClient, **more: Any) -> dict[str, Any]:
    response = client.post(
        "/api/cases", json={"title": "Lungbiopsi", "patient": TEST_PATIENT, **more}
    )
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def until(days: int = 10) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def entries(application: Flask, action: str) -> list[AccessEntry]:
    with database(application).session() as session:
        return list(session.scalars(select(AccessEntry).where(AccessEntry.action == action)))


# --- the clinical frame ---------------------------------------------------------------------


def test_a_case_is_created_with_its_clinical_frame(world: World) -> None:
    case = new_case(world.owner, question="Malignitet?", history="Rökare.\nHosta.", sender="Dr Ek")
    assert (case["question"], case["history"], case["sender"]) == (
        "Malignitet?",
        "Rökare.\nHosta.",
        "Dr Ek",
    )
    assert case["status"] == "open"
    assert case["holds"] == {"slides": 0, "series": 0, "modalities": []}
    assert case["access"]["basis"] == "own_org" and case["access"]["org"] == TEST_ORG


def test_the_owner_edits_question_history_status_and_sender(world: World) -> None:
    case = new_case(world.owner)
    changes = {
        "question": "Adenokarcinom?",
        "history": "Rad ett\nRad två",
        "status": "in_review",
        "sender": "Kirurgen Kalmar",
        "title": "Lungbiopsi höger",
    }
    response = world.owner.patch(f"/api/cases/{case['id']}", json=changes)
    assert response.status_code == 200, response.get_json()
    shown = world.owner.get(f"/api/cases/{case['id']}").get_json()
    assert {key: shown[key] for key in changes} == changes
    assert shown["updated"] >= shown["created"]
    [entry] = entries(world.app, "edit")
    assert entry.outcome == "allowed" and entry.detail["fields"] == sorted(changes)
    assert "Adenokarcinom?" not in str(entry.detail)  # the log names fields, not clinical text


def test_null_clears_a_text(world: World) -> None:
    case = new_case(world.owner, question="Q?")
    response = world.owner.patch(f"/api/cases/{case['id']}", json={"question": None})
    assert response.status_code == 200 and response.get_json()["question"] is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"status": "done"},
        {"status": None},
        {"status": ["open"]},
        {"question": 5},
        {"question": ""},
        {"question": "x" * 10_001},
        {"sender": "Dr\nEk"},
        {"title": None},
        {"title": "\ud800"},
        {"history": "bell\u0007"},
        {"org_id": "someone-else"},
        {"patient": "811228-9874"},
        {"question": "ok", "created_by": "me"},
    ],
)
def test_hostile_values_are_refused_with_a_sentence(world: World, body: dict[str, Any]) -> None:
    case = new_case(world.owner)
    response = world.owner.patch(f"/api/cases/{case['id']}", json=body)
    assert response.status_code == 400, response.get_json()
    answer = response.get_json()
    assert set(answer) == {"error", "message"} and answer["message"].endswith(".")


def test_patch_needs_a_json_object(world: World) -> None:
    case = new_case(world.owner)
    response = world.owner.patch(
        f"/api/cases/{case['id']}", data="[1]", content_type="application/json"
    )
    assert response.status_code == 400


def test_create_refuses_a_status_outside_the_four(world: World) -> None:
    response = world.owner.post(
        "/api/cases", json={"title": "T", "patient": TEST_PATIENT, "status": "deleted"}
    )
    assert response.status_code == 400


def test_another_organisations_case_is_unknown(world: World) -> None:
    case = new_case(world.owner)
    response = world.other.patch(f"/api/cases/{case['id']}", json={"status": "closed"})
    assert response.status_code == 404
    assert world.owner.get(f"/api/cases/{case['id']}").get_json()["status"] == "open"
    assert any(entry.outcome == "denied" for entry in entries(world.app, "edit_case"))


def test_a_recipient_of_a_share_may_read_but_not_edit(world: World) -> None:
    case = new_case(world.owner)
    shared = world.owner.post(
        f"/api/cases/{case['id']}/shares", json={"org": B_ORG, "until": until(), "purpose": "mdk"}
    )
    assert shared.status_code == 201
    seen = world.other.get(f"/api/cases/{case['id']}").get_json()
    assert seen["access"]["org"] == TEST_ORG and seen["access"]["purpose"] == "mdk"
    assert seen["access"]["shared_with"] == B_ORG
    assert (
        world.other.patch(f"/api/cases/{case['id']}", json={"status": "answered"}).status_code
        == 403
    )


def test_administrator_and_patient_may_not_edit(world: World) -> None:
    case = new_case(world.owner)
    for client in (world.admin, world.patient):
        response = client.patch(f"/api/cases/{case['id']}", json={"status": "closed"})
        assert response.status_code == 403, response.get_json()
    assert world.anonymous.patch(f"/api/cases/{case['id']}", json={}).status_code in (401, 403)


# --- images in and out ------------------------------------------------------------------------


def test_loose_images_are_added_and_removed(world: World) -> None:
    case = new_case(world.owner)
    loose = world.owner.get(f"/api/cases/{case['id']}/loose-images").get_json()
    assert [image["id"] for image in loose] == [world.loose_a]
    added = world.owner.post(f"/api/cases/{case['id']}/images", json={"images": [world.loose_a]})
    assert added.status_code == 200 and added.get_json()["images"] == [world.loose_a]
    assert added.get_json()["holds"]["slides"] == 1
    assert world.owner.get(f"/api/cases/{case['id']}/loose-images").get_json() == []
    removed = world.owner.delete(f"/api/cases/{case['id']}/images/{world.loose_a}")
    assert removed.status_code == 200 and removed.get_json()["images"] == []
    details = [entry.detail for entry in entries(world.app, "edit")]
    assert {"added": [world.loose_a]}.items() <= details[0].items()
    assert details[1]["removed"] == world.loose_a


def test_another_organisations_image_is_unknown(world: World) -> None:
    case = new_case(world.owner)
    response = world.owner.post(
        f"/api/cases/{case['id']}/images", json={"images": [world.loose_a, world.loose_b]}
    )
    assert response.status_code == 404
    assert world.owner.get(f"/api/cases/{case['id']}").get_json()["images"] == []  # nothing moved
    failed = [entry for entry in entries(world.app, "edit") if entry.outcome == "failed"]
    assert len(failed) == 1


def test_an_image_of_another_case_is_neither_taken_nor_removed(world: World) -> None:
    first, second = new_case(world.owner), new_case(world.owner, question="?")
    world.owner.post(f"/api/cases/{first['id']}/images", json={"images": [world.loose_a]})
    taken = world.owner.post(f"/api/cases/{second['id']}/images", json={"images": [world.loose_a]})
    assert taken.status_code == 404
    assert (
        world.owner.delete(f"/api/cases/{second['id']}/images/{world.loose_a}").status_code == 404
    )
    assert world.owner.delete(f"/api/cases/{first['id']}/images/{world.loose_b}").status_code == 404
    assert world.owner.delete(f"/api/cases/{first['id']}/images/{'x' * 40}").status_code == 404


def test_other_organisation_may_not_add_images(world: World) -> None:
    case = new_case(world.owner)
    response = world.other.post(f"/api/cases/{case['id']}/images", json={"images": [world.loose_b]})
    assert response.status_code == 404
    assert world.other.get(f"/api/cases/{case['id']}/loose-images").status_code == 404


@pytest.mark.parametrize("body", [{}, {"images": []}, {"images": "abc"}, {"images": ["../x"]}])
def test_adding_needs_a_list_of_ids(world: World, body: dict[str, Any]) -> None:
    case = new_case(world.owner)
    assert world.owner.post(f"/api/cases/{case['id']}/images", json=body).status_code == 400


# --- the directory ----------------------------------------------------------------------------


def test_directory_finds_organisations_units_and_staff(world: World) -> None:
    response = world.owner.get("/api/directory?q=pat")
    assert response.status_code == 200
    found = response.get_json()
    assert set(found) == {"organisations", "units", "people"}
    assert {"name": B_UNIT, "hsa_id": "SE2321000032-PAT", "org": B_ORG} in found["units"]
    person = next(p for p in found["people"] if p["username"] == "b.patolog")
    assert person == {
        "name": "Berit Patolog",
        "username": "b.patolog",
        "role": "pathologist",
        "unit": B_UNIT,
        "org": B_ORG,
    }
    orgs = world.owner.get("/api/directory?q=Östergötland").get_json()["organisations"]
    assert [org["name"] for org in orgs] == [B_ORG]


def test_directory_never_lists_patients(world: World) -> None:
    found = world.owner.get("/api/directory?q=Test").get_json()
    assert all(person["username"] != "a.patient" for person in found["people"])
    assert "Testsson" not in str(found)


def test_directory_answers_at_most_twenty(world: World) -> None:
    with database(world.app).session() as session:
        for number in range(30):
            add_unit(session, f"Enhet {number:02}", B_ORG, f"SE2321000032-E{number:02}")
    found = world.owner.get("/api/directory?q=e").get_json()
    assert sum(len(entries) for entries in found.values()) == 20


def test_directory_wildcards_are_literal(world: World) -> None:
    found = world.owner.get("/api/directory?q=%25").get_json()
    assert found == {"organisations": [], "units": [], "people": []}


def test_directory_is_refused_to_patients_and_strangers(world: World) -> None:
    refused = world.patient.get("/api/directory?q=pat")
    assert refused.status_code == 403 and set(refused.get_json()) == {"error", "message"}
    assert world.anonymous.get("/api/directory?q=pat").status_code == 401
    assert world.admin.get("/api/directory?q=pat").status_code == 200
    assert world.owner.get("/api/directory").status_code == 400
    assert world.owner.get("/api/directory?q=" + "x" * 101).status_code == 400


# --- sharing a protected identity -------------------------------------------------------------


def test_sharing_a_protected_identity_needs_confirmation_and_is_flagged(world: World) -> None:
    case = new_case(world.owner, patient=PROTECTED)
    url = f"/api/cases/{case['id']}/shares"
    body = {"unit": B_UNIT, "until": until(30), "purpose": "second_opinion"}
    refused = world.owner.post(url, json=body)
    assert refused.status_code == 409
    assert "skyddad identitet" in refused.get_json()["message"]
    assert world.owner.post(url, json={**body, "confirm_protected": "yes"}).status_code == 409
    assert world.owner.get(url).get_json() == []
    made = world.owner.post(url, json={**body, "confirm_protected": True})
    assert made.status_code == 201, made.get_json()
    allowed = [entry for entry in entries(world.app, "share") if entry.outcome == "allowed"]
    assert len(allowed) == 1 and allowed[0].flagged
    assert allowed[0].detail["protected_identity"] is True


def test_an_ordinary_share_is_not_flagged(world: World) -> None:
    case = new_case(world.owner)
    made = world.owner.post(
        f"/api/cases/{case['id']}/shares", json={"org": B_ORG, "until": until()}
    )
    assert made.status_code == 201
    [entry] = entries(world.app, "share")
    assert not entry.flagged
