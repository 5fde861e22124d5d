"""Several `samsyn serve` processes behind one case room: two processes on one PostgreSQL
schema joined by Redis, one of them killed and restarted mid-session, the message queue
(a private redis-server of this test, never the machine's) away for a while, and one
`samsyn serve` with two gunicorn workers, two live processes and no message queue: the
live processes hold every websocket and share one room, the workers' REST changes reach
it, and when a live process is killed the master starts it again while tiles, the API
and the other live process go on."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import database_for, free_port
from tests.live.conftest import (
    LiveClient,
    LiveClients,
    Person,
    Server,
    World,
    answers,
    build_world,
    need_postgres,
    need_redis,
    serving,
    sign_in,
    square,
    wait_until,
)

# The machine's Redis, shared with others: pub/sub ignores the database number, but every
# run's cases are new ids, so no other samsyn's rooms are ever these.
QUEUE_DB = 7
GHOST_SECONDS = 30  # a member whose process died leaves the others' presence by then
SECRET = secrets.token_hex(32)  # one deployment: every process signs with the same key

pytestmark = pytest.mark.timeout(120)


def create(image: str, label: str) -> dict[str, Any]:
    n = int(uuid.uuid4().int % 1500)
    feature = square(20 + n, 20 + n % 1400, 30, label=label)
    return {"op_id": uuid.uuid4().hex, "type": "create", "image": image, "feature": feature}


def member_ids(data: dict[str, Any]) -> set[str]:
    return {member["user"] for member in data["members"]}


def annotation_ids(person: Person, image: str) -> set[str]:
    response = person.get(f"/api/images/{image}/annotations")
    assert response.status_code == 200, response.text
    return {feature["id"] for feature in response.json()["features"]}


def heard_ids(client: LiveClient, *more: dict[str, Any]) -> set[str]:
    """Annotation ids a client learnt of: ops heard live, and ops in resync answers."""
    ops = client.heard("op") + [
        e for answer in more for e in answer["events"] if e["event"] == "op"
    ]
    return {op["annotation"]["id"] for op in ops}


def note_ids(resynced: dict[str, Any]) -> set[str]:
    return {event["id"] for event in resynced["events"] if event["event"] == "note"}


def readiness(base: str) -> tuple[int, dict[str, Any]]:
    response = requests.get(f"{base}/readyz", timeout=5)
    return response.status_code, response.json()


def wait_ready(base: str, status: int, seconds: float) -> tuple[int, dict[str, Any]]:
    deadline = time.monotonic() + seconds
    answer = readiness(base)
    while answer[0] != status and time.monotonic() < deadline:
        time.sleep(0.2)
        answer = readiness(base)
    return answer


# --- two processes, PostgreSQL and Redis -----------------------------------------------------


@pytest.fixture(scope="module")
def pg_world(tmp_path_factory: pytest.TempPathFactory, synthetic_slide: Any) -> Iterator[World]:
    need_postgres()
    folder = tmp_path_factory.mktemp("live-scale")
    for url in database_for("postgresql", folder, "live"):
        yield build_world(folder, synthetic_slide, url)


def deployment_env(world: World, queue: str) -> dict[str, str]:
    return {
        "SAMSYN_DATABASE_URL": world.database_url,
        "SAMSYN_MESSAGE_QUEUE": queue,
        "SAMSYN_SECRET_KEY": SECRET,
    }


@pytest.fixture(scope="module")
def pair(pg_world: World) -> Iterator[tuple[Server, Server]]:
    """Two processes of one deployment: same database, same secret, Redis between them."""
    need_redis()
    env = deployment_env(pg_world, f"redis://127.0.0.1:6379/{QUEUE_DB}")
    with (
        serving(pg_world.data_dir, env=env) as first,
        serving(pg_world.data_dir, env=env) as second,
    ):
        yield first, second


@pytest.mark.postgres
def test_clients_on_two_processes_meet_in_one_room(
    pg_world: World, pair: tuple[Server, Server], live: LiveClients
) -> None:
    first, second = pair
    anna, bo = sign_in(first.base, "anna"), sign_in(second.base, "bo")
    a, b = live(first.base, anna), live(second.base, bo)
    case, image = pg_world.cases["a"], pg_world.images["a"]
    a.join(case, image=image)
    joined = b.join(case, image=image)
    assert anna.user_id in member_ids(joined), "Bo's process does not know Anna is there"
    a.wait_for("presence", lambda d: bo.user_id in member_ids(d))

    made = a.call("op", create(image, "from the first"))
    assert made.get("ok") is True, made
    heard = b.wait_for("op", lambda d: d["seq"] == made["seq"])
    assert heard["annotation"]["id"] == made["annotation"]["id"] and heard["user"] == anna.user_id
    said = b.call("note", {"text": "från den andra processen"})
    assert said.get("ok") is True, said
    assert a.wait_for("note", lambda d: d["id"] == said["note"]["id"])["user"] == bo.user_id
    b.emit("cursor", {"image": image, "frame": None, "x": 42, "y": 43})
    assert a.wait_for("cursor", lambda d: d["x"] == 42)["user"] == bo.user_id
    rest = bo.post(f"/api/images/{image}/annotations", square(900, 900, label="rest on second"))
    assert rest.status_code == 201, rest.text
    a.wait_for("op", lambda d: d["annotation"]["id"] == rest.json()["id"] and d["op_id"] is None)


@pytest.mark.postgres
def test_a_killed_process_restarts_and_its_clients_lose_nothing(
    pg_world: World, pair: tuple[Server, Server], live: LiveClients
) -> None:
    first, second = pair
    case, image = pg_world.cases["a"], pg_world.images["a"]
    anna, bo, cia = (
        sign_in(first.base, "anna"),
        sign_in(second.base, "bo"),
        sign_in(second.base, "cia"),
    )
    a = live(first.base, anna)
    b = live(second.base, bo, reconnection=True)
    c = live(second.base, cia)  # gone with the process, never back
    for client in (a, b, c):
        client.join(case, image=image)
    a.wait_for("presence", lambda d: {bo.user_id, cia.user_id} <= member_ids(d))
    acked = [b.call("op", create(image, f"bo before {n}")) for n in range(3)]
    acked += [a.call("op", create(image, f"anna before {n}")) for n in range(3)]
    assert all(ack.get("ok") is True for ack in acked), acked
    b.wait_for("op", lambda d: d["seq"] == acked[-1]["seq"])
    seen_before = b.last_seq()

    mark = a.mark()
    second.kill()
    killed = time.monotonic()
    assert b.wait_until(lambda: b.disconnects >= 1, timeout=10), "Bo did not notice the crash"
    while_down = [a.call("op", create(image, f"anna while down {n}")) for n in range(3)]
    assert all(ack.get("ok") is True for ack in while_down), while_down
    said = a.call("note", {"text": "medan den andra låg nere"})
    assert said.get("ok") is True, said
    second.start()

    assert b.wait_until(lambda: b.connects >= 2 and b.connected, timeout=20), (
        f"Bo's client did not reconnect to the restarted process: {b.summary()}"
    )
    rejoined = b.join(case, image=image)
    caught_up = b.call("resync", {"since": seen_before})
    assert caught_up.get("ok") is True and not caught_up.get("reload"), caught_up
    assert rejoined["seq"] >= said["seq"] and caught_up["seq"] >= said["seq"]
    every = {ack["annotation"]["id"] for ack in acked + while_down}
    annas = {ack["annotation"]["id"] for ack in acked[3:] + while_down}
    missed = annas - heard_ids(b, caught_up)
    assert not missed, f"Anna's acknowledged ops Bo never learnt of: {missed}"
    assert said["note"]["id"] in note_ids(caught_up)
    assert every <= annotation_ids(bo.on(second.base), image)
    assert every <= annotation_ids(anna, image)
    a.wait_for("presence", lambda d: bo.user_id in member_ids(d), after=mark)
    # Cia's connection died with the process: her ghost leaves the room within half a minute
    ghost_free = a.wait_for(
        "presence",
        lambda d: cia.user_id not in member_ids(d),
        timeout=max(GHOST_SECONDS - (time.monotonic() - killed), 1),
        after=mark,
    )
    assert bo.user_id in member_ids(ghost_free) or bo.user_id in member_ids(rejoined)
    # the room Anna sees in the end: Bo back, Cia's ghost gone (Bo is always in his own
    # join ack, so the line above alone would hold whatever Anna heard)
    a.wait_for(
        "presence",
        lambda d: bo.user_id in member_ids(d) and cia.user_id not in member_ids(d),
        timeout=max(GHOST_SECONDS - (time.monotonic() - killed), 1),
        after=mark,
    )
    assert cia.user_id not in member_ids(b.join(case, image=image))


# --- the message queue away for a while ------------------------------------------------------


class PrivateRedis:
    """A redis-server of this test's own on a free port, stopped and started at will."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            shutil.which("redis-server") or "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.folder),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not answers(self.port):
            assert time.monotonic() < deadline, "the private redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


@pytest.mark.postgres
def test_the_message_queue_away_for_a_while(
    pg_world: World, private_redis: PrivateRedis, live: LiveClients
) -> None:
    env = deployment_env(pg_world, f"redis://127.0.0.1:{private_redis.port}/0")
    case, image = pg_world.cases["a"], pg_world.images["a"]
    with (
        serving(pg_world.data_dir, env=env) as first,
        serving(pg_world.data_dir, env=env) as second,
    ):
        anna, bo = sign_in(first.base, "anna"), sign_in(second.base, "bo")
        a, b = live(first.base, anna), live(second.base, bo)
        a.join(case, image=image)
        b.join(case, image=image)
        warm = a.call("op", create(image, "queue up"))
        b.wait_for("op", lambda d: d["seq"] == warm["seq"])
        assert readiness(first.base)[0] == 200 and readiness(second.base)[0] == 200
        seen_before, logged_before = b.last_seq(), len(first.log_text())

        private_redis.stop()
        made = a.call("op", create(image, "while the queue is away"), timeout=10)
        assert made.get("ok") is True, made
        said = a.call("note", {"text": "kön är borta"}, timeout=10)
        assert said.get("ok") is True, said
        answered = b.call("note", {"text": "hör någon mig?"}, timeout=10)
        assert answered.get("ok") is True, answered
        assert made["annotation"]["id"] in annotation_ids(bo.on(second.base), image)
        for base in (first.base, second.base):
            status, body = wait_ready(base, 503, 5)
            assert status == 503 and body.get("message_queue") is False, (base, status, body)
            assert body.get("database") is True, body
        log = first.log_text()[logged_before:].lower()
        assert "redis" in log or "message queue" in log or "message_queue" in log, (
            f"nothing about the message queue in the server's log: {log[-2000:]!r}"
        )
        time.sleep(1.0)

        marks = a.mark(), b.mark()
        private_redis.start()
        sync = b.wait_for("sync", lambda d: d["seq"] >= said["seq"], timeout=30, after=marks[1])
        assert sync["case"] == case
        caught_up = b.call("resync", {"since": seen_before})
        assert caught_up.get("ok") is True, caught_up
        assert made["annotation"]["id"] in heard_ids(b, caught_up)
        assert said["note"]["id"] in note_ids(caught_up)
        a.wait_for("sync", lambda d: d["seq"] >= answered["seq"], timeout=30, after=marks[0])
        assert answered["note"]["id"] in note_ids(a.call("resync", {"since": warm["seq"]}))
        for base in (first.base, second.base):
            status, body = wait_ready(base, 200, 15)
            assert status == 200, (base, body)
        after = a.call("op", create(image, "the queue is back"))
        b.wait_for("op", lambda d: d["seq"] == after["seq"], timeout=5)
        live.close_all()


# --- two workers and the live process, no message queue ------------------------------------


def holder_of(server: Server, client: LiveClient) -> int | None:
    """The process holding a client's websocket, found through /proc."""
    port = client.local_port()
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = fields[1].rsplit(":", 1)[1], fields[2].rsplit(":", 1)[1]
            if int(local, 16) == server.port and int(remote, 16) == port:
                inode = fields[9]
    if inode is None:
        return None
    for pid in server.children():
        for descriptor in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(descriptor) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


@pytest.fixture(scope="module")
def two_workers(
    tmp_path_factory: pytest.TempPathFactory, synthetic_slide: Any
) -> Iterator[tuple[Server, World]]:
    """`samsyn serve --workers 2` with two live processes: SQLite, no message queue."""
    world = build_world(tmp_path_factory.mktemp("live-workers"), synthetic_slide, extra=14)
    with serving(world.data_dir, "--workers", "2", env={"SAMSYN_LIVE_PROCESSES": "2"}) as server:
        both = wait_until(
            lambda: len(server.workers()) == 2 and len(server.live_processes()) == 2, timeout=10
        )
        assert both, f"children {server.children()}; log: {server.log_text()[-3000:]}"
        yield server, world


def in_case_a(
    server: Server, world: World, live: LiveClients, count: int, **options: Any
) -> tuple[list[tuple[Person, LiveClient]], dict[str, dict[str, Any]]]:
    """`count` clients of different people in case a: (person, client) pairs, join acks."""
    clients: list[tuple[Person, LiveClient]] = []
    joined: dict[str, dict[str, Any]] = {}
    for n in range(1, count + 1):
        person = sign_in(server.base, f"p{n}")
        client = live(server.base, person, **options)
        joined[person.username] = client.join(world.cases["a"], image=world.images["a"])
        clients.append((person, client))
    return clients, joined


def rest_create(person: Person, image: str, label: str) -> dict[str, Any]:
    """A REST create on a connection of its own (the kernel picks the worker each time)."""
    response = person.post(
        f"/api/images/{image}/annotations",
        square(40, 40, 20, label=label),
        headers={"Connection": "close"},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_live_processes_hold_every_websocket_share_the_room_and_hear_both_workers(
    two_workers: tuple[Server, World], live: LiveClients, record_property: Callable[..., None]
) -> None:
    server, world = two_workers
    clients, joined = in_case_a(server, world, live, 8)
    holders = {person.username: holder_of(server, client) for person, client in clients}
    record_property("live_holders", holders)
    print(f"\nlive process holding each client: {holders}")
    live_pids, workers = server.live_processes(), server.workers()
    assert set(holders.values()) == set(live_pids), (
        f"websockets held by {holders}; live processes {live_pids}, workers {workers}"
    )
    everyone = {person.user_id for person, _client in clients}
    for person, client in clients:
        assert sees_everyone(client, joined[person.username], everyone), (
            f"{person.username} does not see everyone in the room: {client.heard('presence')[-1:]}"
        )
    acks = {person.username: client.call("op", create(world.images["a"], person.username))
            for person, client in clients}  # fmt: skip
    assert all(ack.get("ok") is True for ack in acks.values()), acks
    missing: dict[str, list[str]] = {}
    for person, client in clients:
        wanted = {name: ack["seq"] for name, ack in acks.items() if name != person.username}
        client.wait_until(partial(hears_all, client, wanted), timeout=5)
        heard = {op["seq"] for op in client.heard("op")}
        lost = [name for name, seq in wanted.items() if seq not in heard]
        if lost:
            missing[person.username] = lost
    assert not missing, f"ops not heard live (hearer: senders): {missing}"
    # REST changes made through whichever worker the kernel chose reach the live room
    writer, (_listener, listener) = clients[0][0], clients[1]
    made = [rest_create(writer, world.images["a"], f"rest {n}") for n in range(8)]
    for annotation in made:
        assert listener.wait_for(
            "op", lambda d, a=annotation: d["annotation"]["id"] == a["id"], timeout=5
        ), f"REST create {annotation['id']} not heard live: {listener.summary()}"


def test_a_killed_live_process_is_started_again_and_its_clients_catch_up(
    two_workers: tuple[Server, World], live: LiveClients
) -> None:
    server, world = two_workers
    image = world.images["a"]
    clients, _joined = in_case_a(server, world, live, 6, reconnection=True)
    before = [c.call("op", create(image, f"{p.username} before")) for p, c in clients]
    assert all(ack.get("ok") is True for ack in before), before
    for _person, client in clients:
        client.wait_until(partial(hears_all, client, {"last": before[-1]["seq"]}), timeout=5)
    seen = {p.username: c.last_seq() for p, c in clients}
    victim = holder_of(server, clients[0][1])
    assert victim in server.live_processes(), (victim, server.children())
    fallen = [(p, c) for p, c in clients if holder_of(server, c) == victim]
    standing = [(p, c) for p, c in clients if (p, c) not in fallen]

    os.kill(victim, signal.SIGKILL)
    for person, client in fallen:
        assert client.wait_until(partial(dropped, client), timeout=10), person.username
    # tiles, pages, the API and the other live process go on meanwhile
    writer = clients[0][0]
    during = [rest_create(writer, image, f"during {n}") for n in range(3)]
    for person, client in standing:
        assert client.wait_until(
            partial(knows_all, client, {a["id"] for a in during}), timeout=5
        ), f"{person.username} on the standing live process missed the REST changes"
    restarted = wait_until(
        lambda: victim not in server.live_processes() and len(server.live_processes()) == 2, 20
    )
    assert restarted, f"the master did not start the live process again: {server.children()}"
    assert "the live process ended" in server.log_text()

    for person, client in fallen:
        assert client.wait_until(partial(reconnected, client), timeout=20), (
            f"{person.username} did not reconnect after the live process died: {client.summary()}"
        )
        client.join(world.cases["a"], image=image)
        caught_up = client.call("resync", {"since": seen[person.username]})
        assert caught_up.get("ok") is True, caught_up
        lost = {annotation["id"] for annotation in during} - heard_ids(client, caught_up)
        assert not lost, f"{person.username} never learnt of {lost}"
    after = {p.username: c.call("op", create(image, f"{p.username} after")) for p, c in clients}
    for person, client in clients:
        wanted = {n: a["seq"] for n, a in after.items() if n != person.username}
        assert client.wait_until(partial(hears_all, client, wanted), timeout=5), (
            f"{person.username} missed ops after the restart"
        )


def sees_everyone(client: LiveClient, ack: dict[str, Any], everyone: set[str]) -> bool:
    """Everyone is in the client's join ack, or in a presence it heard since (waiting a while)."""

    def seen() -> bool:
        heard = [ack, *client.heard("presence")]
        return any(everyone <= member_ids(presence) for presence in heard)

    return client.wait_until(seen, timeout=5)


def dropped(client: LiveClient) -> bool:
    return client.disconnects >= 1


def reconnected(client: LiveClient) -> bool:
    return client.connects >= 2 and client.connected


def knows_all(client: LiveClient, wanted: set[str]) -> bool:
    return wanted <= heard_ids(client)


def hears_all(client: LiveClient, wanted: dict[str, int]) -> bool:
    return set(wanted.values()) <= {op["seq"] for op in client.heard("op")}
