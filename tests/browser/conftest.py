"""Browser fixtures: Debian's Chromium, driven by Playwright, against a live samsyn server.

Needs from tests/conftest.py: `live_server` (base URL of a running samsyn whose database holds
a readable synthetic slide and an unreadable one), `demo_images` ({"slide": id, "broken": id})
and `live_login` ({"username", "password"} of a pathologist who may see both).
"""

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
VIEWPORT = {"width": 1400, "height": 860}


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless; never a browser downloaded by Playwright."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def app_url(live_server: str) -> str:
    """The running samsyn server, without a trailing slash."""
    return live_server.rstrip("/")


@pytest.fixture
def page(chromium: Any, app_url: str, live_login: dict[str, str]) -> Iterator[Any]:
    """A signed-in browser tab on samsyn; fails the test on any uncaught JavaScript error."""
    # Playwright's polling predicates evaluate strings, which samsyn's CSP forbids on every
    # page; test_content_security_policy.py runs the pages with the CSP in force.
    context = chromium.new_context(base_url=app_url, viewport=VIEWPORT, bypass_csp=True)
    response = context.request.post("/api/session", data=live_login)
    assert response.ok, f"sign-in failed: {response.status} {response.text()}"
    tab = context.new_page()
    errors: list[Exception] = []
    tab.on("pageerror", lambda error: errors.append(error))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def open_viewer(page: Any) -> Callable[[str], dict[str, Any]]:
    """Opens /viewer/<id>, waits until every tile in view is drawn, returns the image metadata."""

    def open_(image_id: str) -> dict[str, Any]:
        page.goto(f"/viewer/{image_id}")
        page.wait_for_function(
            "window.samsyn && samsyn.viewer.world.getItemCount() > 0"
            " && samsyn.viewer.world.getItemAt(0).getFullyLoaded()",
            timeout=60_000,
        )
        return page.evaluate("samsyn.image")

    return open_


# People and patients beyond the pathologist `tester`, for the cases and access-log pages.

SECOND_ORG = "Andraregionen"
SECOND_UNIT = "Andra patologi"
PEOPLE_PASSWORD = "another horse battery"
BLOCKED_PATIENT = "880320-0016"  # a spärr set by the test organisation
PROTECTED_PATIENT = "811228-9874"  # skyddad identitet
PROTECTED_NAME = "Hemlig Hemligsson"
BLOCKED_NAME = "Spärr Spärrsson"


@pytest.fixture(scope="session")
def people(live_data: tuple[Path, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Users added to the live server's database: a log reviewer and a patient (640823-3234)
    of the test organisation, a pathologist and a clinician of a second organisation; and two
    more patients of the test organisation with a case each: one protected identity, one
    with a spärr, whose case is shared to the second organisation.
    Keys: reviewer, patient, other_pathologist, other_clinician."""
    from sqlalchemy import select

    from app import create_app
    from app.directory import add_org, add_patient, add_unit, add_user
    from app.models import Block, Case, Organisation, Share
    from app.services import services
    from tests.conftest import TEST_ORG, TEST_PATIENT, database

    data_dir, _images = live_data
    application = create_app(
        {"DATA_DIR": data_dir, "DATABASE_URL": f"sqlite:///{data_dir / 'samsyn.db'}"}
    )
    users = {
        "reviewer": ("granskare", TEST_ORG, "log_reviewer", None, "Greta Granskare", None),
        "patient": ("testpatient", TEST_ORG, "patient", None, "Test Testsson", TEST_PATIENT),
        "other_pathologist": (
            "andra.patolog",
            SECOND_ORG,
            "pathologist",
            SECOND_UNIT,
            "Olof Andersson",
            None,
        ),
        "other_clinician": (
            "andra.kliniker",
            SECOND_ORG,
            "clinician",
            SECOND_UNIT,
            "Karl Klinik",
            None,
        ),
    }
    with database(application).session() as session:
        add_org(session, SECOND_ORG, "SE0000000002", "region")
        add_unit(session, SECOND_UNIT, SECOND_ORG, "SE0000000002-P1")
        for username, org, role, unit, name, patient in users.values():
            add_user(
                session,
                username,
                org,
                role,
                PEOPLE_PASSWORD,
                unit,
                hsa_id=f"SE000000000{1 if org == TEST_ORG else 2}-{username}",
                name=name,
                patient=patient,
            )
        protected = add_patient(
            session, PROTECTED_PATIENT, PROTECTED_NAME, TEST_ORG, protected=True
        )
        blocked = add_patient(session, BLOCKED_PATIENT, BLOCKED_NAME, TEST_ORG)
        org = session.scalar(select(Organisation).where(Organisation.name == TEST_ORG))
        assert org is not None
        session.add(
            Case(title="Skyddat fall", patient_id=protected.id, org_id=org.id, purpose="care")
        )
        blocked_case = Case(
            title="Spärrat fall", patient_id=blocked.id, org_id=org.id, purpose="care"
        )
        session.add(blocked_case)
        session.flush()
        # shared to the second organisation, whose users thus have a relation the spärr hides
        second = session.scalar(select(Organisation).where(Organisation.name == SECOND_ORG))
        assert second is not None
        session.add(
            Share(
                case_id=blocked_case.id,
                org_id=second.id,
                purpose="second_opinion",
                until=datetime.now(UTC) + timedelta(days=30),
            )
        )
        session.add(Block(patient_id=blocked.id, org_id=org.id, reason="patientens begäran"))
    services(application).epoch.bump()
    return {
        key: {"username": value[0], "password": PEOPLE_PASSWORD} for key, value in users.items()
    }


@pytest.fixture
def page_as(chromium: Any, app_url: str) -> Iterator[Callable[[dict[str, str]], Any]]:
    """Opens a signed-in tab for given credentials; each in its own browser context. Fails the
    test on any uncaught JavaScript error in any of them."""
    contexts: list[Any] = []
    errors: list[Exception] = []

    def open_(credentials: dict[str, str]) -> Any:
        context = chromium.new_context(
            base_url=app_url, viewport=VIEWPORT, timezone_id="Europe/Stockholm", bypass_csp=True
        )
        contexts.append(context)
        response = context.request.post("/api/session", data=credentials)
        assert response.ok, f"sign-in failed: {response.status} {response.text()}"
        tab = context.new_page()
        tab.on("pageerror", lambda error: errors.append(error))
        return tab

    yield open_
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def choose_language(tab: Any, language: str) -> None:
    """The user's language chosen as the page's own switch does it: PUT /api/me/language
    from within the page, with the session's CSRF token."""
    if not tab.url.startswith("http"):
        tab.goto("/static/i18n/sv.json")  # any page of samsyn's origin
    status = tab.evaluate(
        """async (language) => {
          const me = await (await fetch("/api/me", { credentials: "same-origin" })).json();
          const answer = await fetch("/api/me/language", {
            method: "PUT",
            credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-CSRF-Token": me.csrf_token },
            body: JSON.stringify({ language }),
          });
          return answer.status;
        }""",
        language,
    )
    assert status == 200, f"PUT /api/me/language answered {status}"


def choose_language_for(requests: Any, language: str) -> None:
    """The same through a browser context's own requests (`context.request`), before any
    page is open or after the last one closed."""
    token = requests.get("/api/me").json()["csrf_token"]
    answer = requests.put(
        "/api/me/language", data={"language": language}, headers={"X-CSRF-Token": token}
    )
    assert answer.ok, answer.text()


def screenshot(tab: Any, name: str) -> None:
    """A full-page PNG under /tmp/samsyn-screenshots for a human to look at."""
    folder = Path("/tmp/samsyn-screenshots")
    folder.mkdir(exist_ok=True)
    tab.screenshot(path=str(folder / f"{name}.png"), full_page=True)


# Radiology series for the series viewer (test_series_viewer.py).


def _import_series(
    live_data: tuple[Path, dict[str, str]],
    paths: list[Path],
    owner: tuple[str, str, str] | None = None,
) -> list[str]:
    """Import folders or files into the live server's database (into the test patient's
    case unless `owner` names another); their image ids, in order. The running server sees
    new images at once."""
    from app import create_app
    from app.importer import import_paths
    from tests.conftest import TEST_CASE, TEST_ORG, TEST_PATIENT

    data_dir, _images = live_data
    application = create_app(
        {"DATA_DIR": data_dir, "DATABASE_URL": f"sqlite:///{data_dir / 'samsyn.db'}"}
    )
    lines = [
        line
        for line, _ok in import_paths(
            application,
            [str(path) for path in paths],
            owner or (TEST_ORG, TEST_PATIENT, TEST_CASE),
            accept_mismatch=True,  # real samples name other people: imported with the warning
        )
    ]
    assert all(line.startswith("imported ") for line in lines), lines
    assert len(lines) == len(paths), lines
    return [line.split()[1] for line in lines]


@pytest.fixture(scope="session")
def series_images(
    live_data: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Synthetic CT series on the live server: "ct" (300 axial slices of 512 x 512, 0.7 mm
    pixels, 1 mm apart, file window 40/400), "gap" (30 slices of 128 x 128 with three
    missing in the middle) and "damaged" (12 slices of 128 x 128 whose sixth file was
    deleted after import)."""
    from tiles.radiology.synthetic import make_ct_series

    root = tmp_path_factory.mktemp("series")
    ct = root / "ct"
    make_ct_series(ct, slices=300, size=512)
    gap = root / "gap"
    make_ct_series(gap, slices=30, size=128, seed=7, patient_id="SYNTHETIC-GAP")
    for index in (12, 13, 14):
        (gap / f"CT{index:04d}.dcm").unlink()
    damaged = root / "damaged"
    make_ct_series(damaged, slices=12, size=128, seed=8, patient_id="SYNTHETIC-DAMAGED")
    ids = _import_series(live_data, [ct, gap, damaged])
    (damaged / "CT0005.dcm").unlink()
    return dict(zip(["ct", "gap", "damaged"], ids, strict=True))


@pytest.fixture(scope="session")
def sample_series(live_data: tuple[Path, dict[str, str]], sample_data: Path) -> dict[str, str]:
    """Real series from the shared sample data: "mr" (6 sagittal Siemens MR slices), "us"
    (one RGB ultrasound picture), "tilted" (4 CT slices with a tilted gantry) and
    "mr_no_window" (4 JPEG-LS MR slices whose files carry no window)."""
    dicom = sample_data / "dicom"
    paths = {
        "mr": dicom / "series" / "mr-siemens-6slices",
        "us": dicom / "compressed" / "US-RGB-8-epicard.dcm",
        "tilted": dicom / "series" / "ct-siemens-tilted-4slices",
        "mr_no_window": dicom / "series" / "mr-jpegls-4slices",
    }
    missing = [str(path) for path in paths.values() if not path.exists()]
    if missing:
        pytest.skip(f"sample series missing: {missing}")
    return dict(zip(paths, _import_series(live_data, list(paths.values())), strict=True))


@pytest.fixture(scope="session")
def protected_series(
    live_data: tuple[Path, dict[str, str]],
    people: dict[str, dict[str, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """A small synthetic CT in the protected-identity patient's case "Skyddat fall" (its
    DICOM files still name "Synthetic^Phantom")."""
    from tests.conftest import TEST_ORG
    from tiles.radiology.synthetic import make_ct_series

    folder = tmp_path_factory.mktemp("protected") / "ct"
    make_ct_series(folder, slices=3, size=64, seed=9, patient_id="SYNTHETIC-PROTECTED")
    return _import_series(live_data, [folder], (TEST_ORG, PROTECTED_PATIENT, "Skyddat fall"))[0]


@pytest.fixture
def open_series(page: Any) -> Callable[[str], dict[str, Any]]:
    """Opens /viewer/<id> on a series, waits until its first frame is drawn, returns the
    image metadata."""

    def open_(image_id: str) -> dict[str, Any]:
        page.goto(f"/viewer/{image_id}")
        page.wait_for_function(
            "window.samsyn && samsyn.kind === 'series' && samsyn.state().frame !== null",
            timeout=60_000,
        )
        return page.evaluate("samsyn.image")

    return open_


def name_recipient(form: Any, name: str) -> None:
    """Type a share's recipient and wait for the directory's suggestions (or its "no
    match") under the field, as a user sees them before pressing Dela."""
    form.get_by_test_id("share-name").fill(name)
    form.get_by_test_id("recipient-options").wait_for()
