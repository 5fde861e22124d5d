"""The patient's loggutdrag in plain words (DOMAIN rule 7): which vårdgivare and vårdenhet
accessed their data, on which day, when, what they did and why.

Pure: access-log entries in, a list of days → organisations → units → lines out. The JSON
route, the page and the PDF all show this one grouping, so they cannot disagree. A line
holds codes ("viewed_images", "emergency") that the message catalogues turn into words;
it holds no internal id (share, image, case or user), only names, times and roles.

Listings are not accesses a patient needs to see one by one (a worklist is listed at every
visit): they are summarised as one "saw your case in a list" line per organisation and day.
Tile entries are already folded by the access log (detail.from/to); repeated accesses of the
same kind by the same unit close together in time become one line with a time range.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")
# Accesses of one kind by one unit with less than this pause between them are one line.
SAME_LINE_GAP = timedelta(minutes=15)
LISTED = "listed"

# The log's actions as what a patient would call them (the catalogue's extract.what.<code>).
WHAT: dict[str, str] = {
    "render": "viewed_images",
    "view": "opened_case",
    "view_patient": "looked_up",
    "list": LISTED,
    "share": "shared",
    "revoke": "unshared",
    "create_case": "created_case",
    "annotate": "annotated",
    "import": "annotated",
    "view_annotations": "viewed_images",
    "join_live": "opened_case",
    "view_notes": "opened_case",
    "note": "annotated",
    "edit": "edited",
    "delete": "deleted",
    "export": "exported",
    "manage": "managed",
    "emergency_access": "opened_emergency",
    "consent": "recorded_consent",
    "block": "recorded_block",
    "read_log": "reviewed_log",
    "report": "wrote_report",
    "sign": "wrote_report",
    "addendum": "wrote_report",
    "referral": "sent_referral",
}
# The purposes as reasons (the catalogue's extract.why.<code>).
WHY: dict[str, str] = {
    "care": "care",
    "second_opinion": "second_opinion",
    "mdk": "mdk",
    "teaching": "teaching",
    "emergency": "emergency",
    "administration": "administration",
    "log_review": "log_review",
}


class Entry(Protocol):
    """What the extract reads of an access-log entry (app.models.AccessEntry has it)."""

    at: datetime
    action: str
    purpose: str
    basis: str | None
    role: str | None
    org_name: str | None
    unit_name: str | None
    detail: dict[str, Any]


@dataclass
class Line:
    """One thing one unit did: from when to when, what, why (one or more reasons), in which
    role, and how many accesses it sums up."""

    start: datetime
    end: datetime
    what: str
    why: tuple[str, ...]
    role: str | None
    count: int = 1

    def json(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "what": self.what,
            "why": list(self.why),
            "role": self.role,
            "count": self.count,
        }


@dataclass
class UnitGroup:
    """A vårdenhet's lines of one day (`unit` None: the organisation as a whole)."""

    unit: str | None
    lines: list[Line] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        return {"unit": self.unit, "lines": [line.json() for line in self.lines]}


@dataclass
class OrgGroup:
    """A vårdgivare's units of one day."""

    org: str | None
    units: list[UnitGroup] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        return {"org": self.org, "units": [unit.json() for unit in self.units]}


@dataclass
class Day:
    """One Swedish calendar day (Europe/Stockholm) of the extract."""

    day: date
    orgs: list[OrgGroup] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "orgs": [org.json() for org in self.orgs]}


def what_of(entry: Entry) -> str:
    """The plain-words code of what was done; a report in a second opinion is an opinion."""
    what = WHAT.get(entry.action, "used_data")
    if what == "wrote_report" and entry.purpose == "second_opinion":
        return "gave_opinion"
    return what


def why_of(entry: Entry) -> tuple[str, ...]:
    """Why it was allowed: the purpose, and consent or emergency access when that was the
    basis (a patient has a right to see both)."""
    basis = entry.basis or ""
    reasons = []
    if entry.purpose == "emergency" or basis.startswith("emergency:") or "+emergency:" in basis:
        reasons.append("emergency")
    elif entry.purpose in WHY:
        reasons.append(WHY[entry.purpose])
    if "consent:" in basis:
        reasons.append("consent")
    return tuple(reasons) or ("care",)


def period_of(entry: Entry) -> tuple[datetime, datetime]:
    """When the access began and ended: a folded entry's from–to, else its one moment."""
    start = _aware(entry.at)
    detail = entry.detail or {}
    try:
        first = _aware(datetime.fromisoformat(detail["from"])) if "from" in detail else start
        last = _aware(datetime.fromisoformat(detail["to"])) if "to" in detail else first
    except (TypeError, ValueError):
        return start, start
    return min(first, last), max(first, last)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def local_day(moment: datetime) -> date:
    """The Swedish calendar day of a moment."""
    return moment.astimezone(STOCKHOLM).date()


def group(entries: Iterable[Entry]) -> list[Day]:
    """Days newest first; in a day organisations and units in the order they first came,
    and their lines in time order. Listings: one line per organisation and day."""
    ordered = sorted(entries, key=lambda e: period_of(e)[0])
    days: dict[date, Day] = {}
    for entry in ordered:
        start, end = period_of(entry)
        day = days.setdefault(local_day(start), Day(local_day(start)))
        org = _org(day, entry.org_name)
        what = what_of(entry)
        if what == LISTED and _listed_line(org) is not None:
            line = _listed_line(org)
            assert line is not None
            line.end, line.count = max(line.end, end), line.count + _count(entry)
            continue
        unit = _unit(org, entry.unit_name)
        _add(unit, Line(start, end, what, why_of(entry), entry.role, _count(entry)))
    return sorted(days.values(), key=lambda d: d.day, reverse=True)


def _org(day: Day, name: str | None) -> OrgGroup:
    found = next((org for org in day.orgs if org.org == name), None)
    if found is None:
        found = OrgGroup(name)
        day.orgs.append(found)
    return found


def _unit(org: OrgGroup, name: str | None) -> UnitGroup:
    found = next((unit for unit in org.units if unit.unit == name), None)
    if found is None:
        found = UnitGroup(name)
        org.units.append(found)
    return found


def _listed_line(org: OrgGroup) -> Line | None:
    return next((line for unit in org.units for line in unit.lines if line.what == LISTED), None)


def _count(entry: Entry) -> int:
    """How many accesses a folded entry stands for (tiles count as one viewing)."""
    listings = (entry.detail or {}).get("listings")
    return listings if isinstance(listings, int) and listings > 0 else 1


def _add(unit: UnitGroup, line: Line) -> None:
    """Append a line, or lengthen the unit's latest line of the same kind if it ended
    shortly before this one began."""
    for previous in reversed(unit.lines):
        same = (previous.what, previous.why, previous.role) == (line.what, line.why, line.role)
        if same and line.start - previous.end <= SAME_LINE_GAP:
            previous.end = max(previous.end, line.end)
            previous.count += line.count
            return
        if same:
            break
    unit.lines.append(line)


def period(days: list[Day]) -> tuple[date, date] | None:
    """The first and last day of the extract, None when it is empty."""
    if not days:
        return None
    return days[-1].day, days[0].day


def extract_json(days: list[Day]) -> dict[str, Any]:
    """The grouped extract as the page reads it: days, and the period they cover."""
    span = period(days)
    return {
        "from": span[0].isoformat() if span else None,
        "to": span[1].isoformat() if span else None,
        "days": [day.json() for day in days],
    }


# --- the extract in words, and as a PDF ------------------------------------------------------


def say(texts: Mapping[str, str], key: str, **values: object) -> str:
    """A catalogue text with its {placeholders} filled (the key itself when missing)."""
    text = str(texts.get(key, key))
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def clock(moment: datetime) -> str:
    """24-hour Swedish time of a moment: 14:05."""
    return moment.astimezone(STOCKHOLM).strftime("%H:%M")


def time_range(line: Line) -> str:
    """A line's time, or its from–to when it lasted past the minute."""
    start, end = clock(line.start), clock(line.end)
    return start if start == end else f"{start}–{end}"


def line_words(line: Line, texts: Mapping[str, str]) -> tuple[str, str, str, str]:
    """A line as the patient reads it: time, what, why, role (and how many times)."""
    what = say(texts, f"extract.what.{line.what}")
    if line.count > 1 and line.what != "viewed_images":
        what += f" ({say(texts, 'extract.times', count=line.count)})"
    reasons = [say(texts, f"extract.why.{reason}") for reason in line.why]
    why = ", ".join([reasons[0], *map(_lower, reasons[1:])])
    role = say(texts, f"extract.role.{line.role or 'unknown'}")
    return time_range(line), what, why, role


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]


def formatted_personnummer(digits: str) -> str:
    """12 stored digits as YYYYMMDD-NNNN."""
    return f"{digits[:8]}-{digits[8:]}" if len(digits) == 12 and digits.isdigit() else digits


def pdf(
    days: list[Day],
    texts: Mapping[str, str],
    name: str,
    personnummer: str,
    printed: datetime,
    compress: bool = True,
) -> bytes:
    """The loggutdrag as a PDF to save and print: who it is for, the period, and the same
    days → organisations → units → lines as the page (core fonts: Latin-1, so å ä ö)."""
    from fpdf import FPDF

    document = FPDF(format="A4")
    document.set_compression(compress)
    document.set_title(_latin1(say(texts, "extract.title")))
    document.set_auto_page_break(True, margin=15)
    document.add_page()
    write = _writer(document)
    write("Helvetica", "B", 16, say(texts, "extract.title"), 9)
    span = period(days)
    when = f"{span[0].isoformat()} – {span[1].isoformat()}" if span else "–"
    for label, value in (
        ("extract.patient", name),
        ("extract.personnummer", formatted_personnummer(personnummer)),
        ("extract.period", when),
        ("extract.printed", printed.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")),
    ):
        write("Helvetica", "", 10, f"{say(texts, label)}: {value}", 5)
    document.ln(2)
    write("Helvetica", "", 9, say(texts, "extract.lead"), 4.5)
    write("Helvetica", "I", 9, say(texts, "extract.listing_note"), 4.5)
    document.ln(2)
    if not days:
        write("Helvetica", "", 11, say(texts, "extract.empty"), 6)
    for day in days:
        document.ln(2)
        write("Helvetica", "B", 13, day.day.isoformat(), 7)
        for org in day.orgs:
            heading = say(texts, "extract.org_heading", org=org.org or say(texts, "extract.no_org"))
            write("Helvetica", "B", 11, heading, 6)
            for unit in org.units:
                unit_name = unit.unit or say(texts, "extract.no_unit")
                write("Helvetica", "I", 10, say(texts, "extract.unit_heading", unit=unit_name), 5)
                for line in unit.lines:
                    time, what, why, role = line_words(line, texts)
                    write("Helvetica", "", 10, f"    {time}   {what} · {why} · {role}", 5)
    document.ln(4)
    write("Helvetica", "I", 9, say(texts, "extract.footnote"), 4.5)
    return bytes(document.output())


def _writer(document: Any) -> Any:
    """Writes one paragraph in a font, wrapped to the page width."""

    def write(family: str, style: str, size: int, text: str, height: float) -> None:
        document.set_font(family, style, size)
        document.multi_cell(0, height, _latin1(text), new_x="LMARGIN", new_y="NEXT")

    return write


def _latin1(text: str) -> str:
    """The core fonts hold Latin-1 only: dashes and ellipses become their plain forms."""
    plain = text.replace("–", "-").replace("—", "-").replace("…", "...")
    return plain.encode("latin-1", "replace").decode("latin-1")
