"""Every page works with samsyn's Content-Security-Policy in force (no bypass): the slide
viewer, the series viewer, the lists and the log pages load their scripts and styles and
draw, and the browser reports no violation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import VIEWPORT


@pytest.fixture
def strict_page(chromium: Any, app_url: str, live_login: dict[str, str]) -> Iterator[Any]:
    """A signed-in tab that keeps the CSP and records every violation the page reports."""
    context = chromium.new_context(base_url=app_url, viewport=VIEWPORT)
    response = context.request.post("/api/session", data=live_login)
    assert response.ok, response.text()
    tab = context.new_page()
    tab.violations = []
    tab.on(
        "console",
        lambda message: tab.violations.append(message.text)
        if "Content Security Policy" in message.text
        else None,
    )
    errors: list[Exception] = []
    tab.on("pageerror", lambda error: errors.append(error))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_the_slide_viewer_draws_under_the_policy(
    strict_page: Any, demo_images: dict[str, str]
) -> None:
    strict_page.goto(f"/viewer/{demo_images['slide']}")
    strict_page.wait_for_selector(".openseadragon-canvas canvas", timeout=30_000)
    strict_page.wait_for_timeout(1500)
    assert strict_page.violations == []


def test_the_series_viewer_draws_under_the_policy(
    strict_page: Any, series_images: dict[str, str]
) -> None:
    strict_page.goto(f"/viewer/{next(iter(series_images.values()))}")
    strict_page.wait_for_selector("canvas", timeout=30_000)
    strict_page.wait_for_timeout(1500)
    assert strict_page.violations == []


@pytest.mark.parametrize("path", ["/", "/cases", "/images", "/login"])
def test_the_lists_load_under_the_policy(strict_page: Any, path: str) -> None:
    strict_page.goto(path)
    strict_page.wait_for_load_state("networkidle")
    assert strict_page.violations == []
    # the catalogue came in too: the page speaks Swedish, with no bare key left in the top bar
    assert strict_page.locator("html").get_attribute("lang") == "sv"
    switch = strict_page.get_by_test_id("language-switch")
    assert switch.inner_text() == "English"
    assert not re.search(r"\b[a-z_]+\.[a-z_.]+\b", strict_page.locator(".topbar").inner_text())
