"""`samsyn serve`: gunicorn's threaded workers for HTTP, live processes for Socket.IO.

The serving model, on one port:

- one gunicorn worker per core, each with a pool of threads, serves tiles, pages and the
  API (tiles use every core, and no websocket ever holds one of their threads);
- a websocket upgrade reaching a worker is handed, socket and all, to one of the live
  processes (`app/livehand.py`, one per core by default), each of which keeps its live
  connections as greenlets in one event loop (`app/liveprocess.py`): their fan-out never
  waits for the tile threads' interpreter lock, and the tile threads never wait for it;
- the live processes share rooms, and the workers' REST changes reach them, through a
  relay in the master over a Unix socket, or through Redis when SAMSYN_MESSAGE_QUEUE
  names one (then several `samsyn serve` on any hosts act as one).

The websocket is the only transport, so no load balancer needs sticky sessions. The
master starts the live processes, starts one again if it ends, and takes them down with
it.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import sys
import tempfile
import threading
import time
from contextlib import suppress
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
    the live processes).

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
    """A live process of this server: started with the master, started again at once if
    it ends (its clients reconnect and resync), stopped with the master.

    Started with posix_spawn, not subprocess: gunicorn forks its workers from another
    thread of the master, and a worker forked while subprocess waits on its exec pipe
    would hold that pipe open, and the wait, for the worker's whole life. gunicorn also
    reaps every child of the master, this one included, so its exit status may be gone
    by the time this thread asks; and once reaped, its pid may be another process's.
    So the process is known by a pidfd (Linux): waited on and signalled through it,
    never by a pid that may have been given to someone else. It has a process group of
    its own: a Ctrl-C in the terminal stops the master, which stops it in order."""

    def __init__(self, settings: dict[str, Any], door: str, command: tuple[str, ...] = ()) -> None:
        self.settings = settings
        self.door = door
        self.command = command or (sys.executable, "-c", BOOT)
        self.pid: int | None = None
        self._handle: int | None = None  # the pidfd of the process now running
        self._lock = threading.Lock()  # pid and handle change together, under it
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._keep, name="samsyn-live", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _keep(self) -> None:
        """Start the process, wait for its end, start it again: this thread alone opens
        and closes its handle."""
        environment = {
            **os.environ,
            SETTINGS_ENV: json.dumps(self.settings, default=str),
            DOOR_ENV: self.door,
            PARENT_ENV: str(os.getpid()),
        }
        while not self._closing.is_set():
            started = time.monotonic()
            pid = os.posix_spawn(self.command[0], list(self.command), environment, setpgroup=0)
            handle = _pidfd(pid)
            with self._lock:
                self.pid, self._handle = pid, handle
            if self._closing.is_set():  # closed while it started
                self.signal(signal.SIGTERM)
            code = _ended(pid, handle)
            with self._lock:
                if handle is not None:
                    os.close(handle)
                self.pid = self._handle = None
            if self._closing.is_set():
                return
            log_server.warning("the live process ended (%s); starting it again", code)
            self._closing.wait(max(0.0, 0.5 - (time.monotonic() - started)))

    def signal(self, number: signal.Signals) -> None:
        """Signal the process now running, through its handle where there is one."""
        with self._lock, suppress(ProcessLookupError):
            if self._handle is not None:
                signal.pidfd_send_signal(self._handle, number)
            elif self.pid is not None:
                os.kill(self.pid, number)

    def close(self) -> None:
        """Stop it (SIGTERM, SIGKILL after 5 s) and wait until it has ended."""
        self._closing.set()
        if not self._thread.is_alive():
            return
        self.signal(signal.SIGTERM)
        self._thread.join(5)
        if self._thread.is_alive():
            self.signal(signal.SIGKILL)
            self._thread.join(5)


def _ended(pid: int, handle: int | None) -> int | str:
    """The process's exit code once it has ended, or a word on who reaped it first."""
    while True:
        ended = handle is not None and bool(select.select([handle], [], [], 0.2)[0])
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return "reaped by gunicorn"
        if done:
            return os.waitstatus_to_exitcode(status)
        if ended:  # reaped, and its pid already another child's
            return "reaped by gunicorn"
        if handle is None:
            time.sleep(0.2)


def _pidfd(pid: int) -> int | None:
    """A handle on the process itself (Linux 5.3 and later), or None where there is none."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def default_live_processes() -> int:
    """One live process per core (SAMSYN_LIVE_PROCESSES overrides): ops, notes and their
    fan-out use every core when tiles leave it free."""
    return int(os.environ.get("SAMSYN_LIVE_PROCESSES") or os.cpu_count() or 1)


def serve(
    host: str,
    port: int,
    workers: int | None = None,
    threads: int = 32,
    config: dict[str, Any] | None = None,
) -> None:
    """Run the production server until interrupted: `workers` processes (one per core by
    default) with `threads` each for HTTP, and the live processes for every websocket.

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
    doors = [door_path(os.getpid(), runs_dir, n) for n in range(default_live_processes())]
    live_processes = [LiveProcess({**settings, "LIVE_SLOTS": live}, door) for door in doors]
    settings.update({"SERVER_THREADS": threads, "LIVE_DOORS": doors})

    def starting(_arbiter: Any) -> None:
        if relay is not None:
            relay.start()
        for process in live_processes:
            process.start()

    def exiting(_arbiter: Any) -> None:
        for process in live_processes:
            process.close()
        if relay is not None:
            relay.close()
        for door in doors:
            if os.path.exists(door):
                os.unlink(door)

    options["on_starting"] = starting
    options["on_exit"] = exiting
    SamsynServer(options, settings).run()
