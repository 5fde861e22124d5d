"""The parts of the live channel on their own: payload checks, the throttle, the rate limit,
the rooms' presence across processes, the per-user count over workers, and the buses
(the workers' relay and Redis) carrying messages, losing their transport and coming back."""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.live import Throttle, read_cursor, read_op, read_viewport
from app.livebus import QueuedBus, RedisBus, Relay, SocketBus, bus_for
from app.livegate import UserCounts
from app.liveroom import Connection, Member, Rooms, TokenBucket
from samsyn.errors import BadRequest


def member(user: str, name: str = "", since: float = 0.0, **more: Any) -> Member:
    return Member(user, name or user, "org", "Region", "#123456", since=since, **more)


# --- payloads ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"image": "a1", "x": math.nan, "y": 1},
        {"image": "a1", "x": math.inf, "y": 1},
        {"image": "a1", "x": "1", "y": 1},
        {"image": "a1", "x": True, "y": 1},
        {"image": "a1", "x": 1e12, "y": 1},
        {"image": "../etc", "x": 1, "y": 1},
        {"image": "\ud800", "x": 1, "y": 1},
        {"image": "a1", "frame": -1, "x": 1, "y": 1},
        {"image": "a1", "frame": 1.5, "x": 1, "y": 1},
        {"x": 1, "y": 1},
    ],
)
def test_a_cursor_out_of_shape_is_refused(payload: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        read_cursor(payload)


def test_a_cursor_is_rebuilt_from_its_checked_fields_only() -> None:
    cursor = read_cursor({"image": "a1", "frame": 2, "x": 3, "y": 4.5, "user": "someone", "z": 1})
    assert cursor == {"image": "a1", "frame": 2, "x": 3.0, "y": 4.5}


@pytest.mark.parametrize(
    "bounds, rotation",
    [([0, 0, 0, 10], 0), ([0, 0, 10], 0), ("0,0,1,1", 0), ([0, 0, 10, 10], 45), ([0, 0, -1, 1], 0)],
)
def test_a_viewport_out_of_shape_is_refused(bounds: object, rotation: object) -> None:
    with pytest.raises(BadRequest):
        read_viewport({"image": "a1", "bounds": bounds, "rotation": rotation})


def test_a_viewport_keeps_frame_rotation_and_window() -> None:
    viewport = read_viewport(
        {"image": "a1", "frame": 3, "bounds": [1, 2, 30, 40], "rotation": 90, "window": [40, 400]}
    )
    assert viewport == {
        "image": "a1",
        "frame": 3,
        "bounds": [1.0, 2.0, 30.0, 40.0],
        "rotation": 90,
        "window": [40.0, 400.0],
    }


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "create", "image": "a1", "feature": {}},
        {"op_id": "x" * 65, "type": "create", "image": "a1", "feature": {}},
        {"op_id": "x", "type": "rename", "image": "a1", "feature": {}},
        {"op_id": "x", "type": "create", "image": "a1", "feature": "polygon"},
        {"op_id": "x", "type": "update", "image": "a1", "id": "b2", "feature": {}},
        {"op_id": "x", "type": "delete", "image": "a1", "id": "b2", "base_version": "1"},
        {"op_id": "x", "type": "delete", "image": "a1", "base_version": 1},
        {"op_id": "x\n", "type": "delete", "image": "a1", "id": "b2", "base_version": 1},
    ],
)
def test_an_op_out_of_shape_is_refused(payload: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        read_op(payload)


def test_an_op_is_read() -> None:
    op = read_op(
        {
            "op_id": "o-1",
            "type": "update",
            "image": "a1",
            "id": "b2",
            "feature": {"type": "Feature"},
            "base_version": 3,
        }
    )
    assert (op.type, op.annotation, op.base_version) == ("update", "b2", 3)


# --- throttle and rate --------------------------------------------------------------------


def test_the_throttle_sends_the_first_at_once_and_the_newest_of_the_rest_later() -> None:
    throttle = Throttle()
    key = ("cursor", "case", "sid")
    assert throttle.offer(key, {"n": 1}, 0.05) == {"n": 1}
    assert throttle.offer(key, {"n": 2}, 0.05) is None
    assert throttle.offer(key, {"n": 3}, 0.05) is None
    assert throttle.due() == []
    time.sleep(0.06)
    assert throttle.due() == [{"n": 3}]
    assert throttle.due() == []


def test_the_rate_limit_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(burst=5, rate=10)
    assert sum(bucket.take() for _ in range(20)) == 5
    assert bucket.refused == 15
    time.sleep(0.25)
    assert 1 <= sum(bucket.take() for _ in range(20)) <= 4


# --- rooms ---------------------------------------------------------------------------------


def connection(sid: str, user: str) -> Connection:
    return Connection(sid=sid, user=user, token="t", session_key="k", member=member(user))


def test_a_member_is_one_entry_however_many_connections_and_processes() -> None:
    rooms = Rooms("here")
    rooms.connect(connection("s1", "anna"))
    rooms.place("s1", "case", member("anna", image="i1", since=1))
    rooms.set_member("case", "there", "s9", member("anna", image="i2", since=2))
    rooms.set_member("case", "there", "s8", member("olle", following="anna", since=1))
    members = {m.user: m for m in rooms.members("case")}
    assert set(members) == {"anna", "olle"}
    assert members["anna"].image == "i2"  # the connection that moved last
    assert members["olle"].following == "anna"


def test_another_process_s_roster_replaces_what_it_said_before() -> None:
    rooms = Rooms("here")
    rooms.take_roster("there", [{"case": "c1", "sid": "s1", "member": {"user": "olle"}}])
    changed = rooms.take_roster("there", [{"case": "c2", "sid": "s2", "member": {"user": "olle"}}])
    assert changed == {"c1", "c2"}
    assert rooms.members("c1") == [] and [m.user for m in rooms.members("c2")] == ["olle"]


def test_a_silent_process_s_members_go(monkeypatch: pytest.MonkeyPatch) -> None:
    rooms = Rooms("here")
    rooms.take_roster("there", [{"case": "c1", "sid": "s1", "member": {"user": "olle"}}])
    assert rooms.silent_hosts() == []
    monkeypatch.setattr("app.liveroom.HOST_SILENCE", -1.0)
    assert rooms.silent_hosts() == ["there"]
    assert rooms.forget_host("there") == {"c1"} and rooms.members("c1") == []


def test_a_leaving_member_s_viewport_and_presenting_go_with_them() -> None:
    rooms = Rooms("here")
    rooms.connect(connection("s1", "anna"))
    rooms.place("s1", "case", member("anna"))
    rooms.keep_viewport("case", "anna", {"user": "anna", "bounds": [0, 0, 1, 1]})
    rooms.set_presenter("case", "anna")
    assert rooms.last_viewports("case") and rooms.presenter("case") == "anna"
    rooms.place("s1", None, member("anna"))
    assert rooms.last_viewports("case") == [] and rooms.presenter("case") is None


# --- the per-user count over workers --------------------------------------------------------


def test_connections_per_user_are_counted_over_processes(tmp_path: Path) -> None:
    path = tmp_path / "live-connections"
    here = UserCounts(path)
    assert all(here.take("anna", 3) for _ in range(2))
    # another worker of the same data directory sees those two
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from app.livegate import UserCounts;"
            f"c = UserCounts(Path({str(path)!r})); sys.exit(0 if c.take('anna', 3)"
            " and not c.take('anna', 3) else 1)",
        ],
        cwd=Path(__file__).resolve().parents[2],
    )
    assert child.returncode == 0
    # the child is gone: its connection no longer counts
    assert here.take("anna", 3) and not here.take("anna", 3)
    here.give_back("anna")
    assert here.take("anna", 3)


# --- buses ---------------------------------------------------------------------------------


def received(bus: QueuedBus) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    bus.start(got.append)
    return got


def wait_until(condition: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_the_workers_relay_carries_each_message_to_every_other_worker() -> None:
    path = Path(tempfile.mkdtemp()) / "relay.sock"
    relay = Relay(path)
    relay.start()
    buses = [SocketBus(path) for _ in range(3)]
    inboxes = [received(bus) for bus in buses]
    try:
        assert wait_until(lambda: all(bus.state() == "up" for bus in buses))
        time.sleep(0.1)
        buses[0].publish({"kind": "note", "n": 1})
        assert wait_until(lambda: all(len(inbox) == 1 for inbox in inboxes[1:]))
        assert inboxes[0] == []  # a process never hears itself
        assert inboxes[1][0]["n"] == 1 and inboxes[1][0]["host"] == buses[0].host
    finally:
        for bus in buses:
            bus.close()
        relay.close()
        shutil.rmtree(path.parent, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def private_redis() -> Iterator[tuple[int, Any]]:
    """A Redis server of this test's own, so that stopping it disturbs nobody."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    port = free_port()

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [server, "--port", str(port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        assert wait_until(lambda: _answers(port))
        return process

    holder = {"process": start()}

    def restart(stop: bool) -> None:
        if stop:
            holder["process"].terminate()
            holder["process"].wait()
        else:
            holder["process"] = start()

    yield port, restart
    holder["process"].terminate()
    holder["process"].wait()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def test_redis_carries_messages_and_a_bus_that_lost_it_says_so_and_comes_back(
    private_redis: tuple[int, Any], caplog: pytest.LogCaptureFixture
) -> None:
    port, restart = private_redis
    url = f"redis://127.0.0.1:{port}/0"
    one, two = RedisBus(url), RedisBus(url)
    assert isinstance(bus_for({"MESSAGE_QUEUE": url}), RedisBus)
    back = threading.Event()
    two.on_reconnect = back.set
    got = received(two)
    received(one)
    try:
        assert wait_until(lambda: one.state() == "up" and two.state() == "up")
        one.publish({"kind": "op", "n": 1})
        assert wait_until(lambda: [m["n"] for m in got] == [1])
        restart(True)
        assert wait_until(lambda: two.state() == "down")
        assert "unavailable" in caplog.text
        one.publish({"kind": "op", "n": 2})  # never blocks the caller while Redis is away
        restart(False)
        assert back.wait(10) and wait_until(lambda: one.state() == "up")
        one.publish({"kind": "op", "n": 3})
        assert wait_until(lambda: 3 in [m["n"] for m in got], 10)
        assert "connected again" in caplog.text
    finally:
        one.close()
        two.close()


def test_a_message_queue_that_is_not_redis_is_refused() -> None:
    with pytest.raises(ValueError):
        bus_for({"MESSAGE_QUEUE": "amqp://127.0.0.1"})
