"""Slide tiles (PERFORMANCE.md section 1): samsyn against openslide-python's Deep Zoom server.

Both serve random tiles of the highest Deep Zoom level of the same large slide, each on
its own grid (the anchor 254 px + 1 px overlap, samsyn the slide's 256 px tiles), under
the same gunicorn configuration and the same load. Both servers stay up and are loaded
in turn, round after round, never at the same time: on a shared, noisy machine a burst
of someone else's work then hits both alike, and the median of the rounds and the ratio
within each round say more than any single run.
"""

from __future__ import annotations

import os
import statistics
import sys
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks import ROOT, anchor_deepzoom, open_tiles, samsyn_instance
from benchmarks.load import (
    LoadGenerator,
    LoadResult,
    LoadSettings,
    TileGrid,
    check_sample,
    highest_level_grid,
)
from benchmarks.processes import HOST, free_port, running_server
from benchmarks.report import load_average, table, verdict
from benchmarks.slides import SlideFile, large_slide

TARGET_RATIO = 10.0
TARGET_P99_MS = 25.0
TARGET_SECURITY_SHARE = 0.80


@dataclass(frozen=True)
class TileSettings:
    """The slide, the servers' gunicorn configuration, the load and how many rounds of it."""

    slide_side: int
    warmup_s: float
    load: LoadSettings
    rounds: int
    workers: int = 2
    threads: int = 4


FULL = TileSettings(
    slide_side=32768, warmup_s=3, load=LoadSettings(connections=32, threads=2, seconds=15), rounds=3
)
QUICK = TileSettings(
    slide_side=8192, warmup_s=1, load=LoadSettings(connections=32, threads=2, seconds=4), rounds=1
)


@dataclass(frozen=True)
class Server:
    """A running server under test: its name, grid and the headers its requests carry."""

    name: str
    grid: TileGrid
    headers: dict[str, str]


@dataclass(frozen=True)
class Measured:
    """One server's results, one per round."""

    server: Server
    rounds: tuple[LoadResult, ...]

    def median(self, figure: str) -> float:
        return float(statistics.median(getattr(result, figure) for result in self.rounds))


@dataclass(frozen=True)
class TileReport:
    """Everything the tile benchmark prints."""

    slide: SlideFile
    settings: TileSettings
    client: str
    anchor: Measured
    samsyn: Measured
    open_samsyn: Measured
    loads: tuple[float, float]

    @property
    def ratios(self) -> list[float]:
        """samsyn's tiles/s over the anchor's, round by round."""
        pairs = zip(self.samsyn.rounds, self.anchor.rounds, strict=True)
        return [ours.tiles_per_s / theirs.tiles_per_s for ours, theirs in pairs]

    @property
    def security_shares(self) -> list[float]:
        """samsyn's tiles/s with security on over the same tile path without it, by round."""
        pairs = zip(self.samsyn.rounds, self.open_samsyn.rounds, strict=True)
        return [secure.tiles_per_s / open_.tiles_per_s for secure, open_ in pairs]

    @property
    def errors(self) -> int:
        everything = (*self.anchor.rounds, *self.samsyn.rounds, *self.open_samsyn.rounds)
        return sum(result.errors for result in everything)


def run(settings: TileSettings, generator: LoadGenerator, workdir: Path) -> TileReport:
    """Start both servers on the same slide, check and warm them, then load them in turn."""
    slide = large_slide(settings.slide_side)
    with ExitStack() as stack:
        servers = [
            _start_anchor(stack, slide, settings, workdir),
            _start_samsyn(stack, slide, settings, workdir),
            _start_open_tiles(stack, slide, settings, workdir),
        ]
        _check_and_warm(servers, settings, generator)
        load_before = load_average()
        results = _take_turns(servers, settings, generator)
        loads = (load_before, load_average())
    anchor, samsyn, open_samsyn = (Measured(s, r) for s, r in zip(servers, results, strict=True))
    client = generator.describe(settings.load)
    return TileReport(slide, settings, client, anchor, samsyn, open_samsyn, loads)


def _check_and_warm(
    servers: list[Server], settings: TileSettings, generator: LoadGenerator
) -> None:
    """A sample of tiles must be right before anything is timed; the warm-up is not counted."""
    warmup = replace(settings.load, seconds=settings.warmup_s)
    for server in servers:
        check_sample(server.grid, server.headers)
        generator.run(server.grid, warmup, server.headers)


def _take_turns(
    servers: list[Server], settings: TileSettings, generator: LoadGenerator
) -> list[tuple[LoadResult, ...]]:
    """Each server's results, one per round; in each round the servers are loaded in turn."""
    rounds = []
    for number in range(1, settings.rounds + 1):
        _progress(f"round {number} of {settings.rounds}")
        rounds.append([generator.run(s.grid, settings.load, s.headers) for s in servers])
    return [tuple(by_server) for by_server in zip(*rounds, strict=True)]


def _start_anchor(
    stack: ExitStack, slide: SlideFile, settings: TileSettings, workdir: Path
) -> Server:
    """openslide-python's Deep Zoom server, running until `stack` closes."""
    port = free_port()
    base = f"http://{HOST}:{port}"
    command = anchor_deepzoom.serve_command(slide.path, port, settings.workers, settings.threads)
    _progress("starting the anchor: openslide-python Deep Zoom server")
    ready = base + anchor_deepzoom.DZI_PATH
    stack.enter_context(running_server(command, os.environ, workdir / "anchor.log", ready))
    grid = highest_level_grid(base, anchor_deepzoom.DZI_PATH, {})
    return Server("openslide Deep Zoom (anchor)", grid, {})


def _start_samsyn(
    stack: ExitStack, slide: SlideFile, settings: TileSettings, workdir: Path
) -> Server:
    """samsyn with the slide imported, logged in; running until `stack` closes."""
    data_dir = workdir / "samsyn-tiles"
    (image_id,) = samsyn_instance.prepare(data_dir, [slide.path])
    port = free_port()
    base = f"http://{HOST}:{port}"
    command = samsyn_instance.serve_command(port, settings.workers, settings.threads)
    _progress("starting samsyn")
    env = samsyn_instance.environment(data_dir)
    stack.enter_context(running_server(command, env, workdir / "samsyn.log", base + "/"))
    headers = samsyn_instance.login_headers(base)
    grid = highest_level_grid(base, samsyn_instance.dzi_path(image_id), headers)
    return Server("samsyn", grid, headers)


def _start_open_tiles(
    stack: ExitStack, slide: SlideFile, settings: TileSettings, workdir: Path
) -> Server:
    """samsyn's tile service without login, access check or log: what security costs."""
    port = free_port()
    base = f"http://{HOST}:{port}"
    command = [
        sys.executable,
        "-m",
        "benchmarks.open_tiles",
        str(slide.path),
        "--port",
        str(port),
        "--workers",
        str(settings.workers),
        "--threads",
        str(settings.threads),
    ]
    _progress("starting samsyn's tile path without security")
    ready = base + open_tiles.DZI_PATH
    stack.enter_context(running_server(command, os.environ, workdir / "open-tiles.log", ready))
    grid = highest_level_grid(base, open_tiles.DZI_PATH, {})
    return Server("samsyn tiles, security off", grid, {})


COLUMNS = ["server", "tile px", "level", "tiles/s", "p50 ms", "p99 ms", "MB/s", "requests"]


def format_report(report: TileReport) -> str:
    """The tile table, the ratio and the targets, as printed."""
    rows = [_row(measured) for measured in (report.anchor, report.samsyn, report.open_samsyn)]
    table_text = table([*COLUMNS, "errors", "tiles/s by round"], rows)
    return "\n".join([*_setup_lines(report), "", table_text, "", *_target_lines(report)])


def _setup_lines(report: TileReport) -> list[str]:
    settings, load, slide = report.settings, report.settings.load, report.slide
    levels = "/".join(map(str, slide.downsamples))
    return [
        "== Slide tiles (PERFORMANCE.md section 1) ==",
        f"slide   : {slide.path.relative_to(ROOT)}, {slide.side} x {slide.side} px, "
        f"JPEG tiles of 256 px, levels {levels}x, {slide.megabytes:.0f} MB",
        f"servers : gunicorn gthread, {settings.workers} workers x {settings.threads} threads, "
        f"{HOST}; samsyn logged in as a pathologist (login, access check, access log on)",
        f"client  : {report.client}, "
        f"random tiles of the highest Deep Zoom level; after a {settings.warmup_s:g} s warm-up, "
        f"{settings.rounds} round(s) of {load.seconds:g} s per server, taking turns",
        _load_line(report.loads),
        "figures : median of the rounds",
    ]


def _load_line(loads: tuple[float, float]) -> str:
    """The machine's load around the rounds, flagged when it exceeds the CPUs (shared machine)."""
    cpus = len(os.sched_getaffinity(0))
    busy = f": above {cpus}, other work competed for the CPUs" if max(loads) > cpus else ""
    return (
        f"load    : 1-min load average {loads[0]:.1f} before the rounds, {loads[1]:.1f} after{busy}"
    )


def _row(measured: Measured) -> list[str]:
    grid = measured.server.grid
    tile = f"{grid.tile_size}+{grid.overlap}" if grid.overlap else str(grid.tile_size)
    by_round = " ".join(f"{result.tiles_per_s:.0f}" for result in measured.rounds)
    return [
        measured.server.name,
        tile,
        str(grid.level),
        f"{measured.median('tiles_per_s'):,.0f}",
        f"{measured.median('p50_ms'):.2f}",
        f"{measured.median('p99_ms'):.2f}",
        f"{measured.median('megabytes_per_s'):.1f}",
        f"{sum(result.requests for result in measured.rounds):,}",
        str(sum(result.errors for result in measured.rounds)),
        by_round,
    ]


def _target_lines(report: TileReport) -> list[str]:
    """The ratio and the verdicts; nothing counts as met when any request failed."""
    ratio = statistics.median(report.ratios)
    p99 = report.samsyn.median("p99_ms")
    clean = report.errors == 0
    connections = report.settings.load.connections
    by_round = ", ".join(f"{value:.1f}x" for value in report.ratios)
    share = statistics.median(report.security_shares)
    shares = ", ".join(f"{value:.0%}" for value in report.security_shares)
    lines = [
        f"samsyn / anchor tiles/s: {ratio:.1f}x (median; by round: {by_round})",
        f"samsyn with security / without: {share:.0%} (median; by round: {shares})",
        f"target security on >= {TARGET_SECURITY_SHARE:.0%} of security off       : "
        f"{verdict(clean and share >= TARGET_SECURITY_SHARE)}",
        f"target samsyn >= {TARGET_RATIO:g}x anchor tiles/s       : "
        f"{verdict(clean and ratio >= TARGET_RATIO)}",
        f"target samsyn p99 < {TARGET_P99_MS:g} ms at {connections} connections: "
        f"{verdict(clean and p99 < TARGET_P99_MS)} ({p99:.1f} ms)",
    ]
    if not clean:
        lines.append("errors: some requests failed, so no target counts as met.")
    return lines


def _progress(message: str) -> None:
    print(f"[tiles] {message}", file=sys.stderr, flush=True)
