"""The parts of `samsyn serve` that keep processes apart: the live processes' handles and
the SQLite writer turn shared by every process of a server."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from app.extensions import WriterTurn, sqlite_file
from app.server import LiveProcess, _pidfd

SLEEPER = (sys.executable, "-c", "import time; time.sleep(30)")


def running(process: LiveProcess) -> int:
    deadline = time.monotonic() + 10
    while process.pid is None:
        assert time.monotonic() < deadline, "the process did not start"
        time.sleep(0.02)
    return process.pid


def test_a_stopping_master_never_signals_a_pid_given_to_another_process() -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    handle = _pidfd(ended.pid)
    if handle is None:
        pytest.skip("no pidfd on this system")
    ended.wait()  # reaped, as gunicorn reaps a live process: its pid is free again
    bystander = subprocess.Popen(list(SLEEPER))
    try:
        process = LiveProcess({}, "/nonexistent")
        process.pid, process._handle = bystander.pid, handle  # the pid now names another
        process.signal(signal.SIGTERM)
        time.sleep(0.2)
        assert bystander.poll() is None, "a process that was not the live process was signalled"
    finally:
        os.close(handle)
        bystander.kill()
        bystander.wait()


def test_close_stops_the_running_process_and_it_is_not_started_again() -> None:
    process = LiveProcess({}, "/nonexistent", command=SLEEPER)
    process.start()
    pid = running(process)
    started = time.monotonic()
    process.close()
    assert time.monotonic() - started < 5
    assert process.pid is None and process._handle is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_process_that_ends_is_started_again() -> None:
    process = LiveProcess({}, "/nonexistent", command=SLEEPER)
    process.start()
    try:
        first = running(process)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while process.pid in (None, first):
            assert time.monotonic() < deadline, "the process was not started again"
            time.sleep(0.02)
    finally:
        process.close()


def _hold(path: str, held: Any, done: Any) -> None:
    turn = WriterTurn(path)
    assert turn.acquire(timeout=1)
    held.set()
    done.wait(10)
    turn.release()


def test_the_writer_turn_is_one_at_a_time_across_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "samsyn.db")
    spawn = multiprocessing.get_context("spawn")
    held, done = spawn.Event(), spawn.Event()
    other = spawn.Process(target=_hold, args=(path, held, done))
    other.start()
    try:
        assert held.wait(20)
        turn = WriterTurn(path)
        started = time.monotonic()
        assert not turn.acquire(timeout=0.3), "two processes had the writer turn at once"
        assert time.monotonic() - started >= 0.3
        done.set()
        assert turn.acquire(timeout=5)
        turn.release()
    finally:
        done.set()
        other.join(10)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:////var/lib/samsyn/samsyn.db", "/var/lib/samsyn/samsyn.db"),
        ("sqlite:///relative.db", "relative.db"),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("postgresql://postgres@127.0.0.1:5432/test", None),
    ],
)
def test_only_a_sqlite_file_has_a_writer_turn(url: str, expected: str | None) -> None:
    assert sqlite_file(url) == expected


def test_the_writer_turn_file_sits_beside_the_database(tmp_path: Path) -> None:
    WriterTurn(str(tmp_path / "samsyn.db"))
    assert (tmp_path / "samsyn.db-writer").exists()
    assert oct(os.stat(tmp_path / "samsyn.db-writer").st_mode & 0o777) == "0o600"
