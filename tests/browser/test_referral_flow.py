"""A referral (remiss) across two regions in the browser, three users at once.

A pathologist of Region Kalmar län refers a case to a pathology unit of Region Östergötland
from the case page, copying the referring clinician. The pathologist in Linköping sees it
in the worklist (live), cannot open the slide before accepting, accepts, annotates, writes
the answer (meeting a stale-version conflict on the way), and signs it; the clinician's
open referral page shows the signed answer without reloading, and the requester gets a
notice on the page they are on. A declined referral opens nothing; a blinded one hides
the requester's marks and preliminary diagnosis until the answer is signed, then shows
both side by side.

Screenshots: /tmp/samsyn-screenshots/referral-*.png.
"""

import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser

PageAs = Callable[[dict[str, str]], Any]
PASSWORD = "remiss svar signerat"
KALMAR = "Region Kalmar län"
OSTERGOTLAND = "Region Östergötland"
KALMAR_PATHOLOGY = "Klinisk patologi Kalmar"
KALMAR_SURGERY = "Kirurgkliniken Kalmar"
LINKOPING_PATHOLOGY = "Klinisk patologi Linköping"
PATIENT = ("19121212-1212", "Tolvan Tolvansson")  # Skatteverket's published test number
SHOWN_PNR = "19121212-1212"
CASES = {
    "answered": "Hudbiopsi vänster skuldra",
    "declined": "Lymfkörtel axill",
    "blinded": "Sentinel node, blindad",
    "shown": "Hudbiopsi höger arm",  # referrals for the catalogue and CSP checks
}
LIVE_MS = 10_000  # a live change must reach the other browser well within this
HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class World:
    requester: dict[str, str]  # pathologist, Klinisk patologi Kalmar
    clinician: dict[str, str]  # clinician, Kirurgkliniken Kalmar (copied)
    reviewer: dict[str, str]  # pathologist, Klinisk patologi Linköping
    names: dict[str, str]
    cases: dict[str, str]  # key -> case id
    slides: dict[str, str]  # key -> image id


@pytest.fixture(scope="module")
def world(
    live_data: tuple[Path, dict[str, str]],
    synthetic_slide: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> World:
    """Two regions on the live server: Kalmar (a pathology unit and a surgical clinic, a
    patient with three cases of one slide each) and Östergötland (a pathology unit)."""
    from sqlalchemy import select

    from app import create_app
    from app.directory import add_org, add_patient, add_unit, add_user
    from app.importer import import_paths
    from app.models import Image
    from app.services import services
    from tests.conftest import database

    data_dir, _images = live_data
    application = create_app(
        {"DATA_DIR": data_dir, "DATABASE_URL": f"sqlite:///{data_dir / 'samsyn.db'}"}
    )
    people = {
        "requester": ("kalmar.patolog", KALMAR, "pathologist", KALMAR_PATHOLOGY, "Karin Patolog"),
        "clinician": ("kalmar.kirurg", KALMAR, "clinician", KALMAR_SURGERY, "Kalle Kirurg"),
        "reviewer": (
            "linkoping.patolog",
            OSTERGOTLAND,
            "pathologist",
            LINKOPING_PATHOLOGY,
            "Lena Granskare",
        ),
    }
    with database(application).session() as session:
        add_org(session, KALMAR, "SE0000000081", "region")
        add_org(session, OSTERGOTLAND, "SE0000000082", "region")
        add_unit(session, KALMAR_PATHOLOGY, KALMAR, "SE0000000081-P1")
        add_unit(session, KALMAR_SURGERY, KALMAR, "SE0000000081-K1")
        add_unit(session, LINKOPING_PATHOLOGY, OSTERGOTLAND, "SE0000000082-P1")
        for username, org, role, unit, name in people.values():
            add_user(
                session,
                username,
                org,
                role,
                PASSWORD,
                unit,
                name=name,
                hsa_id=f"{'SE0000000081' if org == KALMAR else 'SE0000000082'}-{username}",
            )
        add_patient(session, *PATIENT, KALMAR)
    folder = tmp_path_factory.mktemp("referral-slides")
    slides = {}
    for key, title in CASES.items():
        copy = folder / f"{key}.tif"
        shutil.copy(synthetic_slide, copy)
        lines = [
            line
            for line, _ok in import_paths(application, [str(copy)], (KALMAR, PATIENT[0], title))
        ]
        assert len(lines) == 1 and lines[0].startswith("imported "), lines
        slides[key] = lines[0].split()[1]
    with database(application).session() as session:
        cases = {
            key: str(session.scalar(select(Image.case_id).where(Image.id == image)))
            for key, image in slides.items()
        }
    services(application).epoch.bump()
    return World(
        **{key: {"username": value[0], "password": PASSWORD} for key, value in people.items()},
        names={key: value[4] for key, value in people.items()},
        cases=cases,
        slides=slides,
    )


# --- helpers --------------------------------------------------------------------------------


def call(
    tab: Any, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> Any:
    """A request with the tab's session and CSRF token, as the page itself would send it."""
    token = tab.request.get("/api/me").json()["csrf_token"]
    return tab.request.fetch(
        path, method=method, data=body, headers={"X-CSRF-Token": token, **(headers or {})}
    )


def send_referral(tab: Any, world: World, key: str, **extra: Any) -> str:
    body = {
        "case": world.cases[key],
        "to_unit": LINKOPING_PATHOLOGY,
        "question": "Metastas? Typ?",
        "priority": "routine",
        "copy": [world.clinician["username"]],
        **extra,
    }
    answer = call(tab, "POST", "/api/referrals", body)
    assert answer.status == 201, answer.text()
    return str(answer.json()["id"])


def annotate(tab: Any, image: str, label: str, x: int = 200) -> str:
    """A rectangle drawn through the page's own fetch (the viewer's REST path)."""
    feature = {
        "type": "Feature",
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[x, 200], [x + 300, 200], [x + 300, 420], [x, 420], [x, 200]]],
        },
        "properties": {"kind": "rectangle", "label": label},
    }
    answer = tab.evaluate(
        """async ([image, feature]) => {
          const me = await (await fetch("/api/me")).json();
          const response = await fetch(`/api/images/${image}/annotations`, {
            method: "POST", credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-CSRF-Token": me.csrf_token },
            body: JSON.stringify(feature),
          });
          return { status: response.status, body: await response.json() };
        }""",
        [image, feature],
    )
    assert answer["status"] == 201, answer
    return str(answer["body"]["id"])


def annotation_ids(tab: Any, image: str) -> set[str]:
    answer = tab.request.get(f"/api/images/{image}/annotations")
    assert answer.ok, answer.text()
    return {str(feature["id"]) for feature in answer.json()["features"]}


def status_of(tab: Any) -> str:
    return str(
        tab.get_by_test_id("referral-top")
        .get_by_test_id("referral-status")
        .get_attribute("data-status")
    )


def wait_for_status(tab: Any, status: str, timeout: int = LIVE_MS) -> None:
    tab.locator(f'#referral-top [data-testid=referral-status][data-status="{status}"]').wait_for(
        timeout=timeout
    )


def refused_in_viewer(tab: Any, image: str) -> str:
    """The viewer's own words when the server refuses the image."""
    tab.goto(f"/viewer/{image}")
    banner = tab.locator("[data-testid=error-banner]:visible").first
    banner.wait_for(timeout=15_000)
    return str(banner.inner_text())


def live(tab: Any) -> None:
    """Waits until the page's referral connection is up: only then can it hear a step."""
    tab.locator("html[data-referral-live=connected]").wait_for(state="attached", timeout=LIVE_MS)


def shot(tab: Any, name: str) -> None:
    """A full-page screenshot from the top (the referral's patient bar sticks to the top of
    the view, so a page scrolled down would show it mid-page)."""
    tab.evaluate("window.scrollTo(0, 0)")
    screenshot(tab, name)


def mark_page(tab: Any) -> None:
    """A mark that only survives as long as the page is not reloaded."""
    tab.evaluate("window.__notReloaded = true")


def not_reloaded(tab: Any) -> bool:
    return bool(tab.evaluate("window.__notReloaded === true"))


# --- the whole way, three users at once --------------------------------------------------------


def test_a_referral_is_sent_accepted_answered_and_reaches_the_clinician_live(
    page_as: PageAs, world: World
) -> None:
    requester = page_as(world.requester)
    clinician = page_as(world.clinician)
    reviewer = page_as(world.reviewer)
    slide = world.slides["answered"]

    # The Linköping pathologist keeps the worklist open while the referral is sent.
    reviewer.goto("/referrals")
    reviewer.get_by_test_id("referral-rows").locator(".notice, table").first.wait_for()
    live(reviewer)
    reviewer.locator("[data-testid=nav-referrals][data-waiting]").wait_for()
    before = int(reviewer.get_by_test_id("nav-referrals").get_attribute("data-waiting") or "")

    # Kalmar: the pathologist sends it from the case page, copying the clinician.
    requester.goto(f"/cases/{world.cases['answered']}")
    live(requester)
    requester.get_by_test_id("referral-send-open").click()
    form = requester.get_by_test_id("referral-send-form")
    form.get_by_test_id("referral-send-to").press_sequentially("Linköp", delay=30)
    option = form.locator(
        "[data-testid=recipient-option][data-kind=unit]", has_text=LINKOPING_PATHOLOGY
    )
    option.click()
    assert form.get_by_test_id("referral-send-kind").input_value() == "unit"
    form.get_by_test_id("referral-send-question").fill("Malignt melanom? Radikalt exciderat?")
    form.get_by_test_id("referral-send-history").fill("Växande pigmenterad lesion sedan ett år.")
    form.get_by_test_id("referral-send-preliminary").fill("Dysplastiskt nevus")
    form.get_by_test_id("referral-send-priority").select_option("urgent")
    due = (datetime.now(ZoneInfo("Europe/Stockholm")) + timedelta(days=2)).strftime(
        "%Y-%m-%d 16:00"
    )
    form.get_by_test_id("referral-send-due").fill(due)
    form.get_by_test_id("referral-send-copy").fill(world.clinician["username"])
    assert form.locator(
        f'[data-testid=referral-send-image][data-image-id="{slide}"] input'
    ).is_checked()
    shot(requester, "referral-1-send-form")
    form.get_by_test_id("referral-send-submit").click()
    sent = requester.get_by_test_id("referral-send-status")
    sent.wait_for()
    assert LINKOPING_PATHOLOGY in sent.inner_text()
    line = requester.locator("[data-testid=case-referral]").first
    line.wait_for()
    rid = str(line.get_attribute("data-referral-id"))
    assert line.get_attribute("data-status") == "sent"

    # Linköping: the row arrives live, with the waiting count beside "Remisser".
    row = reviewer.locator(f'[data-testid=referral-row][data-referral-id="{rid}"]')
    row.wait_for(timeout=LIVE_MS)
    text = row.inner_text()
    for expected in (
        PATIENT[1],
        SHOWN_PNR,
        CASES["answered"],
        "Malignt melanom? Radikalt exciderat?",
        "Brådskande",
        due,
        world.names["requester"],
        KALMAR_PATHOLOGY,
        KALMAR,
        LINKOPING_PATHOLOGY,
        "Skickad",
        "Ingen tilldelad",
    ):
        assert expected in text, (expected, text)
    count = reviewer.get_by_test_id("nav-referrals")
    reviewer.wait_for_function(
        "([el, n]) => Number(el.dataset.waiting) === n",
        arg=[count.element_handle(), before + 1],
        timeout=LIVE_MS,
    )
    assert reviewer.get_by_test_id("nav-referrals-count").inner_text() == str(before + 1)
    assert reviewer.locator(
        "[data-testid=status-count][data-status=sent] .chip-n"
    ).inner_text() == str(before + 1)
    shot(reviewer, "referral-2-incoming-worklist")

    # The clinician, only copied, finds it among the sent ones and keeps its page open.
    clinician.goto("/referrals?box=outgoing")
    clinician.locator(
        f'[data-testid=referral-row][data-referral-id="{rid}"] [data-testid=referral-link]'
    ).click()
    clinician.wait_for_url(f"**/referrals/{rid}")
    wait_for_status(clinician, "sent")
    assert "Inget utlåtande ännu" in clinician.get_by_test_id("report").inner_text()
    mark_page(clinician)
    live(clinician)

    # Before accepting, the slide stays shut: the viewer and the API refuse it.
    said = refused_in_viewer(reviewer, slide)
    assert said, "the viewer should say why the slide does not open"
    assert reviewer.request.get(f"/api/images/{slide}").status == 404
    assert reviewer.request.get(f"/iiif/3/{slide}/info.json").status == 404
    reviewer.goto(f"/referrals/{rid}")
    wait_for_status(reviewer, "sent")
    live(reviewer)
    assert reviewer.get_by_test_id("images-closed").is_visible()
    assert reviewer.get_by_test_id("referral-image-link").count() == 0
    top = reviewer.get_by_test_id("referral-top").inner_text()
    assert PATIENT[1] in top and SHOWN_PNR in top and CASES["answered"] in top
    shot(reviewer, "referral-3-before-accepting")

    reviewer.get_by_test_id("accept").click()
    wait_for_status(reviewer, "accepted")
    link = reviewer.get_by_test_id("referral-image-link")
    link.wait_for()
    assert link.get_attribute("href") == f"/viewer/{slide}"
    assert reviewer.request.get(f"/api/images/{slide}").status == 200
    wait_for_status(clinician, "accepted")  # live on the clinician's page
    reviewer.get_by_test_id("assign-me").click()
    reviewer.locator("[data-testid=referral-assignee]", has_text=world.names["reviewer"]).wait_for()

    # The slide opens in the viewer now; the reviewer marks what the answer refers to.
    viewer = reviewer.context.new_page()
    viewer.goto(f"/viewer/{slide}")
    viewer.wait_for_function(
        "window.samsyn && samsyn.viewer && samsyn.viewer.world.getItemCount() > 0"
        " && samsyn.viewer.world.getItemAt(0).getFullyLoaded()",
        timeout=30_000,
    )
    mark = annotate(viewer, slide, "Atypiska melanocyter")
    shot(viewer, "referral-4-slide-open-after-accepting")
    viewer.close()

    # The answer: findings, conclusion, a SNOMED CT code, the mark; saved as version 1.
    editor = reviewer.get_by_test_id("report-form")
    editor.get_by_text("Uppdatera markeringarna").click()
    editor.locator(f'[data-testid=report-annotation][data-annotation-id="{mark}"] input').check()
    editor.get_by_test_id("report-findings").fill(
        "Asymmetrisk melanocytär proliferation med pagetoid spridning."
    )
    editor.get_by_test_id("report-conclusion").fill("Malignt melanom in situ, radikalt exciderat.")
    editor.get_by_test_id("report-add-code").click()
    editor.get_by_test_id("report-code").fill("372244006")
    editor.get_by_test_id("report-code-display").fill("Malignt melanom")
    editor.get_by_test_id("report-save").click()
    reviewer.locator("[data-testid=report-status]", has_text="version 1").wait_for()
    wait_for_status(reviewer, "in_review")

    # Meanwhile version 2 is saved elsewhere: saving the page's text is a clear conflict.
    other = call(
        reviewer,
        "PUT",
        f"/api/referrals/{rid}/report",
        {"findings": "Annan text.", "conclusion": "Annan bedömning."},
        {"If-Match": '"1"'},
    )
    assert other.status == 200, other.text()
    editor.get_by_test_id("report-conclusion").fill(
        "Malignt melanom in situ (pT1a), radikalt exciderat."
    )
    editor.get_by_test_id("report-save").click()
    conflict = reviewer.get_by_test_id("report-conflict")
    conflict.wait_for()
    assert "version 2" in conflict.inner_text()
    assert "(pT1a)" in editor.get_by_test_id("report-conclusion").input_value()  # nothing lost
    shot(reviewer, "referral-5-conflict")
    conflict.get_by_test_id("conflict-keep-mine").click()
    reviewer.locator("[data-testid=report-status]", has_text="version 3").wait_for()
    assert conflict.is_hidden()

    # Signing, after a confirmation; read-only from then on with signer, time and hash.
    reviewer.get_by_test_id("report-sign").click()
    reviewer.get_by_test_id("confirm-dialog").get_by_test_id("confirm-ok").click()
    signed_at = time.monotonic()
    reviewer.get_by_test_id("report-signed").wait_for()
    wait_for_status(reviewer, "answered")
    assert world.names["reviewer"] in reviewer.get_by_test_id("report-signer").inner_text()
    assert HEX64.match(reviewer.get_by_test_id("report-hash").inner_text())
    assert reviewer.get_by_test_id("report-form").count() == 0
    shot(reviewer, "referral-6-signed")

    # The clinician's page shows the signed answer by itself, without a reload.
    answer = clinician.get_by_test_id("report-signed")
    answer.wait_for(timeout=LIVE_MS)
    seen_after = time.monotonic() - signed_at
    assert not_reloaded(clinician)
    wait_for_status(clinician, "answered")
    assert (
        clinician.get_by_test_id("report-conclusion").inner_text()
        == "Malignt melanom in situ (pT1a), radikalt exciderat."
    )
    assert "372244006" in clinician.get_by_test_id("report-codes").inner_text()
    assert world.names["reviewer"] in clinician.get_by_test_id("report-signer").inner_text()
    assert (
        clinician.get_by_test_id("report-hash").inner_text()
        == reviewer.get_by_test_id("report-hash").inner_text()
    )
    clinician.locator(
        "[data-testid=report-annotations] a", has_text="Atypiska melanocyter"
    ).wait_for()
    shot(clinician, "referral-7-clinician-sees-the-answer")
    print(f"signed answer on the clinician's open page after {seen_after * 1000:.0f} ms")

    # The requester, still on the case page, gets a notice linking to the answer.
    notice = requester.locator(f'[data-testid=referral-notice][data-referral-id="{rid}"]')
    notice.wait_for(timeout=LIVE_MS)
    assert (
        "Svar på remiss" in notice.inner_text() and world.names["reviewer"] in notice.inner_text()
    )
    assert notice.locator("a").get_attribute("href") == f"/referrals/{rid}"
    requester.locator(
        f'[data-testid=case-referral][data-referral-id="{rid}"][data-status=answered]'
    ).wait_for()
    shot(requester, "referral-8-requester-notice")

    # Signed means immutable; a correction is a signed addendum, seen live too.
    late = call(
        reviewer,
        "PUT",
        f"/api/referrals/{rid}/report",
        {"findings": "x", "conclusion": "y"},
        {"If-Match": '"3"'},
    )
    assert late.status == 409
    reviewer.get_by_test_id("addendum-text").fill(
        "Tillägg: immunfärgning SOX10 bekräftar melanocytärt ursprung."
    )
    reviewer.get_by_test_id("addendum-sign").click()
    reviewer.get_by_test_id("confirm-dialog").get_by_test_id("confirm-ok").click()
    clinician.locator("[data-testid=addendum]", has_text="SOX10").wait_for(timeout=LIVE_MS)
    assert not_reloaded(clinician)


# --- declining opens nothing ----------------------------------------------------------------


def test_a_declined_referral_opens_nothing(page_as: PageAs, world: World) -> None:
    requester = page_as(world.requester)
    reviewer = page_as(world.reviewer)
    slide = world.slides["declined"]
    rid = send_referral(requester, world, "declined", priority="acute")

    reviewer.goto(f"/referrals/{rid}")
    wait_for_status(reviewer, "sent")
    assert "Akut" in reviewer.get_by_test_id("referral-top").inner_text()
    reviewer.get_by_test_id("decline").click()
    reviewer.get_by_test_id("decline-confirm").click()
    error = reviewer.get_by_test_id("action-error")
    error.wait_for()
    assert "Skriv varför" in error.inner_text()
    assert status_of(reviewer) == "sent"  # nothing sent without a reason
    reviewer.get_by_test_id("decline-reason").fill("Lymfom: remittera till hematopatologin i Lund.")
    reviewer.get_by_test_id("decline-confirm").click()
    wait_for_status(reviewer, "declined")
    assert "hematopatologin" in reviewer.get_by_test_id("referral-reason").inner_text()
    assert reviewer.get_by_test_id("images-closed").is_visible()
    assert reviewer.get_by_test_id("referral-actions").get_by_role("button").count() == 0
    shot(reviewer, "referral-9-declined")

    assert reviewer.request.get(f"/api/images/{slide}").status == 404
    assert reviewer.request.get(f"/api/cases/{world.cases['declined']}").status == 404
    assert refused_in_viewer(reviewer, slide)

    requester.goto(f"/referrals/{rid}")
    wait_for_status(requester, "declined")
    assert "hematopatologin" in requester.get_by_test_id("referral-reason").inner_text()


# --- blinded: the requester's marks and diagnosis wait for the signed answer ------------------


def test_a_blinded_referral_hides_the_requesters_marks_until_signing(
    page_as: PageAs, world: World
) -> None:
    requester = page_as(world.requester)
    reviewer = page_as(world.reviewer)
    slide = world.slides["blinded"]
    requester.goto("/referrals")
    theirs = annotate(requester, slide, "Remittentens misstänkta metastas", x=600)
    rid = send_referral(
        requester, world, "blinded", blinded=True, preliminary="Metastas av malignt melanom"
    )
    accepted = call(reviewer, "POST", f"/api/referrals/{rid}/accept")
    assert accepted.status == 200, accepted.text()

    reviewer.goto(f"/referrals/{rid}")
    wait_for_status(reviewer, "accepted")
    facts = reviewer.get_by_test_id("referral-preliminary").inner_text()
    assert "Metastas" not in facts and "Blindad" in facts
    assert reviewer.get_by_test_id("referral-comparison").is_hidden()
    assert theirs not in annotation_ids(reviewer, slide)
    own = annotate(reviewer, slide, "Granskarens fynd")
    editor = reviewer.get_by_test_id("report-form")
    editor.get_by_text("Uppdatera markeringarna").click()
    editor.locator(f'[data-testid=report-annotation][data-annotation-id="{own}"]').wait_for()
    assert (
        editor.locator(f'[data-testid=report-annotation][data-annotation-id="{theirs}"]').count()
        == 0
    )
    shot(reviewer, "referral-10-blinded-before-signing")

    # In the viewer too: the reviewer's own mark is listed, the requester's is not drawn.
    viewer = reviewer.context.new_page()
    viewer_errors: list[Exception] = []
    viewer.on("pageerror", lambda error: viewer_errors.append(error))
    viewer.goto(f"/viewer/{slide}")
    viewer.wait_for_function("window.samsyn && samsyn.annotations && samsyn.annotations.ready")
    panel = viewer.locator("#info-panel")
    panel.get_by_text("Granskarens fynd").first.wait_for()
    assert "Remittentens misstänkta metastas" not in panel.inner_text()
    viewer.wait_for_function(
        "samsyn.viewer.world.getItemCount() > 0"
        " && samsyn.viewer.world.getItemAt(0).getFullyLoaded()",
        timeout=30_000,
    )
    shot(viewer, "referral-10b-blinded-viewer")
    viewer.close()
    print(f"blinded reviewer's viewer: JavaScript errors {viewer_errors}")
    assert viewer_errors == [], viewer_errors

    editor.get_by_test_id("report-findings").fill("Små tumörcellsgrupper i randsinus.")
    editor.get_by_test_id("report-conclusion").fill("Mikrometastas av malignt melanom.")
    reviewer.get_by_test_id("report-sign").click()  # saves first, then signs
    reviewer.get_by_test_id("confirm-dialog").get_by_test_id("confirm-ok").click()
    reviewer.get_by_test_id("report-signed").wait_for()

    comparison = reviewer.get_by_test_id("referral-comparison")
    comparison.wait_for()
    assert (
        comparison.get_by_test_id("comparison-preliminary").inner_text()
        == "Metastas av malignt melanom"
    )
    assert (
        comparison.get_by_test_id("comparison-conclusion").inner_text()
        == "Mikrometastas av malignt melanom."
    )
    assert theirs in annotation_ids(reviewer, slide)
    shot(reviewer, "referral-11-blinded-after-signing")


# --- the worklist: server order, filters, counts, overdue, live ---------------------------------


@pytest.fixture(scope="module")
def overdue(live_data: tuple[Path, dict[str, str]], page_as_module: PageAs, world: World) -> str:
    """A routine referral whose wish-by time has passed (set in the database: the server
    refuses a due time in the past)."""
    from app import create_app
    from app.models import Referral
    from tests.conftest import database

    requester = page_as_module(world.requester)
    due = (datetime.now(ZoneInfo("Europe/Stockholm")) + timedelta(hours=1)).isoformat()
    rid = send_referral(requester, world, "shown", due=due, question="Försenad fråga?")
    data_dir, _images = live_data
    application = create_app(
        {"DATA_DIR": data_dir, "DATABASE_URL": f"sqlite:///{data_dir / 'samsyn.db'}"}
    )
    with database(application).session() as session:
        referral = session.get(Referral, rid)
        assert referral is not None
        referral.due = datetime.now(ZoneInfo("UTC")) - timedelta(hours=2)
    return rid


def row_ids(tab: Any) -> list[str]:
    return [
        str(row.get_attribute("data-referral-id"))
        for row in tab.locator("[data-testid=referral-row]").all()
    ]


def wait_for_rows(tab: Any, loaded_before: str | None) -> None:
    """Until the worklist has drawn a fetch later than `loaded_before`."""
    tab.wait_for_function(
        "([el, before]) => el.dataset.loaded && el.dataset.loaded !== before",
        arg=[tab.locator("#worklist").element_handle(), loaded_before],
        timeout=LIVE_MS,
    )


def test_the_worklist_sorts_filters_counts_and_marks_the_overdue(
    page_as: PageAs, world: World, shown: dict[str, str], overdue: str
) -> None:
    reviewer = page_as(world.reviewer)
    requester = page_as(world.requester)
    reviewer.goto("/referrals")
    reviewer.locator("[data-testid=referral-row]").first.wait_for()
    live(reviewer)

    # In the server's order (the most pressing first), every row the API lists.
    listed = reviewer.request.get("/api/referrals?box=incoming").json()
    assert row_ids(reviewer) == [item["id"] for item in listed["referrals"]]
    late = reviewer.locator(f'[data-testid=referral-row][data-referral-id="{overdue}"]')
    assert late.get_attribute("data-overdue") == "true"
    assert late.get_by_test_id("referral-overdue").text_content() == "Försenad"  # words, not colour
    assert (
        reviewer.get_by_test_id("overdue-count").inner_text() == f"Försenade: {listed['overdue']}"
    )
    assert listed["counts"], listed
    for status, n in listed["counts"].items():
        chip = reviewer.locator(f"[data-testid=status-count][data-status={status}] .chip-n")
        assert chip.inner_text() == str(n)
    shot(reviewer, "referral-12-worklist-counts-overdue")

    # Filters: priority, a status chip, "assigned to me"; kept in the address.
    loaded = reviewer.locator("#worklist").get_attribute("data-loaded")
    reviewer.get_by_test_id("filter-priority").select_option("acute")
    wait_for_rows(reviewer, loaded)
    priorities = {
        row.get_attribute("data-priority") for row in reviewer.get_by_test_id("referral-row").all()
    }
    assert priorities == {"acute"} and "priority=acute" in reviewer.url
    loaded = reviewer.locator("#worklist").get_attribute("data-loaded")
    reviewer.get_by_test_id("filter-priority").select_option("")
    wait_for_rows(reviewer, loaded)
    loaded = reviewer.locator("#worklist").get_attribute("data-loaded")
    reviewer.locator("[data-testid=status-count][data-status=answered]").click()
    wait_for_rows(reviewer, loaded)
    statuses = {
        row.get_attribute("data-status") for row in reviewer.get_by_test_id("referral-row").all()
    }
    assert statuses == {"answered"}
    loaded = reviewer.locator("#worklist").get_attribute("data-loaded")
    reviewer.get_by_test_id("filter-mine").check()
    wait_for_rows(reviewer, loaded)
    mine = reviewer.get_by_test_id("referral-row").all()
    assert mine and all(world.names["reviewer"] in row.inner_text() for row in mine)
    reviewer.reload()
    reviewer.locator("[data-testid=referral-row]").first.wait_for()
    assert reviewer.get_by_test_id("filter-mine").is_checked()
    assert reviewer.get_by_test_id("filter-status").input_value() == "answered"

    # Live: the requester withdraws a new referral from its page; the row says so at once.
    reviewer.goto("/referrals?box=incoming&status=withdrawn")
    reviewer.get_by_test_id("referral-rows").locator(".notice, table").first.wait_for()
    live(reviewer)
    rid = send_referral(requester, world, "shown", question="Återkallas strax?")
    requester.goto(f"/referrals/{rid}")
    wait_for_status(requester, "sent")
    requester.get_by_test_id("withdraw").click()
    requester.get_by_test_id("confirm-dialog").get_by_test_id("confirm-ok").click()
    wait_for_status(requester, "withdrawn")
    reviewer.locator(
        f'[data-testid=referral-row][data-referral-id="{rid}"][data-status=withdrawn]'
    ).wait_for(timeout=LIVE_MS)
    assert (
        "Återkallad"
        in reviewer.locator("[data-testid=status-count][data-status=withdrawn]").inner_text()
    )


# --- every word from the catalogues, and the pages under the CSP --------------------------------


@pytest.fixture(scope="module")
def shown(page_as_module: PageAs, world: World) -> dict[str, str]:
    """Two referrals of the fourth case: one accepted (the reviewer's editor) and one answered
    with an addendum (the signed view)."""
    requester = page_as_module(world.requester)
    reviewer = page_as_module(world.reviewer)
    due = (datetime.now(ZoneInfo("Europe/Stockholm")) + timedelta(days=3)).isoformat()
    editing = send_referral(
        requester,
        world,
        "shown",
        priority="urgent",
        due=due,
        history="Tidigare melanom 2019.",
        preliminary="Nevus",
    )
    answered = send_referral(requester, world, "shown", priority="acute")
    for rid in (editing, answered):
        assert call(reviewer, "POST", f"/api/referrals/{rid}/accept").status == 200
    written = call(
        reviewer,
        "PUT",
        f"/api/referrals/{answered}/report",
        {
            "findings": "Benign intradermal nevus.",
            "conclusion": "Inget malignt.",
            "codes": [{"code": "62082005", "display": "Nevus"}],
        },
    )
    assert written.status == 200, written.text()
    assert call(reviewer, "POST", f"/api/referrals/{answered}/report/sign").status == 200
    assert (
        call(
            reviewer, "POST", f"/api/referrals/{answered}/report/addenda", {"text": "Tillägg."}
        ).status
        == 201
    )
    return {"editing": editing, "answered": answered}


@pytest.fixture(scope="module")
def page_as_module(chromium: Any, live_server: str) -> Any:
    """Signed-in tabs for the module's fixtures (their own contexts, closed at the end)."""
    contexts: list[Any] = []

    def open_(credentials: dict[str, str]) -> Any:
        context = chromium.new_context(
            base_url=live_server.rstrip("/"), timezone_id="Europe/Stockholm"
        )
        contexts.append(context)
        assert context.request.post("/api/session", data=credentials).ok
        return context.new_page()

    yield open_
    for context in contexts:
        context.close()


def referral_pages(
    world: World, shown: dict[str, str]
) -> dict[str, tuple[dict[str, str], str, Callable[[Any], None]]]:
    def ready_row(tab: Any) -> None:
        tab.locator("[data-testid=referral-row]").first.wait_for(timeout=15_000)

    def ready_editor(tab: Any) -> None:
        tab.get_by_test_id("report-form").wait_for(timeout=15_000)
        assert tab.get_by_test_id("decline").count() == 0  # accepted already: no declining

    def ready_signed(tab: Any) -> None:
        tab.get_by_test_id("report-signed").wait_for(timeout=15_000)
        tab.locator("[data-testid=addendum]").first.wait_for()

    def ready_send_form(tab: Any) -> None:
        tab.get_by_test_id("referral-send-open").click()
        tab.get_by_test_id("referral-send-form").wait_for()
        tab.locator("[data-testid=case-referral]").first.wait_for()

    return {
        "referral-worklist": (world.reviewer, "/referrals", ready_row),
        "referral-editor": (world.reviewer, f"/referrals/{shown['editing']}", ready_editor),
        "referral-signed": (world.clinician, f"/referrals/{shown['answered']}", ready_signed),
        "referral-send": (world.requester, f"/cases/{world.cases['shown']}", ready_send_form),
    }


@pytest.mark.parametrize("language", ["sv", "en"])
def test_every_text_of_the_referral_pages_is_in_the_catalogues(
    request: pytest.FixtureRequest,
    chromium: Any,
    app_url: str,
    world: World,
    shown: dict[str, str],
    language: str,
) -> None:
    from tests.browser.test_no_text_outside_catalogues import Visit, check_page, sign_in

    failures = []
    for name, (who, address, ready) in referral_pages(world, shown).items():
        context = chromium.new_context(
            base_url=app_url,
            viewport={"width": 1280, "height": 800},
            timezone_id="Europe/Stockholm",
            bypass_csp=True,
        )
        token = sign_in(context, who)
        visit = Visit(who["username"], lambda *_, at=address: at, ready)
        try:
            check_page(request, context, visit, name, language)
        except pytest.fail.Exception as failure:
            failures.append(str(failure))
        finally:
            context.request.put(
                "/api/me/language", data={"language": "sv"}, headers={"X-CSRF-Token": token}
            )
            context.close()
    assert not failures, "\n".join(failures)


def test_the_referral_pages_work_under_the_content_security_policy(
    chromium: Any, app_url: str, world: World, shown: dict[str, str]
) -> None:
    context = chromium.new_context(base_url=app_url)  # no bypass: the CSP in force
    assert context.request.post("/api/session", data=world.reviewer).ok
    tab = context.new_page()
    violations: list[str] = []
    errors: list[Exception] = []
    tab.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    tab.on("pageerror", lambda error: errors.append(error))
    try:
        for address in ("/referrals", f"/referrals/{shown['editing']}"):
            tab.goto(address)
            tab.wait_for_load_state("networkidle")
            live(tab)  # the websocket too
        tab.get_by_test_id("report-form").wait_for()
    finally:
        context.close()
    assert violations == [] and errors == [], (violations, errors)
