"""One case room on one default `samsyn serve` (SQLite): presence, cursors, viewports,
follow and present, annotation ops and notes through the socket, REST changes heard live,
resync after a gap, and the access log of it all (docs: /tmp/p/live-protocol.md)."""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime as dt
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import TEST_CASE, TEST_ORG
from tests.live.conftest import (
    LiveClients,
    Person,
    World,
    audit_entries,
    in_room,
    square,
)

COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
MEMBER_FIELDS = {"user", "name", "org", "org_name", "color", "image", "frame", "following",
                 "presenting"}  # fmt: skip

pytestmark = pytest.mark.timeout(60)


def members(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The members of a presence event or a join ack, by user id."""
    return {member["user"]: member for member in data["members"]}


def entries_for(data: dict[str, Any], user: str) -> int:
    return sum(1 for member in data["members"] if member["user"] == user)


def op(kind: str, image: str, **fields: Any) -> dict[str, Any]:
    return {"op_id": uuid.uuid4().hex, "type": kind, "image": image, **fields}


def version_of(feature: dict[str, Any]) -> int:
    return int(feature["properties"]["version"])


# --- joining, leaving, presence --------------------------------------------------------------


def test_join_answers_the_case_and_presence_names_each_member_once(
    server: str, world: World, people: dict[str, Person], live: LiveClients
) -> None:
    anna, bo = people["anna"], people["bo"]
    a = live(server, anna)
    ack = a.join(world.cases["a"], image=world.images["a"])
    assert ack["case"]["id"] == world.cases["a"] and ack["case"]["title"] == TEST_CASE
    assert isinstance(ack["case"]["patient"], dict)
    assert isinstance(ack["seq"], int) and ack["seq"] >= 0
    assert ack["me"] == anna.user_id and ack["presenter"] is None
    assert isinstance(ack["viewports"], list)
    me = members(ack)[anna.user_id]
    assert set(me) >= MEMBER_FIELDS, me
    assert me["name"] == "Anna Andersson" and me["org_name"] == TEST_ORG
    assert COLOUR.match(me["color"]) and me["image"] == world.images["a"]
    assert me["following"] is None and me["presenting"] is False

    b = live(server, bo)
    b.join(world.cases["a"])
    seen = a.wait_for("presence", lambda d: bo.user_id in members(d))
    assert seen["case"] == world.cases["a"]
    other = members(seen)[bo.user_id]
    assert other["name"] == "Bo Berg" and other["org_name"] == TEST_ORG
    assert other["color"] == me["color"]  # the organisation's colour, not the person's
    # a second tab of Bo: still one entry for him
    mark = a.mark()
    b2 = live(server, bo, label="bo-2nd-tab")
    second_tab = b2.join(world.cases["a"])
    time.sleep(0.3)
    for presence in [second_tab, *a.heard("presence", after=mark), *b2.heard("presence")]:
        assert entries_for(presence, bo.user_id) == 1, presence

    # one tab leaves: Bo is still there; the other disconnects: Bo is gone
    assert b.call("leave", {"case": world.cases["a"]}).get("ok") is True
    time.sleep(0.3)
    latest = a.heard("presence")[-1]
    assert bo.user_id in members(latest), "Bo left with one of his two connections only"
    b2.close()
    a.wait_for("presence", lambda d: bo.user_id not in members(d), timeout=5, after=mark)


def test_joining_another_case_leaves_the_first(
    server: str, world: World, people: dict[str, Person], live: LiveClients
) -> None:
    a, b = live(server, people["anna"]), live(server, people["bo"])
    a.join(world.cases["a"])
    b.join(world.cases["a"])
    b.wait_for("presence", lambda d: people["anna"].user_id in members(d))
    mark = b.mark()
    ack = a.join(world.cases["b"])
    assert ack["case"]["id"] == world.cases["b"]
    b.wait_for(
        "presence",
        lambda d: d["case"] == world.cases["a"] and people["anna"].user_id not in members(d),
        after=mark,
    )


def test_look_moves_one_in_presence(
    server: str, world: World, people: dict[str, Person], live: LiveClients
) -> None:
    a, b = live(server, people["anna"]), live(server, people["bo"])
    a.join(world.cases["a"], image=world.images["a"])
    b.join(world.cases["a"])
    ack = a.call("look", {"image": world.images["a2"], "frame": None})
    assert ack.get("ok") is True, ack
    b.wait_for(
        "presence",
        lambda d: members(d)[people["anna"].user_id]["image"] == world.images["a2"],
    )


# --- cursors, viewports, follow, present -----------------------------------------------------


def test_cursors_reach_the_others_coalesced_ending_where_the_mouse_stopped(
    server: str, world: World, people: dict[str, Person], live: LiveClients
) -> None:
    a, b = in_room(live, server, world.cases["a"], people["anna"], people["bo"],
                   image=world.images["a"])  # fmt: skip
    started = time.monotonic()
    for n in range(50):  # 100 moves a second for half a second: faster than the server relays
        a.emit("cursor", {"image": world.images["a"], "frame": None, "x": 10 + n, "y": 20 + n})
        time.sleep(0.01)
    last = b.wait_for("cursor", lambda d: d["x"] == 59 and d["y"] == 69, timeout=3)
    elapsed = time.monotonic() - started
    time.sleep(0.3)
    cursors = [c for c in b.heard("cursor") if c["user"] == people["anna"].user_id]
    assert last["name"] == "Anna Andersson" and COLOUR.match(last["color"])
    assert last["image"] == world.images["a"] and last["frame"] is None
    assert 1 <= len(cursors) <= 15 * (elapsed + 0.3) + 2, (len(cursors), elapsed)
    assert len(cursors) < 50, "the server relayed every move: no coalescing"


def test_viewports_reach_the_others_and_a_late_joiner_gets_the_last_ones(
    server: str, world: World, people: dict[str, Person], live: LiveClients
) -> None:
    a, b = live(server, people["anna"]), live(server, people["bo"])
    a.join(world.cases["a"], image=world.images["a"])
    b.join(world.cases["a"])
    view = {"image": world.images["a"], "frame": None, "bounds": [100, 200, 800, 600]}
    a.emit("viewport", {**view, "rotation": 90})
    heard = b.wait_for("viewport", lambda d: d["user"] == people["anna"].user_id)
    assert heard["bounds"] == [100, 200, 800, 600] and heard["rotation"] == 90
    assert heard["image"] == world.images["a"]
    a.emit("viewport", {**view, "bounds": [300, 300, 400, 300], "rotation": 180})
    b.wait_for("viewport", lambda d: d["bounds"] == [300, 300, 400, 300])
    ack = live(server, people["cia"]).join(world.cases["a"])
    (annas,) = [v for v in ack["viewports"] if v["user"] == people["anna"].user_id]
    assert annas["bounds"] == [300, 300, 400, 300] and annas["rotation"] == 180


def test_follow_and_present_show_in_presence(
    server: str, world: World, people: dict[str, Person], live: LiveClients
) -> None:
    anna, bo = people["anna"], people["bo"]
    a, b = in_room(live, server, world.cases["a"], anna, bo)
    assert b.call("follow", {"user": anna.user_id}).get("ok") is True
    a.wait_for("presence", lambda d: members(d)[bo.user_id]["following"] == anna.user_id)

    assert a.call("present", {"on": True}).get("ok") is True
    presenter = b.wait_for("presenter", lambda d: d["user"] == anna.user_id)
    assert presenter["name"] == "Anna Andersson"
    b.wait_for("presence", lambda d: members(d)[anna.user_id]["presenting"] is True)
    late = live(server, people["cia"]).join(world.cases["a"])
    assert late["presenter"] == anna.user_id

    mark = b.mark()
    assert a.call("present", {"on": False}).get("ok") is True
    b.wait_for("presenter", lambda d: d["user"] is None, after=mark)
    assert b.call("follow", {"user": None}).get("ok") is True
    a.wait_for("presence", lambda d: members(d)[bo.user_id]["following"] is None)


# --- annotations through the socket ----------------------------------------------------------


def test_ops_are_committed_before_the_ack_and_heard_by_the_others_with_seq(
    server: str, world: World, people: dict[str, Person], live: LiveClients
) -> None:
    anna = people["anna"]
    a, b = live(server, anna), live(server, people["bo"])
    other_tab = live(server, anna, label="anna-2nd-tab")
    a.join(world.cases["a"])
    other_tab.join(world.cases["a"])
    joined = b.join(world.cases["a"])
    create = op("create", world.images["a"], feature=square(100, 100, label="live op"))
    made = a.call("op", create)
    assert made.get("ok") is True, made
    feature = made["annotation"]
    stored = anna.get(f"/api/annotations/{feature['id']}")
    assert stored.status_code == 200, "acknowledged but not (yet) stored"
    assert stored.json()["properties"]["label"] == "live op"
    heard = b.wait_for("op", lambda d: d["op_id"] == create["op_id"])
    assert heard["seq"] == made["seq"] > joined["seq"]
    assert heard["user"] == anna.user_id and heard["type"] == "create"
    assert heard["annotation"]["id"] == feature["id"]
    mine = other_tab.wait_for("op", lambda d: d["op_id"] == create["op_id"])
    assert mine["seq"] == made["seq"], "Anna's other tab must hear her op too"

    update = op(
        "update",
        world.images["a"],
        id=feature["id"],
        base_version=version_of(feature),
        feature=square(300, 300, label="moved"),
    )
    changed = a.call("op", update)
    assert changed.get("ok") is True, changed
    assert version_of(changed["annotation"]) == version_of(feature) + 1
    assert changed["seq"] > made["seq"]
    again = anna.get(f"/api/annotations/{feature['id']}").json()
    assert again["geometry"]["coordinates"][0][0] == [300, 300]
    assert b.wait_for("op", lambda d: d["op_id"] == update["op_id"])["type"] == "update"

    stale = a.call("op", {**update, "op_id": uuid.uuid4().hex})  # base_version is old now
    assert stale.get("ok") is False and stale.get("error") == "conflict", stale
    assert version_of(stale["current"]) == version_of(changed["annotation"])

    delete = op(
        "delete", world.images["a"], id=feature["id"], base_version=version_of(stale["current"])
    )
    gone = a.call("op", delete)
    assert gone.get("ok") is True, gone
    assert gone["annotation"]["id"] == feature["id"] and gone["annotation"]["deleted"] is True
    assert gone["annotation"]["version"] > version_of(changed["annotation"])
    assert anna.get(f"/api/annotations/{feature['id']}").status_code in (404, 410)
    heard = b.wait_for("op", lambda d: d["op_id"] == delete["op_id"])
    assert heard["type"] == "delete" and heard["seq"] == gone["seq"] > changed["seq"]


def test_a_retried_op_id_applies_once_and_answers_the_first_ack(
    server: str, world: World, people: dict[str, Person], live: LiveClients
) -> None:
    anna = people["anna"]
    a, b = in_room(live, server, world.cases["a"], anna, people["bo"])
    label = f"retried {uuid.uuid4().hex[:8]}"
    create = op("create", world.images["a"], feature=square(500, 500, label=label))
    first = a.call("op", create)
    second = a.call("op", create)
    assert first.get("ok") is True and second == first
    listed = anna.get(f"/api/images/{world.images['a']}/annotations").json()["features"]
    assert [f["properties"]["label"] for f in listed].count(label) == 1
    b.wait_for("op", lambda d: d["op_id"] == create["op_id"])
    time.sleep(0.3)  # room for a second broadcast of the retry, if the server sent one
    seqs = {heard["seq"] for heard in b.heard("op") if heard["op_id"] == create["op_id"]}
    assert seqs == {first["seq"]}, seqs


def test_rest_changes_are_heard_as_ops(
    server: str, world: World, people: dict[str, Person], live: LiveClients
) -> None:
    anna = people["anna"]
    b = live(server, people["bo"])
    b.join(world.cases["a"])
    made = anna.post(f"/api/images/{world.images['a']}/annotations", square(700, 700, label="rest"))
    assert made.status_code == 201, made.text
    created = made.json()
    heard = b.wait_for("op", lambda d: d["annotation"]["id"] == created["id"])
    assert heard["op_id"] is None and heard["type"] == "create"
    assert heard["user"] == anna.user_id and heard["seq"] == created["seq"]

    changed = anna.patch(f"/api/annotations/{created['id']}", {"properties": {"label": "rest 2"}},
                         created["version"])  # fmt: skip
    assert changed.status_code == 200, changed.text
    heard = b.wait_for(
        "op", lambda d: d["type"] == "update" and d["annotation"]["id"] == created["id"]
    )
    assert heard["annotation"]["properties"]["label"] == "rest 2" and heard["op_id"] is None

    gone = anna.delete(f"/api/annotations/{created['id']}", version_of(changed.json()))
    assert gone.status_code == 200, gone.text
    heard = b.wait_for(
        "op", lambda d: d["type"] == "delete" and d["annotation"]["id"] == created["id"]
    )
    assert heard["seq"] == gone.json()["seq"]


# --- notes, resync ---------------------------------------------------------------------------


def test_notes_are_stored_and_heard(
    server: str, world: World, people: dict[str, Person], live: LiveClients
) -> None:
    anna = people["anna"]
    a, b = in_room(live, server, world.cases["a"], anna, people["bo"])
    text = "Atypi i <b>körteln</b>?\nSe 12 o'clock & jämför"
    sent = {"text": text, "image": world.images["a"], "anchor": [120, 340]}
    ack = a.call("note", sent)
    assert ack.get("ok") is True, ack
    note = ack["note"]
    heard = b.wait_for("note", lambda d: d["id"] == note["id"])
    assert heard["seq"] == ack["seq"] and heard["text"] == text
    assert heard["user"] == anna.user_id and heard["name"] == "Anna Andersson"
    assert heard["org_name"] == TEST_ORG and COLOUR.match(heard["color"])
    assert heard["image"] == world.images["a"] and heard["frame"] is None
    assert heard["anchor"] == [120, 340]
    created = dt.fromisoformat(heard["created"].replace("Z", "+00:00"))
    assert created.utcoffset() == timedelta(0), heard["created"]
    listed = anna.get(f"/api/cases/{world.cases['a']}/notes")
    assert listed.status_code == 200, listed.text
    notes = listed.json()["notes"]
    assert notes[-1]["id"] == note["id"] and notes[-1]["text"] == text
    assert [n["seq"] for n in notes] == sorted(n["seq"] for n in notes), "not oldest first"


def test_resync_returns_what_was_missed_in_order(
    server: str, world: World, people: dict[str, Person], live: LiveClients
) -> None:
    anna, bo = people["anna"], people["bo"]
    a, b = live(server, anna), live(server, bo)
    a.join(world.cases["a"])
    since = b.join(world.cases["a"])["seq"]
    b.close()  # Bo's laptop sleeps
    create = op("create", world.images["a"], feature=square(900, 100, label="m1"))
    first = a.call("op", create)
    said = a.call("note", {"text": "medan du var borta"})
    update = op(
        "update",
        world.images["a"],
        id=first["annotation"]["id"],
        base_version=version_of(first["annotation"]),
        feature=square(950, 150, label="m2"),
    )
    moved = a.call("op", update)
    sent_create, sent_update = create["op_id"], update["op_id"]
    assert all(x.get("ok") is True for x in (first, said, moved)), (first, said, moved)

    back = live(server, bo, label="bo-back")
    joined = back.join(world.cases["a"])
    assert joined["seq"] >= moved["seq"]
    answer = back.call("resync", {"since": since})
    assert answer.get("ok") is True and answer["seq"] == joined["seq"], answer
    assert not answer.get("reload"), "three missed changes should not need a reload"
    events = answer["events"]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert all(e["seq"] > since for e in events)
    by_seq = {e["seq"]: e for e in events}
    shown = [(e["seq"], e["event"], e.get("type"), e.get("op_id")) for e in events]
    missing = [seq for seq in (first["seq"], said["seq"], moved["seq"]) if seq not in by_seq]
    assert not missing, f"missed changes not in the resync (seq {missing}): {shown}"
    created, noted, updated = by_seq[first["seq"]], by_seq[said["seq"]], by_seq[moved["seq"]]
    assert created["event"] == "op" and created["type"] == "create", shown
    assert noted["event"] == "note" and noted["id"] == said["note"]["id"], shown
    assert noted["text"] == "medan du var borta"
    assert updated["event"] == "op" and updated["type"] == "update", shown
    assert updated["annotation"]["properties"]["label"] == "m2"
    # the op ids let a client that lost an ack know its op was applied
    assert created["op_id"] == sent_create and updated["op_id"] == sent_update, shown
    nothing = back.call("resync", {"since": answer["seq"]})
    assert nothing.get("ok") is True and nothing["events"] == []


# --- the access log --------------------------------------------------------------------------


def test_the_access_log_has_the_join_and_the_writes(
    server: str, world: World, people: dict[str, Person], live: LiveClients
) -> None:
    dan, rev = people["dan"], people["rev"]
    before = audit_entries(rev, user="dan", limit="1")
    mark = before[0]["seq"] if before else 0
    a = live(server, dan)
    a.join(world.cases["a"], image=world.images["a"])
    made = a.call("op", op("create", world.images["a"], feature=square(40, 900, label="logged")))
    said = a.call("note", {"text": "loggas"})
    assert made.get("ok") is True and said.get("ok") is True, (made, said)
    entries = [e for e in audit_entries(rev, user="dan") if e["seq"] > mark]
    shown = [(e["action"], e["resource"], e["outcome"], e["detail"]) for e in entries]
    first = min(entries, key=lambda e: e["seq"]) if entries else None
    assert first and world.cases["a"] in (first["resource"] or ""), f"no join logged: {shown}"
    assert first["outcome"] == "allowed", shown
    assert first["action"] == "join_live", shown
    created = [e for e in entries if made["annotation"]["id"] in str(e["detail"])]
    assert created and created[0]["action"] == "annotate", shown
    assert created[0]["outcome"] == "allowed", shown
    noted = [e for e in entries if said["note"]["id"] in str(e["detail"]) or "note" in e["action"]]
    assert noted, shown
    # the note's own entry: its action, and the note's id in it
    assert [e["action"] for e in entries if said["note"]["id"] in str(e["detail"])] == ["note"]
