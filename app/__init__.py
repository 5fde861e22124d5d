"""The samsyn web application."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface

from app import imaging
from app.access import AccessControl
from app.api import audit, cases, images, pages, series, session, tiles
from app.auth import Sessions, authenticate_request
from app.config import load_config
from app.epoch import PolicyEpoch
from app.errors import register_error_handlers
from app.extensions import db, socketio
from app.fastpath import FastTiles


class NoFlaskSession(SessionInterface):
    """samsyn keeps its own server-side login sessions; Flask's cookie session stays unused."""

    def open_session(self, app: Flask, request: Request) -> None:
        return None

    def save_session(self, app: Flask, session: object, response: Response) -> None:
        return None


STATIC = Path(__file__).resolve().parent.parent / "static"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build an application: configuration, extensions, blueprints, error handlers."""
    app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static")
    app.config.update(load_config(config))
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.session_interface = NoFlaskSession()
    db.init_app(app)
    imaging.init_app(app)
    app.extensions["samsyn_epoch"] = PolicyEpoch(app.config["DATA_DIR"])
    app.extensions["samsyn_sessions"] = Sessions(app)
    app.extensions["samsyn_access"] = AccessControl(app)
    app.before_request(authenticate_request)
    socketio.init_app(app, message_queue=app.config["MESSAGE_QUEUE"], async_mode="threading")
    blueprints = (session.bp, images.bp, series.bp, tiles.bp, cases.bp, audit.bp, pages.bp)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    app.wsgi_app = FastTiles(app, app.wsgi_app)  # type: ignore[method-assign]
    return app
