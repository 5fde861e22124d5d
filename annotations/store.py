"""The annotation store: one row per annotation with its version, every version kept, soft
deletion, revert, and one increasing sequence number per case that the live channel reuses.

The store has no session of its own: every function works in the caller's transaction, so
an annotation, its version row and the case's sequence number are committed together (and
the access-log entry of the change with them). Viewport queries go through a spatial index:
an R*Tree on SQLite, a GiST index on the bounding box on PostgreSQL.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from samsyn.columns import UTCDateTime
from samsyn.errors import Conflict, NotFound

LAYERS = ("shared", "draft")
SQLITE_INDEX = "annotation_boxes"


class StoreBase(DeclarativeBase):
    pass


class AnnotationRow(StoreBase):
    """The current state of one annotation."""

    __tablename__ = "annotations"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    case_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    image_id: Mapped[str] = mapped_column(String(32), index=True)
    frame: Mapped[int | None] = mapped_column(Integer, nullable=True)
    author_id: Mapped[str] = mapped_column(String(32))
    org_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    layer: Mapped[str] = mapped_column(String(8), default="shared")
    kind: Mapped[str] = mapped_column(String(16))
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)
    shape: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    classification: Mapped[str | None] = mapped_column(String(255), nullable=True)
    color: Mapped[str | None] = mapped_column(String(7), nullable=True)
    label: Mapped[str | None] = mapped_column(Text, nullable=True)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    object_type: Mapped[str] = mapped_column(String(16), default="annotation")
    measurements: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    minx: Mapped[float] = mapped_column(Float)
    miny: Mapped[float] = mapped_column(Float)
    maxx: Mapped[float] = mapped_column(Float)
    maxy: Mapped[float] = mapped_column(Float)
    created: Mapped[datetime] = mapped_column(UTCDateTime())
    updated: Mapped[datetime] = mapped_column(UTCDateTime())
    deleted: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AnnotationVersion(StoreBase):
    """One version of an annotation as it was: who made it, when, by which operation."""

    __tablename__ = "annotation_versions"
    __table_args__ = (UniqueConstraint("annotation_id", "version"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    annotation_id: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[str] = mapped_column(String(32))
    op: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)


class CaseSequence(StoreBase):
    """The last sequence number given out in a case (annotation changes, notes, ...)."""

    __tablename__ = "case_sequences"

    case_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)


# The tables themselves, for Core inserts of many rows at once.
ROWS = cast(Table, AnnotationRow.__table__)
VERSIONS = cast(Table, AnnotationVersion.__table__)


@dataclass(frozen=True)
class Draft:
    """What a new annotation, or a change to one, consists of (the shape already checked)."""

    kind: str
    geometry: dict[str, Any]
    bbox: tuple[float, float, float, float]
    shape: dict[str, Any] | None = None
    classification: str | None = None
    color: str | None = None
    label: str | None = None
    locked: bool = False
    object_type: str = "annotation"
    measurements: dict[str, Any] = field(default_factory=dict)


class StaleVersion(Conflict):
    """The caller's version is not the current one: they get the current annotation."""

    def __init__(self, current: AnnotationRow) -> None:
        super().__init__(f"the annotation is at version {current.version}; reload it")
        self.current = current


def next_seq(session: Session, case_id: str) -> int:
    """The case's next sequence number, taken in the caller's transaction (the row lock
    held until commit keeps the numbers of concurrent writers in commit order)."""
    seq = session.scalar(
        update(CaseSequence)
        .where(CaseSequence.case_id == case_id)
        .values(seq=CaseSequence.seq + 1)
        .returning(CaseSequence.seq)
        .execution_options(synchronize_session=False)
    )
    if seq is None:  # the case's first change
        try:
            with session.begin_nested():
                session.execute(insert(CaseSequence).values(case_id=case_id, seq=1))
        except IntegrityError:
            return next_seq(session, case_id)
        return 1
    return int(seq)


def current_seq(session: Session, case_id: str | None) -> int:
    """The last sequence number the case has given out (0 for none, or no case)."""
    if case_id is None:
        return 0
    seq = session.scalar(select(CaseSequence.seq).where(CaseSequence.case_id == case_id))
    return int(seq or 0)


def create(
    session: Session,
    draft: Draft,
    *,
    image_id: str,
    case_id: str | None,
    frame: int | None,
    author_id: str,
    org_id: str | None,
    layer: str = "shared",
) -> AnnotationRow:
    """A new annotation at version 1, its first version row and its case sequence number."""
    now = datetime.now(UTC)
    row = AnnotationRow(
        id=secrets.token_hex(8),
        case_id=case_id,
        image_id=image_id,
        frame=frame,
        author_id=author_id,
        org_id=org_id,
        layer=layer if layer in LAYERS else "shared",
        version=1,
        seq=next_seq(session, case_id) if case_id else 0,
        created=now,
        updated=now,
        **_columns(draft),
    )
    session.add(row)
    session.flush()
    _index(session, row, fresh=True)
    _remember(session, row, author_id, "create")
    return row


def create_many(
    session: Session,
    drafts: list[Draft],
    *,
    image_id: str,
    case_id: str | None,
    frame: int | None,
    author_id: str,
    org_id: str | None,
    layer: str = "shared",
) -> list[str]:
    """Many new annotations at once (an import): one sequence number each, taken as one
    block, and written with one statement per table. Returns their ids in order."""
    if not drafts:
        return []
    now = datetime.now(UTC)
    last = _take_seqs(session, case_id, len(drafts)) if case_id else 0
    first = last - len(drafts) + 1
    rows = [
        {
            "id": secrets.token_hex(8),
            "case_id": case_id,
            "image_id": image_id,
            "frame": frame,
            "author_id": author_id,
            "org_id": org_id,
            "layer": layer if layer in LAYERS else "shared",
            "version": 1,
            "seq": first + index if case_id else 0,
            "created": now,
            "updated": now,
            "deleted": None,
            **_columns(draft),
        }
        for index, draft in enumerate(drafts)
    ]
    # Core inserts (executemany) rather than the ORM's bulk path: a fifth of the time.
    session.execute(insert(ROWS), rows)
    session.execute(insert(VERSIONS), [_version_of(row, author_id, now) for row in rows])
    _index_many(session, [row["id"] for row in rows])
    return [row["id"] for row in rows]


def _take_seqs(session: Session, case_id: str, count: int) -> int:
    """Take `count` sequence numbers of the case at once; returns the last."""
    last = next_seq(session, case_id)
    if count > 1:
        session.execute(
            update(CaseSequence)
            .where(CaseSequence.case_id == case_id)
            .values(seq=CaseSequence.seq + (count - 1))
        )
    return last + count - 1


def _version_of(row: dict[str, Any], user_id: str, at: datetime) -> dict[str, Any]:
    snapshot = {name: row[name] for name in _CONTENT}
    snapshot["deleted"] = None
    return {
        "annotation_id": row["id"],
        "version": 1,
        "seq": row["seq"],
        "user_id": user_id,
        "op": "create",
        "at": at,
        "snapshot": snapshot,
    }


def _index_many(session: Session, ids: list[str]) -> None:
    """Put freshly inserted annotations into the SQLite R*Tree in one statement per block."""
    if not _sqlite(session):
        return
    for start in range(0, len(ids), 500):
        block = ids[start : start + 500]
        session.execute(
            text(
                f"INSERT INTO {SQLITE_INDEX} (id, minx, maxx, miny, maxy) "
                "SELECT pk, minx, maxx, miny, maxy FROM annotations WHERE id IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": block},
        )


def change(
    session: Session, annotation_id: str, base_version: int, draft: Draft, user_id: str
) -> AnnotationRow:
    """The annotation with new content at the next version; StaleVersion when the caller
    edited an older version."""
    row = _claim(session, annotation_id, base_version)
    for name, value in _columns(draft).items():
        setattr(row, name, value)
    return _next_version(session, row, user_id, "update")


def delete(session: Session, annotation_id: str, base_version: int, user_id: str) -> AnnotationRow:
    """Soft deletion: the annotation leaves every view, its versions stay."""
    row = _claim(session, annotation_id, base_version)
    row.deleted = datetime.now(UTC)
    return _next_version(session, row, user_id, "delete")


def revert(
    session: Session, annotation_id: str, base_version: int, to_version: int, user_id: str
) -> AnnotationRow:
    """The content of an earlier version as a new version (history is never rewritten)."""
    row = _claim(session, annotation_id, base_version, deleted_too=True)
    old = session.scalar(
        select(AnnotationVersion).where(
            AnnotationVersion.annotation_id == annotation_id,
            AnnotationVersion.version == to_version,
        )
    )
    if old is None:
        raise NotFound(f"the annotation has no version {to_version}")
    for name in _CONTENT:
        setattr(row, name, old.snapshot.get(name))
    row.deleted = None
    return _next_version(session, row, user_id, "revert")


def publish(session: Session, annotation_id: str, base_version: int, user_id: str) -> AnnotationRow:
    """A draft moves to the case's shared layer."""
    row = _claim(session, annotation_id, base_version)
    row.layer = "shared"
    return _next_version(session, row, user_id, "publish")


def _claim(
    session: Session, annotation_id: str, base_version: int, deleted_too: bool = False
) -> AnnotationRow:
    """Take the next version of an annotation if, and only if, it is still at `base_version`.

    One conditional UPDATE decides between concurrent writers on every database (it waits
    for the other writer's lock, then finds the version moved on): the loser gets
    StaleVersion with the current annotation, nothing half-written.
    """
    if len(annotation_id) > 32:
        raise NotFound("no such annotation")
    claimed = session.execute(
        update(AnnotationRow)
        .where(AnnotationRow.id == annotation_id, AnnotationRow.version == base_version)
        .values(version=base_version + 1)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount == 0:  # type: ignore[attr-defined]
        current(session, annotation_id, base_version, deleted_too=True)
    return current(session, annotation_id, base_version + 1, deleted_too=deleted_too)


def current(
    session: Session,
    annotation_id: str,
    base_version: int | None = None,
    deleted_too: bool = False,
) -> AnnotationRow:
    """The annotation as it is now; NotFound when unknown (or deleted), StaleVersion when
    `base_version` is not the current one."""
    query = (
        select(AnnotationRow)
        .where(AnnotationRow.id == annotation_id)
        .execution_options(populate_existing=True)
    )
    row = session.scalar(query) if len(annotation_id) <= 32 else None
    if row is None or (row.deleted is not None and not deleted_too):
        raise NotFound("no such annotation")
    if base_version is not None and base_version != row.version:
        raise StaleVersion(row)
    return row


def in_view(
    session: Session,
    image_id: str,
    viewer_id: str,
    bbox: tuple[float, float, float, float] | None = None,
    frame: int | None = None,
) -> list[AnnotationRow]:
    """The image's annotations the viewer sees (the shared layer and their own drafts),
    within `bbox` through the spatial index when one is given."""
    keys = _sqlite_keys(session, bbox) if bbox is not None else None
    if keys is not None:
        # Looked up by key alone: with the image in the WHERE clause SQLite's planner would
        # walk the image index (every annotation of the slide) instead.
        rows = session.scalars(
            select(AnnotationRow).where(AnnotationRow.pk.in_(keys)).order_by(AnnotationRow.pk)
        )
        return [row for row in rows if _seen(row, image_id, viewer_id, frame)]
    query = select(AnnotationRow).where(
        AnnotationRow.image_id == image_id,
        AnnotationRow.deleted.is_(None),
        (AnnotationRow.layer == "shared") | (AnnotationRow.author_id == viewer_id),
    )
    if frame is not None:
        query = query.where(AnnotationRow.frame == frame)
    if bbox is not None:
        query = query.where(_within(session, bbox))
    return list(session.scalars(query.order_by(AnnotationRow.pk)))


def _seen(row: AnnotationRow, image_id: str, viewer_id: str, frame: int | None) -> bool:
    return (
        row.image_id == image_id
        and row.deleted is None
        and (row.layer == "shared" or row.author_id == viewer_id)
        and (frame is None or row.frame == frame)
    )


# Up to this many boxes from SQLite's R*Tree are looked up by key; beyond it (a view of
# most of the slide) the rows are read by image, which then costs no more.
BY_KEY = 20_000


def _sqlite_keys(session: Session, bbox: tuple[float, float, float, float]) -> list[int] | None:
    """The keys of the boxes meeting `bbox` from SQLite's R*Tree; None on PostgreSQL or
    when there are too many to look up one by one."""
    if not _sqlite(session):
        return None
    x0, y0, x1, y1 = bbox
    keys = session.scalars(
        text(
            f"SELECT id FROM {SQLITE_INDEX} WHERE maxx >= :x0 AND minx <= :x1 "
            "AND maxy >= :y0 AND miny <= :y1"
        ).bindparams(x0=x0, y0=y0, x1=x1, y1=y1)
    ).all()
    return list(keys) if len(keys) <= BY_KEY else None


def history(session: Session, annotation_id: str) -> list[AnnotationVersion]:
    """Every version of an annotation, oldest first."""
    return list(
        session.scalars(
            select(AnnotationVersion)
            .where(AnnotationVersion.annotation_id == annotation_id)
            .order_by(AnnotationVersion.version)
        )
    )


def since(session: Session, case_id: str, seq: int) -> list[AnnotationRow]:
    """The case's annotations changed after sequence number `seq`, in order."""
    return list(
        session.scalars(
            select(AnnotationRow)
            .where(AnnotationRow.case_id == case_id, AnnotationRow.seq > seq)
            .order_by(AnnotationRow.seq)
        )
    )


def changes_since(
    session: Session, case_id: str, seq: int, limit: int
) -> list[tuple[AnnotationVersion, AnnotationRow]]:
    """Every version made in the case after sequence number `seq`, in order, each with its
    annotation (at most `limit` + 1, so that a caller can tell there were more)."""
    return [
        (version, row)
        for version, row in session.execute(
            select(AnnotationVersion, AnnotationRow)
            .join(AnnotationRow, AnnotationRow.id == AnnotationVersion.annotation_id)
            .where(AnnotationRow.case_id == case_id, AnnotationVersion.seq > seq)
            .order_by(AnnotationVersion.seq)
            .limit(limit + 1)
        ).tuples()
    ]


def as_of(row: AnnotationRow, version: AnnotationVersion) -> AnnotationRow:
    """The annotation as one of its versions left it: a detached copy, never stored."""
    snapshot = version.snapshot
    fixed = ("id", "case_id", "image_id", "frame", "author_id", "org_id", "created")
    return AnnotationRow(
        **{name: getattr(row, name) for name in fixed},
        **{name: snapshot.get(name) for name in _CONTENT},
        version=version.version,
        seq=version.seq,
        updated=version.at,
        deleted=version.at if snapshot.get("deleted") else None,
    )


_CONTENT = (
    "kind",
    "geometry",
    "shape",
    "classification",
    "color",
    "label",
    "locked",
    "object_type",
    "measurements",
    "minx",
    "miny",
    "maxx",
    "maxy",
    "layer",
)


def _columns(draft: Draft) -> dict[str, Any]:
    minx, miny, maxx, maxy = draft.bbox
    return {
        "kind": draft.kind,
        "geometry": draft.geometry,
        "shape": draft.shape,
        "classification": draft.classification,
        "color": draft.color,
        "label": draft.label,
        "locked": draft.locked,
        "object_type": draft.object_type,
        "measurements": dict(draft.measurements),
        "minx": minx,
        "miny": miny,
        "maxx": maxx,
        "maxy": maxy,
    }


def _next_version(session: Session, row: AnnotationRow, user_id: str, op: str) -> AnnotationRow:
    """The claimed version's bookkeeping: time, case sequence, index, version row."""
    row.updated = datetime.now(UTC)
    if row.case_id:
        row.seq = next_seq(session, row.case_id)
    session.flush()
    _index(session, row)
    _remember(session, row, user_id, op)
    return row


def _remember(session: Session, row: AnnotationRow, user_id: str, op: str) -> None:
    snapshot = {name: getattr(row, name) for name in _CONTENT}
    snapshot["deleted"] = row.deleted.isoformat() if row.deleted else None
    session.add(
        AnnotationVersion(
            annotation_id=row.id,
            version=row.version,
            seq=row.seq,
            user_id=user_id,
            op=op,
            at=row.updated,
            snapshot=snapshot,
        )
    )


def _sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _index(session: Session, row: AnnotationRow, fresh: bool = False) -> None:
    """Keep the SQLite R*Tree in step (PostgreSQL indexes the row's box by itself); a
    `fresh` row has no box there yet."""
    if not _sqlite(session):
        return
    if not fresh:
        session.execute(text(f"DELETE FROM {SQLITE_INDEX} WHERE id = :pk"), {"pk": row.pk})
    if row.deleted is None:
        session.execute(
            text(
                f"INSERT INTO {SQLITE_INDEX} (id, minx, maxx, miny, maxy) "
                "VALUES (:pk, :minx, :maxx, :miny, :maxy)"
            ),
            {"pk": row.pk, "minx": row.minx, "maxx": row.maxx, "miny": row.miny, "maxy": row.maxy},
        )


def _within(session: Session, bbox: tuple[float, float, float, float]) -> Any:
    """The condition "the annotation's box meets `bbox`", answered by the spatial index."""
    x0, y0, x1, y1 = bbox
    values = {"x0": x0, "y0": y0, "x1": x1, "y1": y1}
    if _sqlite(session):
        boxes = text(
            f"SELECT id FROM {SQLITE_INDEX} WHERE maxx >= :x0 AND minx <= :x1 "
            "AND maxy >= :y0 AND miny <= :y1"
        ).bindparams(**values)
        return AnnotationRow.pk.in_(boxes.columns(id=Integer))
    box = func.box(
        func.point(AnnotationRow.minx, AnnotationRow.miny),
        func.point(AnnotationRow.maxx, AnnotationRow.maxy),
    )
    wanted = func.box(func.point(x0, y0), func.point(x1, y1))
    return box.op("&&")(wanted)
