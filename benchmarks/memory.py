"""Worker memory while one samsyn worker serves many slides: it must level off.

samsyn keeps at most 16 slides open (source cache) and a bounded number of bytes of
rendered tiles (tile cache) per worker, so once more slides than that have been viewed the
worker's resident memory should stop growing with the number of slides. The tile cache
is set to 16 MB here (256 MB by default) so that it fills during the run and the bound,
not the filling, is what the last readings show. The benchmark views
every tile of every Deep Zoom level of each slide in turn: stored levels pass through,
the others are rendered and cached. It reports the worker's resident memory after a few
numbers of slides, and how many bytes of rendered tiles it was sent, which is as much
as the tile cache can hold by then.
"""

from __future__ import annotations

import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from benchmarks import samsyn_instance
from benchmarks.client import get
from benchmarks.load import TileGrid, highest_level_grid
from benchmarks.processes import HOST, BenchmarkError, free_port, running_server
from benchmarks.report import table, verdict
from benchmarks.slides import SlideFile, small_slides

PLATEAU_TOLERANCE = 0.10
TILE_CACHE_MB = 16


@dataclass(frozen=True)
class MemorySettings:
    """How many slides of which size, when to read the worker's memory, and the concurrency."""

    slide_side: int
    slides: int
    checkpoints: tuple[int, ...]
    threads: int = 4


FULL = MemorySettings(slide_side=2048, slides=50, checkpoints=(10, 25, 50))
QUICK = MemorySettings(slide_side=1024, slides=50, checkpoints=(10, 25, 50))


@dataclass(frozen=True)
class MemoryPoint:
    """The worker's resident and peak memory after `slides` slides; rendered bytes sent so far."""

    slides: int
    rss_mb: float
    peak_mb: float
    rendered_mb: float


@dataclass(frozen=True)
class MemoryReport:
    """Everything the memory benchmark prints."""

    settings: MemorySettings
    requests: int
    points: tuple[MemoryPoint, ...]

    @property
    def plateau(self) -> bool:
        """Whether the last reading is within the tolerance of the one before it."""
        before, last = self.points[-2], self.points[-1]
        return last.rss_mb <= before.rss_mb * (1 + PLATEAU_TOLERANCE)


def run(settings: MemorySettings, workdir: Path) -> MemoryReport:
    """View the slides one after another through one worker, reading its memory on the way."""
    slides = small_slides(settings.slides, settings.slide_side)
    data_dir = workdir / "samsyn-memory"
    ids = samsyn_instance.prepare(data_dir, [slide.path for slide in slides])
    port = free_port()
    base = f"http://{HOST}:{port}"
    command = samsyn_instance.serve_command(port, workers=1, threads=settings.threads)
    _progress(f"samsyn, 1 worker, {len(slides)} slides")
    env = {**samsyn_instance.environment(data_dir), "SAMSYN_TILE_CACHE_MB": str(TILE_CACHE_MB)}
    with running_server(command, env, workdir / "samsyn-memory.log", base + "/") as master:
        headers = samsyn_instance.login_headers(base)
        worker = _only_worker(master)
        points = [_reading(0, worker, 0)]
        requests = rendered = 0
        with ThreadPoolExecutor(settings.threads) as pool:
            for count, (slide, image_id) in enumerate(zip(slides, ids, strict=True), start=1):
                sent, rendered_bytes = _view_slide(pool, headers, base, image_id, slide)
                requests, rendered = requests + sent, rendered + rendered_bytes
                if count in settings.checkpoints:
                    _check_same_worker(master, worker)
                    points.append(_reading(count, worker, rendered))
    return MemoryReport(settings, requests, tuple(points))


def _view_slide(
    pool: ThreadPoolExecutor, headers: dict[str, str], base: str, image_id: str, slide: SlideFile
) -> tuple[int, int]:
    """Every tile of every Deep Zoom level of one slide; (requests, bytes of rendered tiles)."""
    grid = highest_level_grid(base, samsyn_instance.dzi_path(image_id), headers)
    stored = {grid.level - int(math.log2(factor)) for factor in slide.downsamples}
    requests = [(level, base + path) for level, path in _every_tile(grid, slide.side)]
    replies = list(pool.map(lambda url: get(url, headers), [url for _, url in requests]))
    failed = [url for (_, url), reply in zip(requests, replies, strict=True) if reply.status != 200]
    if failed:
        raise BenchmarkError(f"{len(failed)} tiles failed, e.g. {failed[0]}")
    rendered = sum(
        len(reply.body)
        for (level, _), reply in zip(requests, replies, strict=True)
        if level not in stored
    )
    return len(requests), rendered


def _every_tile(grid: TileGrid, side: int) -> list[tuple[int, str]]:
    """(level, path) of every tile of every Deep Zoom level of a square image of `side` px."""
    paths = []
    for level in range(grid.level + 1):
        per_side = math.ceil(math.ceil(side / 2 ** (grid.level - level)) / grid.tile_size)
        level_grid = TileGrid(
            grid.base_url, grid.prefix, level, per_side, per_side, grid.tile_size, 0
        )
        paths += [
            (level, level_grid.path(col, row)) for row in range(per_side) for col in range(per_side)
        ]
    return paths


def _only_worker(master: int) -> int:
    """The pid of the gunicorn master's single worker process."""
    workers = _workers(master)
    if len(workers) != 1:
        raise BenchmarkError(f"expected one gunicorn worker under {master}, found {workers}")
    return workers[0]


def _check_same_worker(master: int, worker: int) -> None:
    """A restarted worker would start from scratch and hide growth: fail instead."""
    if _workers(master) != [worker]:
        raise BenchmarkError(f"gunicorn worker {worker} was replaced during the run")


def _workers(master: int) -> list[int]:
    """The master's gunicorn workers: its children but the live process (websockets)."""
    return [pid for pid in _children(master) if not _is_live_process(pid)]


def _is_live_process(pid: int) -> bool:
    try:
        return b"app.liveprocess" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    """Child pids from /proc/<pid>/task/*/children, or `ps --ppid` where the kernel lacks it."""
    tasks = sorted(Path(f"/proc/{pid}/task").glob("*/children"))
    if tasks:
        return sorted(int(child) for task in tasks for child in task.read_text().split())
    listed = subprocess.run(
        ["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True, check=False
    )
    return sorted(int(child) for child in listed.stdout.split())


def _reading(slides: int, worker: int, rendered: int) -> MemoryPoint:
    status = _proc_status(worker)
    return MemoryPoint(slides, status["VmRSS"] / 1024, status["VmHWM"] / 1024, rendered / 2**20)


def _proc_status(pid: int) -> dict[str, int]:
    """The kB figures of /proc/<pid>/status (VmRSS: resident now, VmHWM: resident peak)."""
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if value.strip().endswith(" kB"):
            figures[name] = int(value.split()[0])
    return figures


COLUMNS = ["slides viewed", "worker RSS MB", "peak RSS MB", "rendered tiles sent MB"]


def format_report(report: MemoryReport) -> str:
    """The memory table and the plateau check, as printed."""
    settings = report.settings
    side = f"{settings.slide_side} x {settings.slide_side} px"
    rows = [
        [str(p.slides), f"{p.rss_mb:.0f}", f"{p.peak_mb:.0f}", f"{p.rendered_mb:.1f}"]
        for p in report.points
    ]
    before, last = report.points[-2], report.points[-1]
    return "\n".join(
        [
            "== samsyn worker memory ==",
            f"server  : samsyn serve, 1 worker x {settings.threads} threads, caches of "
            f"16 open slides and <= {TILE_CACHE_MB} MB of rendered tiles (SAMSYN_TILE_CACHE_MB)",
            f"slides  : {settings.slides} different {side} pyramids; every tile of every Deep Zoom"
            f" level of each in turn, {settings.threads} at a time ({report.requests:,} requests)",
            "",
            table(COLUMNS, rows),
            "",
            f"plateau (RSS after {last.slides} slides within {PLATEAU_TOLERANCE:.0%} of RSS after "
            f"{before.slides}): {verdict(report.plateau)} ({last.rss_mb - before.rss_mb:+.0f} MB)",
        ]
    )


def _progress(message: str) -> None:
    print(f"[memory] {message}", file=sys.stderr, flush=True)
