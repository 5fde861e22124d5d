"""Ids of one organisation used by a pathologist of another: every id-taking route answers 404
with the contract's error shape, exactly as it answers for an id that does not exist, and
every refusal is written to the access log with outcome "denied".

Organisation A is conftest's Testregion (pathologist `tester`, patient 640823-3234, case
"Testfall" holding one slide with a label image, shared to organisation C). The caller is
`b_path`, pathologist of Region Östergötland (B), which has no relation to A's case.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

import app.auth
from app.directory import add_org, add_unit, add_user
from app.models import AccessEntry, Image, Share
from app.services import services
from tests.conftest import (
    DATABASES,
    TEST_PATIENT,
    database,
    database_for,
    import_one,
    login,
    make_app,
)

PASSWORD = "lösenord-för-test"
UNKNOWN = "0123456789abcdef"  # an id of the same shape that exists nowhere


@pytest.fixture(scope="module", params=DATABASES)
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """conftest's `database_url` at module scope: one directory per database for all routes."""
    yield from database_for(request.param, tmp_path_factory.mktemp("crossorg"), "crossorg")


@dataclass
class Setup:
    app: Flask
    engine: Any
    sessions: Any
    owner: FlaskClient
    other: FlaskClient
    other_id: str
    image: str
    case: str
    share: str
    patient: str


@pytest.fixture(scope="module")
def setup(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory, synthetic_slide: Path
) -> Setup:
    data_dir = tmp_path_factory.mktemp("crossorg-data")
    slide = data_dir / "slide.tif"
    shutil.copy(synthetic_slide, slide)
    with tifffile.TiffWriter(slide, append=True) as writer:
        writer.write(
            np.full((100, 200, 3), 230, np.uint8), photometric="rgb", metadata={"name": "label"}
        )
    with pytest.MonkeyPatch.context() as patch:
        cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        patch.setattr(app.auth, "_hasher", cheap)
        patch.setattr(app.auth, "_DUMMY_HASH", cheap.hash("dummy"))
        application = make_app(data_dir, module_database_url)
        with database(application).session() as session:
            add_org(session, "Region Östergötland", "SE2321000032", "region")
            add_unit(session, "Patologi Linköping", "Region Östergötland", "SE2321000032-P1")
            add_org(session, "Region Jönköping", "SE2321000057", "region")
            other_id = add_user(
                session,
                "b_path",
                "Region Östergötland",
                "pathologist",
                PASSWORD,
                "Patologi Linköping",
            ).id
        owner = login(application.test_client())
        other = login(application.test_client(), "b_path", PASSWORD)
    image = import_one(application, slide)
    with database(application).session() as session:
        case = session.get(Image, image).case_id
    until = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    shared = owner.post(
        f"/api/cases/{case}/shares", json={"org": "Region Jönköping", "until": until}
    )
    assert shared.status_code == 201, shared.get_json()
    patient = owner.get(f"/api/cases/{case}").get_json()["patient"]["id"]
    return Setup(
        application,
        database(application).engine,
        None,
        owner,
        other,
        other_id,
        image,
        case,
        shared.get_json()["id"],
        patient,
    )


def _share_body() -> dict[str, str]:
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    return {"org": "Region Östergötland", "until": until, "purpose": "second_opinion"}


# name: (method, url template, body); {image}, {case}, {share}, {patient} are filled in
ROUTES: dict[str, tuple[str, str, Any]] = {
    "image": ("GET", "/api/images/{image}", None),
    "thumbnail": ("GET", "/api/images/{image}/associated/thumbnail.jpg", None),
    "label": ("GET", "/api/images/{image}/associated/label.jpg", None),
    "dzi descriptor": ("GET", "/dzi/{image}.dzi", None),
    "dzi tile": ("GET", "/dzi/{image}_files/11/0_0.jpeg", None),
    "iiif base": ("GET", "/iiif/3/{image}", None),
    "iiif info": ("GET", "/iiif/3/{image}/info.json", None),
    "iiif full": ("GET", "/iiif/3/{image}/full/max/0/default.jpg", None),
    "iiif tile": ("GET", "/iiif/3/{image}/0,0,256,256/256,/0/default.jpg", None),
    "case": ("GET", "/api/cases/{case}", None),
    "share the case": ("POST", "/api/cases/{case}/shares", "share"),
    "list shares": ("GET", "/api/cases/{case}/shares", None),
    "revoke a share": ("DELETE", "/api/cases/{case}/shares/{share}", None),
    "patient by id": ("GET", "/api/patients/{patient}", None),
    "patient by personnummer": ("GET", "/api/patients/{pnr}", None),
}


def call(client: FlaskClient, route: str, ids: dict[str, str]) -> Any:
    method, template, body = ROUTES[route]
    url = template.format(**ids)
    return client.open(url, method=method, json=_share_body() if body == "share" else None)


def denied_entries(s: Setup) -> list[AccessEntry]:
    with database(s.app).session() as session:
        return list(
            session.scalars(
                select(AccessEntry)
                .where(AccessEntry.user_id == s.other_id, AccessEntry.outcome == "denied")
                .order_by(AccessEntry.seq)
            )
        )


def real_ids(s: Setup) -> dict[str, str]:
    return {
        "image": s.image,
        "case": s.case,
        "share": s.share,
        "patient": s.patient,
        "pnr": TEST_PATIENT,
    }


def unknown_ids() -> dict[str, str]:
    # 880320-0016 is a valid personnummer that is not registered in this directory
    return {
        "image": UNKNOWN,
        "case": UNKNOWN,
        "share": UNKNOWN,
        "patient": UNKNOWN,
        "pnr": "880320-0016",
    }


@pytest.mark.parametrize("route", list(ROUTES))
def test_other_organisations_id_is_indistinguishable_from_an_unknown_one(
    setup: Setup, route: str
) -> None:
    foreign = call(setup.other, route, real_ids(setup))
    unknown = call(setup.other, route, unknown_ids())
    assert foreign.status_code == 404, (route, foreign.status_code)
    assert foreign.mimetype == "application/json"
    body = foreign.get_json()
    assert set(body) == {"error", "message"} and isinstance(body["message"], str)
    assert unknown.status_code == 404
    assert body == unknown.get_json(), (
        f"{route}: {body} differs from the unknown id's {unknown.get_json()}"
    )
    assert foreign.get_data() == unknown.get_data()
    text = foreign.get_data(as_text=True)
    for secret in (setup.image, setup.case, setup.share, setup.patient, "Testregion", "Testfall"):
        assert secret not in text


@pytest.mark.parametrize("route", list(ROUTES))
def test_every_refusal_is_logged_as_denied(setup: Setup, route: str) -> None:
    before = denied_entries(setup)
    response = call(setup.other, route, real_ids(setup))
    assert response.status_code in (403, 404)
    services(setup.app).folder.flush(everything=True)
    new = denied_entries(setup)[len(before) :]
    assert len(new) >= 1, f"{route}: the refusal left no denied entry in the access log"
    entry = new[-1]
    assert entry.username == "b_path" and entry.org_name == "Region Östergötland"
    assert entry.patient_id == setup.patient
    assert any(key in entry.resource for key in (setup.image, setup.case, setup.patient)), (
        entry.resource
    )


def test_the_owner_still_sees_everything(setup: Setup) -> None:
    """The control: the same ids work for their owner, so the 404s above are refusals."""
    for route in ROUTES:
        if route in ("share the case", "revoke a share"):
            continue
        response = call(setup.owner, route, real_ids(setup))
        assert response.status_code in (200, 303), (route, response.status_code)


def test_refused_changes_left_no_trace(setup: Setup) -> None:
    """The other organisation could neither revoke A's share nor share A's case to itself."""
    for route in ("share the case", "revoke a share"):
        call(setup.other, route, real_ids(setup))
    with database(setup.app).session() as session:
        shares = session.scalars(select(Share).where(Share.case_id == setup.case)).all()
        assert [(s.id, s.revoked) for s in shares] == [(setup.share, None)]


def test_unknown_ids_do_not_touch_the_log(setup: Setup) -> None:
    """An id that exists nowhere has no patient: probing with it is not logged as an access."""
    with database(setup.app).session() as session:
        before = session.scalar(select(func.count()).select_from(AccessEntry))
    for route in ROUTES:
        assert call(setup.other, route, unknown_ids()).status_code == 404, route
    with database(setup.app).session() as session:
        after = session.scalar(select(func.count()).select_from(AccessEntry))
    assert after == before
