"""HTTP blueprints, one per resource, and what they share."""

from __future__ import annotations

from typing import Any

from flask import request

from samsyn.errors import BadRequest


def json_object(hint: str = "send a JSON object") -> dict[str, Any]:
    """The request body as a JSON object, or BadRequest (also for absurdly deep nesting)."""
    try:
        data = request.get_json(silent=True)
    except RecursionError as error:
        raise BadRequest("the JSON is nested too deeply") from error
    if not isinstance(data, dict):
        raise BadRequest(hint)
    return data
