"""The door to the live channel: Socket.IO connections are checked before they open.

Under `samsyn serve` this runs in each live process, for each websocket the tile workers
hand over; where live connections share threads with HTTP (a single threaded server) it
runs in front of those. Before a request reaches Socket.IO, it asks:

- is there a valid login session in the cookie? If not, 401 at once: nothing is upgraded
  and nothing waits for a client that never logs in;
- has this address too many handshakes under way? (a flood of upgrades from one place);
- does this user already hold the most live connections one person may (several tabs and
  screens are normal, a script opening hundreds is not)? Counted over every process of
  the data directory (`UserCounts`);
- is the live side full (`LIVE_CAPACITY` connections in a live process; where threads
  are shared, a quarter of them, at least four, always stay with HTTP)?

A whole hospital may reach samsyn from one NAT address, so authenticated connections are
never capped per address. Refusals are the contract's JSON errors with the security headers.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app.auth import Principal, session_token
from app.clients import environ_client
from app.fastpath import WsgiApp
from app.headers import SECURITY_HEADERS
from app.services import Services

LIVE_PATH = "/socket.io"


def live_capacity(threads: int) -> int:
    """Live connections a threaded server that also serves HTTP takes: a quarter of its
    threads (at least four) always stay with HTTP."""
    return max(threads - max(threads // 4, 4), 1)


class Refused(Exception):
    def __init__(self, status: str, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class UserCounts:
    """Live connections per user, shared by the processes of one data directory: a small
    JSON file under an exclusive lock, one entry per process, entries of processes that
    are gone (a killed worker) dropped as they are found."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.pid = str(os.getpid())

    @contextmanager
    def _locked(self) -> Iterator[dict[str, dict[str, int]]]:
        with open(self.path, "a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            try:
                table = json.loads(handle.read() or "{}")
            except ValueError:
                table = {}
            table = {pid: users for pid, users in table.items() if _alive(pid)}
            yield table
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(table))

    def take(self, user: str, most: int) -> bool:
        with self._locked() as table:
            if sum(users.get(user, 0) for users in table.values()) >= most:
                return False
            mine = table.setdefault(self.pid, {})
            mine[user] = mine.get(user, 0) + 1
            return True

    def give_back(self, user: str) -> None:
        with self._locked() as table:
            mine = table.get(self.pid, {})
            mine[user] = mine.get(user, 0) - 1
            if mine[user] <= 0:
                del mine[user]


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError):
        return False
    return True


class LiveGate:
    """WSGI middleware in front of the Socket.IO endpoint."""

    def __init__(self, found: Services, inner: WsgiApp, live_capacity: int | None) -> None:
        self.found = found
        self.inner = inner
        self.pending_per_address = found.config["LIVE_PENDING_PER_ADDRESS"]
        self.per_user = found.config["LIVE_CONNECTIONS_PER_USER"]
        self.capacity = live_capacity  # None: not bounded by threads (another server model)
        self.users = UserCounts(Path(found.config["DATA_DIR"]) / "live-connections")
        self._pending: Counter[str] = Counter()
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if not environ.get("PATH_INFO", "").startswith(LIVE_PATH):
            return self.inner(environ, start_response)
        try:
            with self._handshake(environ_client(environ, self.found.config["TRUSTED_PROXIES"])):
                principal = self._principal(environ)
            release = self._slot(principal)
        except Refused as refusal:
            return _refuse(start_response, refusal)
        try:
            body = self.inner(environ, start_response)  # a websocket returns when it closes
        except BaseException:
            release()
            raise
        return _closing(body, release)

    @contextmanager
    def _handshake(self, address: str | None) -> Iterator[None]:
        """Count the handshakes an address has under way before it is known who asks."""
        key = address or "-"
        with self._lock:
            if self._pending[key] >= self.pending_per_address:
                raise Refused("429 Too Many Requests", "too_many_handshakes", "slow down")
            self._pending[key] += 1
        try:
            yield
        finally:
            with self._lock:
                self._pending[key] -= 1
                if self._pending[key] <= 0:
                    del self._pending[key]

    def _principal(self, environ: dict[str, Any]) -> Principal:
        epoch = self.found.epoch.current()
        principal = self.found.sessions.principal(session_token(environ), epoch)
        if principal is None:
            raise Refused("401 Unauthorized", "unauthenticated", "log in first")
        environ["samsyn.principal"] = principal
        return principal

    def _slot(self, principal: Principal) -> Callable[[], None]:
        """Take one of the user's connections (and one of the server's); the returned
        function gives them back when the connection ends."""
        user = principal.user_id
        with self._lock:
            if self.capacity is not None and sum(self._open.values()) >= self.capacity:
                raise Refused("503 Service Unavailable", "live_full", "the live channel is full")
            if not self.users.take(user, self.per_user):
                raise Refused(
                    "429 Too Many Requests",
                    "too_many_connections",
                    f"at most {self.per_user} live connections per user",
                )
            self._open[user] += 1

        def release() -> None:
            with self._lock:
                self._open[user] -= 1
                if self._open[user] <= 0:
                    del self._open[user]
                self.users.give_back(user)

        return release

    def connections(self) -> int:
        with self._lock:
            return sum(self._open.values())


def _closing(body: Iterable[bytes], release: Callable[[], None]) -> Iterator[bytes]:
    """The body of a live request; its slot is given back when the server is done with it
    (a websocket's body ends when the connection closes)."""
    try:
        yield from body
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
        release()


def _refuse(start_response: Callable[..., Any], refusal: Refused) -> list[bytes]:
    body = json.dumps({"error": refusal.code, "message": refusal.message}).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
        *SECURITY_HEADERS,
    ]
    if refusal.status.startswith(("429", "503")):
        headers.append(("Retry-After", "5"))
    start_response(refusal.status, headers)
    return [body]
