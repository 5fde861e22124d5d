"""The access log for log reviewers (entries, filters, CSV, alerts, the hash chain) and the
patient's own loggutdrag; both refuse everyone else. The pages speak Swedish by default
(test_audit_language.py switches to English)."""

import csv
import io
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import BLOCKED_PATIENT, screenshot
from tests.conftest import TEST_ORG

pytestmark = pytest.mark.browser

PageAs = Callable[[dict[str, str]], Any]
PATIENT = "19640823-3234"
SWEDISH_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def touch_the_test_patient(page: Any) -> None:
    """`tester` lists the cases and opens the test patient: entries for the log to show."""
    assert page.request.get("/api/cases").ok
    assert page.request.get(f"/api/patients/{PATIENT}").ok


def open_audit(tab: Any, query: str = "") -> None:
    tab.goto(f"/audit{query}")
    tab.locator("#entries table, #entries .notice").first.wait_for(timeout=15_000)


def column(tab: Any, index: int) -> list[str]:
    cells = tab.locator(f"[data-testid=audit-row] td:nth-child({index})")
    return [text.strip() for text in cells.all_inner_texts()]


def test_audit_page_shows_entries_and_an_intact_chain(
    page: Any, page_as: PageAs, people: dict[str, dict[str, str]]
) -> None:
    touch_the_test_patient(page)
    reviewer = page_as(people["reviewer"])
    open_audit(reviewer)

    status = reviewer.get_by_test_id("chain-status")
    status.locator("text=/Loggkedjan är obruten: [\\d\\s]+ poster/").wait_for()
    assert "chain-ok" in (status.get_attribute("class") or "")
    row = reviewer.locator("[data-testid=audit-row]", has_text=PATIENT).filter(has_text="tester")
    assert row.count() > 0
    first = row.first
    text = first.inner_text()
    assert TEST_ORG in text and "tillåten" in text
    time = first.get_by_test_id("audit-time")
    assert SWEDISH_TIME.match(time.inner_text().strip())
    assert (time.get_attribute("title") or "").endswith("UTC")
    assert reviewer.get_by_test_id("nav-audit").get_attribute("aria-current") == "page"
    assert reviewer.get_by_test_id("nav-cases").count() == 0
    screenshot(reviewer, "audit")


def test_filtering_by_patient_and_exporting_the_same_as_csv(
    page: Any, page_as: PageAs, people: dict[str, dict[str, str]]
) -> None:
    touch_the_test_patient(page)
    reviewer = page_as(people["reviewer"])
    open_audit(reviewer)
    reviewer.get_by_test_id("filter-patient").fill("640823-3234")
    reviewer.get_by_test_id("filter-submit").click()
    reviewer.wait_for_url(re.compile(r"/audit\?patient=640823-3234"))
    # The filtered table replaces the unfiltered one: wait until it has.
    reviewer.wait_for_function(
        """(patient) => {
          const cells = [...document.querySelectorAll("[data-testid=audit-row] td:nth-child(6)")];
          return cells.length > 0 && cells.every((cell) => cell.innerText.trim() === patient);
        }""",
        arg=PATIENT,
        timeout=15_000,
    )

    patients = column(reviewer, 6)
    assert patients and set(patients) == {PATIENT}
    href = reviewer.get_by_test_id("csv-link").get_attribute("href") or ""
    assert f"patient={PATIENT}" in href and "format=csv" in href
    export = reviewer.request.get(href)
    assert export.ok and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text())))
    assert rows and {row["patient"] for row in rows} == {PATIENT.replace("-", "")}


def test_refused_access_is_flagged_and_raises_an_alert(
    page_as: PageAs, people: dict[str, dict[str, str]]
) -> None:
    outsider = page_as(people["other_pathologist"])
    blocked = outsider.request.get(f"/api/patients/{BLOCKED_PATIENT}").json()
    assert blocked["blocked_information"] is True
    assert not {"personnummer", "name"} & blocked.keys()  # only that blocked information exists

    reviewer = page_as(people["reviewer"])
    open_audit(reviewer, "?user=andra.patolog")
    flagged = reviewer.locator('[data-testid=audit-row][data-flagged="true"]', has_text="nekad")
    flagged.first.wait_for()
    assert "row-flagged" in (flagged.first.get_attribute("class") or "")
    assert "19880320-0016" in flagged.first.inner_text()
    alerts = reviewer.get_by_test_id("alerts")
    alerts.locator('[data-rule="access_without_relation"]').first.wait_for()
    assert "andra.patolog" in alerts.inner_text()


def test_a_broken_chain_is_a_red_warning_naming_the_entry(
    page_as: PageAs, people: dict[str, dict[str, str]]
) -> None:
    reviewer = page_as(people["reviewer"])
    verdict = {
        "ok": False,
        "entries": 16,
        "broken_seq": 17,
        "reason": "its content does not match its hash",
    }
    reviewer.route("**/api/audit/verify", lambda route: route.fulfill(json=verdict))
    open_audit(reviewer)

    status = reviewer.get_by_test_id("chain-status")
    status.locator("text=/#17/").wait_for()
    assert "chain-broken" in (status.get_attribute("class") or "")
    assert "Loggkedjan är bruten vid post #17" in status.inner_text()
    assert "does not match its hash" in status.inner_text()  # the server's reason, as it is


def test_the_access_log_refuses_a_non_reviewer(page: Any) -> None:
    page.goto("/audit")
    refused = page.get_by_test_id("audit-refused")
    refused.wait_for()

    assert "logggranskare" in refused.inner_text()
    assert page.locator("[data-testid=audit-row]").count() == 0
    assert page.get_by_test_id("audit-filters").is_hidden()
    assert page.get_by_test_id("nav-audit").count() == 0


def test_the_patients_access_log_lists_the_test_organisation(
    page: Any, page_as: PageAs, people: dict[str, dict[str, str]]
) -> None:
    touch_the_test_patient(page)
    patient = page_as(people["patient"])
    patient.goto("/my/access-log")
    patient.get_by_test_id("access-row").first.wait_for(timeout=15_000)

    table = patient.get_by_test_id("access-log").inner_text()
    assert TEST_ORG in table and "Testpatologi" in table and "patolog" in table
    assert "För din vård" in table  # Swedish by default (the extract's catalogue)
    assert TEST_ORG in patient.get_by_test_id("log-summary").inner_text()
    assert "tester" not in table  # organisations and units, not staff names
    assert patient.get_by_test_id("nav-my-log").get_attribute("aria-current") == "page"
    assert patient.get_by_test_id("nav-audit").count() == 0
    screenshot(patient, "my-access-log")


def test_the_patients_access_log_refuses_staff(page: Any) -> None:
    page.goto("/my/access-log")
    refused = page.get_by_test_id("log-refused")
    refused.wait_for()
    assert "patient" in refused.inner_text()
    assert page.get_by_test_id("access-row").count() == 0
