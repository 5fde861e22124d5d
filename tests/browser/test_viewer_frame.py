"""The frame around both viewers: the case's patient always in sight (masked for a protected
identity, absent in teaching), the way back to the case and through its images, a standing
warning when a series header names another patient, honest zoom and loading signals, the
sign-in after an expired session, and layouts that hold at 1280 x 800 and 800 px."""

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import (
    PROTECTED_NAME,
    PROTECTED_PATIENT,
    _import_series,
    choose_language_for,
)

pytestmark = pytest.mark.browser

TEST_PATIENT_NAME = "Test Testsson"
TEST_NUMBER = "19640823-3234"
MISMATCH = "Bildens huvud anger en annan patient"


def wait_for_slide(tab: Any) -> None:
    tab.wait_for_function(
        "window.samsyn && samsyn.viewer && samsyn.viewer.world.getItemCount() > 0"
        " && samsyn.viewer.world.getItemAt(0).getFullyLoaded()",
        timeout=60_000,
    )


def wait_for_series(tab: Any) -> None:
    tab.wait_for_function(
        "window.samsyn && samsyn.kind === 'series' && samsyn.state().frame !== null",
        timeout=60_000,
    )


def case_of(tab: Any, image_id: str) -> dict[str, Any]:
    cases = tab.context.request.get("/api/cases").json()
    return next(case for case in cases if image_id in case["images"])


@pytest.fixture(scope="session")
def teaching_series(
    live_data: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A small synthetic CT in a teaching case of the test organisation (no patient)."""
    from tests.conftest import TEST_ORG
    from tiles.radiology.synthetic import make_ct_series

    folder = tmp_path_factory.mktemp("teaching") / "ct"
    make_ct_series(folder, slices=3, size=64, seed=11, patient_id="SYNTHETIC-TEACHING")
    return _import_series(live_data, [folder], (TEST_ORG, None, "Undervisningsfall"))[0]  # type: ignore[arg-type]


@pytest.fixture
def sized(chromium: Any, app_url: str, live_login: dict[str, str]) -> Iterator[Callable[..., Any]]:
    """A signed-in tab with a given viewport and language."""
    contexts: list[Any] = []
    errors: list[Exception] = []

    def open_(width: int, height: int, language: str = "sv") -> Any:
        context = chromium.new_context(
            base_url=app_url, viewport={"width": width, "height": height}, bypass_csp=True
        )
        contexts.append(context)
        assert context.request.post("/api/session", data=live_login).ok
        choose_language_for(context.request, language)
        tab = context.new_page()
        tab.on("pageerror", lambda error: errors.append(error))
        return tab

    yield open_
    for context in contexts:
        # Back to Swedish for the tests after this one: the choice is stored with the user.
        choose_language_for(context.request, "sv")
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_the_patient_bar_on_a_slide(page: Any, demo_images: dict[str, str]) -> None:
    page.goto(f"/viewer/{demo_images['slide']}")
    wait_for_slide(page)
    case = case_of(page, demo_images["slide"])
    bar = page.get_by_test_id("patient-bar")
    bar.get_by_test_id("case-patient-name").wait_for()
    assert bar.get_by_test_id("case-patient-name").inner_text() == case["patient"]["name"]
    assert bar.get_by_test_id("case-patient-number").inner_text() == case["patient"]["personnummer"]
    assert case["patient"]["name"] == TEST_PATIENT_NAME
    link = bar.get_by_test_id("case-link")
    assert case["title"] in link.inner_text()
    assert link.get_attribute("href") == f"/cases/{case['id']}"
    # Always in sight: at the top of the viewer, above the toolbar, not in the side panel.
    assert bar.is_visible()
    box = bar.bounding_box()
    toolbar = page.locator(".toolbar").bounding_box()
    assert box["y"] + box["height"] <= toolbar["y"] + 1
    assert page.locator(".info-panel [data-testid=patient-bar]").count() == 0
    assert page.get_by_test_id("identity-warning").is_hidden()
    assert page.get_by_test_id("loading").is_hidden()


def test_the_patient_bar_and_header_warning_on_a_series(
    page: Any, series_images: dict[str, str]
) -> None:
    page.goto(f"/viewer/{series_images['gap']}")
    wait_for_series(page)
    image = page.evaluate("samsyn.image")
    assert image["series"]["patient_id"] == "SYNTHETIC-GAP"
    bar = page.get_by_test_id("patient-bar")
    bar.get_by_test_id("case-patient-name").wait_for()
    assert bar.get_by_test_id("case-patient-name").inner_text() == TEST_PATIENT_NAME
    assert bar.get_by_test_id("case-patient-number").inner_text() == TEST_NUMBER
    case = case_of(page, series_images["gap"])
    assert bar.get_by_test_id("case-link").get_attribute("href") == f"/cases/{case['id']}"
    # The overlay names the case's patient, not the header's.
    overlay = page.get_by_test_id("overlay-patient").inner_text()
    assert TEST_PATIENT_NAME in overlay and "Phantom" not in overlay
    # The header names someone else: a standing red warning, no way to close it.
    warning = page.get_by_test_id("identity-warning")
    assert warning.is_visible()
    assert MISMATCH in warning.inner_text()
    assert "SYNTHETIC-GAP" in warning.inner_text()
    assert warning.locator("button").count() == 0
    page.keyboard.press("Escape")
    assert warning.is_visible()
    colour = warning.evaluate("node => getComputedStyle(node).backgroundColor")
    red, green, blue = (int(v) for v in colour[colour.index("(") + 1 : -1].split(",")[:3])
    assert red > 2 * green and red > 2 * blue, colour
    assert page.get_by_test_id("loading").inner_text() == "Laddar serien…"


def test_a_protected_identity_is_masked_in_the_bar(
    page_as: Callable[[dict[str, str]], Any],
    live_login: dict[str, str],
    protected_series: str,
) -> None:
    tab = page_as(live_login)
    tab.goto(f"/viewer/{protected_series}")
    wait_for_series(tab)
    name = tab.get_by_test_id("case-patient-name")
    name.wait_for()
    assert name.inner_text() == "Skyddad identitet"
    assert "protected" in (name.get_attribute("class") or "")
    assert tab.get_by_test_id("case-patient-number").inner_text().endswith(PROTECTED_PATIENT[-4:])
    assert PROTECTED_NAME not in tab.locator("body").inner_text()
    assert "Phantom" not in tab.locator("body").inner_text()
    assert "Skyddat fall" in tab.get_by_test_id("case-link").inner_text()


def test_a_teaching_case_shows_no_identity(page: Any, teaching_series: str) -> None:
    page.goto(f"/viewer/{teaching_series}")
    wait_for_series(page)
    bar = page.get_by_test_id("patient-bar")
    bar.get_by_test_id("case-teaching").wait_for()
    assert bar.get_by_test_id("case-patient-name").count() == 0
    assert bar.get_by_test_id("case-patient-number").count() == 0
    body = page.locator("body").inner_text()
    assert TEST_NUMBER not in body and TEST_PATIENT_NAME not in body
    assert "SYNTHETIC-TEACHING" not in body
    assert page.get_by_test_id("identity-warning").is_hidden()
    assert "Undervisningsfall" in bar.get_by_test_id("case-link").inner_text()


def test_previous_and_next_move_within_the_case(page: Any, series_images: dict[str, str]) -> None:
    page.goto(f"/viewer/{series_images['gap']}")
    wait_for_series(page)
    case = case_of(page, series_images["gap"])
    images = case["images"]
    index = images.index(series_images["gap"])
    position = page.get_by_test_id("case-position")
    assert position.inner_text() == f"{index + 1} / {len(images)}"
    page.keyboard.press("]")
    page.wait_for_url(f"**/viewer/{images[index + 1]}")
    page.get_by_test_id("case-position").wait_for()
    assert page.get_by_test_id("case-position").inner_text() == f"{index + 2} / {len(images)}"
    page.get_by_test_id("case-previous").click()
    page.wait_for_url(f"**/viewer/{images[index]}")
    page.get_by_test_id("case-position").wait_for()
    assert page.get_by_test_id("case-position").inner_text() == f"{index + 1} / {len(images)}"


def test_page_keys_step_through_the_case_from_a_slide(
    page: Any, demo_images: dict[str, str]
) -> None:
    page.goto(f"/viewer/{demo_images['slide']}")
    wait_for_slide(page)
    images = case_of(page, demo_images["slide"])["images"]
    index = images.index(demo_images["slide"])
    page.get_by_test_id("case-position").wait_for()
    target, key = (
        (images[index + 1], "PageDown")
        if index + 1 < len(images)
        else (images[index - 1], "PageUp")
    )
    page.keyboard.press(key)
    page.wait_for_url(f"**/viewer/{target}")


def test_the_series_strip_switches_series(page: Any, series_images: dict[str, str]) -> None:
    page.goto(f"/viewer/{series_images['ct']}")
    wait_for_series(page)
    strip = page.get_by_test_id("series-strip")
    strip.wait_for()
    thumbs = strip.get_by_test_id("series-thumb")
    ids = [thumbs.nth(i).get_attribute("data-image") for i in range(thumbs.count())]
    assert {series_images["ct"], series_images["gap"]} <= set(ids)
    assert strip.locator("[aria-current=page]").get_attribute("data-image") == series_images["ct"]
    drawn = page.evaluate(
        "[...document.querySelectorAll('[data-testid=series-thumb] img')]"
        ".filter(img => img.complete).map(img => img.naturalWidth)"
    )
    assert any(width > 0 for width in drawn), "no thumbnail was drawn"
    strip.locator(f"[data-image='{series_images['gap']}']").click()
    page.wait_for_url(f"**/viewer/{series_images['gap']}")
    wait_for_series(page)
    assert page.evaluate("samsyn.image.id") == series_images["gap"]


def test_zoom_beyond_the_scan_says_it_is_digital(page: Any, demo_images: dict[str, str]) -> None:
    page.goto(f"/viewer/{demo_images['slide']}")
    wait_for_slide(page)
    image = page.evaluate("samsyn.image")
    native = image["objective_power"] or 10 / image["mpp"][0]
    readout = page.get_by_test_id("magnification")
    page.evaluate(f"samsyn.setMagnification({native / 2})")
    page.wait_for_function("samsyn.viewer.viewport.zoomSpring.isAtTargetValue()")
    assert "digital" not in readout.inner_text()
    # From the whole slide, with the tiles slowed down, so the sharper ones are still on their
    # way when we look.
    page.evaluate("samsyn.viewer.viewport.goHome(true)")
    page.route("**/dzi/**", lambda route: (time.sleep(0.25), route.continue_()))
    page.evaluate(f"samsyn.setMagnification({native * 1.5})")
    page.wait_for_function("samsyn.viewer.viewport.zoomSpring.isAtTargetValue()")
    text = readout.inner_text()
    zoom = f"{native * 1.5:.1f}".replace(".", ",")  # the Swedish decimal comma
    assert text == f"{zoom}× (digital, skannad {native:g}×)", text
    # The demo slide is small enough to be fully loaded already: drop its tiles.
    page.evaluate("samsyn.viewer.world.getItemAt(0).reset(); samsyn.viewer.forceRedraw()")
    page.wait_for_function("samsyn.sharpening()", timeout=10_000)
    assert page.get_by_test_id("sharpening").inner_text() == "Laddar skarpare bild…"
    page.unroute("**/dzi/**")
    wait_for_slide(page)
    page.wait_for_function("!samsyn.sharpening()", timeout=30_000)


def test_an_expired_session_leads_to_the_sign_in_and_back(
    page: Any, series_images: dict[str, str], live_login: dict[str, str]
) -> None:
    page.goto(f"/viewer/{series_images['gap']}?frame=3")
    wait_for_series(page)
    csrf = page.context.request.get("/api/me").json()["csrf_token"]
    assert page.context.request.delete("/api/session", headers={"X-CSRF-Token": csrf}).ok
    # The viewer's own requests (frames still being fetched) may find the session gone first
    # and leave for the sign-in before this nudge runs: either way the page must get there.
    if "/viewer/" in page.url:
        try:
            page.evaluate(
                "setTimeout(() => import('/static/src/api.js')"
                ".then(api => api.getJson('/api/cases')).catch(() => null), 50)"
            )
        except Exception as error:  # the page is already on its way to the sign-in
            assert "context was destroyed" in str(error), error
    page.wait_for_url("**/login?next=*")
    assert "next=%2Fviewer%2F" in page.url and "frame%3D3" in page.url
    # Sign in again so the page fixture's context ends signed in.
    assert page.context.request.post("/api/session", data=live_login).ok


def test_the_toolbars_hold_one_row_at_1280_by_800(
    sized: Callable[..., Any], demo_images: dict[str, str], series_images: dict[str, str]
) -> None:
    tab = sized(1280, 800)
    for image_id, wait in (
        (demo_images["slide"], wait_for_slide),
        (series_images["ct"], wait_for_series),
    ):
        tab.goto(f"/viewer/{image_id}")
        wait(tab)
        tab.get_by_test_id("patient-bar").locator("[data-testid=case-link]").wait_for()
        toolbar = tab.locator(".toolbar")
        boxes = [
            b.bounding_box() for b in toolbar.locator("button, select").all() if b.is_visible()
        ]
        tops = {round(box["y"]) for box in boxes}
        assert len(tops) == 1, f"{image_id}: the toolbar wraps onto {len(tops)} rows"
        outer = toolbar.bounding_box()
        assert all(box["x"] + box["width"] <= outer["x"] + outer["width"] + 0.5 for box in boxes)
        for panel in (".toolbar", ".patient-bar", ".info-panel", ".cine-bar", ".series-strip"):
            for node in tab.locator(panel).all():
                if node.is_visible():
                    spills = node.evaluate("n => n.scrollWidth > n.clientWidth + 1")
                    assert not spills or panel == ".series-strip", f"{panel} spills out"


def test_the_information_panel_is_reachable_at_800(
    sized: Callable[..., Any], demo_images: dict[str, str]
) -> None:
    tab = sized(800, 800)
    tab.goto(f"/viewer/{demo_images['slide']}")
    wait_for_slide(tab)
    panel = tab.get_by_test_id("image-info")
    assert panel.is_hidden()
    tab.get_by_test_id("info-toggle").click()
    assert panel.is_visible()
    assert tab.get_by_test_id("info-toggle").get_attribute("aria-expanded") == "true"
    box = tab.locator(".info-panel").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 800
    tab.get_by_test_id("info-toggle").click()
    assert panel.is_hidden()


def test_the_help_list_scrolls_on_a_short_screen(
    sized: Callable[..., Any], series_images: dict[str, str]
) -> None:
    tab = sized(900, 420)
    tab.goto(f"/viewer/{series_images['gap']}")
    wait_for_series(tab)
    tab.keyboard.press("?")
    keys = tab.locator("#help-dialog .keys")
    keys.wait_for()
    dialog = tab.locator("#help-dialog").bounding_box()
    assert dialog["y"] >= 0 and dialog["y"] + dialog["height"] <= 420
    assert keys.evaluate("n => n.scrollHeight > n.clientHeight")
    keys.evaluate("n => n.scrollTo(0, n.scrollHeight)")
    assert keys.evaluate("n => n.scrollTop > 0")


@pytest.mark.parametrize("language", ["sv", "en"])
@pytest.mark.parametrize("width", [1280, 800])
def test_screenshots(
    sized: Callable[..., Any],
    demo_images: dict[str, str],
    series_images: dict[str, str],
    width: int,
    language: str,
) -> None:
    tab = sized(width, 800, language)
    tab.goto(f"/viewer/{demo_images['slide']}")
    wait_for_slide(tab)
    tab.get_by_test_id("case-link").wait_for()
    tab.screenshot(path=f"/tmp/viewer-slide-{width}-{language}.png")
    tab.goto(f"/viewer/{series_images['gap']}")
    wait_for_series(tab)
    tab.get_by_test_id("case-link").wait_for()
    tab.screenshot(path=f"/tmp/viewer-series-{width}-{language}.png")
