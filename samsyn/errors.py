"""The one rooted exception hierarchy of samsyn.

The libraries (`tiles`, `annotations`) raise these; the web layer maps them to HTTP
status codes and the contract's JSON error shape in one place (`app/errors.py`).
"""


class SamsynError(Exception):
    """Base of every error samsyn raises on purpose. `code` is the contract's error code."""

    code = "error"
    status = 500

    def __init__(self, message: str, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        # What the answer carries beside the message (a 409 carries the current version).
        self.details = details or {}


class BadRequest(SamsynError):
    """The request itself is malformed (wrong parameter, out of the allowed range)."""

    code = "bad_request"
    status = 400


class NotFound(SamsynError):
    """The thing does not exist, or the caller may not know that it does."""

    code = "not_found"
    status = 404


class Forbidden(SamsynError):
    """The caller is known but not allowed."""

    code = "forbidden"
    status = 403


class Conflict(SamsynError):
    """A version conflict: the caller's copy is stale."""

    code = "conflict"
    status = 409


class TooLarge(SamsynError):
    """The request asks for (or sends) more than the server will handle."""

    code = "too_large"
    status = 413


class Unreadable(SamsynError):
    """A file, or part of it, cannot be decoded: unknown format, truncated, corrupt."""

    code = "unreadable"
    status = 422
