"""A throwaway samsyn: its own data directory, database, users and slides, served by gunicorn.

Everything goes through samsyn's own command line (`init-db`, `org`, `patient`, `user`,
`import`, `serve`) as an operator would run it, and every request is made as a logged-in
pathologist of the organisation that owns the slides, so login, the access check and
the access log are all on the measured path, as PERFORMANCE.md asks.
"""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.request
from collections.abc import Sequence
from http.cookies import SimpleCookie
from pathlib import Path

from benchmarks.processes import HOST, BenchmarkError, run_command

CLI = [sys.executable, "-m", "app.cli"]
ORG = "Benchmark region"
ORG_HSA_ID = "SE2321000000-BNCH"
PATIENT = "19121212-1212"  # Skatteverket's test personnummer (Tolvan Tolvansson)
CASE = "Benchmark case"
USERNAME = "bench-pathologist"
PASSWORD = "benchmark-password"  # a throwaway database on 127.0.0.1 only
SESSION_COOKIE = "samsyn_session"
_IMPORTED = re.compile(r"^imported (\S+) \S+ (.+?)(?: \(already registered\))?$")


def environment(data_dir: Path) -> dict[str, str]:
    """This process's environment with samsyn pointed at `data_dir` (database inside it)."""
    env = os.environ.copy()
    env["SAMSYN_DATA_DIR"] = str(data_dir)
    env.pop("SAMSYN_DATABASE_URL", None)
    return env


def prepare(data_dir: Path, slides: Sequence[Path]) -> list[str]:
    """Database, organisation, patient and pathologist, then `slides` imported into one case
    of that patient; returns their image ids in the order of `slides`."""
    env = environment(data_dir)
    run_command([*CLI, "init-db"], env)
    run_command([*CLI, "org", "add", ORG, "--hsa-id", ORG_HSA_ID, "--kind", "region"], env)
    run_command([*CLI, "patient", "add", PATIENT, "--name", "Tolvan Tolvansson", "--org", ORG], env)
    user = ["user", "add", USERNAME, "--org", ORG, "--role", "pathologist", "--password-stdin"]
    run_command([*CLI, *user], env, stdin=PASSWORD + "\n")
    owner = ["--org", ORG, "--patient", PATIENT, "--case", CASE]
    printed = run_command([*CLI, "import", *owner, *map(str, slides)], env)
    return _imported_ids(printed, slides)


def _imported_ids(printed: str, slides: Sequence[Path]) -> list[str]:
    """The image ids from `samsyn import` lines (`imported <id> <kind> <path>`), in slide order."""
    ids = {}
    for line in printed.splitlines():
        match = _IMPORTED.match(line)
        if match:
            ids[os.path.realpath(match.group(2))] = match.group(1)
    missing = [str(path) for path in slides if os.path.realpath(path) not in ids]
    if missing:
        raise BenchmarkError(f"samsyn import did not import {missing[:3]}:\n{printed[-2000:]}")
    return [ids[os.path.realpath(path)] for path in slides]


def serve_command(port: int, workers: int, threads: int) -> list[str]:
    """`samsyn serve` on 127.0.0.1:`port` with the given gunicorn workers and threads."""
    return [
        *CLI,
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--threads",
        str(threads),
    ]


def dzi_path(image_id: str) -> str:
    return f"/dzi/{image_id}.dzi"


def login_headers(
    base_url: str, username: str = USERNAME, password: str = PASSWORD
) -> dict[str, str]:
    """Log in (as the benchmark's pathologist by default); the headers (session cookie)
    every request of that user sends."""
    request = urllib.request.Request(
        f"{base_url}/api/session",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        cookie = SimpleCookie(reply.headers.get("Set-Cookie", ""))
    if SESSION_COOKIE not in cookie:
        raise BenchmarkError("logging in to samsyn set no session cookie")
    return {"Cookie": f"{SESSION_COOKIE}={cookie[SESSION_COOKIE].value}"}
