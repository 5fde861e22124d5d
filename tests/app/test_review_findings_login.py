"""Guards for the review's findings at the edge of the application: the login throttle under
parallel attempts, the client address behind a trusted proxy, IIIF ids from the configured
public URL (never the Host header), and over-long URLs against the real server.

Each test has an application of its own (a fresh failure count, its own configuration); the
throttle runs on SQLite and PostgreSQL, the rest on SQLite (they are not about the database).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient

import app.auth
from app import create_app
from app.directory import add_org, add_patient, add_unit, add_user
from app.migrate import upgrade
from tests.conftest import (
    TEST_ORG,
    TEST_PASSWORD,
    TEST_PATIENT,
    TEST_USER,
    database,
    import_one,
    login,
)

PASSWORD = "lösenord-för-test"
REVIEWER = "granskare"
PUBLIC_URL = "https://samsyn.example.se"
PROXY = "127.0.0.1"


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap, but not free: argon2 still takes a moment, as it does in production, so
    parallel logins overlap inside the throttle's check-then-record window."""
    hasher = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    monkeypatch.setattr(app.auth, "_hasher", hasher)
    monkeypatch.setattr(app.auth, "_DUMMY_HASH", hasher.hash("dummy"))


def assert_json_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.get_data()[:300])
    assert response.is_json, response.content_type
    body = response.get_json()
    assert set(body) == {"error", "message"}, body
    return body


def configured_app(folder: Path, **config: Any) -> Flask:
    """conftest's `make_app` with extra configuration, and a log reviewer of Testregion."""
    folder.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{folder / 'samsyn.db'}"
    upgrade(url)
    application = create_app({"DATA_DIR": folder, "DATABASE_URL": url, "TESTING": True, **config})
    with database(application).session() as session:
        add_org(session, TEST_ORG, "SE0000000001", "region")
        add_unit(session, "Testpatologi", TEST_ORG, "SE0000000001-P1")
        add_patient(session, TEST_PATIENT, "Test Testsson", TEST_ORG)
        add_user(session, TEST_USER, TEST_ORG, "pathologist", TEST_PASSWORD, "Testpatologi")
        add_user(session, REVIEWER, TEST_ORG, "log_reviewer", PASSWORD)
    return application


# --- 7a. the login throttle is atomic and does not lock the user out everywhere -----------


def _login_attempt(application: Flask, password: str, address: str) -> Any:
    return application.test_client().post(
        "/api/session",
        json={"username": TEST_USER, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def _assert_throttled(response: Any) -> None:
    assert assert_json_error(response, 429)["error"] == "too_many_attempts"
    retry = response.headers.get("Retry-After", "")
    assert retry.isdigit() and int(retry) > 0, retry
    assert "Set-Cookie" not in response.headers


def test_parallel_wrong_passwords_are_throttled_atomically(db_app: Flask) -> None:
    attacker = "10.0.0.1"
    start = threading.Barrier(10)
    responses: list[Any] = []
    lock = threading.Lock()

    def attempt(n: int) -> None:
        client = db_app.test_client()
        start.wait()
        response = client.post(
            "/api/session",
            json={"username": TEST_USER, "password": f"fel lösenord {n}"},
            environ_base={"REMOTE_ADDR": attacker},
        )
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    codes = sorted(response.status_code for response in responses)
    assert len(codes) == 10, codes
    assert set(codes) <= {401, 429}, codes
    assert codes.count(401) <= 5, f"{codes.count(401)} wrong passwords were checked: {codes}"
    for response in responses:
        if response.status_code == 429:
            _assert_throttled(response)
    # the attacker's address stays locked out for this user, even with the right password
    _assert_throttled(_login_attempt(db_app, TEST_PASSWORD, attacker))
    # the real user, elsewhere, is not
    elsewhere = _login_attempt(db_app, TEST_PASSWORD, "10.0.0.2")
    assert elsewhere.status_code == 200, elsewhere.get_json()


def test_a_throttled_login_says_when_to_try_again(db_app: Flask) -> None:
    for n in range(5):
        assert _login_attempt(db_app, f"gissning {n}", "10.0.0.3").status_code == 401, n
    _assert_throttled(_login_attempt(db_app, "gissning 6", "10.0.0.3"))


# --- 7b. the client address behind a trusted proxy ----------------------------------------


def _logged_client(application: Flask, slide: Path, **request: Any) -> str:
    """View an image with the given request options; the client address the log recorded."""
    image = import_one(application, slide)
    viewer = login(application.test_client())
    reviewer = login(application.test_client(), REVIEWER, PASSWORD)
    response = viewer.get(f"/api/images/{image}", **request)
    assert response.status_code == 200, response.get_json()
    entries = reviewer.get(
        "/api/audit", query_string={"action": "view", "user": TEST_USER}
    ).get_json()
    assert entries and entries[0]["resource"] == f"image:{image}", entries[:1]
    return str(entries[0]["client"])


@pytest.mark.parametrize(
    ("trusted", "address", "forwarded", "expected"),
    [
        ([PROXY], PROXY, "203.0.113.7", "203.0.113.7"),
        # the proxy appends what it saw; what the client wrote before it is not believed
        ([PROXY], PROXY, "198.51.100.23, 203.0.113.7", "203.0.113.7"),
        ([PROXY], "192.0.2.44", "203.0.113.7", "192.0.2.44"),  # forged, from elsewhere
        (None, PROXY, "203.0.113.7", PROXY),  # no trusted proxy configured (the default)
    ],
    ids=["trusted proxy", "trusted proxy, two hops", "untrusted sender", "not configured"],
)
def test_forwarded_for_is_believed_from_trusted_proxies_only(
    tmp_path: Path,
    synthetic_slide: Path,
    trusted: list[str] | None,
    address: str,
    forwarded: str,
    expected: str,
) -> None:
    config = {} if trusted is None else {"TRUSTED_PROXIES": trusted}
    application = configured_app(tmp_path / "data", **config)
    client = _logged_client(
        application,
        synthetic_slide,
        headers={"X-Forwarded-For": forwarded},
        environ_base={"REMOTE_ADDR": address},
    )
    assert client == expected


def test_trusted_proxies_and_public_url_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAMSYN_TRUSTED_PROXIES", "127.0.0.1, 10.1.2.3")
    monkeypatch.setenv("SAMSYN_PUBLIC_URL", PUBLIC_URL)
    url = f"sqlite:///{tmp_path / 'samsyn.db'}"
    upgrade(url)
    application = create_app({"DATA_DIR": tmp_path, "DATABASE_URL": url, "TESTING": True})
    assert set(application.config["TRUSTED_PROXIES"]) == {"127.0.0.1", "10.1.2.3"}
    assert application.config["PUBLIC_URL"].rstrip("/") == PUBLIC_URL


# --- 7d. IIIF ids come from the public URL, never from the Host header --------------------


@pytest.fixture()
def public(tmp_path: Path, synthetic_slide: Path) -> tuple[FlaskClient, str]:
    """A pathologist's client on an application with a public URL (and a trusted proxy),
    its session cookie valid for the hostile host too."""
    application = configured_app(tmp_path / "data", PUBLIC_URL=PUBLIC_URL, TRUSTED_PROXIES=[PROXY])
    image = import_one(application, synthetic_slide)
    client = login(application.test_client())
    cookie = client.get_cookie(app.auth.COOKIE)
    assert cookie is not None
    client.set_cookie(app.auth.COOKIE, cookie.value, domain="evil.example")
    return client, image


HOSTILE_HOSTS = [
    {"Host": "evil.example"},
    {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
]


@pytest.mark.parametrize("headers", HOSTILE_HOSTS, ids=["Host", "X-Forwarded-Host"])
def test_iiif_info_id_uses_the_public_url(
    public: tuple[FlaskClient, str], headers: dict[str, str]
) -> None:
    client, image = public
    response = client.get(f"/iiif/3/{image}/info.json", headers=headers)
    assert response.status_code == 200, response.get_json()
    info = response.get_json()
    assert info["id"] == f"{PUBLIC_URL}/iiif/3/{image}", info["id"]
    assert "evil.example" not in response.get_data(as_text=True)


@pytest.mark.parametrize("headers", HOSTILE_HOSTS, ids=["Host", "X-Forwarded-Host"])
def test_iiif_base_redirect_uses_the_public_url(
    public: tuple[FlaskClient, str], headers: dict[str, str]
) -> None:
    client, image = public
    response = client.get(f"/iiif/3/{image}", headers=headers)
    assert response.status_code == 303
    assert response.headers["Location"] == f"{PUBLIC_URL}/iiif/3/{image}/info.json"


# --- 7f. an over-long URL is 414 with the JSON error shape, from the real server ----------


@pytest.mark.parametrize("length", [5000, 9000])
def test_an_over_long_url_is_414_json(live_server: str, length: int) -> None:
    response = requests.get(f"{live_server}/api/images?x=" + "a" * length, timeout=30)
    assert response.status_code == 414, (response.status_code, response.text[:200])
    assert response.headers.get("Content-Type", "").startswith("application/json"), (
        response.headers.get("Content-Type"),
        response.text[:200],
    )
    body = response.json()
    assert set(body) == {"error", "message"} and body["error"], body


def test_a_long_but_acceptable_url_is_answered(live_server: str) -> None:
    """The control: a URL well under the limit reaches the application (401: not logged in)."""
    response = requests.get(f"{live_server}/api/images?x=" + "a" * 1000, timeout=30)
    assert response.status_code == 401
    assert response.json()["error"]
