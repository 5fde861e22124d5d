"""The load generators: wrk (Debian package `wrk`) and, where it is missing, an asyncio client.

The asyncio client is Python sharing the CPUs with the servers, so its figures are a
lower bound; the report says which generator ran.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.load import LoadGenerator, LoadResult, LoadSettings, TileGrid
from benchmarks.processes import BenchmarkError

LUA_SCRIPT = Path(__file__).with_name("random_tiles.lua")
REQUEST_TIMEOUT_S = 10


def load_generator(preferred: str | None) -> LoadGenerator:
    """wrk when installed, else the asyncio client (saying so); `preferred` forces one of them."""
    if preferred == "asyncio":
        return AsyncioClient()
    wrk = shutil.which("wrk")
    if wrk is not None:
        return Wrk(wrk)
    if preferred == "wrk":
        raise BenchmarkError("wrk is not installed (Debian package wrk); try --client asyncio")
    print("wrk is not installed (Debian package wrk): using the asyncio client", file=sys.stderr)
    return AsyncioClient()


class Wrk:
    """wrk with `random_tiles.lua`, latency distribution on, output parsed."""

    def __init__(self, executable: str) -> None:
        self.executable = executable

    def describe(self, settings: LoadSettings) -> str:
        return f"wrk, {settings.threads} threads, {settings.connections} connections"

    def run(self, grid: TileGrid, settings: LoadSettings, headers: Mapping[str, str]) -> LoadResult:
        arguments = [grid.prefix, str(grid.level), str(grid.columns), str(grid.rows)]
        return self.measure(grid.base_url, LUA_SCRIPT, arguments, settings, headers)

    def measure(
        self,
        base_url: str,
        script: Path,
        arguments: list[str],
        settings: LoadSettings,
        headers: Mapping[str, str],
    ) -> LoadResult:
        """wrk with a Lua script choosing the requests (`arguments` go to the script)."""
        command = [
            self.executable,
            "-t",
            str(settings.threads),
            "-c",
            str(settings.connections),
            "-d",
            f"{settings.seconds:g}s",
            "--latency",
            "--timeout",
            f"{REQUEST_TIMEOUT_S}s",
            "-s",
            str(script),
        ]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        command += [base_url, "--", *arguments]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=settings.seconds + 60, check=False
        )
        if done.returncode != 0:
            raise BenchmarkError(f"wrk failed ({done.returncode}): {done.stderr[-1000:]}")
        return parse_wrk(done.stdout)


_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}
_UNITS_MB = {"B": 2**-20, "KB": 2**-10, "MB": 1.0, "GB": 2**10}


def parse_wrk(output: str) -> LoadResult:
    """The figures of wrk's `--latency` report."""

    def number(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise BenchmarkError(f"unexpected wrk output (no {pattern!r}):\n{output}")
        return match

    def percentile_ms(percent: int) -> float:
        match = number(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$")
        return float(match.group(1)) * _UNITS_MS[match.group(2)]

    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    transfer = number(r"^Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)")
    return LoadResult(
        tiles_per_s=float(number(r"^Requests/sec:\s+([\d.]+)").group(1)),
        p50_ms=percentile_ms(50),
        p99_ms=percentile_ms(99),
        requests=int(number(r"^\s+(\d+) requests in").group(1)),
        errors=(int(non_2xx.group(1)) if non_2xx else 0)
        + (sum(int(value) for value in socket_errors.groups()) if socket_errors else 0),
        megabytes_per_s=float(transfer.group(1)) * _UNITS_MB[transfer.group(2)],
    )


class AsyncioClient:
    """The stand-in for wrk: keep-alive connections in one event loop, each asking in turn."""

    def describe(self, settings: LoadSettings) -> str:
        return (
            f"asyncio client (wrk missing or not chosen; one Python thread sharing the CPUs"
            f" with the servers, so a lower bound), {settings.connections} connections"
        )

    def run(self, grid: TileGrid, settings: LoadSettings, headers: Mapping[str, str]) -> LoadResult:
        return asyncio.run(self._run(grid, settings, headers))

    async def _run(
        self, grid: TileGrid, settings: LoadSettings, headers: Mapping[str, str]
    ) -> LoadResult:
        tally = _Tally()
        started = time.perf_counter()
        deadline = started + settings.seconds
        try:
            await asyncio.gather(
                *(
                    _connection(grid, headers, deadline, random.Random(seed), tally)
                    for seed in range(settings.connections)
                )
            )
        except TimeoutError as error:
            raise BenchmarkError(f"a tile took over {REQUEST_TIMEOUT_S} s") from error
        return tally.result(time.perf_counter() - started)


@dataclass
class _Tally:
    """Latencies, errors and bytes gathered by all connections of one asyncio run."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    body_bytes: int = 0

    def result(self, elapsed: float) -> LoadResult:
        ordered = sorted(self.latencies) or [math.nan]

        def percentile_ms(fraction: float) -> float:
            return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)] * 1e3

        return LoadResult(
            tiles_per_s=len(self.latencies) / elapsed,
            p50_ms=percentile_ms(0.5),
            p99_ms=percentile_ms(0.99),
            requests=len(self.latencies),
            errors=self.errors,
            megabytes_per_s=self.body_bytes / elapsed / 2**20,
        )


async def _connection(
    grid: TileGrid, headers: Mapping[str, str], deadline: float, rng: random.Random, tally: _Tally
) -> None:
    """One keep-alive connection asking for random tiles until the deadline."""
    host, port = grid.base_url.removeprefix("http://").split(":")
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        while time.perf_counter() < deadline:
            path = grid.path(rng.randrange(grid.columns), rng.randrange(grid.rows))
            started = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n".encode())
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                status, length, closing = await _read_head(reader)
                await reader.readexactly(length)
            tally.latencies.append(time.perf_counter() - started)
            tally.errors += status >= 400
            tally.body_bytes += length
            if closing:
                writer.close()
                reader, writer = await asyncio.open_connection(host, int(port))
    finally:
        writer.close()


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, int, bool]:
    """Status, Content-Length and whether the server will close, from a response's head."""
    status = int((await reader.readline()).split()[1])
    length, closing = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "connection":
            closing = value.strip().lower() == "close"
    return status, length, closing
