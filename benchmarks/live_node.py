"""The Node.js load client of the live benchmark (`live_clients.mjs`), driven from Python.

One Node process holds every websocket, so hundreds of live clients cost the server's
machine little CPU; Python only orchestrates. Commands and answers are JSON lines on the
client's stdin and stdout; its stderr goes to a log file.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from benchmarks import ROOT
from benchmarks.processes import BenchmarkError

SCRIPT = Path(__file__).with_name("live_clients.mjs")
CLIENT_PACKAGE = ROOT / "static" / "node_modules" / "socket.io-client"
CONNECT_GRACE_S = 60.0  # a seat under way at the budget's end may take its timeouts
STOP_TIMEOUT_S = 10.0
Message = dict[str, Any]


class LiveClients:
    """The Node client as a context manager: started on entry, always stopped on exit."""

    def __init__(self, log: Path) -> None:
        node = shutil.which("node")
        if node is None:
            raise BenchmarkError("the live benchmark needs Node.js (`node` on the PATH)")
        if not CLIENT_PACKAGE.is_dir():
            raise BenchmarkError("static/node_modules has no socket.io-client: run `make install`")
        self.command = [node, str(SCRIPT)]
        self.log = log
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.process: subprocess.Popen[str] | None = None
        self._log_file: IO[bytes] | None = None

    def __enter__(self) -> LiveClients:
        self._log_file = self.log.open("ab")
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            try:
                self._send({"cmd": "quit"})
                process.wait(timeout=STOP_TIMEOUT_S)
            except (OSError, subprocess.TimeoutExpired):
                process.kill()  # only the client this object started
                process.wait(timeout=STOP_TIMEOUT_S)
        if self._log_file is not None:
            self._log_file.close()

    def connect(self, seats: list[dict[str, Any]], concurrency: int, budget_s: float) -> Message:
        """Log in, open and join every seat, for at most about `budget_s`; what connected
        and joined, and why not."""
        command = {"cmd": "connect", "seats": seats, "concurrency": concurrency}
        self._send({**command, "budget_s": budget_s})
        return self._await("connected", budget_s + CONNECT_GRACE_S)

    def load(
        self,
        settings: dict[str, float],
        on_started: Callable[[], None] | None = None,
        tick: Callable[[], None] | None = None,
    ) -> Message:
        """Run the live load for `settings["seconds"]`; `on_started` runs once it has begun,
        `tick` about every second until its figures are in."""
        self._send({"cmd": "load", **settings})
        self._await("load_started", 60.0, tick)
        if on_started is not None:
            on_started()
        return self._await("load", settings["seconds"] + 60.0, tick)

    def disconnect(self) -> Message:
        self._send({"cmd": "disconnect"})
        return self._await("disconnected", 60.0)

    def _send(self, message: Message) -> None:
        if self.process is None or self.process.stdin is None:
            raise BenchmarkError("the live client is not running")
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _await(self, event: str, seconds: float, tick: Callable[[], None] | None = None) -> Message:
        """The next message of `event`; BenchmarkError if the client fails, dies or is late."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1.0)
            except queue.Empty:
                line = ""
            if tick is not None:
                tick()
            if line is None:
                raise BenchmarkError(f"the live client exited; see {self.log}")
            if not line.strip():
                continue
            message: Message = json.loads(line)
            if message.get("event") == "error":
                raise BenchmarkError(f"the live client failed: {message.get('message')}")
            if message.get("event") == event:
                return message
        raise BenchmarkError(f"the live client sent no {event!r} within {seconds:.0f} s")
