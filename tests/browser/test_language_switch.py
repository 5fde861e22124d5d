"""Swedish by default, English on request: the language switch in the top bar (signed in,
the user's own choice kept by the server; signed out, this browser's), <html lang> following
it, and the navigation, sign-in, image list and cases pages holding their layout in both
languages at 1280 x 800 and at 800 px wide. Screenshots go to /tmp/shots/C-*.png."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.api.static import catalogue
from tests.browser.conftest import PEOPLE_PASSWORD, SECOND_ORG, name_recipient
from tests.browser.conftest import choose_language as choose
from tests.conftest import TEST_CASE, TEST_ORG, TEST_PATIENT

pytestmark = pytest.mark.browser

PageAs = Callable[[dict[str, str]], Any]
STATIC = Path(__file__).resolve().parents[2] / "static"
SHOTS = Path("/tmp/shots")
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 800, "height": 800}
# A long name and unit, as real ones are: the top bar must hold them too.
LINGUIST = {"username": "sprak.patolog", "password": PEOPLE_PASSWORD}
LINGUIST_NAME = "Ingegärd Lindqvist-Bergström"
LINGUIST_UNIT = "Klinisk patologi och cytologi, Länssjukhuset"


def words(language: str) -> dict[str, str]:
    return {key: str(value) for key, value in catalogue(STATIC, language).items()}


@pytest.fixture(scope="module")
def linguist(live_data: tuple[Path, dict[str, str]]) -> dict[str, str]:
    """A pathologist of the test organisation who has never chosen a language."""
    from app import create_app
    from app.directory import add_unit, add_user
    from tests.conftest import database

    data_dir, _images = live_data
    application = create_app(
        {"DATA_DIR": data_dir, "DATABASE_URL": f"sqlite:///{data_dir / 'samsyn.db'}"}
    )
    with database(application).session() as session:
        add_unit(session, LINGUIST_UNIT, TEST_ORG, "SE0000000001-SPRAK")
    with database(application).session() as session:
        add_user(
            session,
            LINGUIST["username"],
            TEST_ORG,
            "pathologist",
            LINGUIST["password"],
            LINGUIST_UNIT,
            hsa_id="SE0000000001-sprak",
            name=LINGUIST_NAME,
        )
    return LINGUIST


@pytest.fixture
def stranger(chromium: Any, app_url: str) -> Iterator[Any]:
    """A tab without a session; fails the test on any uncaught JavaScript error."""
    context = chromium.new_context(
        base_url=app_url, viewport=WIDE, timezone_id="Europe/Stockholm", bypass_csp=True
    )
    tab = context.new_page()
    errors: list[Exception] = []
    tab.on("pageerror", lambda error: errors.append(error))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def language_of(tab: Any) -> str:
    return str(tab.locator("html").get_attribute("lang"))


def wait_for_language(tab: Any, language: str) -> None:
    tab.wait_for_function("lang => document.documentElement.lang === lang", arg=language)


def wait_for_cases(tab: Any) -> None:
    tab.locator("#cases table, #cases .notice").first.wait_for(timeout=15_000)


def shoot(tab: Any, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"C-{name}.png"), full_page=True)


# What "holds" means, measured in the page.

ONE_ROW = """(selector) => [...document.querySelectorAll(selector)]
  .filter((box) => box.offsetParent)
  .map((box) => {
    const rows = [...box.children].filter((child) => child.getClientRects().length)
      .map((child) => child.getBoundingClientRect()).filter((r) => r.width && r.height);
    const lowestTop = Math.max(...rows.map((r) => r.top));
    const highestBottom = Math.min(...rows.map((r) => r.bottom));
    return { id: box.id || box.className, oneRow: lowestTop < highestBottom,
             overflows: box.scrollWidth > box.clientWidth + 1 };
  })"""

SPILLS = """(selector) => [...document.querySelectorAll(selector)]
  .filter((form) => form.offsetParent)
  .flatMap((form) => {
    const panel = (form.closest(".panel") ?? form).getBoundingClientRect();
    return [...form.querySelectorAll("input, select, textarea, button, label, p, h3")]
      .filter((node) => node.getClientRects().length)
      .filter((node) => {
        const r = node.getBoundingClientRect();
        return r.left < panel.left - 1 || r.right > panel.right + 1;
      })
      .map((node) => `${form.dataset.testid}: ${node.tagName} ${node.name ?? ""}`
        + ` ${node.textContent.trim().slice(0, 30)}`);
  })"""

OUTSIDE = """(selectors) => selectors.flatMap((selector) => [...document.querySelectorAll(selector)]
  .filter((node) => {
    const r = node.getBoundingClientRect();
    return !r.width || r.left < 0 || r.right > window.innerWidth + 1;
  }).map(() => selector))"""


def assert_one_row(tab: Any, *selectors: str) -> None:
    for selector in selectors:
        boxes = tab.evaluate(ONE_ROW, selector)
        assert boxes, f"{selector} is not on the page"
        wrapped = [box for box in boxes if not box["oneRow"] or box["overflows"]]
        assert not wrapped, f"{selector} wraps or overflows: {wrapped}"


def assert_no_spill(tab: Any, selector: str) -> None:
    spilt = tab.evaluate(SPILLS, selector)
    assert not spilt, f"out of their panel: {spilt}"


def assert_reachable(tab: Any, *selectors: str) -> None:
    """No sideways scrolling of the whole page, and every named control on screen."""
    width = tab.evaluate("document.documentElement.scrollWidth")
    assert width <= tab.viewport_size["width"], f"the page is {width} px wide"
    outside = tab.evaluate(OUTSIDE, list(selectors))
    assert not outside, f"off screen: {outside}"


TOP_BAR = ("#nav .nav-link", "[data-testid=language-switch]", "[data-testid=sign-out]")


# The switch itself.


def test_the_sign_in_is_swedish_until_english_is_chosen_and_then_the_users_own_wins(
    stranger: Any, linguist: dict[str, str]
) -> None:
    sv, en = words("sv"), words("en")
    stranger.goto("/login")
    form = stranger.get_by_test_id("signin")
    form.wait_for()
    assert language_of(stranger) == "sv"
    assert stranger.title() == "Logga in · samsyn"
    assert form.locator("h2").inner_text() == sv["login.heading"] == "Logga in i samsyn"
    assert form.locator("label").all_inner_texts() == ["Användarnamn", "Lösenord"]
    stranger.fill("input[name=username]", linguist["username"])
    stranger.fill("input[name=password]", "not the password")
    stranger.click("form.signin button[type=submit]")
    refused = stranger.get_by_test_id("signin-error")
    refused.wait_for()
    assert refused.inner_text() == "Fel användarnamn eller lösenord."
    switch = stranger.get_by_test_id("language-switch")
    assert switch.inner_text() == "English" and switch.get_attribute("lang") == "en"

    switch.click()
    wait_for_language(stranger, "en")
    form.wait_for()
    assert stranger.title() == "Sign in · samsyn"
    assert form.locator("h2").inner_text() == en["login.heading"] == "Sign in to samsyn"
    assert form.locator("button[type=submit]").inner_text() == "Sign in"
    assert stranger.get_by_test_id("language-switch").inner_text() == "Svenska"
    assert stranger.evaluate("localStorage.getItem('samsyn.language')") == "en"
    stranger.reload()  # remembered by this browser
    wait_for_language(stranger, "en")

    # after signing in, the user's own language (never chosen: Swedish) wins
    stranger.fill("input[name=username]", linguist["username"])
    stranger.fill("input[name=password]", linguist["password"])
    stranger.click("form.signin button[type=submit]")
    stranger.wait_for_url("**/cases")
    wait_for_cases(stranger)
    assert language_of(stranger) == "sv"
    assert stranger.get_by_test_id("nav-cases").inner_text() == "Fall"


def test_a_signed_in_user_switches_and_the_server_remembers(
    page_as: PageAs, linguist: dict[str, str]
) -> None:
    tab = page_as(linguist)
    tab.goto("/cases")
    wait_for_cases(tab)
    assert language_of(tab) == "sv"
    assert tab.locator("h1").first.inner_text() == "Mina fall"
    assert tab.get_by_test_id("nav-cases").inner_text() == "Fall"
    assert tab.get_by_test_id("sign-out").inner_text() == "Logga ut"
    assert "Patolog" in tab.get_by_test_id("signed-in-user").inner_text()
    assert tab.get_by_test_id("new-case-open").inner_text() == "Nytt fall"

    tab.get_by_test_id("language-switch").click()
    wait_for_language(tab, "en")
    wait_for_cases(tab)
    assert tab.locator("h1").first.inner_text() == "My cases"
    assert tab.get_by_test_id("nav-cases").inner_text() == "Cases"
    assert tab.get_by_test_id("nav-images").inner_text() == "Images"
    assert tab.get_by_test_id("sign-out").inner_text() == "Sign out"
    assert "Pathologist" in tab.get_by_test_id("signed-in-user").inner_text()
    assert tab.get_by_test_id("language-switch").inner_text() == "Svenska"
    assert tab.locator("#cases thead th").first.inner_text() == "Patient"
    assert tab.locator("#cases thead th").nth(1).inner_text() == "Case"
    assert tab.request.get("/api/me").json()["user"]["language"] == "en"

    tab.goto("/images")  # every page follows
    tab.locator("[data-testid=image-card]").first.wait_for(timeout=15_000)
    assert language_of(tab) == "en" and tab.title() == "Images · samsyn"
    assert tab.locator(".open-link").first.inner_text() == "Open in viewer"

    again = page_as(linguist)  # another browser: the choice is the user's, not this one's
    again.goto("/cases")
    wait_for_cases(again)
    assert language_of(again) == "en"
    assert again.get_by_test_id("nav-cases").inner_text() == "Cases"

    again.get_by_test_id("language-switch").click()
    wait_for_language(again, "sv")
    assert again.get_by_test_id("nav-cases").inner_text() == "Fall"
    assert again.request.get("/api/me").json()["user"]["language"] == "sv"


def test_the_case_page_shares_and_revokes_in_english(
    page_as: PageAs, linguist: dict[str, str], people: dict[str, dict[str, str]]
) -> None:
    tab = page_as(linguist)
    tab.goto("/cases")
    choose(tab, "en")
    token = tab.request.get("/api/me").json()["csrf_token"]
    made = tab.request.post(
        "/api/cases",
        data={"title": "Språkets fall", "patient": TEST_PATIENT},
        headers={"X-CSRF-Token": token},
    )
    assert made.ok, made.text()
    tab.goto(f"/cases/{made.json()['id']}")
    form = tab.get_by_test_id("share-form")
    form.wait_for(timeout=15_000)
    assert language_of(tab) == "en" and tab.title() == "Språkets fall · samsyn"
    facts = tab.get_by_test_id("case-facts").inner_text()
    assert "Owned by" in facts and "Your access" in facts and "Own organisation" in facts
    assert tab.locator("#sharing-title").text_content() == "Shared with"
    assert tab.get_by_test_id("shares").inner_text() == (
        "Not shared: only the owning organisation sees this case."
    )
    assert form.get_by_test_id("share-purpose").locator("option").all_inner_texts() == [
        "Second opinion",
        "Care",
        "MDK (multidisciplinary conference)",
        "Teaching",
    ]
    form.get_by_test_id("share-submit").click()
    assert form.get_by_test_id("share-error").inner_text() == (
        "Name the organisation, unit or person to share with."
    )

    form.get_by_test_id("share-kind").select_option("org")
    name_recipient(form, SECOND_ORG)
    form.get_by_test_id("share-submit").click()
    row = tab.locator('[data-testid=share-row][data-active="true"]', has_text=SECOND_ORG)
    row.wait_for(timeout=15_000)
    assert "Second opinion" in row.inner_text() and "Active" in row.inner_text()
    headings = tab.get_by_test_id("shares").locator("th").all_inner_texts()
    assert headings[:5] == ["Shared with", "Purpose", "Until", "Shared on", "Status"]
    row.get_by_test_id("revoke-share").click()
    dialog = tab.get_by_test_id("confirm-dialog")
    dialog.wait_for()
    assert dialog.locator(".dialog-title").inner_text() == f"Revoke the share with {SECOND_ORG}?"
    assert tab.get_by_test_id("confirm-cancel").inner_text() == "Cancel"
    assert tab.get_by_test_id("confirm-ok").inner_text() == "Revoke share"
    shoot(tab, "revoke-en-1280")
    tab.get_by_test_id("confirm-ok").click()
    tab.locator('[data-testid=share-row][data-active="false"]').wait_for()
    assert "Revoked" in tab.get_by_test_id("shares").inner_text()
    assert (
        tab.get_by_test_id("share-status").inner_text()
        == f"The share with {SECOND_ORG} is revoked."
    )

    choose(tab, "sv")
    tab.reload()
    tab.locator('[data-testid=share-row][data-active="false"]').wait_for(timeout=15_000)
    assert language_of(tab) == "sv"
    assert "Återkallad" in tab.get_by_test_id("shares").inner_text()
    assert tab.get_by_test_id("share-submit").inner_text() == "Dela"
    assert form.get_by_test_id("share-purpose").locator("option").first.inner_text() == (
        "Förnyad bedömning"
    )


# Layouts that hold, in both languages.


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_worklist_holds_at_1280_and_800(
    page_as: PageAs, linguist: dict[str, str], language: str
) -> None:
    tab = page_as(linguist)
    tab.goto("/cases")
    choose(tab, language)
    tab.set_viewport_size(WIDE)
    tab.reload()
    wait_for_cases(tab)
    wait_for_language(tab, language)
    tab.get_by_test_id("new-case-open").click()
    assert_one_row(tab, ".topbar", "#user", ".page-heading", "#case-filters", "#lookup-form")
    assert_no_spill(tab, "[data-testid=new-case-form]")
    assert_reachable(tab, *TOP_BAR)
    shoot(tab, f"cases-{language}-1280")

    tab.set_viewport_size(NARROW)
    assert_one_row(tab, ".topbar")
    assert_no_spill(tab, "[data-testid=new-case-form]")
    assert_reachable(tab, *TOP_BAR, "[data-testid=new-case-create]", "#filter-scope", "#lookup-pnr")
    shoot(tab, f"cases-{language}-800")
    choose(tab, "sv")


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_case_page_holds_at_1280_and_800(
    page_as: PageAs, linguist: dict[str, str], language: str
) -> None:
    tab = page_as(linguist)
    tab.goto("/cases")
    choose(tab, language)
    cid = next(c["id"] for c in tab.request.get("/api/cases").json() if c["title"] == TEST_CASE)
    tab.set_viewport_size(WIDE)
    tab.goto(f"/cases/{cid}")
    tab.get_by_test_id("share-form").wait_for(timeout=15_000)
    tab.get_by_test_id("case-image").first.wait_for(timeout=15_000)
    tab.get_by_test_id("frame-edit").click()
    forms = "[data-testid=share-form], [data-testid=frame-form], [data-testid=add-images]"
    assert_one_row(tab, ".topbar")
    assert_no_spill(tab, forms)
    assert_reachable(tab, *TOP_BAR)
    shoot(tab, f"case-{language}-1280")

    tab.set_viewport_size(NARROW)
    assert_one_row(tab, ".topbar")
    assert_no_spill(tab, forms)
    assert_reachable(tab, *TOP_BAR, "[data-testid=share-submit]", "[data-testid=frame-save]")
    shoot(tab, f"case-{language}-800")
    choose(tab, "sv")


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_image_list_holds_at_1280_and_800(
    page_as: PageAs, linguist: dict[str, str], language: str
) -> None:
    tab = page_as(linguist)
    tab.goto("/images")
    choose(tab, language)
    for size, viewport in (("1280", WIDE), ("800", NARROW)):
        tab.set_viewport_size(viewport)
        tab.reload()
        tab.locator("[data-testid=image-card]").first.wait_for(timeout=15_000)
        wait_for_language(tab, language)
        assert_one_row(tab, ".topbar")
        assert_reachable(tab, *TOP_BAR, ".image-card .open-link")
        shoot(tab, f"images-{language}-{size}")
    choose(tab, "sv")


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_sign_in_holds_at_1280_and_800(stranger: Any, language: str) -> None:
    stranger.goto("/login")
    # once the form is drawn, the page has loaded its catalogue (and remembered the language
    # it loaded, which would otherwise overwrite the choice set here)
    stranger.get_by_test_id("signin").wait_for()
    stranger.evaluate("language => localStorage.setItem('samsyn.language', language)", language)
    for size, viewport in (("1280", WIDE), ("800", NARROW)):
        stranger.set_viewport_size(viewport)
        stranger.reload()
        stranger.get_by_test_id("signin").wait_for()
        wait_for_language(stranger, language)
        assert_one_row(stranger, ".topbar")
        assert_no_spill(stranger, "[data-testid=signin]")
        assert_reachable(stranger, "[data-testid=language-switch]", "form.signin button")
        shoot(stranger, f"login-{language}-{size}")
