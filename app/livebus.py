"""The live bus: what one server process tells the others about its live rooms.

Every live message (an op, a note, a presence change, a viewport) is applied in the
process that made it first, then published here; the other processes apply it to their own
clients. Three buses, by where the processes are:

- `LocalBus`: one process, nothing to tell anyone;
- `SocketBus`: the processes of one `samsyn serve` (its live processes and its tile
  workers), joined through a small relay in the gunicorn master (`Relay`) over a Unix
  socket: no Redis needed;
- `RedisBus`: `SAMSYN_MESSAGE_QUEUE=redis://...`, processes on one or several hosts.

A bus never blocks the caller: publishing puts the message in a bounded queue that a
thread of the bus sends. When the transport is gone (Redis stopped, the relay restarted)
the bus says so (`state`), logs it once, keeps trying, and calls `on_reconnect` when it is
back, so that the rooms can tell their clients to resync what they missed. Messages are
JSON objects carrying the publishing process's `host`; a process ignores its own.

Two topics: `POLICY` (a share revoked, a spärr, a logout: every process drops what it
cached) and `LIVE` (everything the rooms say). A tile worker holds no live connection, so
it listens to `POLICY` only (`listens="policy"`) and never decodes the rooms' cursors;
it still publishes `LIVE` messages (the REST changes its requests commit).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("samsyn.live")
Message = dict[str, Any]
Deliver = Callable[[Message], None]
HEADER = struct.Struct("!I")
LARGEST = 64 * 1024 * 1024
BACKLOG = 10_000
SEND_BATCH = 200  # messages written to the transport at once, at most
CHANNEL = "samsyn-live"
POLICY_CHANNEL = "samsyn-live-policy"
LIVE, POLICY = b"L", b"P"  # the topic byte before each relayed frame
POLICY_KINDS = frozenset({"policy"})
INTEREST = b"?"  # a relay peer's first frame: b"?all" or b"?policy"


def topic_of(message: Message) -> bytes:
    return POLICY if message.get("kind") in POLICY_KINDS else LIVE


def new_host_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class LocalBus:
    """One process holds every live client: nothing to publish."""

    kind = "local"

    def __init__(self) -> None:
        self.host = new_host_id()
        self.on_reconnect: Callable[[], None] | None = None

    def start(self, deliver: Deliver) -> None:
        return None

    def publish(self, message: Message) -> None:
        return None

    def state(self) -> str:
        return "up"

    def close(self) -> None:
        return None


class QueuedBus:
    """The common part of the buses that talk to others: the outgoing queue, the threads,
    the up/down state and its log lines."""

    kind = "queued"

    def __init__(self, listens: str = "all") -> None:
        self.host = new_host_id()
        self.listens = listens  # "all", or "policy" for a process without live clients
        self.on_reconnect: Callable[[], None] | None = None
        self._outgoing: queue.Queue[bytes] = queue.Queue(BACKLOG)
        self._up = threading.Event()
        self._closed = threading.Event()
        self._deliver: Deliver | None = None
        self._ever_up = False
        self._said_down = False

    def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        threading.Thread(target=self._listen_forever, name="live-bus-in", daemon=True).start()
        threading.Thread(target=self._send_forever, name="live-bus-out", daemon=True).start()

    def publish(self, message: Message) -> None:
        data = topic_of(message) + orjson.dumps({**message, "host": self.host})
        try:
            self._outgoing.put_nowait(data)
        except queue.Full:
            # The transport has been away long: drop the oldest; clients resync by seq.
            with contextlib.suppress(queue.Empty):
                self._outgoing.get_nowait()
            self._outgoing.put_nowait(data)

    def state(self) -> str:
        return "up" if self._up.is_set() else "down"

    def close(self) -> None:
        self._closed.set()
        self._disconnect()

    def _received(self, data: bytes) -> None:
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            log.warning("live bus: a message that is not JSON was dropped")
            return
        if not isinstance(message, dict) or message.get("host") == self.host:
            return
        if self._deliver is not None:
            try:
                self._deliver(message)
            except Exception:
                log.exception("live bus: a message could not be applied")

    def _went_up(self) -> None:
        self._up.set()
        if self._ever_up:
            log.warning("live bus (%s): connected again; rooms resync", self.kind)
            if self.on_reconnect is not None:
                self.on_reconnect()
        self._ever_up = True

    def _went_down(self, error: BaseException) -> None:
        # Said once per outage (and once when it was never up), not at every retry.
        if self._up.is_set() or not (self._ever_up or self._said_down):
            self._said_down = True
            log.warning(
                "live bus (%s) unavailable: %s; live changes are stored and reach the "
                "other processes when it is back",
                self.kind,
                error,
            )
        self._up.clear()

    def _listen_forever(self) -> None:
        pause = 0.2
        while not self._closed.is_set():
            try:
                self._listen()
                pause = 0.2
            except Exception as error:  # the transport is gone: say so, wait, try again
                self._went_down(error)
                self._disconnect()
                self._closed.wait(pause)
                pause = min(pause * 2, 2.0)

    def _send_forever(self) -> None:
        while not self._closed.is_set():
            try:
                batch = [self._outgoing.get(timeout=0.5)]
            except queue.Empty:
                continue
            while len(batch) < SEND_BATCH:  # what queued meanwhile goes in the same write
                try:
                    batch.append(self._outgoing.get_nowait())
                except queue.Empty:
                    break
            while not self._up.wait(0.5):
                if self._closed.is_set():
                    return
            try:
                self._send(batch)
            except Exception as error:
                self._went_down(error)
                self._disconnect()

    def _listen(self) -> None:
        raise NotImplementedError

    def _send(self, batch: list[bytes]) -> None:
        raise NotImplementedError

    def _disconnect(self) -> None:
        raise NotImplementedError


class RedisBus(QueuedBus):
    """Processes on one or several hosts, joined by Redis publish/subscribe."""

    kind = "redis"

    def __init__(self, url: str, listens: str = "all") -> None:
        super().__init__(listens)
        self.url = url
        self._client: Any = None
        self._pubsub: Any = None

    def _connect(self) -> Any:
        import redis

        client = redis.Redis.from_url(
            self.url, socket_timeout=2, socket_connect_timeout=1, health_check_interval=5
        )
        client.ping()
        return client

    def _listen(self) -> None:
        self._client = self._connect()
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        channels = (POLICY_CHANNEL,) if self.listens == "policy" else (CHANNEL, POLICY_CHANNEL)
        self._pubsub.subscribe(*channels)
        self._went_up()
        while not self._closed.is_set():
            message = self._pubsub.get_message(timeout=1.0)
            if message is not None and message.get("type") == "message":
                self._received(message["data"])

    def _send(self, batch: list[bytes]) -> None:
        client = self._client
        if client is None:
            raise ConnectionError("not connected")
        pipe = client.pipeline(transaction=False)  # one round trip for the batch
        for data in batch:
            pipe.publish(POLICY_CHANNEL if data[:1] == POLICY else CHANNEL, data[1:])
        pipe.execute()

    def _disconnect(self) -> None:
        for part in (self._pubsub, self._client):
            try:
                if part is not None:
                    part.close()
            except Exception:
                pass
        self._pubsub = self._client = None


class SocketBus(QueuedBus):
    """The processes of one `samsyn serve`, joined by the relay of their master."""

    kind = "workers"

    def __init__(self, path: Path, listens: str = "all") -> None:
        super().__init__(listens)
        self.path = path
        self._socket: socket.socket | None = None
        self._write = threading.Lock()

    def _listen(self) -> None:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.connect(str(self.path))
        interest = INTEREST + self.listens.encode()
        connection.sendall(HEADER.pack(len(interest)) + interest)
        self._socket = connection
        self._went_up()
        while not self._closed.is_set():
            self._received(read_frame(connection)[1:])

    def _send(self, batch: list[bytes]) -> None:
        connection = self._socket
        if connection is None:
            raise ConnectionError("not connected")
        with self._write:
            connection.sendall(b"".join(HEADER.pack(len(data)) + data for data in batch))

    def _disconnect(self) -> None:
        connection, self._socket = self._socket, None
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.close()


def read_frame(connection: socket.socket) -> bytes:
    (length,) = struct.unpack("!I", read_exactly(connection, HEADER.size))
    if length > LARGEST:
        raise ConnectionError("a live bus frame over the limit")
    return read_exactly(connection, length)


def read_exactly(connection: socket.socket, count: int) -> bytes:
    """`count` bytes; a socket with a timeout (for its writers) keeps waiting to read."""
    parts: list[bytes] = []
    while count:
        try:
            part = connection.recv(min(count, 1 << 20))
        except TimeoutError:
            continue
        if not part:
            raise ConnectionError("the live bus closed")
        parts.append(part)
        count -= len(part)
    return b"".join(parts)


class Relay:
    """In the gunicorn master: every frame a process sends goes to every other process
    that listens to its topic (a tile worker hears `POLICY` only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._peers: dict[socket.socket, threading.Lock] = {}
        self._policy_only: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        os.chmod(self.path, 0o600)
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept_forever, name="live-relay", daemon=True).start()

    def _accept_forever(self) -> None:
        assert self._listener is not None
        while True:
            try:
                peer, _ = self._listener.accept()
            except OSError:
                return
            peer.settimeout(5.0)  # a worker that stops reading is dropped, not waited for
            with self._lock:
                self._peers[peer] = threading.Lock()
            threading.Thread(target=self._relay, args=(peer,), daemon=True).start()

    def _relay(self, peer: socket.socket) -> None:
        try:
            while True:
                data = read_frame(peer)
                if data[:1] == INTEREST:
                    if data[1:] == b"policy":
                        with self._lock:
                            self._policy_only.add(peer)
                    continue
                self._forward(peer, HEADER.pack(len(data)) + data, data[:1] == POLICY)
        except (OSError, ConnectionError):
            self._drop(peer)

    def _forward(self, sender: socket.socket, frame: bytes, policy: bool) -> None:
        with self._lock:
            peers = [
                (p, lock)
                for p, lock in self._peers.items()
                if p is not sender and (policy or p not in self._policy_only)
            ]
        for peer, lock in peers:
            try:
                with lock:
                    peer.sendall(frame)
            except OSError:
                self._drop(peer)

    def _drop(self, peer: socket.socket) -> None:
        with self._lock:
            self._peers.pop(peer, None)
            self._policy_only.discard(peer)
        with contextlib.suppress(OSError):
            peer.close()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with self._lock:
            peers = list(self._peers)
        for peer in peers:
            self._drop(peer)


def wait_for_socket(path: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.05)
    return False


def bus_for(config: dict[str, Any]) -> LocalBus | QueuedBus:
    """The bus this process's configuration asks for (a tile worker of `samsyn serve`,
    which hands its websockets on, listens to policy changes only)."""
    listens = "policy" if config.get("LIVE_DOORS") else "all"
    queue_url = config.get("MESSAGE_QUEUE")
    if queue_url:
        if not str(queue_url).startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("SAMSYN_MESSAGE_QUEUE must be a redis:// address")
        return RedisBus(str(queue_url), listens)
    relay = config.get("LIVE_RELAY")
    if relay:
        return SocketBus(Path(relay), listens)
    return LocalBus()
