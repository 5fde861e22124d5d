"""Extensions created unbound and attached to an application in `create_app`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from flask_socketio import SocketIO
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


class Database:
    """One SQLAlchemy engine and session factory per application."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None

    def init_app(self, app: Flask) -> None:
        self.engine = make_engine(app.config["DATABASE_URL"])
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        app.extensions["samsyn_db"] = self

    def bound_copy(self) -> Database:
        """A Database on the same engine that stays with it when this one is re-bound.

        Background threads (the tile log) keep writing to the database of the application
        that started them.
        """
        copy = Database()
        copy.engine, copy._sessions = self.engine, self._sessions
        return copy

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block succeeds and rolls back when it raises."""
        assert self._sessions is not None, "Database.init_app was not called"
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


def make_engine(url: str) -> Engine:
    """An engine; SQLite gets foreign keys and a busy timeout for concurrent writers."""
    options: dict[str, Any] = {"future": True, "pool_pre_ping": True}
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


db = Database()
socketio = SocketIO()
