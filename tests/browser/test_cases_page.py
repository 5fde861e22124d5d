"""The cases page: what a user may see and why, a case's images, sharing with another
organisation and revoking it, and the patient lookup with spärr and emergency access."""

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.api.static import catalogue
from tests.browser.conftest import (
    BLOCKED_NAME,
    BLOCKED_PATIENT,
    PROTECTED_NAME,
    SECOND_ORG,
    name_recipient,
    screenshot,
)
from tests.conftest import TEST_CASE, TEST_ORG

pytestmark = pytest.mark.browser

PageAs = Callable[[dict[str, str]], Any]
BLOCKED_DISPLAY = "19880320-0016"
STOCKHOLM = ZoneInfo("Europe/Stockholm")
STATIC = Path(__file__).resolve().parents[2] / "static"


def swedish(key: str, **values: object) -> str:
    """A sentence of the Swedish catalogue (the default language), placeholders filled."""
    return str(catalogue(STATIC, "sv")[key]).format(**values)


def wait_for_cases(tab: Any) -> None:
    """Until the list (or the notice that there is none) is on the page."""
    tab.locator("#cases table, #cases .notice").first.wait_for(timeout=15_000)


def case_id(tab: Any, title: str) -> str:
    cases = tab.request.get("/api/cases").json()
    return next(case["id"] for case in cases if case["title"] == title)


def test_cases_page_lists_the_test_case_with_its_patient(
    page: Any, people: dict[str, dict[str, str]]
) -> None:
    page.goto("/cases")
    wait_for_cases(page)
    row = page.locator("[data-testid=case-row]", has_text=TEST_CASE)

    text = row.inner_text()
    assert "19640823-3234" in text and "Test Testsson" in text
    assert TEST_ORG in text and "Vård" in text
    assert row.get_by_test_id("case-access").inner_text().startswith("Egen vårdgivare")
    assert row.locator("a.case-link").get_attribute("href") == f"/cases/{case_id(page, TEST_CASE)}"
    screenshot(page, "cases-list")


def test_protected_identity_shows_only_the_mask(
    page: Any, people: dict[str, dict[str, str]]
) -> None:
    page.goto("/cases")
    wait_for_cases(page)

    row = page.locator("[data-testid=case-row]", has_text="Skyddat fall")
    assert "Skyddad identitet" in row.inner_text()
    assert PROTECTED_NAME not in page.content()


def test_top_navigation_follows_the_pathologists_role(page: Any) -> None:
    page.goto("/cases")
    nav = page.locator("#nav")
    nav.get_by_test_id("nav-cases").wait_for()

    assert nav.get_by_test_id("nav-cases").get_attribute("aria-current") == "page"
    assert nav.get_by_test_id("nav-images").is_visible()
    assert nav.get_by_test_id("nav-audit").count() == 0
    assert nav.get_by_test_id("nav-my-log").count() == 0
    identity = page.get_by_test_id("signed-in-user").inner_text()
    assert "Patolog" in identity and TEST_ORG in identity
    assert page.get_by_test_id("sign-out").inner_text() == "Logga ut"
    assert [nav.get_by_test_id(key).inner_text() for key in ("nav-cases", "nav-images")] == [
        "Fall",
        "Bilder",
    ]


def test_case_page_shows_images_that_open_the_viewer(
    page: Any, demo_images: dict[str, str]
) -> None:
    page.goto(f"/cases/{case_id(page, TEST_CASE)}")
    page.get_by_test_id("case-image").first.wait_for(timeout=15_000)

    assert page.get_by_test_id("case-title").inner_text() == TEST_CASE
    slide = page.locator(f'[data-testid=case-image][data-image-id="{demo_images["slide"]}"]')
    assert slide.locator("a.open-link").get_attribute("href") == f"/viewer/{demo_images['slide']}"
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0",
        arg=slide.locator("img").element_handle(),
    )
    assert page.get_by_test_id("case-image").count() == 2
    screenshot(page, "case-detail")


def test_sharing_with_another_organisation_and_revoking_it(
    page: Any, page_as: PageAs, people: dict[str, dict[str, str]]
) -> None:
    cid = case_id(page, TEST_CASE)
    page.goto(f"/cases/{cid}")
    form = page.get_by_test_id("share-form")
    form.wait_for(timeout=15_000)
    form.get_by_test_id("share-kind").select_option("org")
    name_recipient(form, SECOND_ORG)
    form.get_by_test_id("share-purpose").select_option("second_opinion")
    form.get_by_test_id("share-submit").click()
    share = page.locator('[data-testid=share-row][data-active="true"]', has_text=SECOND_ORG)
    try:
        share.first.wait_for(timeout=30_000)
    except Exception as error:  # say what the page said instead of only timing out
        raise AssertionError(page.get_by_test_id("share-error").inner_text()) from error
    share = share.first
    assert "Förnyad bedömning" in share.inner_text()
    screenshot(page, "case-shared")

    colleague = page_as(people["other_pathologist"])
    colleague.goto("/cases")
    wait_for_cases(colleague)
    row = colleague.locator(f'[data-testid=case-row][data-case-id="{cid}"]')
    assert row.get_by_test_id("case-access").inner_text().startswith("Delat med dig")
    assert "19640823-3234" in row.inner_text()
    colleague.goto(f"/cases/{cid}")
    colleague.get_by_test_id("sharing-refused").wait_for()
    assert colleague.get_by_test_id("share-form").is_hidden()
    assert TEST_ORG in colleague.get_by_test_id("sharing-refused").inner_text()

    share.get_by_test_id("revoke-share").click()
    page.get_by_test_id("confirm-dialog").wait_for()
    page.get_by_test_id("confirm-ok").click()
    page.locator('[data-testid=share-row][data-active="false"]', has_text=SECOND_ORG).wait_for()
    assert "Återkallad" in page.get_by_test_id("shares").inner_text()
    assert page.get_by_test_id("share-status").inner_text() == (
        f"Delningen med {SECOND_ORG} är återkallad."
    )

    colleague.goto("/cases")
    wait_for_cases(colleague)
    assert colleague.locator(f'[data-testid=case-row][data-case-id="{cid}"]').count() == 0
    colleague.goto(f"/cases/{cid}")
    banner = colleague.get_by_test_id("error-banner")
    banner.wait_for()
    assert banner.inner_text().startswith("Fallet finns inte, eller så är det inte delat med dig:")


def test_a_refused_share_shows_the_servers_message(page: Any) -> None:
    page.goto(f"/cases/{case_id(page, TEST_CASE)}")
    form = page.get_by_test_id("share-form")
    form.wait_for(timeout=15_000)
    form.get_by_test_id("share-kind").select_option("org")
    name_recipient(form, "Ingenstans landsting")
    form.get_by_test_id("share-submit").click()

    error = page.get_by_test_id("share-error")
    error.wait_for()
    assert error.inner_text() == "There is no organisation called Ingenstans landsting."


def test_a_blocked_patient_shows_only_that_blocked_information_exists(
    page_as: PageAs, people: dict[str, dict[str, str]]
) -> None:
    tab = page_as(people["other_pathologist"])
    tab.goto("/cases")
    tab.get_by_test_id("lookup-input").fill(BLOCKED_PATIENT)
    tab.get_by_test_id("lookup-submit").click()

    tab.get_by_test_id("blocked-information").wait_for()
    result = tab.get_by_test_id("lookup-result").inner_text()
    assert swedish("patient.lookup.blocked") in result
    assert BLOCKED_NAME not in tab.content()
    assert tab.get_by_test_id("emergency-open").is_visible()


def test_an_invalid_personnummer_is_caught_before_asking(page: Any) -> None:
    page.goto("/cases")
    page.get_by_test_id("lookup-input").fill("880320-0018")
    page.get_by_test_id("lookup-submit").click()

    assert swedish("patient.pnr.check") in page.get_by_test_id("lookup-result").inner_text()


def open_emergency_dialog(tab: Any) -> Any:
    tab.goto("/cases")
    tab.get_by_test_id("lookup-input").fill(BLOCKED_PATIENT)
    tab.get_by_test_id("lookup-submit").click()
    tab.get_by_test_id("emergency-open").click()
    dialog = tab.get_by_test_id("emergency-dialog")
    dialog.wait_for()
    return dialog


def test_emergency_access_needs_a_reason_and_shows_its_expiry(
    page_as: PageAs, people: dict[str, dict[str, str]]
) -> None:
    """The dialog and the banner, with the server's answer stubbed (see the next test)."""
    until = (datetime.now(UTC) + timedelta(hours=4)).replace(microsecond=0)
    sent: list[Any] = []

    def grant(route: Any) -> None:
        sent.append(route.request.post_data_json)
        body = {"id": "g1", "patient": "p1", "reason": sent[-1]["reason"]}
        route.fulfill(status=201, json={**body, "until": until.isoformat()})

    tab = page_as(people["other_clinician"])
    tab.route("**/api/patients/*/emergency-access", grant)
    dialog = open_emergency_dialog(tab)
    text = dialog.inner_text()
    assert BLOCKED_DISPLAY in text and "loggas och flaggas för granskning" in text
    assert "spärr" in text and "Nödåtkomst" in text

    tab.get_by_test_id("emergency-confirm").click()
    reason_short = swedish("patient.emergency.reason_short", min=10)
    assert tab.get_by_test_id("emergency-error").inner_text() == reason_short
    tab.get_by_test_id("emergency-reason").fill("Medvetslös patient i akuten, tidigare PAD behövs")
    tab.get_by_test_id("emergency-confirm").click()
    confirm_needed = swedish("patient.emergency.confirm_needed")
    assert tab.get_by_test_id("emergency-error").inner_text() == confirm_needed
    assert sent == []
    screenshot(tab, "emergency-dialog")
    tab.get_by_test_id("emergency-understood").check()
    tab.get_by_test_id("emergency-confirm").click()

    banner = tab.get_by_test_id("emergency-banner")
    banner.wait_for()
    local = until.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")
    assert BLOCKED_DISPLAY in banner.inner_text() and local in banner.inner_text()
    assert local in tab.get_by_test_id("emergency-granted").inner_text()
    assert sent == [{"reason": "Medvetslös patient i akuten, tidigare PAD behövs"}]
    tab.goto("/")
    tab.get_by_test_id("emergency-banner").wait_for()  # on every page while the grant runs
    screenshot(tab, "emergency-banner")


def test_emergency_access_through_the_server(
    page_as: PageAs, people: dict[str, dict[str, str]]
) -> None:
    """The real grant: the patient's blocked case opens to this clinician alone, until a time."""
    tab = page_as(people["other_clinician"])
    open_emergency_dialog(tab)
    tab.get_by_test_id("emergency-reason").fill("Akut blödning, patienten opereras nu")
    tab.get_by_test_id("emergency-understood").check()
    tab.get_by_test_id("emergency-confirm").click()

    outcome = tab.locator("[data-testid=emergency-granted], [data-testid=emergency-error]:visible")
    outcome.first.wait_for(timeout=45_000)
    assert tab.get_by_test_id("emergency-granted").is_visible(), outcome.first.inner_text()
    row = tab.locator("[data-testid=case-row]", has_text="Spärrat fall")
    row.wait_for()
    assert re.match(r"Nödåtkomst\s*till", row.get_by_test_id("case-access").inner_text())
    assert tab.get_by_test_id("emergency-banner").is_visible()
