"""`samsyn serve`: gunicorn with threaded workers, serving HTTP and Socket.IO (websocket).

The serving model: one worker process per core (tiles use every core), each with a pool of
threads for HTTP and, beside it, one thread per live connection (Flask-SocketIO's threading
mode holds a thread for each websocket; idle ones cost memory, not CPU). The workers'
live rooms are joined by a relay in the master over a Unix socket, or by Redis when
SAMSYN_MESSAGE_QUEUE names one (then several `samsyn serve` on any hosts act as one).
The websocket is the only transport, so no load balancer needs sticky sessions.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import gunicorn.util
from gunicorn.app.base import BaseApplication

from app.headers import SECURITY_HEADERS
from app.livebus import Relay


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

    `threads` counts the live connections' threads too; gunicorn keeps connections alive
    only while fewer than `worker_connections - threads` wait, so that is set well above.
    The request line may be as long as gunicorn allows, so that samsyn itself refuses URLs
    over its own limit in the contract's JSON shape.
    """
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_connections": threads + 1000,
        "reuse_port": True,  # the kernel spreads new connections evenly over the workers
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


def default_workers() -> int:
    """One worker per core (SAMSYN_WORKERS overrides)."""
    return int(os.environ.get("SAMSYN_WORKERS") or os.cpu_count() or 1)


def serve(
    host: str,
    port: int,
    workers: int | None = None,
    threads: int = 32,
    config: dict[str, Any] | None = None,
) -> None:
    """Run the production server until interrupted: `workers` processes (one per core by
    default), each with `threads` for HTTP plus one per live connection it may hold.

    Without SAMSYN_PUBLIC_URL the public address is the one served on.
    """
    gunicorn.util.write_error = write_json_error
    workers = workers or default_workers()
    settings = dict(config or {})
    live = int(settings.get("LIVE_CAPACITY") or os.environ.get("SAMSYN_LIVE_CAPACITY") or 1000)
    settings.update({"SERVER_THREADS": threads + live, "LIVE_SLOTS": live})
    if "PUBLIC_URL" not in settings and not os.environ.get("SAMSYN_PUBLIC_URL"):
        settings["PUBLIC_URL"] = f"http://{host}:{port}"
    options = gunicorn_options(host, port, workers, threads + live)
    queue = settings.get("MESSAGE_QUEUE") or os.environ.get("SAMSYN_MESSAGE_QUEUE")
    if workers > 1 and not queue:
        relay = Relay(Path(tempfile.gettempdir()) / f"samsyn-live-{os.getpid()}.sock")
        settings["LIVE_RELAY"] = str(relay.path)
        options["on_starting"] = lambda _arbiter: relay.start()
        options["on_exit"] = lambda _arbiter: relay.close()
    SamsynServer(options, settings).run()
