"""Text that any database can store and any page can show: the one check of it, shared by
the web layer's fields and the libraries' own readers."""

from __future__ import annotations

LINE_BREAKS = frozenset("\n\r\t")


def storable(value: str, multiline: bool = False) -> bool:
    """Text without unpaired surrogates and without control characters (line breaks and
    tabs allowed in multi-line text such as a reason)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    allowed = LINE_BREAKS if multiline else frozenset()
    return not any((ord(char) < 32 or ord(char) == 127) and char not in allowed for char in value)
