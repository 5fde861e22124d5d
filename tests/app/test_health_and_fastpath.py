"""Health for load balancers, and the proof that a slide tile takes the fast path below
Flask with the same headers as the Flask route."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.fastpath import FastTiles
from app.headers import SECURITY_HEADERS
from app.services import services
from tests.conftest import import_one, login


def fast_path(app: Flask) -> FastTiles:
    layer = app.wsgi_app
    while not isinstance(layer, FastTiles):
        layer = layer.inner  # type: ignore[attr-defined]
    return layer


def test_healthz_answers_without_a_login(app: Flask) -> None:
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"ok": True}


def test_readyz_tells_whether_the_database_answers(app: Flask) -> None:
    response = app.test_client().get("/readyz")
    assert response.status_code == 200 and response.get_json()["database"] is True


def test_readyz_is_503_when_the_message_queue_does_not_answer(tmp_path: Path) -> None:
    broken = create_app(
        {
            "DATA_DIR": tmp_path,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'samsyn.db'}",
            "MESSAGE_QUEUE": "redis://127.0.0.1:1/0",
        }
    )
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["message_queue"] is False
    broken.extensions["samsyn.live"].bus.close()
    services(broken).close()


def test_a_slide_tile_is_answered_by_the_fast_path(
    app: Flask, client: FlaskClient, synthetic_slide: Path
) -> None:
    slide = import_one(app, synthetic_slide)
    path = fast_path(app)
    before = path.served
    fast = client.get(f"/dzi/{slide}_files/11/0_0.jpeg")
    assert fast.status_code == 200 and path.served == before + 1
    # the same tile through the Flask route (a query string makes the fast path hand on)
    routed = client.get(f"/dzi/{slide}_files/11/0_0.jpeg?via=flask")
    assert routed.status_code == 200 and path.served == before + 1
    assert fast.data == routed.data
    for name in ("ETag", "Cache-Control", "Content-Type", *(n for n, _ in SECURITY_HEADERS)):
        assert fast.headers.get(name) == routed.headers.get(name), name
    again = client.get(
        f"/dzi/{slide}_files/11/0_0.jpeg", headers={"If-None-Match": fast.headers["ETag"]}
    )
    assert again.status_code == 304 and path.served == before + 2


def test_the_fast_path_hands_refusals_to_flask(app: Flask, synthetic_slide: Path) -> None:
    slide = import_one(app, synthetic_slide)
    path = fast_path(app)
    before = path.served
    anonymous = app.test_client().get(f"/dzi/{slide}_files/11/0_0.jpeg")
    assert anonymous.status_code == 401 and path.served == before
    assert login(app.test_client()).get(f"/dzi/{slide}_files/99/0_0.jpeg").status_code == 404
    assert path.served == before
