"""Swedish identity numbers (DOMAIN.md "Identity numbers"): every accepted form normalises to
the 12 stored digits YYYYMMDDNNNC, everything else is refused with BadRequest.

The check digits of the made-up invalid numbers below are computed here with an independent
Luhn implementation, so each of them is wrong in exactly one way (the date, the serial, the
length...) and a refusal cannot come from a wrong check digit by accident.
"""

from __future__ import annotations

from datetime import date

import pytest

from samsyn import personnummer
from samsyn.errors import BadRequest


def luhn(nine: str) -> str:
    """Check digit over YYMMDDNNN: weights 2,1,2,... from the left, digit sums, (10 - s) mod 10."""
    total = 0
    for index, char in enumerate(nine):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product // 10 + product % 10
    return str((10 - total % 10) % 10)


def with_check(yymmdd: str, serial: str, century: str = "", separator: str = "-") -> str:
    """A number in the given form whose check digit is right."""
    return f"{century}{yymmdd}{separator}{serial}{luhn(yymmdd + serial)}"


def test_the_independent_luhn_agrees_with_domain_md() -> None:
    assert luhn("640823323") == "4"
    assert luhn("811228987") == "4"
    assert luhn("880320001") == "6"
    assert luhn("701063239") == "1"


# DOMAIN.md's valid numbers and their 12 stored digits.
VALID = {
    "640823-3234": "196408233234",
    "811228-9874": "198112289874",
    "880320-0016": "198803200016",
    "701063-2391": "197010632391",  # samordningsnummer: born 1970-10-03
}


def accepted_forms(number: str, digits: str) -> list[str]:
    """YYMMDD-NNNC, YYYYMMDDNNNC, YYYYMMDD-NNNC, YYMMDDNNNC."""
    return [number, digits, f"{digits[:8]}-{digits[8:]}", digits[2:]]


@pytest.mark.parametrize(
    ("text", "digits"),
    [(form, digits) for number, digits in VALID.items() for form in accepted_forms(number, digits)],
)
def test_every_accepted_form_normalises_to_twelve_digits(text: str, digits: str) -> None:
    parsed = personnummer.parse(text)
    assert parsed.digits == digits
    assert len(parsed.digits) == 12 and parsed.digits.isascii() and parsed.digits.isdigit()
    assert personnummer.is_valid(text)
    assert parsed.display() == f"{digits[:8]}-{digits[8:]}"


def test_plus_separator_means_a_hundred_years_or_more() -> None:
    assert personnummer.parse("640823+3234", today=date(2025, 6, 1)).digits == "186408233234"
    assert personnummer.parse("640823-3234", today=date(2025, 6, 1)).digits == "196408233234"


def test_short_form_takes_the_latest_century_not_in_the_future() -> None:
    # 1964-08-23 seen from 2063: still the 1960s; seen from 2065 a short form would be 2064,
    # which lies in the future on 2063-01-01 and so must never be chosen.
    assert personnummer.parse("640823-3234", today=date(2063, 1, 1)).digits == "196408233234"


def test_samordningsnummer_is_recognised_and_its_real_day_is_dd_minus_60() -> None:
    number = personnummer.parse("701063-2391")
    assert number.coordination is True
    assert number.birth_date == date(1970, 10, 3)
    assert number.system.endswith("/samordningsnummer")
    plain = personnummer.parse("640823-3234")
    assert plain.coordination is False
    assert plain.birth_date == date(1964, 8, 23)
    assert plain.system.endswith("/personnummer")


INVALID = {
    "bad check digit (DOMAIN.md)": "880320-0018",
    "bad check digit, 12 digits": "198803200018",
    "29 February in a common year": with_check("990229", "123", "19"),
    "31 April": with_check("640431", "123"),
    "30 February": with_check("640230", "123"),
    "day 00": with_check("640800", "123"),
    "day 32": with_check("640832", "123"),
    "day 60 (between the two ranges)": with_check("640860", "123"),
    "samordningsnummer day 92": with_check("701092", "123"),
    "samordningsnummer on 30 February (day 90)": with_check("700290", "123"),
    "month 00": with_check("640023", "123"),
    "month 13": with_check("641323", "123"),
    "serial 000": with_check("640823", "000"),
    "serial 000, 12 digits": with_check("640823", "000", "19", ""),
    "future date, 12 digits": with_check("991231", "123", "20"),
    "future date, with dash": with_check("991231", "123", "20", "-"),
    "plus with a four-digit year": "19640823+3234",
    "too short (8)": "64082332",
    "too short (9)": "640823323",
    "one digit missing": "640823-323",
    "one digit too many": "640823-32345",
    "eleven digits": "19640823323",
    "thirteen digits": "1964082332345",
    "empty": "",
    "blank": "   ",
    "letter O for zero": "64O823-3234",
    "letter as check digit": "640823-323A",
    "all letters": "abcdef-ghij",
    "trailing letter": "6408233234x",
    "space instead of dash": "640823 3234",
    "slash": "640823/3234",
    "double dash": "640823--3234",
    "dash in the wrong place": "6408-233234",
}


@pytest.mark.parametrize("text", list(INVALID.values()), ids=list(INVALID))
def test_invalid_numbers_are_refused(text: str) -> None:
    with pytest.raises(BadRequest):
        personnummer.parse(text)
    assert personnummer.is_valid(text) is False


def test_future_date_relative_to_today() -> None:
    with pytest.raises(BadRequest):
        personnummer.parse("19640823-3234", today=date(1964, 8, 22))
    assert personnummer.parse("19640823-3234", today=date(1964, 8, 23)).digits == "196408233234"


@pytest.mark.parametrize(
    "value",
    [
        6408233234,
        196408233234,
        640823.3234,
        None,
        b"640823-3234",
        ["640823-3234"],
        {"pnr": "640823-3234"},
        True,
    ],
    ids=["int10", "int12", "float", "None", "bytes", "list", "dict", "bool"],
)
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(BadRequest):
        personnummer.parse(value)  # type: ignore[arg-type]
    assert personnummer.is_valid(value) is False  # type: ignore[arg-type]


def test_stored_digits_are_always_ascii() -> None:
    """Whatever is accepted must be stored as 12 ASCII digits: a number written with other
    Unicode digits must not become a second, differently spelled key for the same person."""
    for text in ("٦٤٠٨٢٣-٣٢٣٤", "６４０８２３-３２３４", "١٩٦٤٠٨٢٣٣٢٣٤"):
        try:
            parsed = personnummer.parse(text)
        except BadRequest:
            continue
        assert parsed.digits == "196408233234", f"{text!r} was stored as {parsed.digits!r}"
