"""Fields of request bodies, checked once for every route: text that any database can store
and any page can show, times in ISO 8601, lists of ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.models import utcnow
from samsyn.errors import BadRequest, SamsynError
from samsyn.text import storable


def text(
    data: dict[str, Any],
    name: str,
    limit: int = 255,
    required: bool = True,
    multiline: bool = False,
    label: str | None = None,
) -> str | None:
    """A string field, trimmed; BadRequest (in a sentence) when missing, not text, too long,
    or holding characters that cannot be stored."""
    what = label or name
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"Write the {what}: it is missing or empty.")
    if len(value) > limit:
        raise BadRequest(f"The {what} is longer than {limit} characters.")
    if not storable(value, multiline):
        raise BadRequest(f"The {what} contains characters that cannot be stored.")
    return value.strip()


def ids(data: dict[str, Any], name: str, limit: int = 500) -> list[str]:
    """A list of opaque ids (absent: empty)."""
    value = data.get(name, [])
    if (
        not isinstance(value, list)
        or len(value) > limit
        or not all(
            isinstance(item, str) and 0 < len(item) <= 32 and item.isalnum() for item in value
        )
    ):
        raise BadRequest(f"{name} must be a list of ids.")
    return list(dict.fromkeys(value))


def _is_id(item: object) -> bool:
    return isinstance(item, str) and 0 < len(item) <= 32 and item.isascii() and item.isalnum()


def moment(value: object, name: str = "until") -> datetime:
    """An ISO 8601 time, in UTC (a time without zone is taken as UTC)."""
    if not isinstance(value, str) or len(value) > 64 or not storable(value):
        raise BadRequest(f"{name} must be an ISO 8601 time, e.g. 2026-12-31T16:00:00Z.")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise BadRequest(f"{name} must be an ISO 8601 time, e.g. 2026-12-31T16:00:00Z.") from error
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def future(value: object, longest: timedelta, name: str = "until") -> datetime:
    """An ISO 8601 time in the future, at most `longest` from now."""
    until = moment(value, name)
    now = utcnow()
    if until <= now:
        raise BadRequest(f"The {name} time has already passed.")
    if until > now + longest:
        raise BadRequest(f"The {name} time may be at most {longest.days} days ahead.")
    return until


class PreconditionRequired(SamsynError):
    """A change to something versioned must say which version it changes."""

    code = "precondition_required"
    status = 428


def sent_version(header: str | None, what: str) -> int | None:
    """The version an `If-Match` header names (a bare number or an ETag), None without one."""
    if header is None:
        return None
    cleaned = header.strip().removeprefix("W/").strip('"')
    if not cleaned.isdigit() or len(cleaned) > 9:
        raise BadRequest(f"If-Match is the {what}'s version, a whole number.")
    return int(cleaned)
