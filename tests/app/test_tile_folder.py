"""The tile log keeps a viewing period when its entry cannot be written, and writes it later."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from app.audit import Access, AccessFolder, verify
from app.extensions import Database
from app.models import AccessEntry
from tests.conftest import database


class FailingOnce:
    """A database whose first transaction fails, as during a failover."""

    def __init__(self, real: Database) -> None:
        self.real = real
        self.failed = False

    def session(self):  # type: ignore[no-untyped-def]
        if not self.failed:
            self.failed = True
            raise RuntimeError("database is restarting")
        return self.real.session()


def test_a_period_that_cannot_be_written_is_kept_and_written_next_time(app: Flask) -> None:
    flaky = FailingOnce(database(app))
    folder = AccessFolder(flaky, gap=3600)  # type: ignore[arg-type]
    access = Access(resource="image:abc", action="render", outcome="allowed", user_id="u1")
    for _ in range(5):
        folder.hit(("u1", "abc"), lambda: access)
    with pytest.raises(RuntimeError):
        folder.flush(everything=True)
    folder.hit(("u1", "abc"), lambda: access)
    folder.flush(everything=True)
    folder.stop()
    with database(app).session() as session:
        entries = session.scalars(select(AccessEntry).where(AccessEntry.action == "render")).all()
        assert [entry.detail["tiles"] for entry in entries] == [6]
        assert verify(session).ok
