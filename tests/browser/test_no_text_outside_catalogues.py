"""No text on any page comes from anywhere but the message catalogues or the data shown.

Each page is opened in Swedish and in English with the catalogue it asks for rewritten: every
message is wrapped in two invisible markers (U+2063 ... U+2064), so whatever a page shows
between them came through t() or data-i18n. Every string in the JSON the page got from /api/
is data (names, titles, file names, dates, numbers), but the API's codes (a purpose, a status,
an action), which a page must put in words. What a visible text node, a shown attribute
(title, aria-label, placeholder, alt, ...), an <option> or CSS content holds beyond those, once
digits, punctuation, units, ISO dates and times and single glyphs are gone, was written into
the page by hand; the failure lists each such text with its page and element, so that whoever
owns the page can move it into the catalogues. The viewers are checked with the information
panel shown and the keyboard help open; <kbd> may hold glyphs and key names, not words.
"""

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.browser.conftest import choose_language as choose_language_in_page
from tests.browser.conftest import screenshot
from tests.conftest import TEST_CASE, TEST_PATIENT

pytestmark = pytest.mark.browser

OPEN, CLOSE = "\u2063", "\u2064"
LANGUAGES = ("sv", "en")
VIEWPORT = {"width": 1280, "height": 800}  # the layout the task holds the pages to
# The product's name is a proper noun, the same in every language.
PROPER_NOUNS = frozenset({"samsyn"})
# Keys as printed on Swedish and English keyboards alike; a key said in words ("Space",
# "Wheel") must come from the catalogue, <kbd> or not.
KEY_NAMES = frozenset({"Esc", "PgUp", "PgDn", "Home", "End", "Ctrl", "Alt", "Shift", "Tab"})
# The API's codes (a purpose, a status, an action): a page must say them in words, so a
# code shown as it is counts as leftover text, not as data.
CODE_FIELDS = {"role", "purpose", "status", "action", "outcome", "kind", "language", "access"}
# Units, and UTC after a time, are written the same in both languages.
UNITS = re.compile(r"(?<!\w)(?:µm|μm|mm|cm|px|HU|kB|MB|GB|TB|UTC)(?!\w)")
ISO_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?"
    r"|(?<!\d)\d{1,2}:\d{2}(?::\d{2})?(?!\d)"
)
REFERENCE = re.compile(r"[a-z_]+:[^+:\s]+(?:\+[a-z_]+:[^+:\s]+)*")
INNERMOST = re.compile(f"{OPEN}[^{OPEN}{CLOSE}]*{CLOSE}")

# Runs in the page: every visible text and every shown attribute, with where it is.
COLLECT = """
() => {
  const SKIPPED = "script, style, noscript, template, code, canvas, select, datalist";
  const ATTRIBUTES = ["title", "aria-label", "placeholder", "alt", "aria-valuetext",
    "aria-description", "aria-roledescription"];
  const found = [];
  const name = (element) => {
    const tag = element.tagName.toLowerCase();
    if (element.dataset?.testid) return `${tag}[data-testid=${element.dataset.testid}]`;
    if (element.id) return `${tag}#${element.id}`;
    return element.classList.length ? `${tag}.${element.classList[0]}` : tag;
  };
  const where = (element) => {
    if (element.dataset?.testid || element.id) return name(element);
    const anchor = element.parentElement?.closest("[data-testid], [id]");
    return anchor ? `${name(element)} in ${name(anchor)}` : name(element);
  };
  const shown = (element) => element.checkVisibility({
    visibilityProperty: true, checkVisibilityCSS: true, contentVisibilityAuto: true,
  });
  const note = (element, kind, text) => {
    if (text && /\\S/.test(text)) found.push({ where: where(element), kind, text });
  };

  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(SKIPPED) || !shown(parent)) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    if (range.getClientRects().length === 0) continue;
    note(parent, parent.closest("kbd") ? "kbd" : "text", node.nodeValue);
  }
  for (const element of document.body.querySelectorAll("*")) {
    if (!shown(element)) continue;
    for (const attribute of ATTRIBUTES) note(element, attribute, element.getAttribute(attribute));
    if (element.matches("input[type=button], input[type=submit], input[type=reset]")) {
      note(element, "value", element.value);
    }
    if (element.matches("select")) {
      const kind = `option of ${where(element)}`;
      for (const option of element.options) note(option, kind, option.label);
    }
    for (const pseudo of ["::before", "::after"]) {
      const style = getComputedStyle(element, pseudo);
      if (style.display === "none") continue;
      const quoted = style.content.matchAll(/"((?:[^"\\\\]|\\\\.)*)"/g);
      for (const [, text] of quoted) note(element, pseudo, text);
    }
  }
  found.push({ where: "document", kind: "title", text: document.title });
  return found;
}
"""


# --- what is left of a text once catalogue messages and data are taken out ------------------


def without_messages(text: str) -> str:
    """The text with every marked message removed, nested ones too. A message split over
    several text nodes leaves a lone half in each: only what lies outside it counts."""
    previous = None
    while previous != text:
        previous, text = text, INNERMOST.sub(" ", text)
    text = text.rsplit(CLOSE, 1)[-1]
    return text.split(OPEN, 1)[0]


def without_data(text: str, data: list[str]) -> str:
    """The text with every data string removed where it stands as whole words."""
    for value in data:
        if value not in text:
            continue
        before = r"(?<!\w)" if value[0].isalnum() else ""
        after = r"(?!\w)" if value[-1].isalnum() else ""
        text = re.sub(before + re.escape(value) + after, " ", text)
    return text


def words_left(text: str, allowed: frozenset[str] = PROPER_NOUNS) -> list[str]:
    """Words of two letters or more once times, units, digits and punctuation are gone."""
    text = UNITS.sub(" ", ISO_TIME.sub(" ", text))
    letters = "".join(c if unicodedata.category(c).startswith("L") else " " for c in text)
    return [word for word in letters.split() if len(word) > 1 and word not in allowed]


def leftover(text: str, data: list[str], allowed: frozenset[str] = PROPER_NOUNS) -> str | None:
    """What a text shows beyond the catalogue's messages (data left in, to recognise it by),
    or None when the rest is data, numbers, units and glyphs."""
    rest = without_messages(text)
    if not words_left(rest, allowed) or not words_left(without_data(rest, data), allowed):
        return None
    return " ".join(rest.split())


def test_leftover_tells_messages_data_and_hand_written_text_apart() -> None:
    """The rules above, without a browser."""
    data = ["Test Testsson", "tester", "Testfall"]
    assert leftover(f"{OPEN}Fall{CLOSE}: Testfall", data) is None
    assert leftover(f"{OPEN}Patient {OPEN}Test Testsson{CLOSE}{CLOSE}", data) is None
    assert leftover("2026-12-03 14:05 · 0,25 µm · 40× · 12 %", data) is None
    assert leftover(f"{OPEN}Snitt{CLOSE} 3 / 30 · W 400 L 40", data) is None
    assert leftover("samsyn", data) is None
    assert leftover("PgUp", data, KEY_NAMES) is None
    assert leftover("Space", data, KEY_NAMES) == "Space"
    assert leftover("Share case", data) == "Share case"
    assert leftover(f"{OPEN}Dela{CLOSE} with Testfall", data) == "with Testfall"
    assert leftover("testerna", data) == "testerna"  # data counts only as whole words
    assert leftover(f"tail of a message{CLOSE} Open {OPEN}head", data) == "Open"
    assert leftover("viewer.tool.measure", data) == "viewer.tool.measure"  # a missing key
    assert "chain" in data_strings({"resource": "access_log:chain"})
    assert "access_log" not in data_strings({"resource": "access_log:chain"})
    assert "allowed" not in data_strings({"outcome": "allowed"})


# --- the data the page was given --------------------------------------------------------------


def data_strings(value: Any, field: str = "", into: set[str] | None = None) -> set[str]:
    """Every string and number in a JSON value, but the API's codes, and DICOM person names
    (Family^Given) also with spaces, as pages show them."""
    into = set() if into is None else into
    if isinstance(value, dict):
        for key, item in value.items():
            data_strings(item, key, into)
    elif isinstance(value, list):
        for item in value:
            data_strings(item, field, into)
    elif isinstance(value, str) and value.strip() and field not in CODE_FIELDS:
        into.update({value.strip(), " ".join(value.replace("^", " ").split())})
        into.update(reference_ids(value))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        into.add(str(value))
    return into


def reference_ids(value: str) -> set[str]:
    """The ids of a reference such as "share:5a5a+consent:3b3b" (pages show the kind in
    words, which must come from the catalogue, and the id as it is)."""
    if not REFERENCE.fullmatch(value):
        return set()
    return {part.split(":", 1)[1] for part in value.split("+")}


class ApiRecorder:
    """Keeps the JSON responses from /api/ that a page receives, to read once it settles."""

    def __init__(self, tab: Any) -> None:
        self.responses: list[Any] = []
        tab.on("response", self.keep)

    def keep(self, response: Any) -> None:
        kind = response.headers.get("content-type", "")
        if "/api/" in response.url and "json" in kind:
            self.responses.append(response)

    def data(self) -> list[str]:
        """The data strings, longest first (so a name goes before a word of it)."""
        found: set[str] = set()
        for response in self.responses:
            try:
                data_strings(response.json(), into=found)
            except Exception:  # noqa: BLE001 — a body gone with a navigation holds nothing shown
                continue
        return sorted(found, key=len, reverse=True)


def mark_catalogue(route: Any) -> None:
    """Serves the real catalogue with every message wrapped in the two markers."""
    response = route.fetch()
    messages = response.json()
    marked = {
        key: f"{OPEN}{value}{CLOSE}" if isinstance(value, str) else value
        for key, value in messages.items()
    }
    route.fulfill(
        response=response,
        body=json.dumps(marked, ensure_ascii=False),
        content_type="application/json; charset=utf-8",
    )


# --- the pages --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    """How to reach one page: as whom (None: signed out), its address, and when it is ready."""

    who: str | None
    address: Callable[[pytest.FixtureRequest, Any], str]
    ready: Callable[[Any], None]


def wait_visible(tab: Any, *selectors: str) -> None:
    """Until the first of these is on the page and shown."""
    shown = ", ".join(f"{selector}:visible" for selector in selectors)
    tab.locator(shown).first.wait_for(state="visible", timeout=30_000)


def case_address(request: pytest.FixtureRequest, context: Any) -> str:
    cases = context.request.get("/api/cases").json()
    return f"/cases/{next(case['id'] for case in cases if case['title'] == TEST_CASE)}"


def access_log_address(request: pytest.FixtureRequest, context: Any) -> str:
    """The patient's extract, with entries in it: `tester` lists the cases and opens the
    test patient first."""
    tester = request.getfixturevalue("chromium").new_context(
        base_url=request.getfixturevalue("app_url")
    )
    try:
        sign_in(tester, request.getfixturevalue("live_login"))
        assert tester.request.get("/api/cases").ok
        assert tester.request.get(f"/api/patients/{TEST_PATIENT}").ok
    finally:
        tester.close()
    return "/my/access-log"


def slide_address(request: pytest.FixtureRequest, context: Any) -> str:
    return f"/viewer/{request.getfixturevalue('demo_images')['slide']}"


def series_address(request: pytest.FixtureRequest, context: Any) -> str:
    """The series with missing slices: its warnings are text to check too."""
    return f"/viewer/{request.getfixturevalue('series_images')['gap']}"


def slide_ready(tab: Any) -> None:
    tab.wait_for_function(
        "window.samsyn && samsyn.viewer && samsyn.viewer.world.getItemCount() > 0"
        " && samsyn.viewer.world.getItemAt(0).getFullyLoaded()",
        timeout=60_000,
    )
    open_panel_and_help(tab)


def series_ready(tab: Any) -> None:
    tab.wait_for_function(
        "window.samsyn && samsyn.kind === 'series' && samsyn.state().frame !== null",
        timeout=60_000,
    )
    open_panel_and_help(tab)


def open_panel_and_help(tab: Any) -> None:
    """The information panel shown (through its toggle if the layout hides it), then the
    keyboard help opened with "?": their text is checked with the rest of the viewer."""
    tab.wait_for_load_state("networkidle")
    panel = tab.locator("#info-panel")
    toggle = tab.get_by_test_id("info-toggle")
    if not panel.is_visible() and toggle.count():
        toggle.click()
    tab.locator("#osd, [data-testid=series-canvas]").first.hover()
    tab.keyboard.press("?")
    tab.get_by_test_id("help-dialog").wait_for(state="visible", timeout=5_000)


PAGES = {
    "login": Visit(
        None,
        lambda request, context: "/login",
        lambda tab: wait_visible(tab, "[data-testid=signin]"),
    ),
    "cases": Visit(
        "pathologist",
        lambda request, context: "/cases",
        lambda tab: wait_visible(tab, "#cases table", "#cases .notice"),
    ),
    "case": Visit(
        "pathologist", case_address, lambda tab: wait_visible(tab, "[data-testid=case-image]")
    ),
    "images": Visit(
        "pathologist",
        lambda request, context: "/images",
        lambda tab: wait_visible(tab, "#status.count", "#status.notice"),
    ),
    "slide-viewer": Visit("pathologist", slide_address, slide_ready),
    "series-viewer": Visit("pathologist", series_address, series_ready),
    "audit": Visit(
        "reviewer",
        lambda request, context: "/audit",
        lambda tab: wait_visible(tab, "#entries table", "#entries .notice"),
    ),
    "access-log": Visit(
        "patient",
        access_log_address,
        lambda tab: wait_visible(
            tab,
            "[data-testid=access-day]",
            "[data-testid=log-refused]",
            "[data-testid=error-banner]",
        ),
    ),
}


def credentials(request: pytest.FixtureRequest, who: str) -> dict[str, str]:
    if who == "pathologist":
        return request.getfixturevalue("live_login")
    return request.getfixturevalue("people")[who]


@pytest.fixture
def context(chromium: Any, app_url: str) -> Iterator[Any]:
    """One browser context per test at 1280 x 800, Swedish time."""
    context = chromium.new_context(
        base_url=app_url, viewport=VIEWPORT, timezone_id="Europe/Stockholm", bypass_csp=True
    )
    yield context
    context.close()


def sign_in(context: Any, who: dict[str, str]) -> str:
    """Signs the context in; the CSRF token."""
    response = context.request.post("/api/session", data=who)
    assert response.ok, f"sign-in failed: {response.status} {response.text()}"
    return str(response.json()["csrf_token"])


def report(page_name: str, language: str, lang: str, found: list[str]) -> str:
    lines = [f"{page_name} in {language}: <html lang={lang!r}>"] if lang != language else []
    counted = Counter(found)
    lines += [
        f"{page_name} in {language}: {line}" + (f"  (x{count})" if count > 1 else "")
        for line, count in sorted(counted.items())
    ]
    return f"{len(counted)} texts outside the catalogues:\n" + "\n".join(lines)


@pytest.mark.parametrize(
    ("page_name", "language"),
    [(name, language) for name in PAGES for language in LANGUAGES],
    ids=[f"{name}-{language}" for name in PAGES for language in LANGUAGES],
)
def test_every_text_on_the_page_is_in_the_catalogues(
    request: pytest.FixtureRequest, context: Any, page_name: str, language: str
) -> None:
    visit = PAGES[page_name]
    if visit.who is None:
        # Before sign-in the browser remembers the language (i18n.js, "samsyn.language").
        context.add_init_script(f"localStorage.setItem('samsyn.language', '{language}')")
        check_page(request, context, visit, page_name, language)
        return
    token = sign_in(context, credentials(request, visit.who))
    try:
        check_page(request, context, visit, page_name, language)
    finally:  # the language is stored with the user: Swedish again for the tests that follow
        context.request.put(
            "/api/me/language", data={"language": "sv"}, headers={"X-CSRF-Token": token}
        )


def check_page(
    request: pytest.FixtureRequest, context: Any, visit: Visit, page_name: str, language: str
) -> None:
    """Opens the page in the language with marked messages; fails listing every text left."""
    errors: list[Exception] = []
    address = visit.address(request, context)
    tab = context.new_page()
    tab.on("pageerror", lambda error: errors.append(error))
    if visit.who is not None:
        tab.goto(address)
        choose_language_in_page(tab, language)
    tab.route("**/static/i18n/*.json", mark_catalogue)
    recorder = ApiRecorder(tab)

    tab.goto(address)
    visit.ready(tab)
    tab.wait_for_load_state("networkidle")

    image = tab.evaluate("() => window.samsyn?.image ?? null")
    data = sorted({*recorder.data(), *data_strings(image)}, key=len, reverse=True)
    found = []
    for item in tab.evaluate(COLLECT):
        allowed = PROPER_NOUNS | KEY_NAMES if item["kind"] == "kbd" else PROPER_NOUNS
        rest = leftover(item["text"], data, allowed)
        if rest is not None:
            found.append(f"{item['where']} {item['kind']}: {rest!r}")
    lang = tab.evaluate("document.documentElement.lang")
    screenshot(tab, f"catalogues-{page_name}-{language}")
    assert not errors, f"JavaScript errors on {page_name} in {language}: {errors}"
    if lang != language or found:
        pytest.fail(report(page_name, language, lang, found), pytrace=False)


def test_the_check_finds_hand_written_text_and_ignores_hidden_text(
    request: pytest.FixtureRequest, context: Any
) -> None:
    """The collector itself, on the image list with text planted into its HTML: shown text,
    a title, a placeholder, an option, a key in words and CSS content are found; hidden text,
    a closed dialog and marked messages are not."""
    planted = (
        '<div id="planted" data-testid="planted"><p>Planted words</p>'
        '<button type="button" title="Planted title">\u2063Knapp\u2064</button>'
        '<input placeholder="Planted placeholder"><select><option>Planted option</option></select>'
        '<p hidden>Hidden words</p><p style="display:none">Undisplayed words</p>'
        "<kbd>Space</kbd><dialog><p>Closed dialog words</p></dialog>"
        "<style>#planted::before { content: 'Planted content'; }</style></div>"
    )

    def plant(route: Any) -> None:
        response = route.fetch()
        route.fulfill(
            response=response, body=response.text().replace("<main", planted + "<main", 1)
        )

    sign_in(context, request.getfixturevalue("live_login"))
    tab = context.new_page()
    tab.route("**/images", plant)
    tab.goto("/images")
    wait_visible(tab, "#status.count", "#status.notice")
    texts = {
        (item["where"], item["kind"], leftover(item["text"], []))
        for item in tab.evaluate(COLLECT)
        if "planted" in item["where"]
    }
    assert texts == {
        ("p in div[data-testid=planted]", "text", "Planted words"),
        ("button in div[data-testid=planted]", "title", "Planted title"),
        ("input in div[data-testid=planted]", "placeholder", "Planted placeholder"),
        (
            "option in div[data-testid=planted]",
            "option of select in div[data-testid=planted]",
            "Planted option",
        ),
        ("div[data-testid=planted]", "::before", "Planted content"),
        ("kbd in div[data-testid=planted]", "kbd", "Space"),
        ("button in div[data-testid=planted]", "text", None),  # a marked message
    }
