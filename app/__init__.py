"""The samsyn web application."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, Request, Response, current_app, request
from flask.sessions import SessionInterface

from app.api import (
    annotating,
    audit,
    cases,
    directory,
    health,
    images,
    notes,
    pages,
    patients,
    referrals,
    series,
    session,
    static,
    tiles,
)
from app.auth import authenticate_request
from app.config import load_config
from app.errors import register_error_handlers
from app.fastpath import FastTiles
from app.headers import NO_STORE, SECURITY_HEADERS
from app.live import live_server
from app.livegate import LiveGate, live_capacity
from app.livehand import HandOff
from app.services import attach, build_services, services
from samsyn.errors import SamsynError


class NoFlaskSession(SessionInterface):
    """samsyn keeps its own server-side login sessions; Flask's cookie session stays unused."""

    def open_session(self, app: Flask, request: Request) -> None:
        return None

    def save_session(self, app: Flask, session: object, response: Response) -> None:
        return None


STATIC = Path(__file__).resolve().parent.parent / "static"
BLUEPRINTS = (
    health.bp,
    session.bp,
    images.bp,
    series.bp,
    tiles.bp,
    cases.bp,
    notes.bp,
    annotating.bp,
    directory.bp,
    patients.bp,
    referrals.bp,
    audit.bp,
    pages.bp,
    static.bp,
)


class UriTooLong(SamsynError):
    code = "uri_too_long"
    status = 414


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build an application: configuration, services, blueprints, error handlers, headers."""
    app = Flask(__name__, static_folder=None)
    app.config.update(load_config(config))
    app.config["STATIC_DIR"] = STATIC
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.session_interface = NoFlaskSession()
    attach(app, build_services(app.config))
    app.before_request(refuse_long_urls)
    app.before_request(authenticate_request)
    app.after_request(secure)
    live_server(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    app.wsgi_app = FastTiles(app, app.wsgi_app)  # type: ignore[method-assign]
    threads = app.config.get("SERVER_THREADS")
    capacity = app.config.get("LIVE_SLOTS") or (live_capacity(threads) if threads else None)
    app.wsgi_app = LiveGate(services(app), app.wsgi_app, capacity)  # type: ignore[method-assign]
    if app.config.get("LIVE_DOORS"):
        app.wsgi_app = HandOff(app.wsgi_app, list(app.config["LIVE_DOORS"]))  # type: ignore[method-assign]
    return app


def refuse_long_urls() -> None:
    """A URL longer than any samsyn makes is refused in the contract's JSON shape."""
    longest = current_app.config["MAX_URL_LENGTH"]
    length = len(request.environ.get("RAW_URI") or request.full_path)
    if length > longest:
        raise UriTooLong(f"the URL is longer than {longest} characters")


def secure(response: Response) -> Response:
    """Security headers on every response; JSON answers (patient data) are not stored."""
    for name, value in SECURITY_HEADERS:
        response.headers.setdefault(name, value)
    if response.mimetype == "application/json" and "Cache-Control" not in response.headers:
        response.headers[NO_STORE[0]] = NO_STORE[1]
    return response
