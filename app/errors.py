"""Every error leaves the server as the contract's JSON shape, never as a traceback."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from samsyn.errors import SamsynError

log = logging.getLogger("samsyn")


def error_response(
    status: int, code: str, message: str, details: dict[str, object] | None = None
) -> Response:
    """`{"error": code, "message": message}` with the given status, and what the error adds
    for the caller to act on (a stale write gets the current annotation as `current`)."""
    response = jsonify({**(details or {}), "error": code, "message": message})
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    """Map samsyn's exception hierarchy and Werkzeug's HTTP errors to JSON responses."""

    @app.errorhandler(SamsynError)
    def samsyn_error(error: SamsynError) -> Response:
        response = error_response(error.status, error.code, error.message, error.details)
        response.headers.update(getattr(error, "headers", {}))
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        code = (error.name or "error").lower().replace(" ", "_")
        return error_response(error.code or 500, code, error.description or error.name)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "internal", "the server could not complete this request")
