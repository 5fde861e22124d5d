"""Health for load balancers and for `make run`'s own wait: alive, and ready to serve."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text

from app.livehand import door_open
from app.services import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process serves; no login, no database."""
    return jsonify({"ok": True})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """200 when the database, the live processes (under `samsyn serve`) and the message
    queue (where configured) answer, else 503."""
    checks = {"database": _database_answers()}
    doors = services().config.get("LIVE_DOORS")
    if doors:
        checks["live"] = all(door_open(door) for door in doors)
    queue = services().config.get("MESSAGE_QUEUE")
    if queue:
        checks["message_queue"] = _queue_answers(queue) and _bus_listens()
    ready = all(checks.values())
    return jsonify({"ok": ready, **checks}), 200 if ready else 503


def _bus_listens() -> bool:
    """The live bus of this process is connected (its listener has not lost Redis)."""
    hub = current_app.extensions.get("samsyn.live")
    return hub is None or hub.bus.state() == "up"


def _database_answers() -> bool:
    try:
        with services().db.session() as session:
            session.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


def _queue_answers(url: str) -> bool:
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False
