"""The annotation store on SQLite and PostgreSQL: versions, conflicts, soft deletion,
revert, drafts, the per-case sequence, and viewport queries through the spatial index."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, text

from annotations import store
from annotations.geometry import Bounds, check_shape
from app.models import Case, Image, User
from app.services import services
from tests.conftest import database, import_one, make_app

SLIDE = Bounds(2048, 1536)


@pytest.fixture()
def world(
    tmp_path: Path, database_url: str, synthetic_slide: Path
) -> Iterator[tuple[Flask, dict[str, str]]]:
    application = make_app(tmp_path, database_url)
    image = import_one(application, synthetic_slide)
    with database(application).session() as session:
        row = session.get(Image, image)
        assert row is not None and row.case_id
        user = session.scalar(select(User.id))
        ids = {"image": image, "case": row.case_id, "user": str(user), "org": str(row.org_id)}
    yield application, ids
    services(application).close()


def draft(x: float, y: float, side: float = 10, label: str | None = None) -> store.Draft:
    ring = [[x, y], [x + side, y], [x + side, y + side], [x, y + side], [x, y]]
    shape = check_shape("polygon", {"type": "Polygon", "coordinates": [ring]}, SLIDE)
    return store.Draft("polygon", shape.geojson(), shape.bbox, label=label, classification="Tumör")


def add(session, ids, item: store.Draft, layer: str = "shared", author: str | None = None):  # type: ignore[no-untyped-def]
    return store.create(
        session,
        item,
        image_id=ids["image"],
        case_id=ids["case"],
        frame=None,
        author_id=author or ids["user"],
        org_id=ids["org"],
        layer=layer,
    )


def test_versions_history_and_the_case_sequence(world) -> None:  # type: ignore[no-untyped-def]
    application, ids = world
    with database(application).session() as session:
        first = add(session, ids, draft(10, 10))
        second = add(session, ids, draft(100, 100))
        assert (first.version, first.seq, second.seq) == (1, 1, 2)
        changed = store.change(session, first.id, 1, draft(20, 20, label="ny"), ids["user"])
        assert (changed.version, changed.seq, changed.label) == (2, 3, "ny")
        ops = [(v.version, v.op) for v in store.history(session, first.id)]
        assert ops == [(1, "create"), (2, "update")]
        assert [row.id for row in store.since(session, ids["case"], 1)] == [second.id, first.id]


def test_a_stale_version_is_a_conflict_with_the_current_annotation(world) -> None:  # type: ignore[no-untyped-def]
    application, ids = world
    with database(application).session() as session:
        made = add(session, ids, draft(10, 10))
        store.change(session, made.id, 1, draft(12, 12), ids["user"])
    with database(application).session() as session, pytest.raises(store.StaleVersion) as stale:
        store.change(session, made.id, 1, draft(30, 30), ids["user"])
    assert stale.value.status == 409 and stale.value.current.version == 2


def test_two_writers_at_once_one_wins_one_conflicts(world) -> None:  # type: ignore[no-untyped-def]
    application, ids = world
    with database(application).session() as session:
        made = add(session, ids, draft(10, 10))
    barrier, outcomes = threading.Barrier(2), []

    def write(offset: float) -> None:
        barrier.wait()
        try:
            with database(application).session() as session:
                store.change(session, made.id, 1, draft(offset, offset), ids["user"])
            outcomes.append("saved")
        except store.StaleVersion:
            outcomes.append("conflict")

    threads = [threading.Thread(target=write, args=(o,)) for o in (40.0, 60.0)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["conflict", "saved"]


def test_soft_deletion_and_revert(world) -> None:  # type: ignore[no-untyped-def]
    application, ids = world
    with database(application).session() as session:
        made = add(session, ids, draft(10, 10, label="original"))
        store.change(session, made.id, 1, draft(50, 50, label="ändrad"), ids["user"])
        store.delete(session, made.id, 2, ids["user"])
        assert store.in_view(session, ids["image"], ids["user"]) == []
        with pytest.raises(store.NotFound):
            store.current(session, made.id)
        back = store.revert(session, made.id, 3, 1, ids["user"])
        assert (back.version, back.label, back.deleted) == (4, "original", None)
        assert [
            row.id for row in store.in_view(session, ids["image"], ids["user"], (0, 0, 30, 30))
        ] == [made.id]
        assert [v.op for v in store.history(session, made.id)] == [
            "create",
            "update",
            "delete",
            "revert",
        ]


def test_a_draft_is_seen_by_its_author_only_until_published(world) -> None:  # type: ignore[no-untyped-def]
    application, ids = world
    with database(application).session() as session:
        made = add(session, ids, draft(10, 10), layer="draft")
        assert store.in_view(session, ids["image"], "someone-else") == []
        assert len(store.in_view(session, ids["image"], ids["user"])) == 1
        store.publish(session, made.id, 1, ids["user"])
        assert len(store.in_view(session, ids["image"], "someone-else")) == 1


def test_viewport_queries_equal_a_full_scan_and_use_the_index(world) -> None:  # type: ignore[no-untyped-def]
    application, ids = world
    generator = random.Random(3)
    with database(application).session() as session:
        boxes = []
        for _ in range(600):
            x, y = generator.uniform(0, 2000), generator.uniform(0, 1500)
            side = generator.uniform(1, 40)
            boxes.append(
                (add(session, ids, draft(x, y, min(side, 2048 - x, 1536 - y))).id, x, y, side)
            )
    with database(application).session() as session:
        for _ in range(20):
            x0, y0 = generator.uniform(0, 1800), generator.uniform(0, 1300)
            view = (x0, y0, x0 + 200, y0 + 150)
            found = {row.id for row in store.in_view(session, ids["image"], ids["user"], view)}
            expected = {
                annotation
                for annotation, x, y, side in boxes
                if x + min(side, 2048 - x, 1536 - y) >= view[0]
                and x <= view[2]
                and y + min(side, 2048 - x, 1536 - y) >= view[1]
                and y <= view[3]
            }
            assert found == expected
        plan = _plan(session, ids["image"])
    assert ("annotation_boxes" in plan) or ("ix_annotations_box" in plan), plan


def _plan(session, image: str) -> str:  # type: ignore[no-untyped-def]
    if session.get_bind().dialect.name == "sqlite":
        rows = session.execute(
            text(
                "EXPLAIN QUERY PLAN SELECT id FROM annotation_boxes "
                "WHERE maxx >= 1 AND minx <= 2 AND maxy >= 1 AND miny <= 2"
            )
        ).all()
        return " ".join(str(row) for row in rows)
    session.execute(text("SET LOCAL enable_seqscan = off"))
    rows = session.execute(
        text(
            "EXPLAIN SELECT id FROM annotations WHERE box(point(minx, miny), point(maxx, maxy)) "
            "&& box(point(1, 1), point(2, 2))"
        )
    ).all()
    return " ".join(str(row) for row in rows)


def test_unknown_annotations_are_not_found(world) -> None:  # type: ignore[no-untyped-def]
    application, ids = world
    with database(application).session() as session:
        for hostile in ("0123456789abcdef", "x" * 5000, "' OR 1=1 --"):
            with pytest.raises(store.NotFound):
                store.current(session, hostile)
        assert session.scalar(select(Case.id)) == ids["case"]


def test_many_at_once_take_a_block_of_the_sequence_and_are_indexed(world) -> None:  # type: ignore[no-untyped-def]
    application, ids = world
    with database(application).session() as session:
        before = add(session, ids, draft(1, 1))
        made = store.create_many(
            session,
            [draft(10 * i, 10, 5) for i in range(1, 101)],
            image_id=ids["image"],
            case_id=ids["case"],
            frame=None,
            author_id=ids["user"],
            org_id=ids["org"],
        )
        after = add(session, ids, draft(2, 2))
    with database(application).session() as session:
        rows = {row.id: row for row in store.since(session, ids["case"], 0)}
        assert [rows[i].seq for i in made] == list(range(before.seq + 1, before.seq + 101))
        assert rows[after.id].seq == before.seq + 101
        view = store.in_view(session, ids["image"], ids["user"], (96, 0, 125, 50))
        assert {row.id for row in view} == {made[9], made[10], made[11]}
        assert [v.op for v in store.history(session, made[0])] == ["create"]
