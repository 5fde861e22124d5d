"""Server processes the benchmarks start and always stop, and short commands they run.

A server runs in its own process group (gunicorn master and workers), so stopping it
stops everything it started, on success, error or Ctrl-C alike. Nothing here ever
signals a process the benchmark did not start.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from benchmarks import ROOT

HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
COMMAND_TIMEOUT_S = 300.0


class BenchmarkError(RuntimeError):
    """A benchmark cannot go on: a server did not start, a command failed, a check failed."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def run_command(command: Sequence[str], env: Mapping[str, str], stdin: str = "") -> str:
    """Run a short command from the repository root; its stdout, or BenchmarkError with stderr."""
    try:
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=dict(env),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise BenchmarkError(f"{' '.join(command)} took over {COMMAND_TIMEOUT_S:.0f} s") from error
    if done.returncode != 0:
        raise BenchmarkError(
            f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}"
        )
    return done.stdout


@contextmanager
def running_server(
    command: Sequence[str], env: Mapping[str, str], log: Path, ready_url: str
) -> Iterator[int]:
    """Start a server, wait until it answers `ready_url`, yield its pid; stop it on leaving."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            _wait_ready(process, ready_url, log)
            yield process.pid
        finally:
            _stop(process)


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Poll `url` until it answers at all (any status: it may want a login); BenchmarkError with
    the server's log if the server dies or does not answer in time."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if _has_exited(process.pid):
            raise BenchmarkError(f"server exited early:\n{_tail(log)}")
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise BenchmarkError(f"server not ready at {url} after {READY_TIMEOUT_S:.0f} s:\n{_tail(log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL whatever is left after a grace period.

    The master is reaped only at the very end: until then its pid, which is the group's
    id, cannot be reused, so the signals reach nothing but the server's own processes.
    """
    _signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while not _has_exited(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    _signal_group(process.pid, signal.SIGKILL)
    process.wait(timeout=STOP_TIMEOUT_S)


def _has_exited(pid: int) -> bool:
    """Whether a child has exited, without reaping it."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _signal_group(group: int, number: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(group, number)


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
