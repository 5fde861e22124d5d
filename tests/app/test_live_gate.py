"""The live channel's door (finding 2 of the review): Socket.IO connections without a login
are refused at the handshake, before they take a thread; one user holds at most
LIVE_CONNECTIONS_PER_USER; one address has at most LIVE_PENDING_PER_ADDRESS handshakes
under way; and HTTP keeps answering whatever the socket side does. Against a real
`samsyn serve` (gunicorn, default threads)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import socketio
from flask import Flask

from app.directory import add_user
from app.livegate import LiveGate, live_capacity
from app.services import services
from tests.conftest import (
    TEST_ORG,
    TEST_PASSWORD,
    TEST_USER,
    database,
    make_app,
    samsyn_serve,
)

COLLEAGUE = "colleague"

UPGRADE = (
    b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: samsyn\r\n"
    b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`samsyn serve` with its default worker and threads."""
    data_dir = tmp_path_factory.mktemp("live-gate")
    application = make_app(data_dir)
    with database(application).session() as session:
        add_user(session, COLLEAGUE, TEST_ORG, "pathologist", TEST_PASSWORD, "Testpatologi")
    services(application).close()
    with samsyn_serve(data_dir) as base:
        yield base


def raw_upgrade(base: str, cookie: str | None = None, origin: str | None = None) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    extra = f"Cookie: samsyn_session={cookie}\r\n".encode() if cookie else b""
    extra += f"Origin: {origin}\r\n".encode() if origin else b""
    sock.sendall(UPGRADE + extra + b"\r\n")
    return sock


def answer_of(sock: socket.socket) -> bytes:
    """The whole (short, JSON) answer to a raw request."""
    answer = b""
    while not answer.endswith(b"}"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    return answer


def session_cookie(base: str, username: str = TEST_USER) -> str:
    session = requests.Session()
    response = session.post(
        f"{base}/api/session", json={"username": username, "password": TEST_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return str(session.cookies["samsyn_session"])


def live_client(base: str, cookie: str) -> socketio.Client:
    client = socketio.Client(reconnection=False)
    client.connect(
        base,
        namespaces=["/live"],
        transports=["websocket"],
        headers={"Cookie": f"samsyn_session={cookie}"},
        wait_timeout=5,
    )
    return client


def timed_get(url: str) -> tuple[int, float]:
    started = time.monotonic()
    response = requests.get(url, timeout=5)
    return response.status_code, time.monotonic() - started


def test_upgrades_without_a_login_are_refused_at_once_and_http_keeps_answering(
    server: str,
) -> None:
    sockets = [raw_upgrade(server) for _ in range(40)]
    try:
        answers = [answer_of(sock) for sock in sockets]
        status, seconds = timed_get(f"{server}/login")
    finally:
        for sock in sockets:
            sock.close()
    assert all(answer.startswith(b"HTTP/1.1 401") for answer in answers), answers[0][:200]
    assert all(b'"unauthenticated"' in answer for answer in answers)
    assert all(b"Content-Security-Policy" in answer for answer in answers)
    assert status == 200 and seconds < 2.0, seconds


def test_a_forged_or_ended_session_is_refused(server: str) -> None:
    forged = raw_upgrade(server, "x" * 43)
    assert answer_of(forged).startswith(b"HTTP/1.1 401")
    forged.close()
    cookie = session_cookie(server)
    requests.delete(
        f"{server}/api/session",
        cookies={"samsyn_session": cookie},
        headers={"X-CSRF-Token": _csrf(server, cookie)},
    )
    with pytest.raises(socketio.exceptions.ConnectionError):
        live_client(server, cookie)


def _csrf(base: str, cookie: str) -> str:
    me = requests.get(f"{base}/api/me", cookies={"samsyn_session": cookie})
    return str(me.json()["csrf_token"])


def test_one_user_holds_a_bounded_number_of_connections(server: str) -> None:
    cookie = session_cookie(server)
    clients: list[socketio.Client] = []
    refused = 0
    try:
        for _ in range(20):
            try:
                clients.append(live_client(server, cookie))
            except socketio.exceptions.ConnectionError:
                refused += 1
        assert len(clients) == 16 and refused == 4  # LIVE_CONNECTIONS_PER_USER
        status, seconds = timed_get(f"{server}/login")
        assert status == 200 and seconds < 2.0
        # another user (a colleague behind the same NAT address) still connects
        other = live_client(server, session_cookie(server, COLLEAGUE))
        other.disconnect()
    finally:
        for client in clients:
            client.disconnect()
    time.sleep(0.5)
    again = live_client(server, cookie)  # slots are given back when connections close
    again.disconnect()


def test_threads_for_http_are_kept_whatever_the_live_side_does() -> None:
    assert live_capacity(32) == 24 and live_capacity(8) == 4 and live_capacity(2) == 1


def test_one_address_has_a_bounded_number_of_handshakes_under_way(app: Flask) -> None:
    """Handshakes whose session check is slow: the ninth from one address is refused."""
    found = services(app)
    release = threading.Event()

    class SlowSessions:
        def principal(self, token: str | None, epoch: int) -> Any:
            release.wait(10)
            return None

    gate = LiveGate(found, lambda environ, start: [b""], live_capacity=None)
    object.__setattr__(gate, "found", _with_sessions(found, SlowSessions()))
    statuses: list[str] = []

    def knock(address: str) -> None:
        environ = {"PATH_INFO": "/socket.io/", "REMOTE_ADDR": address}
        b"".join(gate(environ, lambda status, headers: statuses.append(status)))

    waiting = [threading.Thread(target=knock, args=("10.1.1.1",)) for _ in range(8)]
    for thread in waiting:
        thread.start()
    time.sleep(0.3)
    knock("10.1.1.1")
    assert statuses == ["429 Too Many Requests"]
    release.set()
    for thread in waiting:
        thread.join(10)
    assert statuses.count("401 Unauthorized") == 8


def _with_sessions(found: Any, sessions: Any) -> Any:
    from dataclasses import replace

    return replace(found, sessions=sessions)


def test_a_page_of_another_site_cannot_open_a_live_connection(server: str) -> None:
    """Cross-site websocket hijacking: the user's cookie from a foreign page is not enough."""
    cookie = session_cookie(server)
    foreign = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        foreign.connect(
            server,
            namespaces=["/live"],
            transports=["websocket"],
            headers={"Cookie": f"samsyn_session={cookie}", "Origin": "http://evil.example"},
            wait_timeout=5,
        )
    own = live_client(server, cookie)  # the client sends the server's own origin
    own.disconnect()
    for origin, status in (("http://evil.example", b"HTTP/1.1 400"), (server, b"HTTP/1.1 101")):
        sock = raw_upgrade(server, cookie, origin)
        assert sock.recv(4096).startswith(status), origin
        sock.close()
