"""Swedish personal identity numbers (personnummer) and coordination numbers (samordningsnummer).

Stored as 12 digits YYYYMMDDNNNC. Accepted as YYMMDD-NNNC, YYMMDD+NNNC (+ means aged 100
or more), YYYYMMDDNNNC, YYYYMMDD-NNNC and YYMMDDNNNC. A day of 61-91 marks a
samordningsnummer (the real day is DD - 60). The check digit is Luhn over YYMMDDNNN.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from samsyn.errors import BadRequest

PERSONNUMMER_SYSTEM = "http://electronichealth.se/identifier/personnummer"
SAMORDNINGSNUMMER_SYSTEM = "http://electronichealth.se/identifier/samordningsnummer"
_FORMS = re.compile(r"^([0-9]{2})?([0-9]{6})([-+]?)([0-9]{4})$")


@dataclass(frozen=True)
class IdentityNumber:
    """A validated number: its 12 digits and whether it is a coordination number."""

    digits: str
    coordination: bool

    @property
    def birth_date(self) -> date:
        day = int(self.digits[6:8]) - (60 if self.coordination else 0)
        return date(int(self.digits[:4]), int(self.digits[4:6]), day)

    @property
    def system(self) -> str:
        return SAMORDNINGSNUMMER_SYSTEM if self.coordination else PERSONNUMMER_SYSTEM

    def display(self) -> str:
        """YYYYMMDD-NNNC, the form used on screen and in reports."""
        return f"{self.digits[:8]}-{self.digits[8:]}"


def parse(text: str, today: date | None = None) -> IdentityNumber:
    """Validate and normalise a personnummer or samordningsnummer, or raise BadRequest."""
    if not isinstance(text, str):
        raise BadRequest("an identity number must be text")
    match = _FORMS.match(text.strip())
    if not match:
        raise BadRequest("not a personnummer or samordningsnummer")
    century, short, separator, serial = match.groups()
    if century and separator == "+":
        raise BadRequest("the + separator is only used with a two-digit year")
    today = today or date.today()
    year = int(century + short[:2]) if century else _full_year(int(short[:2]), separator, today)
    digits = f"{year:04d}{short[2:]}{serial}"
    coordination = int(digits[6:8]) > 60
    number = IdentityNumber(digits, coordination)
    _check(number, today)
    return number


def _full_year(two_digits: int, separator: str, today: date) -> int:
    """The century implied by a short form: the latest year not in the future (minus 100 for +)."""
    year = today.year - (today.year - two_digits) % 100
    return year - 100 if separator == "+" else year


def _check(number: IdentityNumber, today: date) -> None:
    digits = number.digits
    day = int(digits[6:8])
    if number.coordination and not 61 <= day <= 91:
        raise BadRequest("a samordningsnummer has a day of 61 to 91")
    try:
        born = number.birth_date
    except ValueError as error:
        raise BadRequest("the date in the number does not exist") from error
    if born > today:
        raise BadRequest("the date in the number lies in the future")
    if digits[8:11] == "000":
        raise BadRequest("the serial number must be 001 to 999")
    if luhn_check_digit(digits[2:11]) != int(digits[11]):
        raise BadRequest("the check digit is wrong")


def luhn_check_digit(nine_digits: str) -> int:
    """Luhn over YYMMDDNNN with weights 2, 1, 2, ... from the left."""
    total = 0
    for index, char in enumerate(nine_digits):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def is_valid(text: str) -> bool:
    try:
        parse(text)
    except BadRequest:
        return False
    return True
