"""The serving model's parts, one by one: a websocket handed from a tile worker to a live
process keeps its bytes and leaves nothing behind in the worker; a worker's bus hears
policy changes only, a live process's hears everything; `/readyz` and the upgrade itself
say so when no live process is there."""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.livebus import RedisBus, Relay, SocketBus
from app.livehand import HandOff, forget, hand, is_live_upgrade, received, request_head
from app.liveprocess import answer, wsgi_environ
from tests.app.test_live_parts import received as inbox
from tests.app.test_live_parts import wait_until
from tests.conftest import make_app


@pytest.fixture
def door() -> Iterator[tuple[str, socket.socket]]:
    folder = Path(tempfile.mkdtemp())
    path = str(folder / "door.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    listener.settimeout(5)
    yield path, listener
    listener.close()
    shutil.rmtree(folder, ignore_errors=True)


UPGRADE_ENVIRON = {
    "REQUEST_METHOD": "GET",
    "PATH_INFO": "/socket.io/",
    "QUERY_STRING": "EIO=4&transport=websocket",
    "HTTP_UPGRADE": "websocket",
    "HTTP_COOKIE": "samsyn_session=abc",
    "HTTP_SEC_WEBSOCKET_EXTENSIONS": "permessage-deflate",
    "REMOTE_ADDR": "10.1.2.3",
    "wsgi.url_scheme": "https",
    "wsgi.input": object(),  # the worker's own objects do not travel
    "gunicorn.socket": None,
}


def test_a_handed_connection_keeps_its_bytes_and_its_request(
    door: tuple[str, socket.socket],
) -> None:
    path, listener = door
    client, worker_side = socket.socketpair()
    try:
        hand(path, worker_side, request_head(UPGRADE_ENVIRON))
        forget(worker_side)  # the worker's descriptor now reaches nothing
        with pytest.raises(OSError):
            worker_side.sendall(b"HTTP/1.1 500 gunicorn's late answer\r\n\r\n")
        worker_side.close()
        door_side, _ = listener.accept()
        with door_side:
            got = received(door_side)
        assert got is not None
        live_side, head = got
        assert head["HTTP_COOKIE"] == "samsyn_session=abc"
        assert head["wsgi.url_scheme"] == "https" and "wsgi.input" not in head
        client.sendall(b"hello from the browser")
        assert live_side.recv(100) == b"hello from the browser"
        live_side.sendall(b"hello from the live process")
        client.settimeout(5)
        assert client.recv(100) == b"hello from the live process"  # and nothing before it
        live_side.close()
    finally:
        client.close()


def test_the_live_process_rebuilds_the_environ_without_compression() -> None:
    head = request_head(UPGRADE_ENVIRON)
    connection = socket.socket()
    try:
        environ = wsgi_environ(head, connection)
    finally:
        connection.close()
    assert environ["gunicorn.socket"] is connection
    assert environ["REMOTE_ADDR"] == "10.1.2.3" and environ["HTTP_COOKIE"] == "samsyn_session=abc"
    assert "HTTP_SEC_WEBSOCKET_EXTENSIONS" not in environ  # no per-message deflate
    assert is_live_upgrade(environ)
    assert not is_live_upgrade({**environ, "PATH_INFO": "/api/me"})
    assert not is_live_upgrade({**environ, "HTTP_UPGRADE": ""})


def test_a_refusal_in_the_live_process_is_an_http_answer_that_closes() -> None:
    client, live_side = socket.socketpair()
    with client, live_side:
        body = json.dumps({"error": "unauthenticated", "message": "log in first"}).encode()
        answer(live_side, "401 Unauthorized", [("Content-Type", "application/json")], body)
        live_side.close()
        reply = b"".join(iter(lambda: client.recv(4096), b""))
    head, _, rest = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401 Unauthorized")
    assert b"Connection: close" in head and f"Content-Length: {len(body)}".encode() in head
    assert json.loads(rest)["error"] == "unauthenticated"


def test_with_no_live_process_the_upgrade_answers_503_in_the_contract_s_shape() -> None:
    folder = Path(tempfile.mkdtemp())
    doors = [str(folder / "gone-0.sock"), str(folder / "gone-1.sock")]
    started: list[Any] = []

    def inner(_environ: dict[str, Any], _start: Any) -> list[bytes]:
        raise AssertionError("an upgrade must not reach the worker's own Socket.IO")

    client, worker_side = socket.socketpair()
    try:
        body = HandOff(inner, doors)(
            {**UPGRADE_ENVIRON, "gunicorn.socket": worker_side},
            lambda status, headers: started.append((status, dict(headers))),
        )
        status, headers = started[0]
        assert status.startswith("503")
        assert headers["Retry-After"] == "1" and "Content-Security-Policy" in headers
        assert json.loads(b"".join(body))["error"] == "live_unavailable"
    finally:
        client.close()
        worker_side.close()
        shutil.rmtree(folder, ignore_errors=True)


def test_a_hand_off_goes_past_a_live_process_that_is_restarting(
    door: tuple[str, socket.socket],
) -> None:
    path, listener = door
    gone = str(Path(path).with_name("gone.sock"))
    handed: list[str] = []

    def accept() -> None:
        door_side, _ = listener.accept()
        with door_side:
            got = received(door_side)
        if got is not None:
            handed.append(got[1]["PATH_INFO"])
            got[0].close()

    taker = threading.Thread(target=accept)
    taker.start()
    client, worker_side = socket.socketpair()
    started: list[str] = []
    try:
        off = HandOff(lambda _e, _s: [], [gone, path])
        off._turn = iter([0])  # the restarting one's turn first
        off({**UPGRADE_ENVIRON, "gunicorn.socket": worker_side}, lambda s, _h: started.append(s))
        taker.join(5)
        assert handed == ["/socket.io/"] and started == ["101 Switching Protocols"]
    finally:
        client.close()
        worker_side.close()


def test_a_tile_worker_hears_policy_changes_only_and_still_speaks_to_the_rooms() -> None:
    path = Path(tempfile.mkdtemp()) / "relay.sock"
    relay = Relay(path)
    relay.start()
    live_a, live_b = SocketBus(path), SocketBus(path)
    worker = SocketBus(path, listens="policy")
    heard_a, heard_b, heard_worker = inbox(live_a), inbox(live_b), inbox(worker)
    try:
        assert wait_until(lambda: all(b.state() == "up" for b in (live_a, live_b, worker)))
        time.sleep(0.1)  # the relay has read each peer's interest
        live_a.publish({"kind": "cursor", "case": "c1", "payload": {"x": 1}})
        worker.publish({"kind": "op", "case": "c1", "payload": {"seq": 7}})
        live_b.publish({"kind": "policy"})
        # (two senders: the relay keeps each one's order, not an order between them)
        assert wait_until(lambda: sorted(m["kind"] for m in heard_a) == ["op", "policy"])
        assert wait_until(lambda: sorted(m["kind"] for m in heard_b) == ["cursor", "op"])
        assert wait_until(lambda: [m["kind"] for m in heard_worker] == ["policy"])
        time.sleep(0.2)
        assert [m["kind"] for m in heard_worker] == ["policy"]  # never a cursor
    finally:
        for bus in (live_a, live_b, worker):
            bus.close()
        relay.close()
        shutil.rmtree(path.parent, ignore_errors=True)


def test_over_redis_a_tile_worker_hears_policy_changes_only() -> None:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 6379)) != 0:
            pytest.skip("Redis is not running on 127.0.0.1:6379")
    url = "redis://127.0.0.1:6379/9"
    live, worker = RedisBus(url), RedisBus(url, listens="policy")
    heard_live, heard_worker = inbox(live), inbox(worker)
    speaker = RedisBus(url)
    speaker.start(lambda _m: None)
    try:
        assert wait_until(lambda: all(b.state() == "up" for b in (live, worker, speaker)))
        time.sleep(0.2)
        case = f"case-{time.monotonic_ns()}"
        for n in range(30):  # sent in batches: one round trip each
            speaker.publish({"kind": "viewport", "case": case, "n": n})
        speaker.publish({"kind": "policy", "case": case})
        mine = lambda heard: [m for m in heard if m.get("case") == case]  # noqa: E731
        assert wait_until(lambda: len(mine(heard_live)) == 31)
        assert [m["n"] for m in mine(heard_live)[:30]] == list(range(30))  # in order
        assert wait_until(lambda: [m["kind"] for m in mine(heard_worker)] == ["policy"])
    finally:
        for bus in (live, worker, speaker):
            bus.close()


def test_readyz_says_when_a_live_process_is_missing(tmp_path: Path) -> None:
    gone = str(tmp_path / "no-live-process.sock")
    application = make_app(tmp_path)
    application.config["LIVE_DOORS"] = [gone]
    reply = application.test_client().get("/readyz")
    assert reply.status_code == 503
    assert reply.get_json()["live"] is False and reply.get_json()["database"] is True
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(gone)
    listener.listen(1)
    try:
        reply = application.test_client().get("/readyz")
        assert reply.status_code == 200 and reply.get_json()["live"] is True
    finally:
        listener.close()


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 300_000])
def test_a_frame_is_what_the_websocket_protocol_library_would_send(size: int) -> None:
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, BytesMessage, TextMessage

    from app.liveprocess import frame

    connection = WSConnection(ConnectionType.SERVER)
    connection.receive_data(
        b"GET / HTTP/1.1\r\nHost: samsyn\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    for _event in connection.events():
        connection.send(AcceptConnection())
    text = ("å" * size)[: max(size // 2, 0)] + "x" * (size - size // 2)
    assert frame(text) == connection.send(TextMessage(data=text))
    data = bytes(range(256)) * (size // 256) + b"\x00" * (size % 256)
    assert frame(data) == connection.send(BytesMessage(data=data))


BROADCAST_PROBE = r"""
from gevent import monkey; monkey.patch_all()
import queue, socket, threading, time, types
from socketio import packet
from app.liveprocess import WEBSOCKET_KEY, Broadcast

def quick(sock):
    return types.SimpleNamespace(sock=sock, connected=True, writing=threading.Lock())

fast, fast_peer = socket.socketpair()
slow, slow_peer = socket.socketpair()
slow._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
try:
    while True:
        slow._sock.send(b"x" * 65536)  # a reader that stopped reading: its buffer is full
except BlockingIOError:
    pass
queued = []
server = types.SimpleNamespace(
    packet_class=packet.Packet,
    environ={"e-fast": {WEBSOCKET_KEY: quick(fast)}, "e-slow": {WEBSOCKET_KEY: quick(slow)}},
    eio=types.SimpleNamespace(sockets={"e-fast": types.SimpleNamespace(queue=queue.Queue()),
                                       "e-slow": types.SimpleNamespace(queue=queue.Queue())}),
    manager=types.SimpleNamespace(get_participants=lambda _ns, _room: [
        ("s-me", "e-me"), ("s-fast", "e-fast"), ("s-slow", "e-slow")]),
    _send_eio_packet=lambda eio_sid, message: queued.append(eio_sid),
)
broadcast = Broadcast(types.SimpleNamespace(server=server), "/live")
started = time.monotonic()
for n in range(50):
    broadcast("cursor", {"user": "u1", "x": n, "y": 1}, "case:c1", skip="s-me")
took = time.monotonic() - started
fast_peer.settimeout(2)
heard = b""
while heard.count(b'"cursor"') < 50:
    heard += fast_peer.recv(65536)
print(f"took={took:.3f} fast={heard.count(b'cursor')} slow_queued={queued.count('e-slow')} "
      f"me={queued.count('e-me')} first={heard[:2].hex()}")
"""


def test_a_reader_that_stopped_reading_never_holds_up_the_room() -> None:
    """Broadcast in a real gevent interpreter: the fast listener gets every frame at once,
    the stalled one gets them through its own queue, and the room's sender never waits."""
    import subprocess
    import sys

    from tests.conftest import REPO

    done = subprocess.run(
        [sys.executable, "-c", BROADCAST_PROBE],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = dict(part.split("=") for part in done.stdout.split())
    assert float(figures["took"]) < 0.5, figures
    assert figures["fast"] == "50" and figures["slow_queued"] == "50", figures
    assert figures["me"] == "0", figures  # the sender is skipped
    assert figures["first"].startswith("81"), figures  # a final text frame, unmasked
