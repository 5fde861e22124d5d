"""The live channel: Socket.IO namespace `/live`.

Identity comes from the login session, checked at the handshake by `app/livegate.py`
before any thread is given to the connection, and once more here when the client joins
the namespace. Only the websocket transport is offered: every live client is one
connection, which the gate can count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, request
from flask_socketio import Namespace, SocketIO

from app.auth import COOKIE, Principal
from app.services import services

NAMESPACE = "/live"


class LiveNamespace(Namespace):
    """Connect and disconnect on `/live`; who is connected is known from the session."""

    def on_connect(self, auth: Any = None) -> bool:
        return _principal() is not None

    def on_disconnect(self, reason: Any = None) -> None:
        return None


def _principal() -> Principal | None:
    """The principal the gate found for this connection, still valid now."""
    principal: Principal | None = request.environ.get("samsyn.principal")
    if principal is None:
        return None
    found = services()
    token_principal = found.sessions.principal(request.cookies.get(COOKIE), found.epoch.current())
    if token_principal is None or token_principal.user_id != principal.user_id:
        return None
    return token_principal


def _origin_check(public_url: str) -> Callable[[str | None, dict[str, Any]], bool]:
    """Pages of samsyn itself only: the public address or the host the page was served
    from (a cross-site page must not open a live connection with the user's cookie)."""

    def allowed(origin: str | None, environ: dict[str, Any]) -> bool:
        if origin is None:
            return True  # not a browser: the session cookie still decides
        served = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
        return origin in (public_url, served)

    return allowed


def live_server(app: Flask) -> SocketIO:
    """The application's Socket.IO server: websocket only, joined to the message queue when
    one is configured."""
    socketio = SocketIO(
        app,
        message_queue=app.config["MESSAGE_QUEUE"],
        async_mode="threading",
        transports=["websocket"],
        cors_allowed_origins=_origin_check(app.config["PUBLIC_URL"]),
        max_http_buffer_size=1_000_000,
    )
    socketio.on_namespace(LiveNamespace(NAMESPACE))
    return socketio
