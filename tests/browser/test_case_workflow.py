"""Cases first: the worklist after sign-in, a case's clinical frame edited in place, its
thumbnails into the viewer, the recipient picked from the directory, a protected identity
confirmed, and an administrator's case page that asks for no image."""

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import PEOPLE_PASSWORD, SECOND_ORG, SECOND_UNIT, name_recipient
from tests.conftest import TEST_CASE, TEST_ORG, TEST_PASSWORD, TEST_PATIENT, TEST_USER

pytestmark = pytest.mark.browser

PageAs = Callable[[dict[str, str]], Any]
ADMIN = {"username": "fall.admin", "password": PEOPLE_PASSWORD}
SIZES = {"wide": {"width": 1280, "height": 800}, "narrow": {"width": 800, "height": 800}}


@pytest.fixture(scope="module")
def admin(
    live_data: tuple[Path, dict[str, str]], people: dict[str, dict[str, str]]
) -> dict[str, str]:
    """An administrator of the test organisation on the live server."""
    from app import create_app
    from app.directory import add_user
    from tests.conftest import database

    data_dir, _images = live_data
    application = create_app(
        {"DATA_DIR": data_dir, "DATABASE_URL": f"sqlite:///{data_dir / 'samsyn.db'}"}
    )
    with database(application).session() as session:
        add_user(session, ADMIN["username"], TEST_ORG, "admin", ADMIN["password"], name="Ada Admin")
    return ADMIN


def cases(tab: Any) -> list[dict[str, Any]]:
    return list(tab.request.get("/api/cases").json())


def case_id(tab: Any, title: str) -> str:
    return next(case["id"] for case in cases(tab) if case["title"] == title)


def wait_for_worklist(tab: Any) -> None:
    tab.locator("#cases table, #cases .notice").first.wait_for(timeout=15_000)


def shoot(tab: Any, name: str) -> None:
    """The page at 1280x800 and 800x800, under /tmp/cases-<name>-<size>.png."""
    for size, viewport in SIZES.items():
        tab.set_viewport_size(viewport)
        tab.wait_for_timeout(150)
        tab.screenshot(path=f"/tmp/cases-{name}-{size}.png", full_page=True)


@pytest.fixture
def fresh(chromium: Any, app_url: str) -> Iterator[Any]:
    """A tab without a session."""
    context = chromium.new_context(
        base_url=app_url, timezone_id="Europe/Stockholm", bypass_csp=True
    )
    yield context.new_page()
    context.close()


def test_sign_in_lands_on_the_cases(fresh: Any) -> None:
    fresh.goto("/")
    fresh.wait_for_url("**/login?next=/cases")
    fresh.get_by_test_id("signin").wait_for()
    fresh.fill("input[name=username]", TEST_USER)
    fresh.fill("input[name=password]", TEST_PASSWORD)
    fresh.click("form.signin button[type=submit]")
    fresh.wait_for_url("**/cases")
    wait_for_worklist(fresh)
    assert fresh.locator("#nav [data-testid=nav-cases]").get_attribute("aria-current") == "page"
    assert fresh.locator("#nav [data-testid=nav-images]").get_attribute("href") == "/images"


def test_the_worklist_shows_patient_holdings_origin_status_and_filters(
    page: Any, people: dict[str, dict[str, str]]
) -> None:
    page.goto("/cases")
    wait_for_worklist(page)
    headers = page.locator("#cases thead th").all_inner_texts()
    assert headers == ["Patient", "Fall", "Från och varför", "Status", "Avsändare", "Senast ändrat"]
    row = page.locator("[data-testid=case-row]", has_text=TEST_CASE)
    text = row.inner_text()
    assert "19640823-3234" in text and "Test Testsson" in text and TEST_ORG in text
    assert row.get_by_test_id("case-holds").inner_text() == "2 snitt"
    assert row.get_by_test_id("case-status").inner_text() == "Öppen"
    assert row.get_by_test_id("case-access").inner_text().startswith("Egen vårdgivare")
    shoot(page, "worklist")

    page.get_by_test_id("filter-text").fill("skydd")
    page.locator("[data-testid=case-row]", has_text=TEST_CASE).wait_for(state="detached")
    assert page.locator("[data-testid=case-row]").count() == 1
    assert "Skyddad identitet" in page.locator("[data-testid=case-row]").inner_text()
    page.get_by_test_id("filter-text").fill("")
    page.get_by_test_id("filter-scope").select_option("shared")
    page.get_by_test_id("case-row").first.wait_for(state="detached")
    assert "Inga fall matchar filtret." in page.locator("#cases").inner_text()
    page.get_by_test_id("filter-scope").select_option("")
    page.get_by_test_id("filter-status").select_option("closed")
    assert page.get_by_test_id("case-row").count() == 0


def test_the_case_page_thumbnails_open_the_viewer(page: Any, demo_images: dict[str, str]) -> None:
    page.goto(f"/cases/{case_id(page, TEST_CASE)}")
    slide = page.locator(f'[data-testid=case-image][data-image-id="{demo_images["slide"]}"]')
    slide.wait_for(timeout=15_000)
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=slide.locator("img").element_handle()
    )
    shoot(page, "case")
    slide.locator("a.thumbnail").click()
    page.wait_for_url(f"**/viewer/{demo_images['slide']}")


def test_a_case_is_created_and_its_question_edited(page: Any) -> None:
    page.goto("/cases")
    wait_for_worklist(page)
    page.get_by_test_id("new-case-open").click()
    page.get_by_test_id("new-case-patient").fill(TEST_PATIENT)
    page.get_by_test_id("new-case-title").fill("Remiss hudbiopsi")
    page.get_by_test_id("new-case-question").fill("Melanom?")
    page.get_by_test_id("new-case-create").click()
    page.wait_for_url("**/cases/*")
    question = page.get_by_test_id("case-question")
    question.wait_for()
    assert question.inner_text() == "Melanom?"

    page.get_by_test_id("frame-edit").click()
    page.get_by_test_id("frame-question").fill("Melanom? Radikalt exciderat?")
    page.get_by_test_id("frame-history").fill("Växande nevus.\nÄrftlighet för melanom.")
    page.get_by_test_id("frame-status-select").select_option("in_review")
    page.get_by_test_id("frame-sender").fill("Hudkliniken Kalmar")
    page.get_by_test_id("frame-save").click()
    page.get_by_test_id("frame-status").wait_for()
    assert question.inner_text() == "Melanom? Radikalt exciderat?"
    assert (
        page.get_by_test_id("case-history").inner_text()
        == "Växande nevus.\nÄrftlighet för melanom."
    )
    saved = next(case for case in cases(page) if case["title"] == "Remiss hudbiopsi")
    assert saved["status"] == "in_review" and saved["sender"] == "Hudkliniken Kalmar"


def test_the_recipient_is_picked_by_typing_and_the_day_on_a_calendar(
    page: Any, people: dict[str, dict[str, str]]
) -> None:
    made = page.request.post(
        "/api/cases",
        data={"title": "Remiss till Andra", "patient": TEST_PATIENT},
        headers={"X-CSRF-Token": page.request.get("/api/me").json()["csrf_token"]},
    )
    assert made.ok, made.text()
    page.goto(f"/cases/{made.json()['id']}")
    form = page.get_by_test_id("share-form")
    form.wait_for(timeout=15_000)
    default = form.get_by_test_id("share-until").input_value()
    assert default == (date.today() + timedelta(days=30)).isoformat()
    form.get_by_test_id("share-purpose").select_option("mdk")
    assert (
        form.get_by_test_id("share-until").input_value()
        == (date.today() + timedelta(days=14)).isoformat()
    )

    form.get_by_test_id("share-name").press_sequentially("And", delay=40)
    option = form.locator('[data-testid=recipient-option][data-kind="unit"]', has_text=SECOND_UNIT)
    option.wait_for()
    shoot(page, "recipient")
    option.click()
    assert form.get_by_test_id("share-kind").input_value() == "unit"
    assert form.get_by_test_id("share-name").input_value() == SECOND_UNIT
    day = (date.today() + timedelta(days=10)).isoformat()
    form.get_by_test_id("share-until").fill(day)
    form.get_by_test_id("share-submit").click()
    share = page.locator('[data-testid=share-row][data-active="true"]', has_text=SECOND_UNIT)
    share.wait_for(timeout=15_000)
    assert f"{day} 23:59" in share.inner_text()


def test_sharing_a_protected_identity_asks_for_confirmation(
    page: Any, people: dict[str, dict[str, str]]
) -> None:
    page.goto(f"/cases/{case_id(page, 'Skyddat fall')}")
    form = page.get_by_test_id("share-form")
    form.wait_for(timeout=15_000)
    assert form.get_by_test_id("share-protected").is_visible()
    form.get_by_test_id("share-kind").select_option("org")
    name_recipient(form, SECOND_ORG)
    form.get_by_test_id("share-submit").click()
    error = form.get_by_test_id("share-error")
    error.wait_for()
    assert "skyddad identitet" in error.inner_text()
    assert page.locator("[data-testid=share-row]").count() == 0
    assert form.get_by_test_id("share-name").input_value() == SECOND_ORG  # kept for a retry
    form.get_by_test_id("share-confirm-protected").check()
    form.get_by_test_id("share-submit").click()
    page.locator('[data-testid=share-row][data-active="true"]', has_text=SECOND_ORG).wait_for()


def test_an_administrators_case_page_asks_for_no_image(
    page_as: PageAs, admin: dict[str, str]
) -> None:
    tab = page_as(admin)
    asked: list[str] = []
    tab.on("request", lambda request: asked.append(request.url))
    tab.goto("/cases")
    wait_for_worklist(tab)
    row = tab.locator("[data-testid=case-row]", has_text=TEST_CASE)
    assert row.get_by_test_id("case-holds").inner_text() == "2 snitt"
    row.locator("a.case-link").click()
    tab.get_by_test_id("shares").wait_for()
    tab.get_by_test_id("case-images").get_by_text("administratör").wait_for()
    assert tab.get_by_test_id("frame-edit").is_hidden()
    assert not [url for url in asked if "/api/images" in url or "loose-images" in url], asked
