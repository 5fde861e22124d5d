"""Browser fixtures: Debian's Chromium, driven by Playwright, against a live samsyn server.

Needs from tests/conftest.py: `live_server` (base URL of a running samsyn whose database holds
a readable synthetic slide and an unreadable one), `demo_images` ({"slide": id, "broken": id})
and `live_login` ({"username", "password"} of a pathologist who may see both).
"""

import shutil
from collections.abc import Callable, Iterator
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
    context = chromium.new_context(base_url=app_url, viewport=VIEWPORT)
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
