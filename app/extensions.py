"""The database of one application: its engine, its sessions, and the one place where a
change of who may see what bumps the policy epoch."""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

# Rows whose change alters what somebody may see: a commit that touches one of them bumps
# the policy epoch, so every process drops its cached sessions and decisions at once.
POLICY_TABLES = frozenset(
    {"shares", "blocks", "consents", "emergency_access", "users", "memberships", "referrals"}
)
# Rows whose removal ends access (a logout); their updates (last seen) do not.
POLICY_DELETIONS = frozenset({"login_sessions"})


class Database:
    """One SQLAlchemy engine and session factory of one application.

    `on_policy_change` is called after a commit that changed a share, a spärr, a consent,
    an emergency grant, a user, a role or a referral, or ended a login session: the one
    place where the policy epoch is bumped.
    """

    def __init__(self, url: str, on_policy_change: Callable[[], None] | None = None) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.on_policy_change = on_policy_change
        # Called after a commit with what the transaction announced to the live rooms.
        self.on_announce: Callable[[list[dict[str, Any]]], None] | None = None
        event.listen(self._sessions, "after_flush", _note_policy_changes)
        event.listen(self._sessions, "after_commit", self._after_commit)
        event.listen(self._sessions, "after_rollback", _forget_policy_changes)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block succeeds and rolls back when it raises."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def _after_commit(self, session: Session) -> None:
        if session.info.pop("policy_changed", False) and self.on_policy_change is not None:
            self.on_policy_change()
        announced = session.info.pop("announcements", None)
        if announced and self.on_announce is not None:
            self.on_announce(announced)

    def dispose(self) -> None:
        self.engine.dispose()


def _note_policy_changes(session: Session, _context: Any) -> None:
    changed = any(
        _table(row) in POLICY_TABLES for row in (*session.new, *session.dirty, *session.deleted)
    ) or any(_table(row) in POLICY_DELETIONS for row in session.deleted)
    if changed:
        session.info["policy_changed"] = True


def _forget_policy_changes(session: Session) -> None:
    session.info.pop("policy_changed", None)
    session.info.pop("announcements", None)


def announce(session: Session, message: dict[str, Any]) -> None:
    """A message for the live rooms, sent once (and only if) this transaction commits:
    nothing is broadcast that is not stored."""
    session.info.setdefault("announcements", []).append(message)


def _table(row: object) -> str | None:
    return getattr(row, "__tablename__", None)


def json_text(value: Any) -> str:
    """JSON text for a column; what orjson does not take (big integers) goes to json."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def make_engine(url: str) -> Engine:
    """An engine; SQLite gets foreign keys and a busy timeout for concurrent writers."""
    options: dict[str, Any] = {
        "future": True,
        "pool_pre_ping": True,
        # Threads of tiles, pages and live events share these; the live side takes a few
        # at a time (app/live.py), so they are never all held by one crowd.
        "pool_size": 10,
        "max_overflow": 10,
        "pool_timeout": 15,
        # JSON columns (annotation geometry above all) through orjson: ten times faster.
        "json_serializer": json_text,
        "json_deserializer": orjson.loads,
    }
    if url.startswith("sqlite"):
        options["connect_args"] = {"check_same_thread": False, "timeout": 30}
    engine = create_engine(url, **options)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


class WriterTurn:
    """One live writer at a time on a SQLite database, across every process of the server.

    SQLite itself lets a second writer wait in its busy handler, which sleeps in C: in a
    live process that stops every connection of the process, for up to 100 ms a sleep.
    Live writers take this turn first instead (a file lock beside the database, asked
    for without blocking, with short cooperative pauses in between), so they seldom
    meet inside SQLite. Within a process the caller serialises its own writers.
    """

    def __init__(self, database_path: str) -> None:
        self._fd = os.open(f"{database_path}-writer", os.O_RDWR | os.O_CREAT, 0o600)

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        pause = 0.0002
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(pause)  # a gevent sleep in a live process
                pause = min(pause * 2, 0.002)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)


def sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL; None for another database or one in memory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return str(parsed.database)
