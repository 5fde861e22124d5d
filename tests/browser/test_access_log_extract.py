"""The patient's loggutdrag page: grouped by day, care provider and unit, in plain words,
Swedish by default and English after the patient switches; no ids, no staff names; the PDF
download is a real PDF."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import SECOND_ORG, SECOND_UNIT, choose_language_for
from tests.conftest import TEST_ORG

# Yesterday 09:00 in Stockholm (in UTC; close enough to the hour for the test's purpose).
YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).replace(
    hour=8, minute=0, second=0, microsecond=0
)

pytestmark = pytest.mark.browser

PageAs = Callable[[dict[str, str]], Any]
PATIENT = "19640823-3234"


def touch_the_test_patient(page: Any) -> None:
    """`tester` (a pathologist of the test organisation) lists the cases and opens the test
    patient and an image of theirs: entries for the extract to show."""
    assert page.request.get("/api/cases").ok
    assert page.request.get(f"/api/patients/{PATIENT}").ok


@pytest.fixture(scope="module")
def yesterday(live_data: tuple[Path, dict[str, str]], people: dict[str, dict[str, str]]) -> None:
    """A day of the test patient's log as a second opinion makes it: listings, a folded
    viewing of the images, a second opinion from another region, emergency access, consent."""
    from sqlalchemy import select

    from app import create_app
    from app.audit import Access, append
    from app.models import Patient
    from tests.conftest import TEST_PATIENT, database

    data_dir, _images = live_data
    application = create_app(
        {"DATA_DIR": data_dir, "DATABASE_URL": f"sqlite:///{data_dir / 'samsyn.db'}"}
    )
    digits = "19" + TEST_PATIENT.replace("-", "")
    with database(application).session() as session:
        patient = session.scalar(select(Patient.id).where(Patient.personnummer == digits))

    def at(minutes: int) -> datetime:
        return YESTERDAY + timedelta(minutes=minutes)

    def access(minutes: int, **values: Any) -> Access:
        base: dict[str, Any] = {
            "resource": "case:0f0f0f0f",
            "action": "view",
            "outcome": "allowed",
            "user_id": "u-extract-test",
            "username": "olof",
            "user_name": "Olof Andersson",
            "role": "pathologist",
            "org_name": SECOND_ORG,
            "unit_name": SECOND_UNIT,
            "patient_id": patient,
            "purpose": "second_opinion",
            "basis": "share:5a5a5a5a",
            "at": at(minutes),
        }
        return Access(**{**base, **values})

    tiles = {"tiles": 312, "from": at(3).isoformat(), "to": at(17).isoformat()}
    append(
        database(application),
        [
            access(0, action="list", detail={"listings": 4}),
            access(1, action="list", detail={"listings": 2}),
            access(2),
            access(3, action="render", resource="image:9e9e9e9e", detail=tiles),
            access(25, action="report"),
            access(
                70,
                role="radiologist",
                org_name=TEST_ORG,
                unit_name="Akutröntgen",
                purpose="emergency",
                basis="emergency:7c7c7c7c",
                action="render",
                detail={"tiles": 40, "from": at(70).isoformat(), "to": at(74).isoformat()},
            ),
            access(120, basis="share:5a5a5a5a+consent:3b3b3b3b"),
        ],
    )


def open_extract(tab: Any) -> None:
    tab.goto("/my/access-log")
    tab.get_by_test_id("access-row").first.wait_for(timeout=15_000)


def test_the_extract_is_grouped_in_swedish_then_english(
    page: Any, page_as: PageAs, people: dict[str, dict[str, str]], yesterday: None
) -> None:
    touch_the_test_patient(page)
    patient = page_as(people["patient"])
    choose_language_for(patient.request, "sv")
    open_extract(patient)

    assert patient.evaluate("document.documentElement.lang") == "sv"
    assert patient.locator("h1").inner_text() == "Vem har öppnat dina uppgifter"
    day = patient.get_by_test_id("access-day").first
    heading = day.locator("h2").inner_text()
    assert heading.split()[-1] == day.get_attribute("data-day")  # "onsdag 2026-12-02"
    place = day.get_by_test_id("access-place").first.inner_text()
    assert TEST_ORG in place and "Testpatologi" in place
    text = patient.get_by_test_id("access-log").inner_text()
    assert "patolog" in text and "För din vård" in text
    assert "Öppnade ditt fall" in text or "Sökte fram dina uppgifter" in text
    listed = patient.locator("[data-testid=access-row][data-what=listed]")
    per_day_and_org = listed.count()
    assert per_day_and_org <= patient.get_by_test_id("access-day").count() * 3
    assert "tester" not in text and people["patient"]["username"] not in text
    assert not any(word in text for word in ("share:", "case:", "image:", "own_org"))
    assert "Tid" in text and "Varför" in text
    day_before = patient.locator(f"[data-testid=access-day][data-day='{YESTERDAY.date()}']")
    before = day_before.inner_text()
    assert SECOND_ORG in before and SECOND_UNIT in before
    assert "Gav ett utlåtande (second opinion)" in before
    assert "Visade bilderna" in before and "Vid nödåtkomst" in before and "radiolog" in before
    assert "För ett utlåtande (second opinion), med ditt samtycke" in before
    assert day_before.locator("[data-what=listed]").count() == 1  # six listings, one line
    assert not any(word in before for word in ("5a5a5a5a", "9e9e9e9e", "0f0f0f0f", "Olof"))
    assert patient.get_by_test_id("log-pdf").inner_text() == "Ladda ner som PDF"
    patient.screenshot(path="/tmp/extract-sv.png", full_page=True)

    choose_language_for(patient.request, "en")
    patient.reload()
    patient.get_by_test_id("access-row").first.wait_for(timeout=15_000)
    patient.locator("h1", has_text="Who has accessed your data").wait_for()
    assert patient.evaluate("document.documentElement.lang") == "en"
    english = patient.get_by_test_id("access-log").inner_text()
    assert "pathologist" in english and "For your care" in english
    assert "För din vård" not in english
    assert "Gave a second opinion" in english and "With your consent" not in english
    assert "with your consent" in english and "Under emergency access" in english
    assert patient.get_by_test_id("log-pdf").inner_text() == "Download as PDF"
    patient.screenshot(path="/tmp/extract-en.png", full_page=True)
    choose_language_for(patient.request, "sv")


def test_the_pdf_download_is_a_pdf_file(
    page: Any, page_as: PageAs, people: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    touch_the_test_patient(page)
    patient = page_as(people["patient"])
    open_extract(patient)
    with patient.expect_download() as info:
        patient.get_by_test_id("log-pdf").click()
    download = info.value
    assert download.suggested_filename.startswith("samsyn-loggutdrag-")
    saved = tmp_path / download.suggested_filename
    download.save_as(str(saved))
    assert saved.read_bytes().startswith(b"%PDF")


def test_staff_get_the_refusal_in_swedish(page: Any) -> None:
    page.goto("/my/access-log")
    refused = page.get_by_test_id("log-refused")
    refused.wait_for()
    assert "Bara för patienter" in (refused.text_content() or "")
    assert "inte inloggad som patient" in refused.inner_text()
    assert page.get_by_test_id("access-row").count() == 0
    assert page.get_by_test_id("log-pdf").is_hidden()
    response = page.request.get("/api/me/access-log.pdf")
    assert response.status == 403
