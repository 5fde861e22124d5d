"""The log reviewer's Granskningslogg, the patient's loggutdrag, the patient lookup and the
emergency-access banner speak Swedish by default and English once the user chooses it
(PUT /api/me/language from the page itself); their layouts hold at 1280 × 800 in both
languages (no toolbar wraps, no form spills out of its panel) and stay reachable at 800 px.

Each test sets the user's language back to Swedish: the users live on for the other tests."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import BLOCKED_PATIENT, choose_language

pytestmark = pytest.mark.browser

PageAs = Callable[[dict[str, str]], Any]
PATIENT = "19640823-3234"
SHOTS = Path("/tmp/shots")
DESKTOP = {"width": 1280, "height": 800}
NARROW = {"width": 800, "height": 800}
SWEDISH_WEEKDAYS = {"Måndag", "Tisdag", "Onsdag", "Torsdag", "Fredag", "Lördag", "Söndag"}
ENGLISH_WEEKDAYS = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}


@pytest.fixture
def swedish_afterwards(page_as: PageAs) -> Iterator[list[Any]]:
    """Tabs whose user's language is set back to Swedish after the test, pass or fail."""
    tabs: list[Any] = []
    yield tabs
    for tab in tabs:
        choose_language(tab, "sv")


def shot(tab: Any, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"B-{name}.png"), full_page=True)


def spaced(text: str) -> str:
    """Text with the no-break spaces of Swedish digit groups as plain spaces."""
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def lang(tab: Any) -> str:
    return str(tab.evaluate("document.documentElement.lang"))


# Layout probes, measured in the page.

# A bar is on one row when each child overlaps the others vertically: children of different
# heights centred on a line still share it; a wrapped child starts below the row above.
ONE_ROW = """(selector) => [...document.querySelectorAll(selector)]
  .filter((bar) => bar.offsetParent)
  .map((bar) => {
    const boxes = [...bar.children].filter((child) => child.getClientRects().length)
      .map((child) => child.getBoundingClientRect()).filter((r) => r.width && r.height)
      .sort((a, b) => a.top - b.top);
    let rows = boxes.length ? 1 : 0;
    let bottom = boxes[0]?.bottom;
    for (const box of boxes.slice(1)) {
      if (box.top >= bottom - 1) {
        rows += 1;
        bottom = box.bottom;
      } else bottom = Math.max(bottom, box.bottom);
    }
    return { bar: bar.className || bar.id, rows };
  }).filter((bar) => bar.rows > 1)"""

SPILLS = """(selector) => {
  const panel = document.querySelector(selector);
  const box = panel.getBoundingClientRect();
  return [...panel.querySelectorAll("input, select, button, a, label")]
    .filter((node) => node.offsetParent)
    .filter((node) => {
      const r = node.getBoundingClientRect();
      return r.left < box.left - 0.5 || r.right > box.right + 0.5;
    }).map((node) => node.outerHTML.slice(0, 80));
}"""

OFF_SCREEN = """(selector) => [...document.querySelectorAll(selector)]
  .filter((node) => node.offsetParent)
  .filter((node) => {
    const r = node.getBoundingClientRect();
    return r.left < 0 || r.right > innerWidth;
  }).map((node) => node.outerHTML.slice(0, 80))"""

PAGE_WIDER_THAN_WINDOW = "document.documentElement.scrollWidth > innerWidth"


def assert_desktop_layout(tab: Any, toolbars: str, panels: list[str]) -> None:
    wrapped = tab.evaluate(ONE_ROW, toolbars)
    assert wrapped == [], f"toolbars on more than one row: {wrapped}"
    for panel in panels:
        spilled = tab.evaluate(SPILLS, panel)
        assert spilled == [], f"{panel} spills: {spilled}"
    assert not tab.evaluate(PAGE_WIDER_THAN_WINDOW)


def assert_reachable_when_narrow(tab: Any, controls: str) -> None:
    tab.set_viewport_size(NARROW)
    assert not tab.evaluate(PAGE_WIDER_THAN_WINDOW), "the page scrolls sideways at 800 px"
    off = tab.evaluate(OFF_SCREEN, controls)
    assert off == [], f"out of reach at 800 px: {off}"


# The Granskningslogg.

AUDIT_TOOLBARS = ".topbar, .page-heading, .filter-actions, .rule-tabs"
AUDIT_CONTROLS = (
    "#filters input, #filters select, #filters button, #csv-link, .rule-tab, #alerts button"
)


def open_audit(tab: Any) -> None:
    tab.goto("/audit")
    tab.locator("#entries table, #entries .notice").first.wait_for(timeout=15_000)
    tab.locator("#chain-status.chain-ok, #chain-status.chain-broken").wait_for()
    tab.locator("#alerts .rule-tabs, #alerts p").first.wait_for()


def test_the_audit_page_in_swedish_then_english(
    page: Any,
    page_as: PageAs,
    people: dict[str, dict[str, str]],
    swedish_afterwards: list[Any],
) -> None:
    assert page.request.get(f"/api/patients/{PATIENT}").ok  # an entry with a patient
    reviewer = page_as(people["reviewer"])
    reviewer.set_viewport_size(DESKTOP)
    swedish_afterwards.append(reviewer)
    open_audit(reviewer)

    assert lang(reviewer) == "sv"
    assert reviewer.title() == "Granskningslogg · samsyn"
    assert reviewer.locator("h1").inner_text() == "Granskningslogg"
    assert "Loggkedjan är obruten" in reviewer.get_by_test_id("chain-status").inner_text()
    headings = reviewer.locator("#entries th").all_inner_texts()
    wanted = ["Tid", "Användare", "Åtgärd", "Utfall"]
    assert [heading for heading in headings if heading in wanted] == wanted
    rows = reviewer.locator("[data-testid=audit-row]", has_text=PATIENT).first.inner_text()
    assert "tillåten" in rows and "allowed" not in rows
    assert reviewer.get_by_test_id("filter-submit").inner_text() == "Sök"
    assert reviewer.get_by_test_id("filter-patient").get_attribute("placeholder") == "ÅÅÅÅMMDD-NNNN"
    option = reviewer.locator("#filters [name=action] option[value=emergency_access]")
    assert option.inner_text() == "öppnade nödåtkomst"
    limit = reviewer.locator("#filters [name=limit] option[value='1000']")
    assert spaced(limit.inner_text()) == "1 000"
    assert_desktop_layout(reviewer, AUDIT_TOOLBARS, ["[aria-labelledby=filter-title]"])
    shot(reviewer, "audit-sv-1280")
    reviewer.get_by_test_id("filter-patient").fill("880320-0018")
    reviewer.get_by_test_id("filter-submit").click()
    error = reviewer.get_by_test_id("filter-error")
    assert error.inner_text() == "Patient: Kontrollsiffran stämmer inte: kontrollera numret."
    reviewer.get_by_test_id("filter-patient").fill("")
    assert reviewer.get_by_test_id("filter-from").get_attribute("placeholder") == "ÅÅÅÅ-MM-DD TT:MM"
    reviewer.get_by_test_id("filter-from").fill("2026-02-30 10:00")  # no such day
    reviewer.get_by_test_id("filter-submit").click()
    assert error.inner_text().startswith("Från (svensk tid): skriv tiden som ÅÅÅÅ-MM-DD TT:MM")
    reviewer.get_by_test_id("filter-from").fill("2000-01-01 07:00")  # ISO, 24-hour: accepted
    reviewer.get_by_test_id("filter-submit").click()
    reviewer.wait_for_url("**/audit?from=2000-01-01+07%3A00")
    assert error.is_hidden()
    assert_reachable_when_narrow(reviewer, AUDIT_CONTROLS)
    shot(reviewer, "audit-sv-800")

    choose_language(reviewer, "en")
    reviewer.set_viewport_size(DESKTOP)
    open_audit(reviewer)
    assert lang(reviewer) == "en"
    assert reviewer.title() == "Access log · samsyn"
    assert reviewer.locator("h1").inner_text() == "Access log"
    assert "The log chain is intact" in reviewer.get_by_test_id("chain-status").inner_text()
    headings = reviewer.locator("#entries th").all_inner_texts()
    assert {"Time", "User", "Action", "Outcome"} <= set(headings) and "Tid" not in headings
    rows = reviewer.locator("[data-testid=audit-row]", has_text=PATIENT).first.inner_text()
    assert "allowed" in rows and "tillåten" not in rows
    assert reviewer.get_by_test_id("filter-submit").inner_text() == "Search"
    assert reviewer.get_by_test_id("filter-patient").get_attribute("placeholder") == "YYYYMMDD-NNNN"
    assert limit.inner_text() == "1,000"
    assert_desktop_layout(reviewer, AUDIT_TOOLBARS, ["[aria-labelledby=filter-title]"])
    shot(reviewer, "audit-en-1280")
    reviewer.get_by_test_id("filter-patient").fill("880320-0018")
    reviewer.get_by_test_id("filter-submit").click()
    assert "The check digit does not match" in reviewer.get_by_test_id("filter-error").inner_text()
    assert_reachable_when_narrow(reviewer, AUDIT_CONTROLS)
    shot(reviewer, "audit-en-800")


TABLE_FITS = """(() => {
  const box = document.querySelector("#entries");
  return box.scrollWidth <= box.clientWidth;
})()"""


def tab_rows(tab: Any) -> list[Any]:
    """The rule tabs when they wrap at 1280 px."""
    return tab.evaluate(ONE_ROW, ".rule-tabs")


def test_the_audit_alerts_and_a_broken_chain_in_both_languages(
    page_as: PageAs, people: dict[str, dict[str, str]], swedish_afterwards: list[Any]
) -> None:
    outsider = page_as(people["other_pathologist"])
    assert outsider.request.get(f"/api/patients/{BLOCKED_PATIENT}").ok  # refused at heart: an alert
    reviewer = page_as(people["reviewer"])
    reviewer.set_viewport_size(DESKTOP)
    swedish_afterwards.append(reviewer)
    verdict = {"ok": False, "entries": 16, "broken_seq": 17, "reason": "its hash does not match"}
    reviewer.route("**/api/audit/verify", lambda route: route.fulfill(json=verdict))
    open_audit(reviewer)

    chain = reviewer.get_by_test_id("chain-status").inner_text()
    assert chain.startswith("⚠ Loggkedjan är bruten vid post #17") and "#17" in chain
    refused = reviewer.locator("[data-testid=alert-rule][data-rule=access_without_relation]")
    assert refused.inner_text().startswith("Nekad åtkomst")
    refused.click()
    assert "vårdrelation" in reviewer.locator(".rule-help").inner_text()
    assert "nekad" in reviewer.locator("[data-testid=alert]").first.inner_text()
    assert reviewer.locator("[data-testid=alert] button").first.inner_text() == "Visa poster"
    assert tab_rows(reviewer) == []
    assert reviewer.evaluate(TABLE_FITS), "the entries need sideways scrolling at 1280 px"
    shot(reviewer, "audit-alerts-sv-1280")

    choose_language(reviewer, "en")
    open_audit(reviewer)
    chain = reviewer.get_by_test_id("chain-status").inner_text()
    assert chain.startswith("⚠ The log chain is broken at entry #17")
    refused = reviewer.locator("[data-testid=alert-rule][data-rule=access_without_relation]")
    assert refused.inner_text().startswith("Refused access")
    refused.click()
    assert "care relation" in reviewer.locator(".rule-help").inner_text()
    assert reviewer.locator("[data-testid=alert] button").first.inner_text() == "Show entries"
    assert tab_rows(reviewer) == []
    assert reviewer.evaluate(TABLE_FITS), "the entries need sideways scrolling at 1280 px"
    shot(reviewer, "audit-alerts-en-1280")


# The patient's loggutdrag.


def open_extract(tab: Any) -> None:
    tab.goto("/my/access-log")
    tab.locator("[data-testid=access-row], [data-testid=log-summary]").first.wait_for()
    tab.get_by_test_id("log-pdf").wait_for()


def test_the_extract_in_swedish_then_english_and_its_layout(
    page: Any, page_as: PageAs, people: dict[str, dict[str, str]], swedish_afterwards: list[Any]
) -> None:
    assert page.request.get(f"/api/patients/{PATIENT}").ok  # something for the extract to show
    patient = page_as(people["patient"])
    patient.set_viewport_size(DESKTOP)
    swedish_afterwards.append(patient)
    open_extract(patient)

    assert lang(patient) == "sv"
    assert patient.title() == "Vem har öppnat mina uppgifter · samsyn"
    assert patient.locator(".lead").inner_text().startswith("Det här är ditt loggutdrag")
    assert patient.get_by_test_id("log-pdf").inner_text() == "Ladda ner som PDF"
    day = patient.get_by_test_id("access-day").first
    heading = day.locator("h2").inner_text()
    assert heading.split()[0] in SWEDISH_WEEKDAYS
    assert heading.split()[-1] == day.get_attribute("data-day")
    assert day.locator("th").first.inner_text() == "Tid"
    assert "Vårdgivare:" in day.get_by_test_id("access-place").first.inner_text()
    assert_desktop_layout(patient, ".topbar", ["main"])
    shot(patient, "extract-sv-1280")
    assert_reachable_when_narrow(patient, "#log-pdf, main h1")
    shot(patient, "extract-sv-800")

    choose_language(patient, "en")
    patient.set_viewport_size(DESKTOP)
    open_extract(patient)
    assert lang(patient) == "en"
    assert patient.title() == "Who has accessed my data · samsyn"
    assert patient.get_by_test_id("log-pdf").inner_text() == "Download as PDF"
    day = patient.get_by_test_id("access-day").first
    heading = day.locator("h2").inner_text()
    assert heading.split()[0] in ENGLISH_WEEKDAYS
    assert day.locator("th").first.inner_text() == "Time"
    assert "Care provider:" in day.get_by_test_id("access-place").first.inner_text()
    assert_desktop_layout(patient, ".topbar", ["main"])
    shot(patient, "extract-en-1280")
    assert_reachable_when_narrow(patient, "#log-pdf, main h1")
    shot(patient, "extract-en-800")


# The patient lookup and the emergency-access banner on the cases page.


def grant_in_this_tab(tab: Any, patient: str, hours: int) -> str:
    """A running grant as patient-lookup.js remembers it (no real nödåtkomst is opened)."""
    until = (datetime.now(UTC) + timedelta(hours=hours, minutes=5)).replace(microsecond=0)
    tab.evaluate(
        """([patient, until]) => fetch("/api/me").then((r) => r.json()).then((me) => {
          const grants = { [me.user.id]: [{ id: "g-language-test", patient, until }] };
          sessionStorage.setItem("samsyn.emergency", JSON.stringify(grants));
        })""",
        [patient, until.isoformat()],
    )
    return until.isoformat()


def test_the_lookup_and_the_emergency_banner_in_both_languages(
    page_as: PageAs, people: dict[str, dict[str, str]], swedish_afterwards: list[Any]
) -> None:
    tab = page_as(people["other_pathologist"])
    tab.set_viewport_size(DESKTOP)
    swedish_afterwards.append(tab)
    tab.goto("/cases")
    grant_in_this_tab(tab, "19880320-0016", hours=50)
    tab.reload()

    banner = tab.get_by_test_id("emergency-banner")
    banner.wait_for()
    assert lang(tab) == "sv"
    text = banner.text_content() or ""
    assert "Nödåtkomst pågår" in text and "Patient 19880320-0016 till 20" in text
    assert "2 dagar kvar" in text and "granskas av en logggranskare" in text
    tab.get_by_test_id("lookup-input").fill("880320-0018")
    tab.get_by_test_id("lookup-submit").click()
    result = tab.get_by_test_id("lookup-result")
    assert result.inner_text() == "Kontrollsiffran stämmer inte: kontrollera numret."
    tab.get_by_test_id("lookup-input").fill(BLOCKED_PATIENT)
    tab.get_by_test_id("lookup-submit").click()
    tab.get_by_test_id("blocked-information").wait_for()
    blocked = result.locator("[data-testid=blocked-information]")
    assert blocked.inner_text() == "Det finns spärrad information (spärr)."
    assert tab.get_by_test_id("emergency-open").inner_text() == "Nödåtkomst…"
    assert "Bara när patienten behöver vård nu" in result.inner_text()
    assert tab.evaluate(ONE_ROW, ".emergency-banner, .lookup-actions") == []
    shot(tab, "lookup-sv-1280")
    tab.get_by_test_id("emergency-open").click()
    tab.get_by_test_id("emergency-confirm").click()
    assert "minst 10 tecken" in tab.get_by_test_id("emergency-error").inner_text()
    tab.get_by_test_id("emergency-reason").fill("Medvetslös patient i akuten, tidigare PAD behövs")
    tab.get_by_test_id("emergency-confirm").click()
    assert "loggas och granskas" in tab.get_by_test_id("emergency-error").inner_text()
    shot(tab, "emergency-dialog-sv-1280")
    tab.keyboard.press("Escape")

    choose_language(tab, "en")
    tab.reload()
    banner.wait_for()
    assert lang(tab) == "en"
    text = banner.text_content() or ""
    assert "Emergency access active" in text and "Patient 19880320-0016 until 20" in text
    assert "2 days left" in text and "Nödåtkomst" not in text
    tab.get_by_test_id("lookup-input").fill("880320-0018")
    tab.get_by_test_id("lookup-submit").click()
    assert result.inner_text() == "The check digit does not match: please check the number."
    tab.get_by_test_id("lookup-input").fill(BLOCKED_PATIENT)
    tab.get_by_test_id("lookup-submit").click()
    tab.get_by_test_id("blocked-information").wait_for()
    assert blocked.inner_text() == "Blocked information exists (spärr)."
    assert tab.get_by_test_id("emergency-open").inner_text() == "Emergency access…"
    tab.get_by_test_id("emergency-open").click()
    tab.get_by_test_id("emergency-confirm").click()
    assert "at least 10 characters" in tab.get_by_test_id("emergency-error").inner_text()
    tab.keyboard.press("Escape")
    shot(tab, "lookup-en-1280")
    assert_reachable_when_narrow(
        tab, "#lookup-form input, #lookup-form button, .emergency-banner *"
    )
    shot(tab, "lookup-en-800")


def test_the_refusal_in_both_languages_points_a_patient_to_the_extract(
    page_as: PageAs, people: dict[str, dict[str, str]], swedish_afterwards: list[Any]
) -> None:
    patient = page_as(people["patient"])
    patient.set_viewport_size(DESKTOP)
    swedish_afterwards.append(patient)
    patient.goto("/audit")
    refused = patient.get_by_test_id("audit-refused")
    refused.wait_for()
    assert lang(patient) == "sv"
    assert refused.locator("h2").text_content() == "Bara för logggranskare"
    text = refused.inner_text()
    assert "Du är inloggad som Test Testsson" in text and "logggranskare" in text
    assert refused.get_by_role("link").inner_text() == "Öppna ditt loggutdrag"
    assert refused.get_by_role("link").get_attribute("href") == "/my/access-log"
    shot(patient, "audit-refused-sv-1280")

    choose_language(patient, "en")
    patient.reload()
    refused.wait_for()
    assert lang(patient) == "en"
    assert refused.locator("h2").text_content() == "Only for log reviewers"
    assert "You are signed in as Test Testsson" in refused.inner_text()
    assert refused.get_by_role("link").inner_text() == "Open your log extract"
