"""The annotation layer in Chromium, on a slide and on a CT frame: every shape drawn with the
mouse, its measurement read back from the screen and from the server, select and move,
undo and redo, the list flying to a shape, layers hidden and shown, and a reload that shows
everything still there.

The slide is a fresh synthetic 2048 x 1536 pyramid at 0.25 µm/px (so 400 image pixels are
100 µm); the series is a synthetic CT of 4 slices of 128 x 128 pixels.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import _import_series, screenshot
from tests.conftest import TEST_ORG, TEST_PATIENT

pytestmark = pytest.mark.browser
SPACES = re.compile(r"[\s\u00a0\u202f]")
# A case of the test patient of its own: the other tests count the images of theirs.
MARKED_CASE = (TEST_ORG, TEST_PATIENT, "Annoteringsfall")
READY = "window.samsyn && samsyn.annotations && samsyn.annotations.ready"


@pytest.fixture(scope="module")
def marked_slide(
    live_data: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A slide of its own, so that other tests' marks do not mix with these."""
    from tiles.synthetic import tissue, write_pyramid

    path = tmp_path_factory.mktemp("marked") / "marked.tif"
    write_pyramid(path, tissue(2048, 1536, seed=21), tile=256, mpp=0.25, downsamples=(1, 4))
    return _import_series(live_data, [path], MARKED_CASE)[0]


@pytest.fixture(scope="module")
def marked_series(
    live_data: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> str:
    from tiles.radiology.synthetic import make_ct_series

    folder = tmp_path_factory.mktemp("marked-ct") / "ct"
    make_ct_series(folder, slices=4, size=128, seed=23, patient_id="SYNTHETIC-MARKS")
    return _import_series(live_data, [folder], MARKED_CASE)[0]


@pytest.fixture
def slide_page(page: Any, marked_slide: str) -> Iterator[Any]:
    page.goto(f"/viewer/{marked_slide}")
    page.wait_for_function(
        "window.samsyn && samsyn.viewer && samsyn.viewer.world.getItemCount() > 0"
        " && samsyn.viewer.world.getItemAt(0).getFullyLoaded() && " + READY,
        timeout=60_000,
    )
    yield page


def to_screen(page: Any, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of image pixel (x, y) as the annotation layer maps it."""
    return tuple(  # type: ignore[return-value]
        page.evaluate(
            """([x, y]) => {
              const [a, b, c, d, e, f] = samsyn.annotations.surface.matrix();
              const canvas = document.querySelector("[data-testid=annotation-canvas]");
              const box = canvas.getBoundingClientRect();
              return [box.left + a * x + c * y + e, box.top + b * x + d * y + f];
            }""",
            [x, y],
        )
    )


def features(page: Any, image: str, query: str = "") -> list[dict[str, Any]]:
    return list(
        page.evaluate(
            """async (url) => (await (await fetch(url)).json()).features""",
            f"/api/images/{image}/annotations{query}",
        )
    )


def tool(page: Any, name: str) -> None:
    page.click(f"[data-testid=annotation-tool-{name}]")


def drag(page: Any, start: tuple[float, float], end: tuple[float, float], steps: int = 8) -> None:
    page.mouse.move(*to_screen(page, *start))
    page.mouse.down()
    page.mouse.move(*to_screen(page, *end), steps=steps)
    page.mouse.up()


def click(page: Any, point: tuple[float, float]) -> None:
    page.mouse.click(*to_screen(page, *point))


def wait_count(page: Any, image: str, count: int, query: str = "") -> list[dict[str, Any]]:
    """The image's annotations once the server holds `count` of them (10 s at most)."""
    deadline = time.monotonic() + 10
    found = features(page, image, query)
    while len(found) != count and time.monotonic() < deadline:
        page.wait_for_timeout(150)
        found = features(page, image, query)
    assert len(found) == count, [f["properties"]["kind"] for f in found]
    return found


def wait_annotation(
    page: Any, annotation: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """One annotation as the server holds it, once `done` says it has changed (10 s at most)."""
    url = f"/api/annotations/{annotation}"
    deadline = time.monotonic() + 10
    found = page.evaluate("async (url) => (await fetch(url)).json()", url)
    while not done(found) and time.monotonic() < deadline:
        page.wait_for_timeout(150)
        found = page.evaluate("async (url) => (await fetch(url)).json()", url)
    assert done(found), found
    return dict(found)


def readout(page: Any) -> str:
    return SPACES.sub("", page.text_content("[data-testid=annotation-measurement]") or "")


def test_each_shape_drawn_with_the_mouse_on_a_slide(slide_page: Any, marked_slide: str) -> None:
    page = slide_page
    before = len(features(page, marked_slide))
    tool(page, "rectangle")
    drag(page, (200, 200), (600, 600))
    made = wait_count(page, marked_slide, before + 1)
    rectangle = next(f for f in made if f["properties"]["kind"] == "rectangle")
    # 400 x 400 px at 0.25 µm/px: 100 x 100 µm (the mouse lands within a screen pixel)
    assert rectangle["properties"]["measurements"]["area_um2"] == pytest.approx(10_000, rel=0.03)
    assert re.search(r"Area(9[89]\d\d|10[01]\d\d)µm²", readout(page)), readout(page)

    tool(page, "ellipse")
    drag(page, (800, 200), (1200, 400))
    tool(page, "line")
    drag(page, (200, 800), (600, 800))
    tool(page, "point")
    click(page, (1000, 1000))
    tool(page, "polygon")
    for point in [(1300, 200), (1700, 250), (1600, 600)]:
        click(page, point)
    page.mouse.dblclick(*to_screen(page, 1400, 550))
    tool(page, "polyline")
    for point in [(1300, 800), (1500, 900)]:
        click(page, point)
    page.mouse.dblclick(*to_screen(page, 1700, 800))
    tool(page, "multipoint")
    for point in [(300, 1200), (350, 1250)]:
        click(page, point)
    page.mouse.dblclick(*to_screen(page, 400, 1200))
    tool(page, "freehand")
    page.mouse.move(*to_screen(page, 800, 1100))
    page.mouse.down()
    for x, y in [(900, 1100), (950, 1200), (900, 1300), (800, 1300), (780, 1200)]:
        page.mouse.move(*to_screen(page, x, y), steps=4)
    page.mouse.up()
    tool(page, "text")
    click(page, (1500, 1300))
    page.fill("[data-testid=annotation-text-input]", "Tumörfront")
    page.keyboard.press("Enter")

    made = wait_count(page, marked_slide, before + 9)
    kinds = sorted(f["properties"]["kind"] for f in made[before:])
    assert kinds == sorted(
        [
            "rectangle",
            "ellipse",
            "line",
            "point",
            "polygon",
            "polyline",
            "multipoint",
            "freehand",
            "text",
        ]
    )
    by_kind = {f["properties"]["kind"]: f for f in made}
    ellipse = by_kind["ellipse"]["properties"]
    assert ellipse["shape"]["radii"] == [pytest.approx(200, abs=2), pytest.approx(100, abs=2)]
    assert ellipse["measurements"]["area_um2"] == pytest.approx(3.14159 * 50 * 25, rel=0.03)
    assert by_kind["line"]["properties"]["measurements"]["length_um"] == pytest.approx(
        100, rel=0.03
    )
    assert by_kind["multipoint"]["properties"]["measurements"]["count"] == 3
    assert len(by_kind["polygon"]["geometry"]["coordinates"][0]) == 5  # four corners, closed
    assert by_kind["text"]["properties"]["label"] == "Tumörfront"
    screenshot(page, "annotations-slide-drawn")

    page.reload()
    page.wait_for_function(
        "window.samsyn && samsyn.annotations && samsyn.annotations.ready", timeout=60_000
    )
    assert page.evaluate("samsyn.annotations.layer.items.size") == len(made)
    assert page.locator("[data-testid=annotation-row]").count() == len(made)


def test_select_move_undo_and_redo(slide_page: Any, marked_slide: str) -> None:
    page = slide_page
    before = len(features(page, marked_slide))
    tool(page, "rectangle")
    drag(page, (100, 1300), (300, 1450))
    made = wait_count(page, marked_slide, before + 1)
    mine = next(
        f
        for f in made
        if f["properties"]["kind"] == "rectangle"
        and f["geometry"]["coordinates"][0][0][1] == pytest.approx(1300, abs=3)
    )
    tool(page, "select")
    click(page, (200, 1300))  # on its upper edge
    page.wait_for_selector("[data-testid=annotation-details]:not([hidden])")
    drag(page, (200, 1300), (260, 1250))
    wait_annotation(page, mine["id"], lambda f: f["properties"]["version"] == 2)
    moved = page.evaluate(
        "async (url) => (await fetch(url)).json()", f"/api/annotations/{mine['id']}"
    )
    assert moved["geometry"]["coordinates"][0][0][0] == pytest.approx(160, abs=4)
    page.keyboard.press("Control+z")  # the move undone
    wait_annotation(page, mine["id"], lambda f: f["properties"]["version"] == 3)
    back = page.evaluate(
        "async (url) => (await fetch(url)).json()", f"/api/annotations/{mine['id']}"
    )
    assert back["geometry"]["coordinates"][0][0][0] == pytest.approx(100, abs=4)
    page.keyboard.press("Control+z")  # the drawing undone: gone
    wait_count(page, marked_slide, before)
    page.keyboard.press("Control+y")  # and back
    wait_count(page, marked_slide, before + 1)
    page.click("[data-testid=annotation-redo]")  # the move again
    wait_annotation(page, mine["id"], lambda f: f["geometry"]["coordinates"][0][0][0] > 150)


def test_the_list_flies_to_a_shape_and_layers_hide(slide_page: Any, marked_slide: str) -> None:
    page = slide_page
    if not features(page, marked_slide):
        tool(page, "rectangle")
        drag(page, (1800, 1300), (1900, 1400))
        wait_count(page, marked_slide, 1)
        page.reload()
        page.wait_for_function(
            "window.samsyn && samsyn.annotations && samsyn.annotations.ready", timeout=60_000
        )
    rows = page.locator("[data-testid=annotation-row]")
    assert rows.count() >= 1
    before = page.evaluate("samsyn.annotations.surface.matrix()")
    rows.first.click()
    page.wait_for_timeout(1500)
    after = page.evaluate("samsyn.annotations.surface.matrix()")
    assert after != before
    assert page.locator("[data-testid=annotation-details]").is_visible()
    layer = page.locator("[data-testid=annotation-layers] input[type=checkbox]").first
    layer.uncheck()
    page.wait_for_function("samsyn.annotations.layer.all().length === 0")
    page.wait_for_function("document.querySelectorAll('[data-testid=annotation-row]').length === 0")
    layer.check()
    page.wait_for_function("samsyn.annotations.layer.all().length > 0")


def test_a_region_on_a_ct_frame_shows_its_hu(page: Any, marked_series: str) -> None:
    page.goto(f"/viewer/{marked_series}")
    page.wait_for_function(
        READY + " && samsyn.state && samsyn.state().frame === 0",
        timeout=60_000,
    )
    page.keyboard.press("ArrowDown")  # frame 2 of 4
    page.wait_for_function("samsyn.state().frame === 1", timeout=10_000)
    tool(page, "polygon")
    for point in [(30, 30), (90, 30), (90, 90)]:
        click(page, point)
    page.mouse.dblclick(*to_screen(page, 30, 90))
    made = wait_count(page, marked_series, 1, "?frame=1")
    numbers = made[0]["properties"]["measurements"]
    assert made[0]["properties"]["frame"] == 1
    assert numbers["unit"] == "HU" and numbers["min"] <= numbers["mean"] <= numbers["max"]
    assert "area_mm2" in numbers
    page.wait_for_function(
        "document.querySelector('[data-testid=annotation-measurement]').textContent.includes('HU')"
    )
    screenshot(page, "annotations-ct-frame")
    page.keyboard.press("ArrowUp")
    page.wait_for_function("samsyn.state().frame === 0", timeout=10_000)
    page.wait_for_function("samsyn.annotations.layer.all().length === 0")
    page.keyboard.press("ArrowDown")
    page.wait_for_function(
        "samsyn.state().frame === 1 && samsyn.annotations.layer.all().length === 1", timeout=10_000
    )
