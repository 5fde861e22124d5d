"""The message catalogues: Swedish and English hold the same keys, every key a page's code
asks for with t("...") or data-i18n="..." is in both, and they are served."""

from __future__ import annotations

import re
from pathlib import Path

from flask.testing import FlaskClient

from app.api.static import catalogue as app_catalogue

STATIC = Path(__file__).resolve().parents[2] / "static"
ASKED = re.compile(r"""\bt\(\s*["']([\w.-]+)["']|data-i18n(?:-[\w-]+)?=["']([\w.-]+)["']""")


def catalogue(language: str) -> dict[str, str]:
    """The merged catalogue of a language, as the page gets it."""
    return app_catalogue(STATIC, language)


def asked_keys() -> set[str]:
    keys: set[str] = set()
    for path in [*STATIC.glob("*.html"), *(STATIC / "src").glob("*.js")]:
        for match in ASKED.finditer(path.read_text(encoding="utf-8")):
            keys.add(match.group(1) or match.group(2))
    return keys


def test_every_part_has_both_languages() -> None:
    for part in (STATIC / "i18n" / "parts").glob("*.sv.json"):
        other = part.with_name(part.name.replace(".sv.json", ".en.json"))
        assert other.exists(), f"{part.name} has no English counterpart"


def test_both_catalogues_hold_the_same_keys() -> None:
    swedish, english = catalogue("sv"), catalogue("en")
    assert set(swedish) - set(english) == set(), "missing from en.json"
    assert set(english) - set(swedish) == set(), "missing from sv.json"
    assert all(
        isinstance(value, str) and value.strip() for value in [*swedish.values(), *english.values()]
    )


def test_every_key_the_pages_ask_for_is_in_both_catalogues() -> None:
    asked = asked_keys()
    for language in ("sv", "en"):
        missing = asked - set(catalogue(language))
        assert not missing, f"{language}.json lacks {sorted(missing)}"


def test_the_domain_words_are_swedish_in_swedish() -> None:
    swedish = catalogue("sv")
    for word in (
        "vårdgivare",
        "vårdenhet",
        "remiss",
        "svar",
        "spärr",
        "samtycke",
        "nödåtkomst",
        "loggutdrag",
    ):
        assert word in swedish.values(), word


def test_catalogues_are_served(client: FlaskClient) -> None:
    for language in ("sv", "en"):
        response = client.get(f"/static/i18n/{language}.json")
        assert response.status_code == 200 and response.get_json() == catalogue(language)


def test_the_language_is_chosen_per_user_and_remembered(client: FlaskClient) -> None:
    assert client.get("/api/me").get_json()["user"]["language"] == "sv"
    assert client.put("/api/me/language", json={"language": "en"}).status_code == 200
    assert client.get("/api/me").get_json()["user"]["language"] == "en"
    refused = client.put("/api/me/language", json={"language": "\ud800"})
    assert refused.status_code == 400 and set(refused.get_json()) == {"error", "message"}
