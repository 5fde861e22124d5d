"""The viewers in Swedish (the default) and in English (the user's choice, remembered): every
piece of interface text from the catalogues, <html lang> following, Swedish numbers with the
decimal comma, and layouts that hold in both languages at 1280 x 800 and at 800 px wide.

The language is changed the way the page itself would: PUT /api/me/language from the page's
own fetch, with the session's CSRF token; the page then loads the chosen catalogue."""

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.api.static import catalogue
from tests.browser.conftest import choose_language

pytestmark = pytest.mark.browser

STATIC = Path(__file__).resolve().parents[2] / "static"
SHOTS = Path("/tmp/shots")
KEY_NAMES = {"PgUp", "PgDn", "Home", "End", "Esc"}

Tab = Callable[..., Any]

# Interface text of the viewer page: texts and attributes of its controls, the facts'
# labels, the help list. Data (names, numbers, the facts' values) is left out.
INTERFACE_STRINGS = """() => {
  const seen = [];
  const own = (node) => [...node.childNodes].filter((n) => n.nodeType === 3)
    .map((n) => n.textContent).join("").trim();
  const add = (where, text) => { if (text && text.trim()) seen.push([where, text.trim()]); };
  const controls = [
    ".toolbar", ".toolbar button", ".toolbar label", ".toolbar span", ".toolbar select",
    ".cine-bar", ".cine-bar button", ".cine-bar select", ".cine-bar input",
    ".info-panel", ".info-panel h2", ".info-panel button", ".info-panel dt",
    "#help-dialog h2", "#help-dialog dd", "#help-dialog button", "#associated-dialog button",
    ".viewer-shell", ".patient-bar .bar-label", ".info-toggle", ".series-navigator",
    "[data-testid=magnification]",
  ].join(", ");
  const attributes = ["title", "aria-label", "placeholder", "alt"];
  for (const node of document.querySelectorAll(controls)) {
    if (node.matches("button, label, span, h2, dd, dt")) add(node.tagName, own(node) || null);
    for (const name of attributes) add(name, node.getAttribute(name));
  }
  for (const key of document.querySelectorAll("#help-dialog kbd")) add("kbd", key.textContent);
  return seen;
}"""


def templates(language: str) -> list[re.Pattern[str]]:
    """Each catalogue text as a pattern, {placeholders} matching anything; texts made only of
    placeholders and punctuation would match any string and are left out."""
    patterns = []
    for text in catalogue(STATIC, language).values():
        if len(re.findall(r"[^\W\d_]", re.sub(r"\{\w+\}", "", text))) < 2:
            continue
        pattern = re.escape(text)
        pattern = re.sub(r"\\\{\w+\\\}", ".+?", pattern)
        patterns.append(re.compile(pattern))
    return patterns


def untranslated(strings: list[list[str]], language: str) -> list[list[str]]:
    """The interface strings that are no text of this language's catalogue."""
    patterns = templates(language)

    def known(where: str, text: str) -> bool:
        if not re.search(r"[^\W\d_]", text):
            return True  # glyphs and numbers: ←, +, 1×, 40×
        if where == "kbd" and (len(text) == 1 or text in KEY_NAMES):
            return True
        if text == "samsyn":
            return True
        return any(pattern.fullmatch(text) for pattern in patterns)

    return [[where, text] for where, text in strings if not known(where, text)]


def messages(language: str) -> dict[str, str]:
    return catalogue(STATIC, language)


@pytest.fixture
def tab_in(chromium: Any, app_url: str, live_login: dict[str, str]) -> Iterator[Tab]:
    """A signed-in tab of a given size; with a language, the user chooses it first from the
    page (the choice is the user's, stored by the server). Back to Swedish afterwards."""
    contexts: list[Any] = []
    errors: list[Exception] = []

    def open_(width: int, height: int, language: str | None = None) -> Any:
        context = chromium.new_context(
            base_url=app_url, viewport={"width": width, "height": height}, bypass_csp=True
        )
        contexts.append(context)
        assert context.request.post("/api/session", data=live_login).ok
        tab = context.new_page()
        tab.on("pageerror", lambda error: errors.append(error))
        if language:
            choose_language(tab, language)
        return tab

    yield open_
    for context in contexts:
        tab = context.pages[0] if context.pages else context.new_page()
        choose_language(tab, "sv")
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def wait_for_slide(tab: Any) -> None:
    tab.wait_for_function(
        "window.samsyn && samsyn.viewer && samsyn.viewer.world.getItemCount() > 0"
        " && samsyn.viewer.world.getItemAt(0).getFullyLoaded()",
        timeout=60_000,
    )
    tab.get_by_test_id("case-link").wait_for()


def wait_for_series(tab: Any) -> None:
    tab.wait_for_function(
        "window.samsyn && samsyn.kind === 'series' && samsyn.state().frame !== null",
        timeout=60_000,
    )
    tab.get_by_test_id("case-link").wait_for()


def shoot(tab: Any, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"A-{name}.png"))


def text(tab: Any, testid: str) -> str:
    return tab.get_by_test_id(testid).inner_text()


def one_row(tab: Any, selector: str) -> None:
    """Every visible control of each such bar on one line, none beyond its edges, and the bar
    no taller than one row of them."""
    for bar in tab.locator(selector).all():
        if not bar.is_visible():
            continue
        shape = bar.evaluate(
            """bar => {
              const controls = [...bar.querySelectorAll("button, select, input, label, span, a")]
                .filter((c) => c.getClientRects().length > 0)
                .map((c) => c.getBoundingClientRect());
              const box = bar.getBoundingClientRect();
              const middles = controls.map((c) => c.top + c.height / 2);
              const style = getComputedStyle(bar);
              const padding = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
              const out = (c) => c.right > box.right + 0.5 || c.left < box.left - 0.5;
              return {
                count: controls.length,
                spread: Math.max(...middles) - Math.min(...middles),
                outside: controls.filter(out).length,
                inner: bar.clientHeight - padding,
                tallest: Math.max(...controls.map((c) => c.height)),
                spills: bar.scrollWidth > bar.clientWidth + 1,
              };
            }"""
        )
        assert shape["count"] > 0, selector
        assert shape["spread"] < 10, f"{selector} wraps: {shape}"
        assert shape["outside"] == 0 and not shape["spills"], f"{selector} spills out: {shape}"
        assert shape["inner"] < 1.8 * shape["tallest"], f"{selector} is two rows high: {shape}"


def words(language: str, *keys: str) -> list[str]:
    texts = messages(language)
    return [texts[key] for key in keys]


def decimal(language: str) -> str:
    """The decimal mark of the language: a comma in Swedish."""
    return "," if language == "sv" else "."


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_slide_viewer_in_each_language(
    tab_in: Tab, demo_images: dict[str, str], language: str
) -> None:
    tab = tab_in(1280, 800, None if language == "sv" else language)
    tab.goto(f"/viewer/{demo_images['slide']}")
    wait_for_slide(tab)
    shoot(tab, f"slide-1280-{language}")
    assert tab.evaluate("document.documentElement.lang") == language
    assert untranslated(tab.evaluate(INTERFACE_STRINGS), language) == []

    keys = ("viewer.tool.reset", "viewer.info.title", "viewer.facts.pixelSize")
    reset, image, pixel_size = words(language, *keys)
    assert tab.locator(".toolbar [data-action=reset]").inner_text() == reset
    assert tab.locator(".info-panel h2").first.inner_text().lower() == image.lower()
    labels = tab.locator("#facts dt").all_inner_texts()
    assert pixel_size in labels
    facts = text(tab, "image-info")
    mark = decimal(language)
    assert f"0{mark}25 µm/px" in facts, facts  # the synthetic slide: 0.25 µm per pixel
    assert f"0{mark}5 × 0{mark}4 mm" in facts, facts
    readout = text(tab, "magnification")
    assert re.fullmatch(rf"\d+{re.escape(mark)}\d×", readout), readout

    tab.keyboard.press("?")
    help_dialog = tab.get_by_test_id("help-dialog")
    assert help_dialog.locator("h2").inner_text() == messages(language)["help.title"]
    assert messages(language)["help.slide.pan"] in help_dialog.inner_text()
    shoot(tab, f"slide-help-{language}")
    tab.keyboard.press("Escape")

    image_info = tab.evaluate("samsyn.image")
    if "label" in image_info["associated"]:
        tab.get_by_test_id("show-label").click()
        title = tab.get_by_test_id("associated-dialog").locator("h2").inner_text()
        assert title == messages(language)["slide.associated.labelTitle"]
        tab.keyboard.press("Escape")
    one_row(tab, ".toolbar")
    one_row(tab, ".patient-bar")


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_series_viewer_in_each_language(
    tab_in: Tab, series_images: dict[str, str], language: str
) -> None:
    tab = tab_in(1280, 800, None if language == "sv" else language)
    tab.goto(f"/viewer/{series_images['ct']}")
    wait_for_series(tab)
    tab.wait_for_function("!document.querySelector('[data-testid=overlay-window]').hidden")
    shoot(tab, f"series-1280-{language}")
    assert tab.evaluate("document.documentElement.lang") == language
    assert untranslated(tab.evaluate(INTERFACE_STRINGS), language) == []
    sv = language == "sv"

    assert text(tab, "overlay-frame-number") == ("Bild 1 / 300" if sv else "Im 1 / 300")
    assert text(tab, "overlay-window") == ("C 40 W 400 (fil)" if sv else "C 40 W 400 (file)")
    pixel = "Pixel 0,7 × 0,7 mm" if sv else "Pixel 0.7 × 0.7 mm"
    assert text(tab, "overlay-pixel-spacing") == pixel
    thickness = "Tjockl. 1 mm Avst. 1 mm" if sv else "Thk 1 mm Sp 1 mm"
    assert text(tab, "overlay-thickness") == thickness
    assert text(tab, "overlay-position") == (
        "Pos −179,2; −179,2; 0 mm" if sv else "Pos −179.2, −179.2, 0 mm"
    )
    assert text(tab, "overlay-zoom").endswith(" %" if sv else "%")
    tools = [text(tab, f"series-{name}") for name in ("toolPan", "toolWindow", "toolMeasure")]
    assert tools == (["Panorera", "Fönstra", "Mät"] if sv else ["Pan", "W/L", "Measure"])
    facts = tab.locator("#facts dt").all_inner_texts()
    assert ("Snittriktning" if sv else "Plane") in facts
    assert messages(language)["series.facts.hounsfield"] in text(tab, "image-info")

    options = tab.get_by_test_id("window-menu").locator("option").all_inner_texts()
    lung = "Lunga" if sv else "Lung"
    assert f"{lung} C −600 W 1500 (4)" in options, options
    assert ("Ben C 400 W 1800 (8)" if sv else "Bone C 400 W 1800 (8)") in options, options
    assert options[0] == ("Filens (9)" if sv else "File (9)")
    tab.keyboard.press("4")
    tab.wait_for_function("samsyn.state().window && samsyn.state().window.preset === 'lung'")
    assert text(tab, "overlay-window") == f"{lung} C −600 W 1500"

    # A distance, in Swedish with the decimal comma.
    tab.keyboard.press("m")
    canvas = tab.get_by_test_id("series-canvas").bounding_box()
    start = tab.evaluate("() => samsyn.imageToScreen(100.5, 200.5)")
    end = tab.evaluate("() => samsyn.imageToScreen(400.5, 361.5)")
    tab.mouse.move(canvas["x"] + start[0], canvas["y"] + start[1])
    tab.mouse.down()
    tab.mouse.move(canvas["x"] + end[0], canvas["y"] + end[1], steps=6)
    tab.mouse.up()
    tab.wait_for_function("samsyn.state().measurements.length === 1")
    measured = tab.evaluate("samsyn.state().measurements[0]")
    number = f"{measured['mm']:.1f}".rstrip("0").rstrip(".")
    assert measured["text"] == f"{number.replace('.', decimal(language))} mm", measured
    assert ("," in measured["text"]) == (sv and "." in number)

    # The value under the cursor, with the point it was read at.
    tab.wait_for_function("samsyn.state().readout !== null")
    assert re.fullmatch(r"HU −?\d+ \(\d+, \d+\)", text(tab, "overlay-value").replace("\u2212", "−"))

    tab.keyboard.press("Escape")
    tab.get_by_test_id("series-cine").click()
    tab.wait_for_function("!document.querySelector('[data-testid=overlay-cine]').hidden")
    assert text(tab, "overlay-cine").startswith("Cine 15 bilder/s" if sv else "Cine 15 fps")
    pause = tab.get_by_test_id("series-cine").get_attribute("aria-label")
    assert pause == ("Pausa" if sv else "Pause")
    tab.keyboard.press(" ")
    rate = tab.get_by_test_id("cine-rate").locator("option:checked").inner_text()
    assert rate == ("15 bilder/s" if sv else "15 fps")

    one_row(tab, ".toolbar")
    one_row(tab, ".cine-bar")
    one_row(tab, ".patient-bar")
    tab.keyboard.press("?")
    help_text = text(tab, "help-dialog")
    assert ("Nästa bild" if sv else "Next image") in help_text
    assert ("Mushjul" if sv else "Wheel") in tab.locator("#help-dialog kbd").all_inner_texts()
    shoot(tab, f"series-help-{language}")


@pytest.mark.parametrize("language", ["sv", "en"])
def test_at_800_wide_the_information_panel_is_reachable(
    tab_in: Tab, demo_images: dict[str, str], series_images: dict[str, str], language: str
) -> None:
    tab = tab_in(800, 800, None if language == "sv" else language)
    for kind, image_id, wait in (
        ("slide", demo_images["slide"], wait_for_slide),
        ("series", series_images["gap"], wait_for_series),
    ):
        tab.goto(f"/viewer/{image_id}")
        wait(tab)
        toggle = tab.get_by_test_id("info-toggle")
        assert toggle.inner_text() == messages(language)["viewer.info.toggle"]
        panel = tab.locator(".info-panel")
        assert panel.is_hidden()
        shoot(tab, f"{kind}-800-{language}")
        toggle.click()
        assert panel.is_visible() and toggle.get_attribute("aria-expanded") == "true"
        box = panel.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 800
        spills = panel.evaluate("n => n.scrollWidth > n.clientWidth + 1")
        assert not spills, f"{kind}: the panel spills"
        labels = tab.locator("#facts dt").all_inner_texts()
        assert messages(language)["viewer.facts.name"] in labels
        shoot(tab, f"{kind}-800-{language}-info")
        if kind == "slide" and "macro" in tab.evaluate("samsyn.image")["associated"]:
            macro = tab.get_by_test_id("show-macro")
            assert macro.inner_text() == messages(language)["slide.associated.macro"]
            macro.click()  # reachable: nothing lies over it
            assert tab.get_by_test_id("associated-dialog").is_visible()
            tab.keyboard.press("Escape")
        one_row(tab, ".patient-bar")
        toggle.click()
        assert panel.is_hidden()


def test_the_choice_of_english_is_remembered(tab_in: Tab, demo_images: dict[str, str]) -> None:
    tab = tab_in(1280, 800, "en")
    tab.goto(f"/viewer/{demo_images['slide']}")
    wait_for_slide(tab)
    assert tab.evaluate("document.documentElement.lang") == "en"
    assert tab.evaluate("localStorage.getItem('samsyn.language')") == "en"
    # Another session of the same user, in a browser that never chose: English, the user's.
    other = tab_in(1280, 800)
    other.goto(f"/viewer/{demo_images['slide']}")
    wait_for_slide(other)
    assert other.evaluate("document.documentElement.lang") == "en"
    assert other.locator(".toolbar [data-action=reset]").inner_text() == "Reset"
    choose_language(other, "sv")
    other.reload()
    wait_for_slide(other)
    assert other.evaluate("document.documentElement.lang") == "sv"
    assert other.locator(".toolbar [data-action=reset]").inner_text() == "Återställ"


@pytest.mark.parametrize("language", ["sv", "en"])
def test_what_goes_wrong_is_said_in_the_language(
    tab_in: Tab, demo_images: dict[str, str], language: str
) -> None:
    tab = tab_in(1280, 800, None if language == "sv" else language)
    tab.goto(f"/viewer/{demo_images['broken']}")
    banner = tab.get_by_test_id("error-banner")
    banner.wait_for(state="visible", timeout=30_000)
    said = banner.inner_text()
    texts = messages(language)
    keys = (
        "slide.error.unreadable",
        "viewer.error.unreadable",
        "viewer.error.notLoaded",
        "viewer.error.notFound",
    )
    openings = [texts[key].split("{")[0] for key in keys]
    assert any(said.startswith(opening) for opening in openings), said
    assert tab.evaluate("document.documentElement.lang") == language


def test_the_slide_help_list_scrolls_on_a_short_screen(
    tab_in: Tab, demo_images: dict[str, str]
) -> None:
    tab = tab_in(1280, 300)
    tab.goto(f"/viewer/{demo_images['slide']}")
    wait_for_slide(tab)
    tab.keyboard.press("?")
    keys = tab.locator("#help-dialog .keys")
    keys.wait_for()
    dialog = tab.locator("#help-dialog").bounding_box()
    assert dialog["y"] >= 0 and dialog["y"] + dialog["height"] <= 300
    assert keys.evaluate("n => n.scrollHeight > n.clientHeight")
    keys.evaluate("n => n.scrollTo(0, n.scrollHeight)")
    assert keys.evaluate("n => n.scrollTop > 0")
    last = tab.locator("#help-dialog dd").last
    assert last.inner_text() == messages("sv")["help.slide.escape"]
    assert last.is_visible()


def test_a_colour_series_keeps_one_toolbar_row_in_swedish(
    tab_in: Tab, sample_series: dict[str, str]
) -> None:
    """No window for a colour image: a short note takes the window menu's place, and the
    toolbar still holds one row."""
    tab = tab_in(1280, 800)
    tab.goto(f"/viewer/{sample_series['us']}")
    wait_for_series(tab)
    note = tab.locator(".toolbar .tool-label").first
    assert note.inner_text() == messages("sv")["series.window.colour"]
    assert note.get_attribute("title") == messages("sv")["series.window.colourTitle"]
    assert untranslated(tab.evaluate(INTERFACE_STRINGS), "sv") == []
    one_row(tab, ".toolbar")
    shoot(tab, "series-colour-1280-sv")
