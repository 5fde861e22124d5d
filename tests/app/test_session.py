"""Sessions: login, hostile input, throttling, logout, CSRF, idle expiry, and that nothing under
/api, /iiif and /dzi answers without a login. Tests that touch the database run on SQLite and
PostgreSQL (`db_app`).

Passwords are hashed with cheap argon2 parameters here (the rules are under test, not argon2's
cost); `test_passwords_are_stored_with_argon2id` checks the real parameters.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

import app.auth
from app.directory import add_user
from app.models import LoginSession, User
from app.services import services
from tests.conftest import (
    REPO,
    TEST_ORG,
    TEST_PASSWORD,
    TEST_PATIENT,
    TEST_USER,
    database,
    import_one,
    login,
)

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app.auth, "_hasher", CHEAP)
    monkeypatch.setattr(app.auth, "_DUMMY_HASH", CHEAP.hash("dummy"))


def post_login(client: FlaskClient, body: Any, address: str = "127.0.0.1") -> Any:
    return client.post("/api/session", json=body, environ_base={"REMOTE_ADDR": address})


def is_error_json(response: Any) -> bool:
    body = response.get_json(silent=True)
    return (
        response.mimetype == "application/json"
        and isinstance(body, dict)
        and set(body) == {"error", "message"}
    )


# --- logging in -------------------------------------------------------------------------


def test_login_returns_the_user_a_csrf_token_and_a_safe_cookie(db_app: Flask) -> None:
    client = db_app.test_client()
    response = post_login(client, {"username": TEST_USER, "password": TEST_PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) >= {"user", "csrf_token"}
    assert body["user"]["username"] == TEST_USER
    assert [r["role"] for r in body["user"]["roles"]] == ["pathologist"]
    assert isinstance(body["csrf_token"], str) and len(body["csrf_token"]) >= 20
    assert TEST_PASSWORD not in response.get_data(as_text=True)
    cookies = response.headers.getlist("Set-Cookie")
    assert len(cookies) == 1
    attributes = [part.strip().lower() for part in cookies[0].split(";")]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    me = client.get("/api/me")
    assert me.status_code == 200
    assert me.get_json()["user"]["username"] == TEST_USER
    assert me.get_json()["csrf_token"] == body["csrf_token"]


def test_the_cookie_holds_no_stored_secret(db_app: Flask) -> None:
    """The database keeps only a hash of the cookie's token."""
    response = post_login(db_app.test_client(), {"username": TEST_USER, "password": TEST_PASSWORD})
    token = response.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    with database(db_app).session() as session:
        rows = session.scalars(select(LoginSession)).all()
    assert len(rows) == 1
    assert rows[0].token_hash != token and token not in rows[0].token_hash


@pytest.mark.parametrize(
    "body",
    [
        {"username": TEST_USER, "password": "wrong password"},
        {"username": "nobody", "password": TEST_PASSWORD},
        {"username": TEST_USER.upper(), "password": TEST_PASSWORD},
        {"username": TEST_USER, "password": TEST_PASSWORD.upper()},
    ],
    ids=["wrong password", "unknown user", "username in capitals", "password in capitals"],
)
def test_wrong_credentials_are_401_and_say_nothing_about_which(
    db_app: Flask, body: dict[str, str]
) -> None:
    client = db_app.test_client()
    response = post_login(client, body)
    assert response.status_code == 401
    assert is_error_json(response)
    assert "Set-Cookie" not in response.headers
    reference = post_login(client, {"username": "nobody-at-all", "password": "x" * 12})
    assert response.get_json() == reference.get_json()
    assert client.get("/api/me").status_code == 401


def test_passwords_are_stored_with_argon2id(db_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the real hasher, as in production
    with database(db_app).session() as session:
        user = add_user(session, "anna", TEST_ORG, "pathologist", "ett långt lösenord")
        stored = user.password_hash
    assert stored is not None and stored.startswith("$argon2id$")
    assert "ett långt lösenord" not in stored
    memory = int(stored.split("$")[3].split(",")[0].removeprefix("m="))
    assert memory >= 19 * 1024  # OWASP's minimum for argon2id: 19 MiB
    assert login(db_app.test_client(), "anna", "ett långt lösenord")


# --- hostile input ----------------------------------------------------------------------

LONG = "a" * 100_000
HOSTILE: dict[str, dict[str, Any]] = {
    # raw bodies
    "form-encoded body": {
        "data": "username=tester&password=x",
        "content_type": "application/x-www-form-urlencoded",
    },
    "JSON sent as text/plain": {
        "data": json.dumps({"username": TEST_USER, "password": "x"}),
        "content_type": "text/plain",
    },
    "broken JSON": {"data": '{"username": "tester", ', "content_type": "application/json"},
    "empty body": {"data": "", "content_type": "application/json"},
    "no body, no type": {"data": None, "content_type": None},
    "JSON null": {"data": "null", "content_type": "application/json"},
    "JSON number": {"data": "12", "content_type": "application/json"},
    "JSON string": {"data": '"tester"', "content_type": "application/json"},
    "JSON list": {"data": '["tester", "x"]', "content_type": "application/json"},
    "lone surrogate in username": {
        "data": '{"username": "\\ud800", "password": "xxxxxxxx"}',
        "content_type": "application/json",
    },
    "lone surrogate in password": {
        "data": '{"username": "tester", "password": "\\udfff"}',
        "content_type": "application/json",
    },
    "binary garbage": {"data": b"\xff\xfe\x00\x81{", "content_type": "application/json"},
    # wrong types
    "numbers": {"json": {"username": 1, "password": 2}},
    "lists": {"json": {"username": [TEST_USER], "password": [TEST_PASSWORD]}},
    "nulls": {"json": {"username": None, "password": None}},
    "booleans": {"json": {"username": True, "password": True}},
    "nested objects": {"json": {"username": {"$ne": None}, "password": {"$gt": ""}}},
    "object username, right password": {
        "json": {"username": {"username": TEST_USER}, "password": TEST_PASSWORD}
    },
    "float password": {"json": {"username": TEST_USER, "password": 1.5}},
    # missing fields
    "no fields": {"json": {}},
    "no password": {"json": {"username": TEST_USER}},
    "no username": {"json": {"password": TEST_PASSWORD}},
    "empty username": {"json": {"username": "", "password": TEST_PASSWORD}},
    "empty password": {"json": {"username": TEST_USER, "password": ""}},
    # very long strings
    "10^5-char username": {"json": {"username": LONG, "password": "x"}},
    "10^5-char password": {"json": {"username": TEST_USER, "password": LONG}},
    "10^5-char both": {"json": {"username": LONG, "password": LONG}},
    "65-char username": {"json": {"username": "u" * 65, "password": "x"}},
    # injection
    "SQL in username": {"json": {"username": "' OR 1=1 --", "password": "' OR 1=1 --"}},
    "SQL comment after the username": {"json": {"username": "tester' --", "password": "x"}},
    "SQL in password": {"json": {"username": TEST_USER, "password": "' OR '1'='1"}},
    "SQL union": {
        "json": {"username": "x' UNION SELECT password_hash FROM users --", "password": "x"}
    },
    "script tag": {
        "json": {
            "username": "<script>alert(1)</script>",
            "password": "<img src=x onerror=alert(1)>",
        }
    },
    # control characters and unicode
    "NUL in username": {"json": {"username": "tes\x00ter", "password": TEST_PASSWORD}},
    "NUL in password": {"json": {"username": "nul-user", "password": "correct\x00horse"}},
    "NUL only": {"json": {"username": "\x00", "password": "\x00"}},
    "unicode": {"json": {"username": "tëstér🙂å", "password": "pässwörd🔑"}},
    "right-to-left override": {"json": {"username": "\u202etester", "password": TEST_PASSWORD}},
    "newline and tab": {"json": {"username": "tester\n", "password": "\t" + TEST_PASSWORD}},
    "whitespace-padded username": {
        "json": {"username": f" {TEST_USER} ", "password": TEST_PASSWORD}
    },
}


def test_hostile_login_input_is_refused_cleanly(db_app: Flask) -> None:
    """Each is refused with 400 or 401 and the JSON error shape: never 500, never a session."""
    client = db_app.test_client()
    problems = []
    for number, (name, request) in enumerate(HOSTILE.items()):
        kwargs = {k: v for k, v in request.items() if v is not None}
        response = client.post(
            "/api/session",
            environ_base={"REMOTE_ADDR": f"10.9.{number // 250}.{number % 250}"},
            **kwargs,
        )
        text = response.get_data(as_text=True)
        if response.status_code not in (400, 401) or not is_error_json(response):
            problems.append(f"{name}: {response.status_code} {text[:120]!r}")
        elif "Set-Cookie" in response.headers:
            problems.append(f"{name}: set a cookie")
        elif "<script>" in text or "Traceback" in text:
            problems.append(f"{name}: reflected {text[:120]!r}")
    assert not problems, "\n".join(problems)
    with database(db_app).session() as session:
        assert session.scalars(select(LoginSession)).all() == []
    assert login(db_app.test_client())  # fewer than five failures: tester is not locked out


DEEP_JSON_PROBE = """
import json, sys, tempfile
from pathlib import Path
from tests.conftest import make_app
application = make_app(Path(tempfile.mkdtemp()))
body = sys.argv[1] * 50_000 + sys.argv[2] * 50_000
client = application.test_client()
response = client.post("/api/session", data=body, content_type="application/json")
print(json.dumps({"status": response.status_code, "mimetype": response.mimetype,
                  "body": response.get_data(as_text=True)[:300]}))
"""


def test_deeply_nested_json_is_refused_cleanly() -> None:
    """10^5 characters of nesting. Run in a child process: a RecursionError inside this
    interpreter would upset CPython 3.11's parser for the rest of the test session."""
    result = subprocess.run(
        [sys.executable, "-c", DEEP_JSON_PROBE, "[", "]"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["status"] in (400, 401, 413), outcome
    assert outcome["mimetype"] == "application/json"
    assert set(json.loads(outcome["body"])) == {"error", "message"}


# --- throttling -------------------------------------------------------------------------


def test_five_failures_pause_the_username_at_that_address_only(db_app: Flask) -> None:
    """Five wrong passwords from one address pause that address for the username (even the
    right password waits); the real user elsewhere is not locked out."""
    client = db_app.test_client()
    for attempt in range(5):
        response = post_login(client, {"username": TEST_USER, "password": f"guess {attempt}"})
        assert response.status_code == 401, attempt
    locked = post_login(client, {"username": TEST_USER, "password": TEST_PASSWORD})
    assert locked.status_code == 429
    assert is_error_json(locked)
    assert "Set-Cookie" not in locked.headers
    assert int(locked.headers["Retry-After"]) > 0
    # the pause is on the username at that address: from elsewhere the real user gets in
    elsewhere = post_login(
        db_app.test_client(), {"username": TEST_USER, "password": TEST_PASSWORD}, "10.0.0.7"
    )
    assert elsewhere.status_code == 200
    # other users are not affected
    with database(db_app).session() as session:
        add_user(session, "colleague", TEST_ORG, "pathologist", "a colleague's password")
    assert (
        post_login(
            client, {"username": "colleague", "password": "a colleague's password"}
        ).status_code
        == 200
    )


def test_four_failures_do_not_lock(db_app: Flask) -> None:
    client = db_app.test_client()
    for attempt in range(4):
        assert (
            post_login(client, {"username": TEST_USER, "password": f"guess {attempt}"}).status_code
            == 401
        )
    assert post_login(client, {"username": TEST_USER, "password": TEST_PASSWORD}).status_code == 200


def test_many_failures_from_one_address_lock_that_address_only(db_app: Flask) -> None:
    """Thirty failures from one client (spread over usernames, none five times) lock the client."""
    attacker, other = "10.66.0.1", "10.66.0.2"
    client = db_app.test_client()
    codes = [
        post_login(
            client, {"username": f"guess-{n % 10}", "password": f"try {n}"}, attacker
        ).status_code
        for n in range(30)
    ]
    assert codes.count(401) >= 1 and set(codes) <= {401, 429}
    refused = post_login(client, {"username": TEST_USER, "password": TEST_PASSWORD}, attacker)
    assert refused.status_code == 429
    assert (
        post_login(
            db_app.test_client(), {"username": TEST_USER, "password": TEST_PASSWORD}, other
        ).status_code
        == 200
    )


# --- logout, CSRF, expiry -----------------------------------------------------------------


def test_logout_ends_the_session(db_app: Flask) -> None:
    client = login(db_app.test_client())
    cookie = client.get_cookie("samsyn_session")
    assert cookie is not None
    assert client.get("/api/me").status_code == 200
    response = client.delete("/api/session")
    assert response.status_code == 200
    assert client.get("/api/me").status_code == 401
    replay = db_app.test_client()
    replay.set_cookie("samsyn_session", cookie.value)
    assert replay.get("/api/me").status_code == 401
    assert replay.get("/api/images").status_code == 401
    with database(db_app).session() as session:
        assert session.scalars(select(LoginSession)).all() == []


def test_state_changing_requests_need_the_csrf_token(db_app: Flask, synthetic_slide: Path) -> None:
    image = import_one(db_app, synthetic_slide)
    client = login(db_app.test_client())
    token = client.environ_base.pop("HTTP_X_CSRF_TOKEN")
    case = client.get("/api/cases").get_json()[0]["id"]  # reading needs no token
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    attempts = {
        "create a case": (
            "POST",
            "/api/cases",
            {"title": "x", "patient": TEST_PATIENT, "images": [image]},
        ),
        "share": ("POST", f"/api/cases/{case}/shares", {"org": TEST_ORG, "until": until}),
        "revoke": ("DELETE", f"/api/cases/{case}/shares/0123456789abcdef", None),
        "emergency access": (
            "POST",
            f"/api/patients/{TEST_PATIENT}/emergency-access",
            {"reason": "a reason of some length"},
        ),
        "choose the language": ("PUT", "/api/me/language", {"language": "en"}),
        "logout": ("DELETE", "/api/session", None),
    }
    for header in (
        {},
        {"X-CSRF-Token": ""},
        {"X-CSRF-Token": "not-the-token"},
        {"X-CSRF-Token": token[:-1]},
    ):
        for name, (method, url, body) in attempts.items():
            response = client.open(url, method=method, json=body, headers=header)
            assert response.status_code == 403, (name, header, response.status_code)
            assert is_error_json(response)
    # nothing happened: still logged in (in Swedish), no new case, no share
    assert client.get("/api/me").get_json()["user"]["language"] == "sv"
    assert len(client.get("/api/cases").get_json()) == 1
    assert client.get(f"/api/cases/{case}/shares").get_json() == []
    # another session's token does not do either
    other = login(db_app.test_client())
    stolen = other.environ_base["HTTP_X_CSRF_TOKEN"]
    assert client.delete("/api/session", headers={"X-CSRF-Token": stolen}).status_code == 403
    assert client.delete("/api/session", headers={"X-CSRF-Token": token}).status_code == 200


def _age_session(application: Flask, **fields: datetime) -> None:
    with database(application).session() as session:
        for row in session.scalars(select(LoginSession)):
            for name, value in fields.items():
                setattr(row, name, value)
    services(application).epoch.bump()  # forget the per-process session cache


def test_idle_sessions_expire(db_app: Flask) -> None:
    idle = db_app.config["SESSION_IDLE_MINUTES"]
    client = login(db_app.test_client())
    assert client.get("/api/me").status_code == 200
    _age_session(db_app, last_seen=datetime.now(UTC) - timedelta(minutes=idle - 2))
    assert client.get("/api/me").status_code == 200  # the control: not idle long enough
    _age_session(db_app, last_seen=datetime.now(UTC) - timedelta(minutes=idle + 1))
    response = client.get("/api/me")
    assert response.status_code == 401 and is_error_json(response)
    assert client.get("/api/images").status_code == 401
    # and it stays ended: a later request does not revive it
    services(db_app).epoch.bump()
    assert client.get("/api/me").status_code == 401


def test_use_keeps_a_session_alive(db_app: Flask) -> None:
    idle = db_app.config["SESSION_IDLE_MINUTES"]
    client = login(db_app.test_client())
    _age_session(db_app, last_seen=datetime.now(UTC) - timedelta(minutes=idle - 1))
    assert client.get("/api/me").status_code == 200  # this request counts as activity
    with database(db_app).session() as session:
        (row,) = session.scalars(select(LoginSession)).all()
        seen = row.last_seen if row.last_seen.tzinfo else row.last_seen.replace(tzinfo=UTC)
    assert datetime.now(UTC) - seen < timedelta(minutes=1)


def test_sessions_end_after_the_longest_lifetime(db_app: Flask) -> None:
    hours = db_app.config["SESSION_MAX_HOURS"]
    client = login(db_app.test_client())
    _age_session(db_app, created=datetime.now(UTC) - timedelta(hours=hours, minutes=1))
    assert client.get("/api/me").status_code == 401


def test_a_disabled_user_is_logged_out(db_app: Flask) -> None:
    client = login(db_app.test_client())
    with database(db_app).session() as session:
        session.scalar(select(User).where(User.username == TEST_USER)).active = False
    services(db_app).epoch.bump()
    assert client.get("/api/me").status_code == 401
    assert (
        post_login(
            db_app.test_client(), {"username": TEST_USER, "password": TEST_PASSWORD}
        ).status_code
        == 401
    )


# --- nothing without a login ----------------------------------------------------------------

PLACEHOLDERS = {
    "level": 11,
    "col": 0,
    "row": 0,
    "fmt": "jpg",
    "name": "thumbnail",
    "region": "full",
    "size": "max",
    "rotation": "0",
    "quality": "default",
    "k": 0,
    "frame": 0,
    "share_id": "0123456789abcdef",
    "patient_key": TEST_PATIENT,
}


def test_every_api_and_tile_route_needs_a_login(app: Flask, synthetic_slide: Path) -> None:
    """Real ids of a real image, case and patient: every route, every method answers 401 JSON."""
    image = import_one(app, synthetic_slide)
    owner = login(app.test_client())
    case = owner.get("/api/cases").get_json()[0]["id"]
    values = {**PLACEHOLDERS, "image_id": image, "case_id": case}
    adapter = app.url_map.bind("localhost")
    anonymous = app.test_client()
    checked, problems = [], []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/api", "/iiif", "/dzi")):
            continue
        arguments = {name: values.get(name, "x") for name in rule.arguments}
        url = adapter.build(rule.endpoint, arguments)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if (method, rule.rule) == ("POST", "/api/session"):
                continue
            response = anonymous.open(url, method=method, json={})
            checked.append(f"{method} {rule.rule}")
            if response.status_code != 401 or not is_error_json(response):
                problems.append(f"{method} {url}: {response.status_code} {response.mimetype}")
    assert len(checked) >= 15, checked
    assert {
        "GET /iiif/3/<image_id>/<region>/<size>/<rotation>/<quality>.<fmt>",
        "GET /api/images",
    } <= set(checked)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "path",
    ["/images", "/cases", "/viewer/x", "/viewer/0123456789abcdef", "/audit", "/my/access-log"],
)
def test_pages_send_strangers_to_the_login_page(app: Flask, path: str) -> None:
    response = app.test_client().get(path)
    assert response.status_code in (302, 303)
    location = response.headers["Location"]
    assert location.startswith("/login") or location.startswith("http://localhost/login")
    assert "next=" in location


def test_the_login_page_itself_is_open(app: Flask) -> None:
    assert app.test_client().get("/login").status_code == 200


def test_the_sign_in_speaks_either_language_before_anyone_signs_in(app: Flask) -> None:
    """The login page loads its words (and its scripts) without a session."""
    stranger = app.test_client()
    for path in ("/static/src/login.js", "/static/src/signin.js", "/static/src/i18n.js"):
        assert stranger.get(path).status_code == 200, path
    words = {lang: stranger.get(f"/static/i18n/{lang}.json").get_json() for lang in ("sv", "en")}
    assert words["sv"]["login.submit"] == "Logga in"
    assert words["en"]["login.submit"] == "Sign in"
    assert (
        words["sv"]["language.switch"] == "English" and words["en"]["language.switch"] == "Svenska"
    )


def test_a_stranger_cannot_choose_a_language(app: Flask) -> None:
    response = app.test_client().put("/api/me/language", json={"language": "en"})
    assert response.status_code == 401 and is_error_json(response)


def test_pages_open_after_login(client: FlaskClient) -> None:
    for path in ("/images", "/cases", "/viewer/x"):
        assert client.get(path).status_code == 200, path
    landing = client.get("/")  # cases first
    assert landing.status_code in (302, 303) and landing.headers["Location"].endswith("/cases")
