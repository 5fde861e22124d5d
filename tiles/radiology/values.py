"""Turning pydicom element values into plain, JSON-ready Python values, never raising."""

from __future__ import annotations

import math
from typing import Any

from pydicom.dataset import Dataset


def text(value: Any) -> str:
    """A string value stripped of padding; '' for missing or undecodable values."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("ascii", "replace").strip("\x00 ")
    try:
        return str(value).strip("\x00 ")
    except Exception:
        return ""


def number(value: Any) -> float | None:
    """A finite float, or None for missing, malformed, infinite or NaN values."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def integer(value: Any) -> int | None:
    """An int, or None for missing or malformed values."""
    result = number(value)
    return int(result) if result is not None else None


def numbers(value: Any, count: int | None = None) -> tuple[float, ...] | None:
    """A multi-valued number as floats; None if missing, malformed or not `count` values."""
    if value is None or isinstance(value, (str, bytes)):
        single = number(value) if isinstance(value, str) else None
        items: list[float | None] = [single] if single is not None else []
    else:
        try:
            items = [number(item) for item in value] if _iterable(value) else [number(value)]
        except Exception:
            return None
    if not items or any(item is None for item in items):
        return None
    if count is not None and len(items) != count:
        return None
    return tuple(float(item) for item in items if item is not None)


def point(value: Any) -> tuple[float, float, float] | None:
    """A position (x, y, z) in mm, or None."""
    found = numbers(value, 3)
    return (found[0], found[1], found[2]) if found else None


def texts(value: Any) -> list[str]:
    """A multi-valued string as a list ('' for missing)."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not _iterable(value):
        return [text(value)]
    return [text(item) for item in value]


def _iterable(value: Any) -> bool:
    try:
        iter(value)
    except TypeError:
        return False
    return True


def get(dataset: Dataset | None, keyword: str) -> Any:
    """An element's value, or None when it is absent or cannot be decoded."""
    if dataset is None:
        return None
    try:
        return dataset.get(keyword)
    except Exception:
        return None


def iso_date(value: Any) -> str | None:
    """A DICOM DA value (YYYYMMDD) as ISO 8601 (YYYY-MM-DD), or None."""
    digits = "".join(ch for ch in text(value) if ch.isdigit())
    if len(digits) != 8:
        return None
    year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{year:04d}-{month:02d}-{day:02d}"


def one_line(error: BaseException) -> str:
    """An exception as one short line for a Failed reason."""
    message = str(error).strip().splitlines()
    first = message[0] if message else type(error).__name__
    return first[:200]
