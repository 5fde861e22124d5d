"""`samsyn serve`: gunicorn with threaded workers, serving HTTP and Socket.IO (websocket)."""

from __future__ import annotations

import json
import os
from typing import Any

import gunicorn.util
from gunicorn.app.base import BaseApplication

from app.headers import SECURITY_HEADERS


class SamsynServer(BaseApplication):
    """gunicorn running `create_app()` in each worker process."""

    def __init__(self, options: dict[str, Any], config: dict[str, Any] | None = None) -> None:
        self.options = options
        self.app_config = config
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from app import create_app

        return create_app(self.app_config)


def gunicorn_options(host: str, port: int, workers: int, threads: int) -> dict[str, Any]:
    """gunicorn's settings for samsyn: threaded workers (HTTP and Socket.IO websockets).

    The request line may be as long as gunicorn allows, so that samsyn itself refuses URLs
    over its own limit in the contract's JSON shape.
    """
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "timeout": 120,
        "graceful_timeout": 10,
        "keepalive": 30,
        "limit_request_line": 8190,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
    }


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's answer to a request it cannot parse (a request line over 8 KB, broken
    headers), in the contract's JSON shape with samsyn's security headers, not as HTML."""
    code = reason.lower().replace(" ", "_") or "error"
    body = json.dumps({"error": code, "message": mesg or reason}).encode()
    headers = "".join(f"{name}: {value}\r\n" for name, value in SECURITY_HEADERS)
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
    )
    gunicorn.util.write_nonblock(sock, head.encode("latin1") + body)


def serve(
    host: str, port: int, workers: int, threads: int, config: dict[str, Any] | None = None
) -> None:
    """Run the production server until interrupted.

    Without SAMSYN_PUBLIC_URL the public address is the one served on.
    """
    gunicorn.util.write_error = write_json_error
    settings = {"SERVER_THREADS": threads, **(config or {})}
    if "PUBLIC_URL" not in settings and not os.environ.get("SAMSYN_PUBLIC_URL"):
        settings["PUBLIC_URL"] = f"http://{host}:{port}"
    SamsynServer(gunicorn_options(host, port, workers, threads), settings).run()
