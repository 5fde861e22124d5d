"""The live channel against real `samsyn serve` processes: a world of people, cases and
slides in a database, server processes one can start, kill and restart, signed-in people
(REST) and Socket.IO clients that record every event they hear.

Every test in tests/live carries the `live` mark; tests that need PostgreSQL or Redis skip,
saying which, when 127.0.0.1:5432 or 127.0.0.1:6379 does not answer.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
import requests
import socketio
from argon2 import PasswordHasher
from sqlalchemy import select

import app.auth
from app.directory import add_org, add_unit, add_user
from app.importer import import_paths
from app.models import Image
from app.services import services
from tests.conftest import (
    REPO,
    TEST_CASE,
    TEST_ORG,
    TEST_PASSWORD,
    TEST_PATIENT,
    database,
    free_port,
    make_app,
)

NAMESPACE = "/live"
OTHER_ORG = "Annan region"
OTHER_CASE = "Fall B"
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
# Colleagues of the test organisation, a log reviewer, and a pathologist (and a reviewer) of
# another organisation, who sees none of the test organisation's cases.
PEOPLE = {
    "anna": (TEST_ORG, "pathologist", "Anna Andersson"),
    "bo": (TEST_ORG, "pathologist", "Bo Berg"),
    "cia": (TEST_ORG, "pathologist", "Cia Carlsson"),
    "dan": (TEST_ORG, "pathologist", "Dan Dahl"),
    "rev": (TEST_ORG, "log_reviewer", "Rut Revisor"),
    "olle": (OTHER_ORG, "pathologist", "Olle Utomstående"),
    "orvar": (OTHER_ORG, "log_reviewer", "Orvar Revisor"),
}
# Variables of the caller's environment that would point a server elsewhere.
FOREIGN_SETTINGS = ("SAMSYN_MESSAGE_QUEUE", "SAMSYN_DATABASE_URL", "SAMSYN_PUBLIC_URL")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.live)


# --- reachability ---------------------------------------------------------------------------


def answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def need_redis() -> None:
    if not answers(6379):
        pytest.skip("Redis is not running on 127.0.0.1:6379")


def need_postgres() -> None:
    if not answers(5432):
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")


# --- the world: people, cases, slides -------------------------------------------------------


@dataclass
class World:
    """One database and data directory: who is in it, which cases and images."""

    data_dir: Path
    database_url: str
    users: dict[str, str]  # username -> user id
    names: dict[str, str]  # username -> display name
    cases: dict[str, str]  # "a" (Testfall), "b" (Fall B) -> case id
    images: dict[str, str]  # "a", "a2" (both in case a), "b" (in case b) -> image id


def build_world(
    data_dir: Path, slide: Path, database_url: str | None = None, extra: int = 0
) -> World:
    """A migrated database with PEOPLE (and `extra` pathologists p1..pN of the test
    organisation), two slides in the test case and one in another case of the patient."""
    url = database_url or f"sqlite:///{data_dir / 'samsyn.db'}"
    people = dict(PEOPLE)
    people.update({f"p{n}": (TEST_ORG, "pathologist", f"Person {n}") for n in range(1, extra + 1)})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(app.auth, "_hasher", CHEAP)
        patch.setattr(app.auth, "_DUMMY_HASH", CHEAP.hash("dummy"))
        application = make_app(data_dir, url)
        users: dict[str, str] = {}
        with database(application).session() as session:
            add_org(session, OTHER_ORG, "SE0000000002", "region")
            add_unit(session, "Annan patologi", OTHER_ORG, "SE0000000002-P1")
            for username, (org, role, name) in people.items():
                unit = None
                if role == "pathologist":
                    unit = "Testpatologi" if org == TEST_ORG else "Annan patologi"
                user = add_user(session, username, org, role, TEST_PASSWORD, unit, None, name)
                users[username] = user.id
    images = {
        "a": _import(application, slide, data_dir / "slide-a.tif", TEST_CASE),
        "a2": _import(application, slide, data_dir / "slide-a2.tif", TEST_CASE),
        "b": _import(application, slide, data_dir / "slide-b.tif", OTHER_CASE),
    }
    with database(application).session() as session:
        cases = {
            key: str(session.scalar(select(Image.case_id).where(Image.id == images[key])))
            for key in ("a", "b")
        }
    services(application).close()
    names = {username: name for username, (_org, _role, name) in people.items()}
    return World(data_dir, url, users, names, cases, images)


def _import(application: Any, slide: Path, path: Path, case_title: str) -> str:
    shutil.copy(slide, path)
    lines = [
        line
        for line, _ok in import_paths(
            application, [str(path)], (TEST_ORG, TEST_PATIENT, case_title)
        )
    ]
    assert lines and lines[0].startswith("imported "), lines
    return lines[0].split()[1]


# --- server processes -----------------------------------------------------------------------


@dataclass
class Server:
    """One `samsyn serve` (gunicorn master and its workers, in a process group of their
    own) on a fixed port, so that it can be killed and started again at the same address."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    arguments: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _log: IO[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, seconds: float = 30) -> Server:
        environment = {k: v for k, v in os.environ.items() if k not in FOREIGN_SETTINGS}
        environment.update({"SAMSYN_DATA_DIR": str(self.data_dir), **self.env})
        self.log_path = self.log_path or self.data_dir / f"serve-{self.port}.log"
        if self._log is not None:
            self._log.close()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - open for the process's life
        command = [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, *self.arguments],
            cwd=REPO,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_healthy(seconds)
        return self

    def _wait_healthy(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"samsyn serve exited at start:\n{self.log_text()[-3000:]}")
            try:  # ready: the database, the live process (and the queue) answer
                with urllib.request.urlopen(f"{self.base}/readyz", timeout=2):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise RuntimeError(f"{self.base}/readyz did not answer 200 within {seconds} s")

    def kill(self) -> None:
        """SIGKILL to the master and every worker at once: a crash, no goodbye."""
        if self.process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._forget_relay()

    def stop(self) -> None:
        """Quick shutdown (SIGQUIT): SIGTERM would wait gunicorn's graceful timeout for
        every websocket a failed test left open."""
        if self.process is None:
            return
        try:
            self.process.send_signal(signal.SIGQUIT)
            self.process.wait(timeout=5)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            self.kill()
        self._forget_relay()
        if self._log is not None:
            self._log.close()

    def _forget_relay(self) -> None:
        """Remove the master's live relay socket, which the server leaves behind in the
        temporary folder even after a clean exit (reported), then forget the process."""
        if self.process is not None:
            runs = Path(tempfile.gettempdir())
            (runs / f"samsyn-live-{self.process.pid}.sock").unlink(missing_ok=True)
            for door in runs.glob(f"samsyn-live-door-{self.process.pid}-*.sock"):
                door.unlink(missing_ok=True)
        self.process = None

    def children(self) -> list[int]:
        """The master's child processes: the gunicorn workers and the live process."""
        assert self.process is not None
        master = self.process.pid
        tasks = list(Path(f"/proc/{master}/task").glob("*/children"))
        if tasks:  # each thread of the master lists the children it started
            return sorted({int(pid) for task in tasks for pid in task.read_text().split()})
        return [pid for pid in _pids() if _parent_of(pid) == master]

    def workers(self) -> list[int]:
        """The gunicorn worker processes (tiles, pages, the API)."""
        return [pid for pid in self.children() if not _is_live_process(pid)]

    def live_processes(self) -> list[int]:
        """The live processes, which hold every websocket of this server."""
        return [pid for pid in self.children() if _is_live_process(pid)]

    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")


def _is_live_process(pid: int) -> bool:
    try:
        return b"app.liveprocess" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # after "(name)": state, then ppid


@contextmanager
def serving(data_dir: Path, *arguments: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    """A started server, stopped afterwards whatever the test did to it."""
    server = Server(data_dir, dict(env or {}), arguments).start()
    try:
        yield server
    finally:
        server.stop()


# --- people over HTTP -------------------------------------------------------------------------


@dataclass
class Person:
    """A signed-in user: the session cookie and an HTTP session that sends its CSRF token."""

    username: str
    user_id: str
    name: str
    cookie: str
    http: requests.Session
    base: str

    def get(self, path: str, **options: Any) -> requests.Response:
        return self.http.get(f"{self.base}{path}", timeout=10, **options)

    def post(self, path: str, body: Any, **options: Any) -> requests.Response:
        return self.http.post(f"{self.base}{path}", json=body, timeout=10, **options)

    def patch(self, path: str, body: Any, version: int) -> requests.Response:
        headers = {"If-Match": f'"{version}"'}
        return self.http.patch(f"{self.base}{path}", json=body, headers=headers, timeout=10)

    def delete(self, path: str, version: int | None = None) -> requests.Response:
        headers = {"If-Match": f'"{version}"'} if version is not None else {}
        return self.http.delete(f"{self.base}{path}", headers=headers, timeout=10)

    def on(self, base: str) -> Person:
        """The same session, spoken to at another server of the same deployment."""
        return Person(self.username, self.user_id, self.name, self.cookie, self.http, base)


def sign_in(base: str, username: str, password: str = TEST_PASSWORD) -> Person:
    http = requests.Session()
    response = http.post(
        f"{base}/api/session", json={"username": username, "password": password}, timeout=10
    )
    assert response.status_code == 200, f"{username} could not sign in: {response.text}"
    body = response.json()
    http.headers["X-CSRF-Token"] = body["csrf_token"]
    user = body["user"]
    cookie = str(http.cookies["samsyn_session"])
    return Person(username, user["id"], user["name"], cookie, http, base)


def audit_entries(reviewer: Person, **filters: str) -> list[dict[str, Any]]:
    response = reviewer.get("/api/audit", params=filters)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()
    return entries


# --- live clients ---------------------------------------------------------------------------


class NoAnswer(AssertionError):
    """An acknowledged event whose acknowledgement never came."""


_NOTHING = object()
DROPPED = "dropped by the server"


class LiveClient:
    """A python-socketio client on /live (websocket only) that records what it hears."""

    def __init__(
        self,
        base: str,
        cookie: str | None,
        label: str = "",
        reconnection: bool = False,
        headers: dict[str, str] | None = None,
        origin: str | None = None,
    ) -> None:
        self.base, self.cookie, self.label = base, cookie, label
        self.headers = dict(headers or {})
        options: dict[str, Any] = {}
        if origin is not None:
            options["websocket_extra_options"] = {"origin": origin}
        self.sio = socketio.Client(
            reconnection=reconnection,
            reconnection_delay=0.2,
            reconnection_delay_max=1.0,
            randomization_factor=0.1,
            **options,
        )
        self.events: list[tuple[str, Any]] = []
        self.connects = 0
        self.disconnects = 0
        self._changed = threading.Condition()
        self.sio.on("*", self._heard, namespace=NAMESPACE)
        self.sio.on("connect", self._connected, namespace=NAMESPACE)
        self.sio.on("disconnect", self._disconnected, namespace=NAMESPACE)

    # what the server says

    def _heard(self, event: str, *args: Any) -> None:
        data = args[0] if len(args) == 1 else list(args)
        with self._changed:
            self.events.append((event, data))
            self._changed.notify_all()

    def _connected(self) -> None:
        with self._changed:
            self.connects += 1
            self._changed.notify_all()

    def _disconnected(self, reason: Any = None) -> None:
        with self._changed:
            self.disconnects += 1
            self.events.append(("__disconnect__", reason))
            self._changed.notify_all()

    def mark(self) -> int:
        """A point in what was heard; `wait_for(after=mark)` looks only at later events."""
        with self._changed:
            return len(self.events)

    def heard(self, event: str, after: int = 0) -> list[Any]:
        with self._changed:
            return [data for name, data in self.events[after:] if name == event]

    def wait_for(
        self,
        event: str,
        where: Callable[[Any], bool] = lambda _data: True,
        timeout: float = 5.0,
        after: int = 0,
    ) -> Any:
        """The first `event` (from `after` on) that satisfies `where`, waiting for it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for name, data in self.events[after:]:
                    if name == event and _holds(where, data):
                        return data
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"{self.label or 'client'} heard no matching {event!r} in {timeout} s; "
                        f"heard: {self.summary(after)}"
                    )
                self._changed.wait(remaining)

    def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.2))
        return True

    def summary(self, after: int = 0) -> str:
        with self._changed:
            names = [name for name, _data in self.events[after:]]
        return ", ".join(names[-40:]) or "nothing"

    def last_seq(self) -> int:
        """The highest seq of the ops and notes heard (0 before any)."""
        seqs = [
            d.get("seq", 0) for d in self.heard("op") + self.heard("note") if isinstance(d, dict)
        ]
        return max([0, *[s for s in seqs if isinstance(s, int)]])

    # what the client says

    def connect(self, timeout: float = 5.0) -> LiveClient:
        headers = dict(self.headers)
        if self.cookie is not None:
            headers["Cookie"] = f"samsyn_session={self.cookie}"
        self.sio.connect(
            self.base,
            namespaces=[NAMESPACE],
            transports=["websocket"],
            headers=headers,
            wait_timeout=timeout,
        )
        return self

    @property
    def connected(self) -> bool:
        return bool(self.sio.connected) and NAMESPACE in self.sio.namespaces

    def call(self, event: str, data: Any = _NOTHING, timeout: float = 5.0) -> Any:
        """Send an acknowledged event and return its acknowledgement."""
        try:
            if data is _NOTHING:
                return self.sio.call(event, namespace=NAMESPACE, timeout=timeout)
            return self.sio.call(event, data, namespace=NAMESPACE, timeout=timeout)
        except socketio.exceptions.TimeoutError as error:
            raise NoAnswer(f"no acknowledgement of {event!r} within {timeout} s") from error

    def ask(self, event: str, data: Any, timeout: float = 5.0) -> Any:
        """The acknowledgement, or DROPPED when the server closed the connection instead;
        NoAnswer when neither happened in time."""
        answers: list[Any] = []
        mark = self.mark()

        def answered(*args: Any) -> None:
            with self._changed:
                answers.append(args[0] if len(args) == 1 else list(args))
                self._changed.notify_all()

        try:
            self.sio.emit(event, data, namespace=NAMESPACE, callback=answered)
        except socketio.exceptions.BadNamespaceError:
            return DROPPED
        dropped = lambda: any(name == "__disconnect__" for name, _ in self.events[mark:])  # noqa: E731
        self.wait_until(lambda: bool(answers) or dropped(), timeout)
        if answers:
            return answers[0]
        if dropped() or not self.connected:
            return DROPPED
        raise NoAnswer(f"neither an acknowledgement of {event!r} nor a disconnect in {timeout} s")

    def emit(self, event: str, data: Any) -> None:
        self.sio.emit(event, data, namespace=NAMESPACE)

    def join(self, case: str, **extra: Any) -> dict[str, Any]:
        ack = self.call("join", {"case": case, **extra})
        assert isinstance(ack, dict) and ack.get("ok") is True, f"join refused: {ack}"
        return ack

    def local_port(self) -> int:
        """The client end's port of the websocket (to find the worker that holds it)."""
        return int(self.sio.eio.ws.sock.getsockname()[1])

    def close(self) -> None:
        with suppress(Exception):  # closing whatever state the test left it in
            self.sio.disconnect()


def _holds(where: Callable[[Any], bool], data: Any) -> bool:
    try:
        return bool(where(data))
    except (KeyError, TypeError, IndexError, AttributeError):
        return False


class LiveClients:
    """Opens live clients and closes them all: when the test ends, or earlier, before the
    test stops a server itself (gunicorn waits its graceful timeout for open websockets)."""

    def __init__(self) -> None:
        self.opened: list[LiveClient] = []

    def __call__(
        self, base: str, who: Person | str | None, label: str = "", connect: bool = True,
        **options: Any,
    ) -> LiveClient:  # fmt: skip
        cookie = who.cookie if isinstance(who, Person) else who
        name = label or (who.username if isinstance(who, Person) else "anonymous")
        client = LiveClient(base, cookie, name, **options)
        self.opened.append(client)
        return client.connect() if connect else client

    def close_all(self) -> None:
        for client in self.opened:
            client.close()
        self.opened.clear()


@pytest.fixture
def live() -> Iterator[LiveClients]:
    """`live(base, person_or_cookie, label=..., connect=True, **options)` opens a client."""
    clients = LiveClients()
    yield clients
    clients.close_all()


def in_room(
    live: LiveClients, base: str, case: str, *people: Person, image: str | None = None
) -> list[LiveClient]:
    """A client for each person, every one joined to `case` (on `image` when given)."""
    clients = [live(base, person) for person in people]
    extra = {"image": image} if image is not None else {}
    for client in clients:
        client.join(case, **extra)
    return clients


# --- one default server per test module (SQLite) ---------------------------------------------


@pytest.fixture(scope="module")
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          synthetic_slide: Any) -> World:  # fmt: skip
    """The module's own world (PEOPLE, cases a and b) in a SQLite database."""
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    return build_world(tmp_path_factory.mktemp(f"live-{module}"), synthetic_slide)


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[str]:
    """A default `samsyn serve` on the module's world, for the whole module."""
    with serving(world.data_dir) as running:
        yield running.base


@pytest.fixture(scope="module")
def people(server: str) -> dict[str, Person]:
    """Everyone of PEOPLE, signed in at the module's server."""
    return {name: sign_in(server, name) for name in PEOPLE}


# --- annotations ----------------------------------------------------------------------------


def square(x: float, y: float, size: float = 40, label: str | None = None) -> dict[str, Any]:
    """A shared polygon annotation: the square with its top left corner at (x, y)."""
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    properties: dict[str, Any] = {"kind": "polygon", "layer": "shared"}
    if label is not None:
        properties["label"] = label
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": properties,
    }


def ring_of(vertices: int, cx: float = 1024, cy: float = 768, radius: float = 600) -> list[Any]:
    """A closed ring of `vertices` distinct points on a circle (a large, valid polygon)."""
    points = [
        [
            round(cx + radius * math.cos(2 * math.pi * n / vertices), 3),
            round(cy + radius * math.sin(2 * math.pi * n / vertices), 3),
        ]
        for n in range(vertices)
    ]
    return [*points, points[0]]


def polygon(ring: list[Any], label: str | None = None) -> dict[str, Any]:
    feature = square(0, 0, label=label)
    feature["geometry"] = {"type": "Polygon", "coordinates": [ring]}
    return feature


def wait_until(condition: Callable[[], bool], timeout: float = 5.0, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()
