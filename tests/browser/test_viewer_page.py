"""The slide viewer as a pathologist uses it: tissue on screen, true magnification and scale,
keys and dialogs, and a clear message instead of a grey canvas when a slide cannot be read."""

import io
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser

OpenViewer = Callable[[str], dict[str, Any]]


def tissue_fraction(png: bytes) -> float:
    """Share of pixels coloured like H&E: in eosin pink and haematoxylin purple green is lowest."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return float(((red - green > 25) & (blue - green > 5)).mean())


def native_magnification(image: dict[str, Any]) -> float:
    """The contract's definition, independent of the page's own code."""
    if image["objective_power"]:
        return float(image["objective_power"])
    if image["mpp"]:
        return 10 / image["mpp"][0]
    return 40.0


def image_zoom(page: Any) -> float:
    """Screen pixels per level-0 image pixel, asked of OpenSeadragon directly."""
    return page.evaluate(
        "samsyn.viewer.viewport.viewportToImageZoom(samsyn.viewer.viewport.getZoom(true))"
    )


def wait_until_still(page: Any) -> None:
    """Until the zoom animation has ended and every tile in view is drawn."""
    page.wait_for_function(
        "samsyn.viewer.viewport.zoomSpring.isAtTargetValue()"
        " && samsyn.viewer.world.getItemAt(0).getFullyLoaded()",
        timeout=60_000,
    )


def scale_bar_microns(text: str) -> float:
    """The scale bar's length, written the Swedish way (decimal comma, narrow-space groups)."""
    match = re.fullmatch(r"([\d,\u202f\u00a0]+) (µm|mm)", text)
    assert match, f"scale bar reads {text!r}"
    digits = re.sub(r"[\u202f\u00a0]", "", match[1]).replace(",", ".")
    return float(digits) * (1000 if match[2] == "mm" else 1)


def test_viewer_shows_tissue_and_slide_facts(
    page: Any, open_viewer: OpenViewer, demo_images: dict[str, str]
) -> None:
    image = open_viewer(demo_images["slide"])

    png = page.locator("#osd").screenshot()
    luminance = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    assert luminance.std() > 8, "the slide canvas is blank"
    assert tissue_fraction(png) > 0.05, "no pink or purple tissue on the canvas"
    assert page.title() == image["name"]
    assert page.locator("[data-testid=error-banner]").is_hidden()
    assert page.locator("[data-testid=loading]").is_hidden()
    info = page.locator("[data-testid=image-info]").inner_text()
    assert image["name"] in info
    assert "px" in info


def test_zooming_in_fetches_deeper_levels_down_to_full_resolution(
    page: Any, open_viewer: OpenViewer, demo_images: dict[str, str]
) -> None:
    slide_id = demo_images["slide"]
    levels: list[int] = []
    pattern = re.compile(rf"/dzi/{re.escape(slide_id)}_files/(\d+)/")

    def note_level(request: Any) -> None:
        if match := pattern.search(request.url):
            levels.append(int(match[1]))

    page.on("request", note_level)
    page.set_viewport_size({"width": 520, "height": 400})  # a small window, so home is coarse
    image = open_viewer(slide_id)
    full_resolution = math.ceil(math.log2(max(image["width"], image["height"])))
    deepest_at_home = max(levels)
    assert deepest_at_home < full_resolution, "the whole slide already shows at full resolution"

    at_home = page.evaluate("samsyn.viewer.viewport.getZoom()")
    box = page.locator("#osd").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(6):
        page.mouse.wheel(0, -300)
        page.wait_for_timeout(100)
    page.wait_for_function("home => samsyn.viewer.viewport.getZoom() > 2 * home", arg=at_home)
    wait_until_still(page)
    assert max(levels) > deepest_at_home

    page.evaluate("m => samsyn.setMagnification(m)", native_magnification(image))
    wait_until_still(page)
    assert max(levels) == full_resolution


def test_scale_bar_follows_zoom_and_matches_the_pixel_size(
    page: Any, open_viewer: OpenViewer, demo_images: dict[str, str]
) -> None:
    image = open_viewer(demo_images["slide"])
    if not image["mpp"]:
        pytest.skip("the demo slide has no pixel size, so no scale bar")
    bar = page.locator("[data-testid=scale-bar]")

    def microns_per_pixel_shown() -> float:
        width = bar.locator(".scale-bar-line").evaluate("e => e.getBoundingClientRect().width")
        assert 70 <= width <= 205, f"scale bar is {width} px wide"
        return scale_bar_microns(bar.text_content()) / width

    at_home = bar.text_content()
    assert microns_per_pixel_shown() == pytest.approx(image["mpp"][0] / image_zoom(page), rel=0.03)

    for _ in range(4):
        page.keyboard.press("+")
    wait_until_still(page)
    assert bar.text_content() != at_home
    assert microns_per_pixel_shown() == pytest.approx(image["mpp"][0] / image_zoom(page), rel=0.03)

    zoomed = bar.text_content()
    page.keyboard.press("r")
    page.wait_for_function("samsyn.viewer.viewport.getRotation(true) === 90")
    assert bar.text_content() == zoomed, "rotation changed the scale"


def test_magnification_buttons_land_on_their_magnification(
    page: Any, open_viewer: OpenViewer, demo_images: dict[str, str]
) -> None:
    image = open_viewer(demo_images["slide"])
    native = native_magnification(image)

    for magnification in (1, 10, 20, 40):
        button = page.locator(f"[data-magnification='{magnification}']")
        if button.is_disabled():
            assert magnification / native > 2, f"{magnification}× is reachable but disabled"
            continue
        button.click()
        wait_until_still(page)
        assert image_zoom(page) * native == pytest.approx(magnification, rel=0.01)
        readout = page.locator("[data-testid=magnification]").text_content()
        assert readout == f"{magnification:.1f}×".replace(".", ",")  # Swedish: 10,0×
        assert button.get_attribute("aria-pressed") == "true"


def test_keys_zoom_rotate_and_open_help(
    page: Any, open_viewer: OpenViewer, demo_images: dict[str, str]
) -> None:
    image = open_viewer(demo_images["slide"])

    page.keyboard.press("2")
    wait_until_still(page)
    assert image_zoom(page) * native_magnification(image) == pytest.approx(10, rel=0.01)

    page.keyboard.press("R")
    page.wait_for_function("samsyn.viewer.viewport.getRotation(true) === -90")
    page.keyboard.press("?")
    assert page.locator("[data-testid=help-dialog]").is_visible()
    page.keyboard.press("Escape")
    assert page.locator("[data-testid=help-dialog]").is_hidden()

    page.keyboard.press("0")
    wait_until_still(page)
    assert page.evaluate("samsyn.viewer.viewport.getZoom()") == pytest.approx(
        page.evaluate("samsyn.viewer.viewport.getHomeZoom()"), rel=0.01
    )


def test_label_and_macro_open_on_demand_and_close_with_escape(
    page: Any, open_viewer: OpenViewer, demo_images: dict[str, str]
) -> None:
    image = open_viewer(demo_images["slide"])
    dialog = page.locator("[data-testid=associated-dialog]")

    for name in ("label", "macro"):
        button = page.locator(f"[data-testid=show-{name}]")
        if name not in image["associated"]:
            assert button.is_hidden()
            continue
        button.click()
        picture = dialog.locator("img")
        assert picture.get_attribute("src") == f"/api/images/{image['id']}/associated/{name}.jpg"
        page.wait_for_function(
            "img => img.complete && (img.naturalWidth > 0 || img.hidden)",
            arg=picture.element_handle(),
        )
        page.keyboard.press("Escape")
        assert dialog.is_hidden()


def test_unreadable_slide_explains_itself(page: Any, demo_images: dict[str, str]) -> None:
    page.goto(f"/viewer/{demo_images['broken']}")

    banner = page.locator("[data-testid=error-banner]")
    banner.wait_for(state="visible", timeout=30_000)
    text = banner.text_content()
    assert re.search(r"kan inte läsas|kunde inte hämtas|finns inte", text), text
    assert len(text.split(":", 1)[-1].strip()) > 3, "the banner gives no reason"
    assert page.locator("[data-testid=loading]").is_hidden()
