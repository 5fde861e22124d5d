"""Plain HTTP GETs for the checks and the memory benchmark (not for timing)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Reply:
    """Status, media type and body of one response."""

    status: int
    media_type: str
    body: bytes


def get(url: str, headers: Mapping[str, str]) -> Reply:
    """GET `url`; error statuses are returned, not raised, so callers can report them."""
    request = urllib.request.Request(url, headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return Reply(response.status, response.headers.get_content_type(), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.headers.get_content_type(), error.read())
