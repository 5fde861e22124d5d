"""The image list a pathologist starts from: every visible slide, with a way into the viewer."""

from typing import Any

import pytest

pytestmark = pytest.mark.browser


def test_list_shows_the_demo_slide_with_thumbnail_and_link(
    page: Any, demo_images: dict[str, str]
) -> None:
    slide_id = demo_images["slide"]
    image = page.request.get(f"/api/images/{slide_id}").json()

    page.goto("/images")
    card = page.locator(f'[data-testid=image-card][data-image-id="{slide_id}"]')
    card.wait_for(timeout=15_000)

    assert image["name"] in card.inner_text()
    assert card.locator(".image-name a").get_attribute("href") == f"/viewer/{slide_id}"
    thumbnail = card.locator("img")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle()
    )
    width = f"{image['width']:,}".replace(",", "\u202f")
    assert f"{width} ×" in card.inner_text()
    assert card.locator(".open-link").inner_text() == "Öppna i visaren"
    assert card.locator("img").get_attribute("alt") == f"Översiktsbild av {image['name']}"


def test_swedish_numbers_have_a_decimal_comma(page: Any, demo_images: dict[str, str]) -> None:
    slide_id = demo_images["slide"]
    image = page.request.get(f"/api/images/{slide_id}").json()
    assert image["mpp"], "the demo slide has a pixel size"

    page.goto("/images")
    card = page.locator(f'[data-testid=image-card][data-image-id="{slide_id}"]')
    card.wait_for(timeout=15_000)

    terms, values = card.locator("dt").all_inner_texts(), card.locator("dd").all_inner_texts()
    facts = dict(zip(terms, values, strict=True))
    assert page.locator("html").get_attribute("lang") == "sv"
    assert facts["Skannad yta"].endswith(" mm") and "." not in facts["Skannad yta"]
    microns = f"{float(format(image['mpp'][0], '.3g')):g}".replace(".", ",")
    assert facts["Upplösning"].startswith(f"{microns} ") and "µm/px" in facts["Upplösning"]
    assert "." not in facts["Filstorlek"]


def test_list_names_every_image_the_api_returns(page: Any) -> None:
    images = page.request.get("/api/images").json()

    page.goto("/images")
    page.locator("#status.count, #status.notice").wait_for()

    assert page.locator("[data-testid=image-card]").count() == len(images)
    assert page.locator("[data-testid=error-banner]").is_hidden()


def test_clicking_a_slide_opens_the_viewer(page: Any, demo_images: dict[str, str]) -> None:
    slide_id = demo_images["slide"]
    page.goto("/images")
    page.locator(f'[data-image-id="{slide_id}"] .open-link').click()

    page.wait_for_url(f"**/viewer/{slide_id}")
    page.wait_for_function("window.samsyn !== undefined")


def test_an_empty_list_says_so(page: Any) -> None:
    page.route("**/api/images", lambda route: route.fulfill(json=[]))
    page.goto("/images")

    notice = page.locator("#status.notice")
    notice.wait_for()
    assert "Inga snitt eller serier" in notice.text_content()
    assert page.locator("[data-testid=image-card]").count() == 0


def test_a_failing_list_shows_the_server_message(page: Any) -> None:
    message = "the database is being upgraded, try again in a minute"
    page.route(
        "**/api/images",
        lambda route: route.fulfill(status=503, json={"error": "unavailable", "message": message}),
    )
    page.goto("/images")

    banner = page.locator("[data-testid=error-banner]")
    banner.wait_for()
    assert banner.text_content() == f"Bildlistan kunde inte hämtas: {message}"
