"""The case's live room in Chromium: two pathologists of two regions on a shared case.

A (`tester`, Testregion, whose case it is) and B (`andra.patolog`, Andraregionen, the case
shared with that region for a second opinion) open the same slide: a polygon A draws is on
B's screen within a second; B follows A, and B's view matches A's after A pans and zooms,
and after A opens a CT series of the case and scrolls and windows it; B's notes reach A as
text (markup included); A reloads and the polygon and the notes are still there; the share
is revoked and B is out of the room at once.

The case is made through the REST API: the images are imported loose into Testregion,
then POST /api/cases puts them into a new case of the test patient, and
POST /api/cases/<cid>/shares shares it with Andraregionen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import SECOND_ORG, _import_series, screenshot
from tests.conftest import TEST_ORG, TEST_PASSWORD, TEST_PATIENT, TEST_USER

pytestmark = pytest.mark.browser

PageAs = Callable[[dict[str, str]], Any]
A_LOGIN = {"username": TEST_USER, "password": TEST_PASSWORD}
CASE_TITLE = "Konsultation i rummet"
SCRIPT_NOTE = "<img src=x onerror=alert(1)>"
SLIDE_READY = (
    "window.samsyn && samsyn.viewer && samsyn.viewer.world"
    " && samsyn.viewer.world.getItemCount() > 0"
    " && samsyn.viewer.world.getItemAt(0).getFullyLoaded()"
)
SERIES_READY = "window.samsyn && samsyn.kind === 'series' && samsyn.state().frame !== null"
IN_ROOM = "(ids) => ids.every((id) => samsyn.live.members().some((m) => m.user === id))"
NEW_MARKS = (
    "(known) => [...samsyn.annotations.layer.items.keys()].filter((id) => !known.includes(id))"
)
KIND_OF = "(id) => samsyn.annotations.layer.items.get(id).feature.properties.kind"
CENTRED_ON = """([x, y]) => {
  const [bx, by, w, h] = samsyn.live.viewport().bounds;
  return Math.abs(bx + w / 2 - x) < w * 0.03 && Math.abs(by + h / 2 - y) < h * 0.03;
}"""
SCROLLED_AND_WINDOWED = (
    "samsyn.state().target > 0 && samsyn.state().wantedWindow !== 'file' && samsyn.state().target"
)
LIVE_READY = (
    "samsyn.annotations && samsyn.annotations.ready && samsyn.live && samsyn.live.ready"
    " && samsyn.live.joined"
)


# --- the case -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def room_images(
    live_data: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """A slide of its own and a small CT series, loose in Testregion (in no case yet)."""
    from tiles.radiology.synthetic import make_ct_series
    from tiles.synthetic import tissue, write_pyramid

    root = tmp_path_factory.mktemp("live-room")
    slide = root / "room.tif"
    write_pyramid(slide, tissue(2048, 1536, seed=31), tile=256, mpp=0.25, downsamples=(1, 4))
    series = root / "ct"
    make_ct_series(series, slices=12, size=128, seed=33, patient_id="SYNTHETIC-LIVE")
    loose = (TEST_ORG, None, None)
    return {
        "slide": _import_series(live_data, [slide], loose)[0],  # type: ignore[arg-type]
        "series": _import_series(live_data, [series], loose)[0],  # type: ignore[arg-type]
    }


def csrf(requests: Any) -> dict[str, str]:
    return {"X-CSRF-Token": requests.get("/api/me").json()["csrf_token"]}


@pytest.fixture(scope="module")
def room_case(
    chromium: Any, live_server: str, room_images: dict[str, str], people: dict[str, dict[str, str]]
) -> str:
    """The case of the test patient holding both images, made by A through the REST API."""
    context = chromium.new_context(base_url=live_server.rstrip("/"))
    try:
        assert context.request.post("/api/session", data=A_LOGIN).ok
        made = context.request.post(
            "/api/cases",
            data={
                "patient": TEST_PATIENT,
                "title": CASE_TITLE,
                "images": [room_images["slide"], room_images["series"]],
            },
            headers=csrf(context.request),
        )
        assert made.status == 201, made.text()
        return str(made.json()["id"])
    finally:
        context.close()


def active_share(requests: Any, case_id: str) -> dict[str, Any] | None:
    shares = requests.get(f"/api/cases/{case_id}/shares").json()
    return next((s for s in shares if s["org"] == SECOND_ORG and s["active"]), None)


@pytest.fixture
def shared(chromium: Any, app_url: str, room_case: str) -> str:
    """The case shared with Andraregionen (again, when a test revoked it); the share's id."""
    context = chromium.new_context(base_url=app_url)
    try:
        assert context.request.post("/api/session", data=A_LOGIN).ok
        share = active_share(context.request, room_case)
        if share is None:
            until = (datetime.now(UTC) + timedelta(days=30)).isoformat()
            answer = context.request.post(
                f"/api/cases/{room_case}/shares",
                data={"org": SECOND_ORG, "until": until, "purpose": "second_opinion"},
                headers=csrf(context.request),
            )
            assert answer.status == 201, answer.text()
            share = answer.json()
        return str(share["id"])
    finally:
        context.close()


@pytest.fixture
def two(
    page_as: PageAs, people: dict[str, dict[str, str]], shared: str
) -> Iterator[tuple[Any, Any]]:
    """A's and B's tabs; the test fails if either opens a dialog (a note's markup run as
    HTML would alert())."""
    a, b = page_as(A_LOGIN), page_as(people["other_pathologist"])
    dialogs: list[str] = []

    def opened(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    for tab in (a, b):
        tab.on("dialog", opened)
    yield a, b
    assert not dialogs, f"dialogs opened: {dialogs}"


# --- helpers --------------------------------------------------------------------------------


def open_image(tab: Any, image_id: str, ready: str = SLIDE_READY) -> None:
    tab.goto(f"/viewer/{image_id}")
    wait_live(tab, ready)


def wait_live(tab: Any, ready: str) -> None:
    tab.wait_for_function(f"{ready} && {LIVE_READY}", timeout=60_000)


def poll(tab: Any, expression: str, seconds: float = 10, arg: Any = None) -> Any:
    """The value of `expression` once truthy (evaluated in the page every 50 ms)."""
    deadline = time.monotonic() + seconds
    value = tab.evaluate(expression, arg)
    while not value and time.monotonic() < deadline:
        tab.wait_for_timeout(50)
        value = tab.evaluate(expression, arg)
    assert value, f"not within {seconds} s: {expression}"
    return value


def user_id(tab: Any) -> str:
    return str(tab.request.get("/api/me").json()["user"]["id"])


def to_screen(tab: Any, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of image pixel (x, y), through the viewer's surface."""
    left, top = tab.evaluate(
        """([x, y]) => {
          const [a, b, c, d, e, f] = samsyn.annotations.surface.matrix();
          const box = document.querySelector(".stage").getBoundingClientRect();
          return [box.left + a * x + c * y + e, box.top + b * x + d * y + f];
        }""",
        [x, y],
    )
    return float(left), float(top)


def bounds(tab: Any) -> list[float]:
    return list(tab.evaluate("samsyn.live.viewport().bounds"))


def views_match(a: Any, b: Any, tolerance: float = 0.03) -> bool:
    """B's view has A's centre (within `tolerance` of A's view) and A's scale."""
    ax, ay, aw, ah = bounds(a)
    bx, by, bw, bh = bounds(b)
    off = max(abs((ax + aw / 2) - (bx + bw / 2)) / aw, abs((ay + ah / 2) - (by + bh / 2)) / ah)
    return off < tolerance and abs(bw / aw - 1) < 0.05


def wait_views_match(a: Any, b: Any, seconds: float = 8) -> None:
    deadline = time.monotonic() + seconds
    while not views_match(a, b) and time.monotonic() < deadline:
        b.wait_for_timeout(100)
    assert views_match(a, b), f"A sees {bounds(a)}, B sees {bounds(b)}"


def layer_ids(tab: Any) -> list[str]:
    return list(tab.evaluate("[...samsyn.annotations.layer.items.keys()]"))


def note_texts(tab: Any) -> list[str]:
    return list(tab.locator("[data-testid=live-note-text]").all_text_contents())


def member_ids(tab: Any) -> list[str]:
    return [m["user"] for m in tab.evaluate("samsyn.live.members()")]


# --- the tests ------------------------------------------------------------------------------


def test_a_polygon_and_notes_reach_the_other_region_and_stay_after_a_reload(
    two: tuple[Any, Any], room_images: dict[str, str]
) -> None:
    a, b = two
    slide = room_images["slide"]
    open_image(a, slide)
    open_image(b, slide)
    a_id, b_id = user_id(a), user_id(b)
    poll(a, IN_ROOM, arg=[a_id, b_id])
    avatar = a.locator(f"[data-testid=live-member][data-user='{b_id}']")
    assert avatar.inner_text() == "OA"  # Olof Andersson
    assert avatar.get_attribute("title").startswith(f"Olof Andersson, {SECOND_ORG}")
    colours = a.evaluate("samsyn.live.members().map((m) => m.color)")
    assert len(set(colours)) == 2, colours  # one colour per organisation

    before = set(layer_ids(b))
    a.click("[data-testid=annotation-tool-polygon]")
    for point in [(500, 400), (900, 450), (800, 800)]:
        a.mouse.click(*to_screen(a, *point))
    a.mouse.dblclick(*to_screen(a, 600, 750))
    drawn = time.monotonic()
    new = poll(b, NEW_MARKS, 5, sorted(before))
    seen_after = time.monotonic() - drawn
    assert len(new) == 1
    polygon = new[0]
    assert seen_after < 1.0, f"B saw A's polygon after {seen_after:.2f} s"
    assert b.evaluate(KIND_OF, polygon) == "polygon"

    # B's connection drops while A draws: back in the room, B asks for what it missed.
    b.evaluate("samsyn.live.socket.disconnect()")
    poll(b, "!samsyn.live.joined", 5)
    a.click("[data-testid=annotation-tool-rectangle]")
    a.mouse.move(*to_screen(a, 1100, 300))
    a.mouse.down()
    a.mouse.move(*to_screen(a, 1300, 450), steps=5)
    a.mouse.up()
    rectangle = poll(a, NEW_MARKS, 5, [*before, polygon])[0]
    b.wait_for_timeout(300)
    assert rectangle not in layer_ids(b)
    b.evaluate("samsyn.live.socket.connect()")
    poll(b, "(id) => samsyn.live.joined && samsyn.annotations.layer.items.has(id)", 5, rectangle)
    a.click("[data-testid=annotation-tool-pan]")

    # B's notes: one pinned to the centre of B's view, one that is markup.
    b.fill("[data-testid=live-note-input]", "Jag ser samma sak här – PAD?")
    b.check("[data-testid=live-note-pin]")
    b.click("[data-testid=live-note-send]")
    b.fill("[data-testid=live-note-input]", SCRIPT_NOTE)
    b.click("[data-testid=live-note-send]")
    poll(a, "() => document.querySelectorAll('[data-testid=live-note]').length >= 2")
    assert note_texts(a)[-2:] == ["Jag ser samma sak här – PAD?", SCRIPT_NOTE]
    assert a.locator("#info-panel .live-notes img").count() == 0  # text, not an element
    head = a.locator("[data-testid=live-note]").nth(-2).inner_text()
    assert f"Olof Andersson, {SECOND_ORG}" in head
    assert a.locator("[data-testid=live-pin]").count() >= 1
    screenshot(a, "live-room-a-notes")
    screenshot(b, "live-room-b-polygon")

    # The pinned note flies A to B's point.
    a.mouse.move(*to_screen(a, 1900, 1400))
    a.evaluate("samsyn.viewer.viewport.zoomBy(2, undefined, true)")
    a.locator("[data-testid=live-note]").nth(-2).get_by_test_id("live-note-goto").click()
    anchor = a.evaluate("samsyn.live.notes().at(-2).anchor")
    poll(a, CENTRED_ON, 5, anchor)

    a.reload()
    wait_live(a, SLIDE_READY)
    assert {polygon, rectangle} <= set(layer_ids(a))
    assert note_texts(a)[-2:] == ["Jag ser samma sak här – PAD?", SCRIPT_NOTE]
    assert a.evaluate("samsyn.live.seq") >= b.evaluate("samsyn.live.seq") > 0


def test_the_follower_sees_what_the_leader_sees_on_a_slide_and_a_series(
    two: tuple[Any, Any], room_images: dict[str, str]
) -> None:
    a, b = two
    open_image(a, room_images["slide"])
    open_image(b, room_images["slide"])
    a_id = user_id(a)
    leader = b.locator(f"[data-testid=live-member][data-user='{a_id}']")
    leader.wait_for()
    leader.click()
    poll(b, "(id) => samsyn.live.following === id", 5, a_id)
    assert leader.get_attribute("aria-pressed") == "true"
    assert b.get_by_test_id("live-following").is_visible()

    # A pans with the mouse and zooms with the wheel.
    x, y = to_screen(a, 1024, 768)
    a.mouse.move(x, y)
    a.mouse.down()
    a.mouse.move(x - 250, y - 120, steps=8)
    a.mouse.up()
    for _ in range(4):
        a.mouse.wheel(0, -120)
        a.wait_for_timeout(60)
    a.wait_for_timeout(700)  # OpenSeadragon's animation comes to rest
    wait_views_match(a, b)
    a.keyboard.press("r")  # a quarter turn to the right
    poll(b, "samsyn.live.viewport().rotation === 90", 5)
    a.wait_for_timeout(700)
    wait_views_match(a, b)
    screenshot(b, "live-room-b-follows-slide")

    # A opens the case's CT series; B's page goes along and follows on.
    a.goto(f"/viewer/{room_images['series']}")
    wait_live(a, SERIES_READY)
    b.wait_for_url(f"**/viewer/{room_images['series']}", timeout=10_000)
    wait_live(b, SERIES_READY)
    poll(b, "(id) => samsyn.live.following === id", 5, a_id)
    canvas = a.get_by_test_id("series-canvas").bounding_box()
    a.mouse.move(canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2)
    for _ in range(5):
        a.mouse.wheel(0, 100)  # the wheel scrolls through the frames
        a.wait_for_timeout(40)
    a.keyboard.press("4")  # the lung window
    a.keyboard.press("+")  # and closer
    frame = poll(a, SCROLLED_AND_WINDOWED)
    poll(b, "(k) => samsyn.state().target === k", 5, frame)
    a_state = a.evaluate("samsyn.state()")
    poll(b, "(key) => samsyn.state().wantedWindow === key", 5, a_state["wantedWindow"])
    assert b.get_by_test_id("window-menu").input_value() == "lung"
    wait_views_match(a, b)
    b.evaluate("(k) => samsyn.whenDisplayed(k, null, { preview: true })", frame)
    screenshot(a, "live-room-a-series")
    screenshot(b, "live-room-b-follows-series")

    # B's own scroll takes B's view back.
    box = b.get_by_test_id("series-canvas").bounding_box()
    b.mouse.move(box["x"] + 40, box["y"] + 40)
    b.mouse.wheel(0, 100)
    poll(b, "samsyn.live.following === null", 5)
    assert b.get_by_test_id("live-following").is_hidden()

    # "Everyone follows me": B follows A again until A stops presenting.
    a.get_by_test_id("live-present").check()
    poll(b, "(id) => samsyn.live.following === id && samsyn.live.presenter === id", 5, a_id)
    assert "presenterar" in b.get_by_test_id("live-following").inner_text()
    a.evaluate("document.activeElement.blur()")  # the keys go to the viewer, not the switch
    a.keyboard.press("ArrowDown")
    poll(b, "(k) => samsyn.state().target === k", 5, frame + 1)
    a.get_by_test_id("live-present").uncheck()
    poll(b, "samsyn.live.following === null && samsyn.live.presenter === null", 5)


def test_revoking_the_share_takes_the_other_region_out_of_the_room(
    two: tuple[Any, Any], room_images: dict[str, str], room_case: str, shared: str
) -> None:
    a, b = two
    open_image(a, room_images["slide"])
    open_image(b, room_images["slide"])
    b_id = user_id(b)
    poll(a, "(id) => samsyn.live.members().some((m) => m.user === id)", arg=b_id)

    revoked = a.request.delete(f"/api/cases/{room_case}/shares/{shared}", headers=csrf(a.request))
    assert revoked.ok, revoked.text()
    started = time.monotonic()
    message = b.get_by_test_id("live-removed")
    message.wait_for(timeout=5_000)
    taken_out = time.monotonic() - started
    assert "inte längre delat med dig" in message.inner_text()
    assert b.get_by_test_id("live-presence").count() == 0
    assert b.get_by_test_id("live-notes").count() == 0
    poll(a, "(id) => !samsyn.live.members().some((m) => m.user === id)", 5, b_id)
    assert b_id not in member_ids(a)
    assert a.locator(f"[data-testid=live-member][data-user='{b_id}']").count() == 0
    assert taken_out < 3, f"B was taken out after {taken_out:.1f} s"
    screenshot(b, "live-room-b-removed")
    screenshot(a, "live-room-a-alone")
