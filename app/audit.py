"""The access log: one entry per access to patient data, append-only and hash-chained.

Each entry's hash covers its own fields and the hash of the entry before it, so an entry
edited or deleted afterwards breaks the chain at that point, and `samsyn audit verify`
names it. Appends are serialised by updating the single `audit_head` row first, which
locks it on PostgreSQL and takes the write lock on SQLite.

Tile requests and listings are folded: one entry per user, subject and period, with the
first and last time and the number of tiles or listings, written when the period ends.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.extensions import Database
from app.models import AccessEntry, AuditHead

GENESIS = "0" * 64
HASHED_FIELDS = (
    "seq",
    "at",
    "user_id",
    "username",
    "user_name",
    "user_hsa_id",
    "role",
    "org_id",
    "org_name",
    "unit_name",
    "patient_id",
    "resource",
    "action",
    "purpose",
    "outcome",
    "basis",
    "client",
    "detail",
    "flagged",
)


@dataclass
class Access:
    """What happened, before it gets its place in the chain."""

    resource: str
    action: str
    outcome: str
    purpose: str = "care"
    user_id: str | None = None
    username: str | None = None
    user_name: str | None = None
    user_hsa_id: str | None = None
    role: str | None = None
    org_id: str | None = None
    org_name: str | None = None
    unit_name: str | None = None
    patient_id: str | None = None
    basis: str | None = None
    client: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    flagged: bool = False
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


def entry_hash(values: dict[str, Any], prev_hash: str) -> str:
    """SHA-256 over the previous hash and the entry's fields in a canonical JSON form."""
    canonical = json.dumps(
        {name: _canonical(values.get(name)) for name in HASHED_FIELDS},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def append(database: Database, accesses: list[Access]) -> None:
    """Write entries at the end of the chain, in a transaction of their own."""
    if not accesses:
        return
    with database.session() as session:
        append_in(session, accesses)


def append_in(session: Session, accesses: list[Access]) -> None:
    """Write entries at the end of the chain inside the caller's transaction.

    For changes that must be logged atomically with what they record (an emergency
    grant, a consent): both are committed together or not at all.
    """
    # Touching the head row first takes its lock, so appends from all processes queue here;
    # the same statement reads where the chain ends.
    head = session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(seq=AuditHead.seq)
        .returning(AuditHead.seq, AuditHead.hash)
        .execution_options(synchronize_session=False)
    ).one()
    seq, prev = int(head.seq), str(head.hash)
    for access in accesses:
        seq += 1
        values = {**access.__dict__, "seq": seq}
        digest = entry_hash(values, prev)
        session.add(AccessEntry(**values, prev_hash=prev, hash=digest))
        prev = digest
    session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(seq=seq, hash=prev)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking the chain: intact, or the first broken entry and why."""

    ok: bool
    entries: int
    broken_seq: int | None = None
    reason: str | None = None


def verify(session: Session) -> Verdict:
    """Walk the whole log in order and recompute every hash.

    Entries are appended while the log is read (by every process), so the head is read
    before and after the walk: the chain is whole when the head after it names the last
    entry walked, or, when more were appended meanwhile, when the walk passed the entry
    the head named before it."""
    before = _head(session)
    passed_before = before is None or before[0] == 0
    expected_seq, prev, count = 1, GENESIS, 0
    for entry in _entries(session):
        if entry.seq != expected_seq:
            return Verdict(False, count, expected_seq, f"entry {expected_seq} is missing")
        values = {name: getattr(entry, name) for name in HASHED_FIELDS}
        if entry.prev_hash != prev:
            return Verdict(False, count, entry.seq, "it does not link to the entry before it")
        if entry_hash(values, prev) != entry.hash:
            return Verdict(False, count, entry.seq, "its content does not match its hash")
        prev, expected_seq, count = entry.hash, expected_seq + 1, count + 1
        passed_before = passed_before or (before is not None and before == (count, prev))
    after = _head(session)
    if after is None or after == (count, prev) or (after[0] > count and passed_before):
        return Verdict(True, count)
    return Verdict(
        False,
        count,
        count + 1 if after[0] > count else count,
        "entries at the end were removed",
    )


def _head(session: Session) -> tuple[int, str] | None:
    """Where the chain ends, as the head row says now (not as this session cached it)."""
    row = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    return None if row is None else (int(row.seq), str(row.hash))


def _entries(session: Session) -> Iterator[AccessEntry]:
    return session.scalars(
        select(AccessEntry).order_by(AccessEntry.seq).execution_options(yield_per=1000)
    )


@dataclass
class Period:
    """Repeated accesses of one kind (tiles of an image, listings of a case) by one user
    without a long pause."""

    access: Access
    counter: str
    first: float
    last: float
    count: int = 0


class AccessFolder:
    """Folds repeated accesses into one entry per user, subject and period.

    A viewer fetches hundreds of tiles a minute and a worklist is listed at every visit;
    one entry per request would bury what matters. A period ends after `gap` seconds
    without a hit, after `longest` seconds in all, or when the folder stops; a background
    thread looks every few seconds and writes the ended periods with their first and last
    time and their count.
    """

    def __init__(self, database: Database, gap: float = 120.0, longest: float = 900.0) -> None:
        self.database = database
        self.gap, self.longest = gap, longest
        self._periods: dict[tuple[str, ...], Period] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="samsyn-access-fold", daemon=True)
        self._thread.start()
        atexit.register(self.flush_all)

    def hit(
        self, key: tuple[str, ...], describe: Callable[[], Access], counter: str = "tiles"
    ) -> None:
        """Count one access; `describe` makes the entry when this access starts a period."""
        now = time.time()
        fresh = describe() if key not in self._periods else None
        with self._lock:
            period = self._periods.get(key)
            if period is None:
                period = self._periods[key] = Period(fresh or describe(), counter, now, now)
            period.count += 1
            period.last = now

    def flush(self, everything: bool = False) -> None:
        """Write the periods that have ended (all of them with `everything`)."""
        now = time.time()
        with self._lock:
            ended = [
                key
                for key, period in self._periods.items()
                if everything or now - period.last > self.gap or now - period.first > self.longest
            ]
            periods = {key: self._periods.pop(key) for key in ended}
        try:
            append(self.database, [_summary(period) for period in periods.values()])
        except Exception:
            self._restore(periods)
            raise

    def _restore(self, periods: dict[tuple[str, ...], Period]) -> None:
        """Periods whose entry could not be written go back, to be written next time
        (merged with any period of the same key begun meanwhile)."""
        with self._lock:
            for key, period in periods.items():
                newer = self._periods.get(key)
                if newer is not None:
                    period.count += newer.count
                    period.last = max(period.last, newer.last)
                self._periods[key] = period

    def flush_all(self) -> None:
        with contextlib.suppress(Exception):  # at exit the database may already be gone
            self.flush(everything=True)

    def stop(self) -> None:
        """Write everything still open and end the background thread."""
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self.flush_all()
        atexit.unregister(self.flush_all)

    def _run(self) -> None:
        """Every few seconds, write the periods that ended; a failed write is tried again."""
        while not self._stopping.wait(5.0):
            with contextlib.suppress(Exception):
                self.flush()


def _summary(period: Period) -> Access:
    """The one entry of a period: its start, its end and how many accesses."""
    first = datetime.fromtimestamp(period.first, UTC)
    last = datetime.fromtimestamp(period.last, UTC)
    detail = {
        **period.access.detail,
        period.counter: period.count,
        "from": first.isoformat(),
        "to": last.isoformat(),
    }
    return replace(period.access, at=first, detail=detail)
