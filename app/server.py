"""`samsyn serve`: gunicorn's threaded workers for HTTP, one live process for Socket.IO.

The serving model, on one port:

- one gunicorn worker per core, each with a pool of threads, serves tiles, pages and the
  API (tiles use every core, and no websocket ever holds one of their threads);
- a websocket upgrade reaching a worker is handed, socket and all, to the live process
  (`app/livehand.py`), which keeps every live connection of the server as a greenlet in
  one event loop (`app/liveprocess.py`): its fan-out never waits for the tile threads'
  interpreter lock, and the tile threads never wait for it;
- the workers' REST changes reach the live rooms through a relay in the master over a
  Unix socket, or through Redis when SAMSYN_MESSAGE_QUEUE names one (then several
  `samsyn serve` on any hosts act as one).

The websocket is the only transport, so no load balancer needs sticky sessions. The
master starts the live process, starts it again if it ends, and takes it down with it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import gunicorn.util
from gunicorn.app.base import BaseApplication

from app.headers import SECURITY_HEADERS
from app.livebus import Relay
from app.livehand import door_path
from app.liveprocess import BOOT, DOOR_ENV, PARENT_ENV, SETTINGS_ENV

log_server = logging.getLogger("samsyn.server")


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
    """gunicorn's settings for samsyn: threaded workers for HTTP (websockets are handed to
    the live process).

    gunicorn keeps connections alive only while fewer than `worker_connections - threads`
    wait, so that is set well above the thread count.
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


class LiveProcess:
    """The live process of this server: started with the master, started again at once
    if it ends (its clients reconnect and resync), stopped with the master."""

    def __init__(self, settings: dict[str, Any], door: str) -> None:
        self.settings = settings
        self.door = door
        self.process: subprocess.Popen[bytes] | None = None
        self._closing = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._keep, name="samsyn-live", daemon=True).start()

    def _keep(self) -> None:
        environment = {
            **os.environ,
            SETTINGS_ENV: json.dumps(self.settings, default=str),
            DOOR_ENV: self.door,
            PARENT_ENV: str(os.getpid()),
        }
        while not self._closing.is_set():
            started = time.monotonic()
            self.process = subprocess.Popen([sys.executable, "-c", BOOT], env=environment)
            code = self.process.wait()
            if self._closing.is_set():
                return
            log_server.warning("the live process ended (%s); starting it again", code)
            self._closing.wait(max(0.0, 0.5 - (time.monotonic() - started)))

    def close(self) -> None:
        self._closing.set()
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()


def serve(
    host: str,
    port: int,
    workers: int | None = None,
    threads: int = 32,
    config: dict[str, Any] | None = None,
) -> None:
    """Run the production server until interrupted: `workers` processes (one per core by
    default) with `threads` each for HTTP, and the live process for every websocket.

    Without SAMSYN_PUBLIC_URL the public address is the one served on.
    """
    gunicorn.util.write_error = write_json_error
    workers = workers or default_workers()
    settings = dict(config or {})
    live = int(settings.get("LIVE_CAPACITY") or os.environ.get("SAMSYN_LIVE_CAPACITY") or 1000)
    if "PUBLIC_URL" not in settings and not os.environ.get("SAMSYN_PUBLIC_URL"):
        settings["PUBLIC_URL"] = f"http://{host}:{port}"
    options = gunicorn_options(host, port, workers, threads)
    queue = settings.get("MESSAGE_QUEUE") or os.environ.get("SAMSYN_MESSAGE_QUEUE")
    runs_dir = tempfile.gettempdir()
    relay = None
    if not queue:
        relay = Relay(Path(runs_dir) / f"samsyn-live-{os.getpid()}.sock")
        settings["LIVE_RELAY"] = str(relay.path)
    door = door_path(os.getpid(), runs_dir)
    live_process = LiveProcess({**settings, "LIVE_SLOTS": live}, door)
    settings.update({"SERVER_THREADS": threads, "LIVE_DOOR": door})

    def starting(_arbiter: Any) -> None:
        if relay is not None:
            relay.start()
        live_process.start()

    def exiting(_arbiter: Any) -> None:
        live_process.close()
        if relay is not None:
            relay.close()
        if os.path.exists(door):
            os.unlink(door)

    options["on_starting"] = starting
    options["on_exit"] = exiting
    SamsynServer(options, settings).run()
