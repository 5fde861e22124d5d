"""Radiology frames (PERFORMANCE.md section 2): samsyn's rendered-frame route against Orthanc.

Both servers hold the same synthetic CT series (300 axial slices of 512 x 512, made once
with `tiles.radiology.synthetic.make_ct_series` and cached in `var/bench/`): samsyn
imported it through its command line and serves it logged in as a pathologist (login,
access check and access log on), gunicorn 2 workers x 4 threads; Orthanc (Debian's
`orthanc`, when installed: the benchmark installs nothing) got the 300 files through
`POST /instances` and runs with a temporary configuration on 127.0.0.1 only.

What is compared, all as JPEG quality 90 of the whole 512 x 512 frame:
samsyn `GET /api/images/<id>/frames/<k>/rendered?window=40,400&quality=90` against
Orthanc `GET /instances/<id>/frames/0/rendered?window-center=40&window-width=400&quality=90`
(Orthanc 1.10's rendered route takes `window-center`, `window-width`, `quality`, and
answers PNG or JPEG by the Accept header). Two loads, random frames each time:

- window 40/400 throughout: what scrolling and re-visiting a series costs; samsyn keeps
  the encoded frames it has made, Orthanc renders every request;
- a new random window on every request (center -500..500, width 100..2000): nothing can
  come from a cache of pictures, so both decode-or-look-up, window and encode each time.

Also: pixel-identical windowing on a sample of frames (PNG both sides; HU 40 in a 40/400
window must be 127 or 128), the median latency of single requests on one connection,
and scrolling through the whole series in order on one connection (the first, cold pass)
in frames per second. The servers stay up and are loaded in turn, round after round.

`SAMSYN_BENCH_ORTHANC` overrides where Orthanc is looked for (`none` runs samsyn alone).
"""

from __future__ import annotations

import http.client
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image

from benchmarks import CACHE, ROOT, samsyn_instance
from benchmarks.client import get
from benchmarks.load import LoadGenerator, LoadResult, LoadSettings
from benchmarks.load_generators import Wrk
from benchmarks.processes import HOST, BenchmarkError, free_port, running_server
from benchmarks.report import load_average, table, verdict
from tiles.radiology.synthetic import make_ct_series

LUA_SCRIPT = Path(__file__).with_name("random_frames.lua")
GENERATOR_VERSION = 1  # part of the cached folder's name: bump it when the series changes
WINDOW = (40, 400)
SCROLL_WINDOW = (50, 350)  # asked nowhere else, so the scroll is a cold pass
QUALITY = 90
TARGET_SCROLL_FPS = 30.0
ORTHANC_CANDIDATES = ("/usr/sbin/Orthanc", "/usr/bin/Orthanc")
FIXED, VARY = "fixed", "vary"
MODE_TEXT = {FIXED: "window 40/400", VARY: "new window each request"}


@dataclass(frozen=True)
class RadiologySettings:
    """The series, the servers' configuration, the loads and how many rounds of them."""

    slices: int
    size: int
    warmup_s: float
    seconds: float
    connections: tuple[int, ...]
    rounds: int
    sequential: int
    sample_frames: int
    wrk_threads: int = 2
    workers: int = 2
    threads: int = 4


FULL = RadiologySettings(
    slices=300,
    size=512,
    warmup_s=3,
    seconds=10,
    connections=(8, 32),
    rounds=3,
    sequential=300,
    sample_frames=8,
)
QUICK = RadiologySettings(
    slices=60,
    size=512,
    warmup_s=1,
    seconds=3,
    connections=(8, 32),
    rounds=1,
    sequential=60,
    sample_frames=4,
)


@dataclass(frozen=True)
class Target:
    """A running server under test: where it is, what each request sends, its frame URLs
    (templates with {C} and {W} for the varying window), in the series' slice order."""

    name: str
    base_url: str
    headers: dict[str, str]
    fixed: tuple[str, ...]
    vary: tuple[str, ...]
    png_headers: dict[str, str]
    png: tuple[str, ...]

    def paths(self, mode: str) -> tuple[str, ...]:
        return self.fixed if mode == FIXED else self.vary


@dataclass
class Windowing:
    """samsyn's windowing next to Orthanc's on a sample of frames (PNG both sides)."""

    frames: list[int]
    samsyn_at_40: set[int] = field(default_factory=set)
    orthanc_at_40: set[int] = field(default_factory=set)
    png_difference: list[float] = field(default_factory=list)
    png_max: int = 0
    identical: list[float] = field(default_factory=list)
    jpeg_difference: list[float] = field(default_factory=list)

    @property
    def samsyn_ok(self) -> bool:
        return bool(self.samsyn_at_40) and self.samsyn_at_40 <= {127, 128}

    @property
    def orthanc_ok(self) -> bool:
        return bool(self.orthanc_at_40) and self.orthanc_at_40 <= {127, 128}


@dataclass(frozen=True)
class Single:
    """Sequential requests on one keep-alive connection."""

    latencies_ms: tuple[float, ...]

    @property
    def median(self) -> float:
        return float(statistics.median(self.latencies_ms))

    @property
    def p90(self) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[max(int(0.9 * len(ordered)) - 1, 0)]


@dataclass(frozen=True)
class RadiologyReport:
    """Everything the radiology benchmark prints."""

    settings: RadiologySettings
    series: Path
    series_megabytes: float
    client: str
    orthanc: str | None  # its version, or None when it is not installed
    windowing: Windowing
    scroll_fps: dict[str, float]
    single: dict[tuple[str, str], Single]
    loads: dict[tuple[str, str, int], list[LoadResult]]
    load_average: tuple[float, float]

    def median(self, server: str, mode: str, connections: int, figure: str) -> float:
        results = self.loads[(server, mode, connections)]
        return float(statistics.median(getattr(result, figure) for result in results))

    def ratios(self, mode: str, connections: int) -> list[float]:
        pairs = zip(
            self.loads[(SAMSYN, mode, connections)],
            self.loads[(ORTHANC, mode, connections)],
            strict=True,
        )
        return [ours.tiles_per_s / theirs.tiles_per_s for ours, theirs in pairs]

    @property
    def errors(self) -> int:
        return sum(result.errors for results in self.loads.values() for result in results)


SAMSYN, ORTHANC = "samsyn", "Orthanc"


# --- the run ---------------------------------------------------------------------------------


def run(settings: RadiologySettings, generator: LoadGenerator, workdir: Path) -> RadiologyReport:
    """Make (or reuse) the series, start the servers, check, measure, stop everything."""
    series = ct_series(settings.slices, settings.size)
    files = sorted(series.glob("CT*.dcm"))
    binary = orthanc_binary()
    version = orthanc_version(binary) if binary else None
    if binary is None:
        _progress("Orthanc not installed: samsyn alone")
    loader = FrameLoader(generator, workdir)
    with ExitStack() as stack:
        targets = [_start_samsyn(stack, series, settings, workdir)]
        if binary is not None:
            targets.append(_start_orthanc(stack, binary, files, workdir))
        for target in targets:
            check_frames(target, settings.size)
        _progress("scrolling through the series once, in order (cold)")
        scroll = {target.name: scroll_fps(target, SCROLL_WINDOW) for target in targets}
        _progress("comparing the windowing")
        windowing = compare_windowing(targets, files, settings.sample_frames)
        _progress("warming up")
        warmup = LoadSettings(max(settings.connections), settings.wrk_threads, settings.warmup_s)
        for target in targets:
            loader.run(target, FIXED, warmup)
        _progress("single requests on one connection")
        single = {
            (target.name, mode): sequential(target, mode, settings.sequential)
            for mode in (FIXED, VARY)
            for target in targets
        }
        before = load_average()
        loads = _take_turns(targets, settings, loader)
        after = load_average()
    return RadiologyReport(
        settings=settings,
        series=series,
        series_megabytes=sum(path.stat().st_size for path in files) / 2**20,
        client=loader.describe(settings),
        orthanc=version,
        windowing=windowing,
        scroll_fps=scroll,
        single=single,
        loads=loads,
        load_average=(before, after),
    )


def _take_turns(
    targets: list[Target], settings: RadiologySettings, loader: FrameLoader
) -> dict[tuple[str, str, int], list[LoadResult]]:
    """Every (server, window mode, connections) loaded once per round, the servers in turn
    (and in the other order every other round)."""
    results: dict[tuple[str, str, int], list[LoadResult]] = {}
    for number in range(1, settings.rounds + 1):
        _progress(f"round {number} of {settings.rounds}")
        order = targets if number % 2 else list(reversed(targets))
        for connections in settings.connections:
            load = LoadSettings(connections, settings.wrk_threads, settings.seconds)
            for mode in (FIXED, VARY):
                for target in order:
                    result = loader.run(target, mode, load)
                    results.setdefault((target.name, mode, connections), []).append(result)
    return results


# --- the series --------------------------------------------------------------------------------


def ct_series(slices: int, size: int) -> Path:
    """The synthetic CT folder in var/bench/, written once (through a partial folder, so an
    interrupted run leaves nothing that looks finished)."""
    folder = CACHE / f"ct-{slices}x{size}-v{GENERATOR_VERSION}"
    marker = folder / ".complete"  # a hidden file: samsyn's importer leaves it out
    if marker.exists():
        return folder
    _progress(f"writing a {slices}-slice {size} x {size} CT series to {folder} (once)")
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    make_ct_series(partial, slices=slices, size=size, seed=0)
    (partial / ".complete").write_text(f"{slices} slices of {size} x {size}\n")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return folder


# --- samsyn ------------------------------------------------------------------------------------


def _start_samsyn(
    stack: ExitStack, series: Path, settings: RadiologySettings, workdir: Path
) -> Target:
    """samsyn with the series imported, logged in; running until `stack` closes."""
    data_dir = workdir / "samsyn-radiology"
    _progress("importing the series into a fresh samsyn")
    (image_id,) = samsyn_instance.prepare(data_dir, [series])
    port = free_port()
    base = f"http://{HOST}:{port}"
    command = samsyn_instance.serve_command(port, settings.workers, settings.threads)
    env = samsyn_instance.environment(data_dir)
    _progress("starting samsyn")
    log = workdir / "samsyn-radiology.log"
    stack.enter_context(running_server(command, env, log, base + "/"))
    headers = samsyn_instance.login_headers(base)
    order = _samsyn_slice_order(base, image_id, headers, settings.slices)
    prefix = f"/api/images/{image_id}/frames"
    fixed = tuple(
        f"{prefix}/{k}/rendered?window={WINDOW[0]},{WINDOW[1]}&quality={QUALITY}" for k in order
    )
    vary = tuple(f"{prefix}/{k}/rendered?window={{C}},{{W}}&quality={QUALITY}" for k in order)
    png = tuple(f"{prefix}/{k}/rendered?window={{C}},{{W}}&format=png" for k in order)
    jpeg = {**headers, "Accept": "image/jpeg"}
    return Target(SAMSYN, base, jpeg, fixed, vary, {**headers, "Accept": "image/png"}, png)


def _samsyn_slice_order(
    base: str, image_id: str, headers: Mapping[str, str], slices: int
) -> list[int]:
    """samsyn's frame number of each slice file (slice i lies at z = i mm)."""
    reply = get(f"{base}/api/images/{image_id}", headers)
    if reply.status != 200:
        raise BenchmarkError(f"GET /api/images/{image_id} answered {reply.status}")
    frames = json.loads(reply.body)["series"]["frames"]
    if len(frames) != slices:
        raise BenchmarkError(f"samsyn has {len(frames)} frames, the series {slices} slices")
    by_slice = {round(frame["position"][2]): k for k, frame in enumerate(frames)}
    if sorted(by_slice) != list(range(slices)):
        raise BenchmarkError("samsyn's frames are not the series' slices at z = 0, 1, 2 ... mm")
    return [by_slice[i] for i in range(slices)]


# --- Orthanc -----------------------------------------------------------------------------------


def orthanc_binary() -> Path | None:
    """Debian's Orthanc (/usr/sbin/Orthanc), or None when it is not installed."""
    override = os.environ.get("SAMSYN_BENCH_ORTHANC")
    if override is not None:
        path = Path(override)
        return path if override.lower() != "none" and path.is_file() else None
    found = shutil.which("Orthanc")
    for candidate in (found, *ORTHANC_CANDIDATES):
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def orthanc_version(binary: Path) -> str:
    done = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    first = (done.stdout or done.stderr).strip().splitlines()
    return first[0].split()[-1] if first else "unknown version"


def _start_orthanc(stack: ExitStack, binary: Path, files: Sequence[Path], workdir: Path) -> Target:
    """Orthanc on a free loopback port with a throwaway configuration and storage, the series
    uploaded; running until `stack` closes (its folder goes with the benchmark's workdir)."""
    folder = workdir / "orthanc"
    folder.mkdir()
    port = free_port()
    config = {
        "Name": "samsyn-bench",
        "HttpPort": port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomServerEnabled": False,
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "Plugins": [],
        "SaveJobs": False,
    }
    config_path = folder / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=2))
    base = f"http://{HOST}:{port}"
    _progress(f"starting Orthanc ({binary})")
    log = workdir / "orthanc.log"
    command = [str(binary), str(config_path)]
    stack.enter_context(running_server(command, os.environ, log, base + "/system"))
    _progress(f"uploading {len(files)} files to Orthanc")
    ids = [_upload(base, path) for path in files]
    fixed = tuple(
        f"/instances/{i}/frames/0/rendered?window-center={WINDOW[0]}&window-width={WINDOW[1]}"
        f"&quality={QUALITY}"
        for i in ids
    )
    vary = tuple(
        f"/instances/{i}/frames/0/rendered?window-center={{C}}&window-width={{W}}&quality={QUALITY}"
        for i in ids
    )
    png = tuple(
        f"/instances/{i}/frames/0/rendered?window-center={{C}}&window-width={{W}}" for i in ids
    )
    return Target(
        ORTHANC, base, {"Accept": "image/jpeg"}, fixed, vary, {"Accept": "image/png"}, png
    )


def _upload(base: str, path: Path) -> str:
    request = urllib.request.Request(
        f"{base}/instances",
        data=path.read_bytes(),
        headers={"Content-Type": "application/dicom"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            answer = json.loads(reply.read())
    except urllib.error.HTTPError as error:
        raise BenchmarkError(f"Orthanc refused {path.name}: {error.code}") from error
    if answer.get("Status") not in ("Success", "AlreadyStored"):
        raise BenchmarkError(f"Orthanc did not store {path.name}: {answer}")
    return str(answer["ID"])


# --- checks and measurements -------------------------------------------------------------------


def check_frames(target: Target, size: int, count: int = 6) -> None:
    """Before anything is timed: random frames must be 200 JPEGs of the whole frame."""
    rng = random.Random(2)
    for mode in (FIXED, VARY):
        for _ in range(count):
            path = _concrete(rng.choice(target.paths(mode)), rng)
            reply = get(target.base_url + path, target.headers)
            if reply.status != 200 or reply.media_type != "image/jpeg":
                raise BenchmarkError(f"{target.name}: {path} answered {reply.status}")
            with Image.open(io.BytesIO(reply.body)) as picture:
                if picture.format != "JPEG" or picture.size != (size, size):
                    raise BenchmarkError(
                        f"{target.name}: {path} is {picture.format} {picture.size}"
                    )


def compare_windowing(targets: list[Target], files: Sequence[Path], count: int) -> Windowing:
    """PNG (exact) and JPEG of the same frames with the same window, from each server."""
    frames = [round(i * (len(files) - 1) / max(count - 1, 1)) for i in range(count)]
    found = Windowing(frames)
    for index in frames:
        dataset = pydicom.dcmread(files[index])
        hu = dataset.pixel_array * float(dataset.RescaleSlope) + float(dataset.RescaleIntercept)
        at_40 = hu == 40
        pictures = {}
        for target in targets:
            path = target.png[index].replace("{C}", str(WINDOW[0])).replace("{W}", str(WINDOW[1]))
            reply = get(target.base_url + path, target.png_headers)
            if reply.status != 200 or reply.media_type != "image/png":
                raise BenchmarkError(f"{target.name}: {path} answered {reply.status}")
            pictures[target.name] = _grey(reply.body)
            jpeg = get(target.base_url + target.fixed[index], target.headers)
            pictures[target.name + " jpeg"] = _grey(jpeg.body)
        found.samsyn_at_40 |= set(np.unique(pictures[SAMSYN][at_40]).tolist())
        if ORTHANC in pictures:
            ours, theirs = pictures[SAMSYN].astype(int), pictures[ORTHANC].astype(int)
            found.orthanc_at_40 |= set(np.unique(theirs[at_40]).tolist())
            difference = np.abs(ours - theirs)
            found.png_difference.append(float(difference.mean()))
            found.png_max = max(found.png_max, int(difference.max()))
            found.identical.append(float((difference == 0).mean()))
            jpegs = pictures[SAMSYN + " jpeg"].astype(int) - pictures[ORTHANC + " jpeg"]
            found.jpeg_difference.append(float(np.abs(jpegs).mean()))
    return found


def _grey(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as picture:
        pixels = np.asarray(picture.convert("RGB"))
    if not (np.array_equal(pixels[..., 0], pixels[..., 1])) and picture.format == "PNG":
        raise BenchmarkError("a windowed grey frame came back in colour")
    return pixels[..., 0]


def scroll_fps(target: Target, window: tuple[int, int]) -> float:
    """Every frame once, in slice order, on one keep-alive connection: frames per second."""
    paths = [p.replace("{C}", str(window[0])).replace("{W}", str(window[1])) for p in target.vary]
    with _Connection(target) as connection:
        started = time.perf_counter()
        for path in paths:
            connection.get(path)
        return len(paths) / (time.perf_counter() - started)


def sequential(target: Target, mode: str, count: int) -> Single:
    """`count` random frames one after the other on one keep-alive connection."""
    rng = random.Random(3)
    latencies = []
    with _Connection(target) as connection:
        for _ in range(count):
            path = _concrete(rng.choice(target.paths(mode)), rng)
            started = time.perf_counter()
            connection.get(path)
            latencies.append((time.perf_counter() - started) * 1e3)
    return Single(tuple(latencies))


def _concrete(path: str, rng: random.Random) -> str:
    """A URL template with a random window where it asks for one (as random_frames.lua)."""
    return path.replace("{C}", str(rng.randint(-500, 500))).replace(
        "{W}", str(rng.randint(100, 2000))
    )


class _Connection:
    """One keep-alive HTTP connection; reconnects (untimed) if the server closed it."""

    def __init__(self, target: Target) -> None:
        self.target = target
        host, port = target.base_url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.connection.close()

    def get(self, path: str) -> None:
        for attempt in (1, 2):
            try:
                self.connection.request("GET", path, headers=self.target.headers)
                reply = self.connection.getresponse()
                body = reply.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.connection.close()
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if attempt == 2:
                    raise
                continue
            if reply.status != 200 or not body:
                raise BenchmarkError(f"{self.target.name}: {path} answered {reply.status}")
            if reply.will_close:
                self.connection.close()
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
            return


# --- load ------------------------------------------------------------------------------------


class FrameGrid:
    """Random frame URLs in the shape the asyncio client asks a tile grid for (col, row)."""

    def __init__(self, target: Target, mode: str) -> None:
        self.base_url = target.base_url
        self.paths = target.paths(mode)
        self.columns, self.rows = len(self.paths), 1
        self.rng = random.Random(4)

    def path(self, col: int, _row: int) -> str:
        return _concrete(self.paths[col], self.rng)


class FrameLoader:
    """wrk with random_frames.lua, or (without wrk) the tile benchmark's asyncio client."""

    def __init__(self, generator: LoadGenerator, workdir: Path) -> None:
        self.generator = generator
        self.workdir = workdir

    def describe(self, settings: RadiologySettings) -> str:
        if isinstance(self.generator, Wrk):
            return f"wrk, {settings.wrk_threads} threads, random_frames.lua"
        return "asyncio client (wrk missing or not chosen: a lower bound)"

    def run(self, target: Target, mode: str, settings: LoadSettings) -> LoadResult:
        if not isinstance(self.generator, Wrk):
            return self.generator.run(FrameGrid(target, mode), settings, target.headers)  # type: ignore[arg-type]
        listing = self.workdir / f"{target.name.lower()}-{mode}.txt"
        if not listing.exists():
            listing.write_text("\n".join(target.paths(mode)) + "\n")
        arguments = [str(listing), mode]
        return self.generator.measure(
            target.base_url, LUA_SCRIPT, arguments, settings, target.headers
        )


# --- the report ---------------------------------------------------------------------------------


def format_report(report: RadiologyReport) -> str:
    """Setup, windowing, single requests, scrolling, throughput, ratios and targets."""
    lines = [*_setup_lines(report), ""]
    lines += _windowing_lines(report)
    lines += ["", *_single_lines(report), ""]
    lines += [table(*_load_table(report)), ""]
    lines += _target_lines(report)
    return "\n".join(lines)


def _setup_lines(report: RadiologyReport) -> list[str]:
    settings = report.settings
    orthanc = (
        f"Orthanc {report.orthanc} (Debian package; default HTTP threads, no plugins, "
        "files uploaded by POST /instances)"
        if report.orthanc
        else "Orthanc not installed: samsyn alone"
    )
    shown = report.series.relative_to(ROOT) if report.series.is_relative_to(ROOT) else report.series
    cpus = len(os.sched_getaffinity(0))
    busy = max(report.load_average) > cpus
    return [
        "== Radiology frames (PERFORMANCE.md section 2) ==",
        f"series  : {shown}, {settings.slices} axial CT slices of {settings.size} x "
        f"{settings.size}, 12-bit uncompressed (synthetic phantom), "
        f"{report.series_megabytes:.0f} MB",
        f"servers : samsyn: gunicorn gthread, {settings.workers} workers x {settings.threads} "
        "threads, logged in as a pathologist (login, access check, access log on)",
        f"          {orthanc}",
        f"          {'both ' if report.orthanc else ''}on {HOST}; whole {settings.size} px "
        f"frames as JPEG quality {QUALITY}",
        f"client  : {report.client}; random frames; after a {settings.warmup_s:g} s warm-up, "
        f"{settings.rounds} round(s) of {settings.seconds:g} s per server, load and window, "
        "taking turns",
        f"load    : 1-min load average {report.load_average[0]:.1f} before the rounds, "
        f"{report.load_average[1]:.1f} after"
        + (f": above {cpus}, other work competed for the CPUs" if busy else ""),
        "figures : median of the rounds",
    ]


def _windowing_lines(report: RadiologyReport) -> list[str]:
    found = report.windowing
    lines = [
        f"windowing, {len(found.frames)} frames, window 40/400, PNG:",
        f"  HU 40 -> samsyn {sorted(found.samsyn_at_40)} "
        f"({'127 or 128' if found.samsyn_ok else 'NOT 127 or 128'})"
        + (
            f", Orthanc {sorted(found.orthanc_at_40)} "
            f"({'127 or 128' if found.orthanc_ok else 'NOT 127 or 128'})"
            if report.orthanc
            else ""
        ),
    ]
    if report.orthanc:
        lines += [
            f"  samsyn vs Orthanc: mean abs difference "
            f"{statistics.mean(found.png_difference):.3f} grey levels, max {found.png_max}, "
            f"{statistics.mean(found.identical):.1%} of pixels identical",
            f"  as JPEG q{QUALITY} both sides: mean abs difference "
            f"{statistics.mean(found.jpeg_difference):.3f} grey levels",
        ]
    return lines


def _single_lines(report: RadiologyReport) -> list[str]:
    count = report.settings.sequential
    header = ["one connection, sequential", "median ms", "p90 ms"]
    rows = [
        [f"{server}, {MODE_TEXT[mode]}", f"{single.median:.2f}", f"{single.p90:.2f}"]
        for (server, mode), single in sorted(
            report.single.items(), key=lambda i: (i[0][1], i[0][0])
        )
    ]
    scroll = ", ".join(f"{name} {fps:.0f}" for name, fps in report.scroll_fps.items())
    return [
        f"single requests: {count} random frames each",
        table(header, rows),
        "",
        f"scrolling: all {report.settings.slices} frames in order, one connection, cold "
        f"(window {SCROLL_WINDOW[0]}/{SCROLL_WINDOW[1]}), frames/s: {scroll}",
    ]


def _load_table(report: RadiologyReport) -> tuple[list[str], list[list[str]]]:
    header = ["server", "window", "conns", "frames/s", "p50 ms", "p99 ms", "MB/s", "requests"]
    header += ["errors", "frames/s by round"]
    rows = []
    for connections in report.settings.connections:
        for mode in (FIXED, VARY):
            for server in (SAMSYN, ORTHANC):
                results = report.loads.get((server, mode, connections))
                if not results:
                    continue
                rows.append(
                    [
                        server,
                        MODE_TEXT[mode],
                        str(connections),
                        f"{report.median(server, mode, connections, 'tiles_per_s'):,.0f}",
                        f"{report.median(server, mode, connections, 'p50_ms'):.2f}",
                        f"{report.median(server, mode, connections, 'p99_ms'):.2f}",
                        f"{report.median(server, mode, connections, 'megabytes_per_s'):.1f}",
                        f"{sum(r.requests for r in results):,}",
                        str(sum(r.errors for r in results)),
                        " ".join(f"{r.tiles_per_s:.0f}" for r in results),
                    ]
                )
    return header, rows


def _target_lines(report: RadiologyReport) -> list[str]:
    clean = report.errors == 0
    found = report.windowing
    scroll = report.scroll_fps[SAMSYN]
    lines = []
    if report.orthanc:
        for mode in (FIXED, VARY):
            for connections in report.settings.connections:
                ratios = report.ratios(mode, connections)
                by_round = ", ".join(f"{value:.2f}x" for value in ratios)
                lines.append(
                    f"samsyn / Orthanc frames/s, {MODE_TEXT[mode]}, {connections} connections: "
                    f"{statistics.median(ratios):.2f}x (by round: {by_round})"
                )
        for mode in (FIXED, VARY):
            met = all(
                statistics.median(report.ratios(mode, c)) >= 1.0
                for c in report.settings.connections
            )
            conns = " and ".join(map(str, report.settings.connections))
            lines.append(
                f"target samsyn >= Orthanc frames/s ({MODE_TEXT[mode]}, {conns} connections): "
                f"{verdict(clean and met)}"
            )
        for mode in (FIXED, VARY):
            ours, theirs = report.single[(SAMSYN, mode)], report.single[(ORTHANC, mode)]
            lines.append(
                f"target samsyn single request <= Orthanc's ({MODE_TEXT[mode]}): "
                f"{verdict(ours.median <= theirs.median)} "
                f"({ours.median:.2f} ms vs {theirs.median:.2f} ms median)"
            )
    else:
        lines.append("Orthanc not installed: samsyn alone, no ratio")
    lines += [
        f"target HU 40 in a 40/400 window -> 127 or 128 (samsyn): {verdict(found.samsyn_ok)}",
        f"target scrolling >= {TARGET_SCROLL_FPS:g} frames/s (one HTTP connection on loopback, "
        f"not a browser): {verdict(scroll >= TARGET_SCROLL_FPS)} ({scroll:.0f} frames/s)",
    ]
    if not clean:
        lines.append("errors: some requests failed, so no throughput target counts as met.")
    return lines


def _progress(message: str) -> None:
    print(f"[radiology] {message}", file=sys.stderr, flush=True)
