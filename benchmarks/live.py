"""Live collaboration (PERFORMANCE.md section 3): ops, follow mode and cursors in real rooms.

200 clients (50 reviewers x 4 connections) in 20 rooms, held by one Node.js process
(`live_clients.mjs`), against real `samsyn serve` processes started here:

1. the default server, exactly as `make run` starts it (SQLite, no Redis, default workers
   and threads): each client creates a small polygon every 5 s (staggered), sends its
   cursor at 5 Hz, and one presenter per room sends its viewport at 12 Hz. Measured at the
   clients, on one clock: op propagation (sender's emit to each other member's receipt),
   follow-mode viewport latency, op acks, messages per second; the server's memory idle,
   with the 200 clients, and with 500 idle clients connected (what the default must hold);
2. the same across two `samsyn serve` processes joined by Redis on one PostgreSQL
   database, each room's members on both, each server given half of the cores as it would
   have a host of its own (skipped, saying so, without Redis or PostgreSQL);
3. tiles (wrk, random tiles of the highest level, as the tile benchmark) on the default
   server with no live client, then with the 200 clients connected and working (the same
   load again, right after the timed run), then without again: the share of tiles/s the
   live load leaves.

Between phases the servers are given up to 15 s to finish what the clients left them
(CPU near idle, /readyz prompt); the report says when they needed it.

A message that should have arrived and did not counts as slower than any that did.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks import live_world, samsyn_instance
from benchmarks.live_node import LiveClients
from benchmarks.live_world import Layout, World
from benchmarks.load import LoadGenerator, LoadResult, LoadSettings, check_sample
from benchmarks.load import highest_level_grid as tile_grid
from benchmarks.processes import HOST, BenchmarkError, free_port, running_server
from benchmarks.report import load_average, machine, table
from benchmarks.slides import large_slide

TARGET_OP_P50_MS = 20.0
TARGET_OP_P99_MS = 100.0
TARGET_OP_P99_TWO_MS = 150.0
TARGET_VIEWPORT_P95_MS = 100.0
TARGET_TILE_SHARE = 0.80
TARGET_IDLE_CLIENTS = 500
REDIS_DB = 11  # a database of its own; the bus's channel is samsyn's
DRAIN_S = 2.0  # live_clients.mjs waits this long after the last send (DRAIN_MS)
CONNECT_CONCURRENCY = 4  # handshakes under way at once: below the gate's per-address limit
QUIET_MOST_S = 15.0  # longest wait for the servers to finish what a run left them
QUIET_WINDOW_S = 0.5
QUIET_SHARE = 0.2  # "about idle": under a fifth of one core
CONNECT_BUDGET_S = 45.0  # for all clients of one run to log in, connect and join


@dataclass(frozen=True)
class LiveSettings:
    """Who connects, what they send, for how long, and the tile load beside it."""

    layout: Layout
    idle_layout: Layout
    seconds: float
    op_every_s: float
    cursor_hz: float
    cursor_movers: int  # members of each room moving their pointer (the presenter first)
    viewport_hz: float
    tile_slide_side: int
    tile_load: LoadSettings
    tile_warmup_s: float

    def client_load(self, seconds: float | None = None) -> dict[str, float]:
        return {
            "seconds": self.seconds if seconds is None else seconds,
            "op_every_s": self.op_every_s,
            "cursor_hz": self.cursor_hz,
            "cursor_movers": self.cursor_movers,
            "viewport_hz": self.viewport_hz,
        }

    def ops_load(self, seconds: float) -> dict[str, float]:
        """What the issue's tile target names: the clients exchanging ops (and present)."""
        return {**self.client_load(seconds), "cursor_hz": 0, "viewport_hz": 0}


FULL = LiveSettings(
    layout=Layout(users=50, per_user=4, rooms=20),
    idle_layout=Layout(users=50, per_user=10, rooms=20),
    seconds=20,
    op_every_s=5,
    cursor_hz=10,
    cursor_movers=2,
    viewport_hz=12,
    tile_slide_side=8192,
    tile_load=LoadSettings(connections=32, threads=2, seconds=10),
    tile_warmup_s=3,
)
QUICK = replace(FULL, seconds=6, tile_load=replace(FULL.tile_load, seconds=4), tile_warmup_s=1)


@dataclass(frozen=True)
class Memory:
    """Resident memory of a server's processes (gunicorn master and workers), summed."""

    rss_mb: float
    pss_mb: float
    processes: int


@dataclass(frozen=True)
class LiveRun:
    """One timed live load: what connected, and what the clients measured."""

    name: str
    connected: dict[str, Any]
    figures: dict[str, Any]
    load: float  # the 1-min load average as the run began
    busy_after_s: float  # how long the servers kept working once the clients had stopped


@dataclass(frozen=True)
class Servers:
    """The memory of one setup's servers: idle, during the load, with idle clients."""

    name: str
    idle: Memory
    loaded: Memory
    crowd: Memory | None = None
    crowd_connected: dict[str, Any] | None = None


@dataclass(frozen=True)
class Tiles:
    """Tiles/s without live clients (before and after) and with them."""

    alone: tuple[LoadResult, ...]
    with_live: LoadResult
    live: LiveRun

    @property
    def share(self) -> float:
        """Tiles/s with the live load over tiles/s just before it."""
        return _ratio(self.with_live.tiles_per_s, self.alone[0].tiles_per_s)

    @property
    def recovery(self) -> float:
        """Tiles/s once the live clients have left over tiles/s before they came: near 1
        unless the machine changed or the server is still busy with what they left."""
        return _ratio(self.alone[1].tiles_per_s, self.alone[0].tiles_per_s)


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


@dataclass
class LiveReport:
    """Everything the live benchmark prints, filled in as the runs finish."""

    settings: LiveSettings
    tile_client: str
    runs: list[LiveRun] = field(default_factory=list)
    servers: list[Servers] = field(default_factory=list)
    tiles: Tiles | None = None
    skipped: str | None = None
    loads: list[float] = field(default_factory=list)
    seconds: float = 0.0


def run(settings: LiveSettings, generator: LoadGenerator, workdir: Path) -> LiveReport:
    """The default server (live load, memory, tiles), then two servers joined by Redis."""
    started = time.monotonic()
    report = LiveReport(settings, generator.describe(settings.tile_load))
    report.loads.append(load_average())
    slide = large_slide(settings.tile_slide_side)
    _default_server(report, generator, workdir, slide.path)
    if not live_world.listening(live_world.REDIS) or not live_world.listening(live_world.POSTGRES):
        report.skipped = "Redis (127.0.0.1:6379) or PostgreSQL (127.0.0.1:5432) is not running"
    else:
        _two_servers(report, workdir, slide.path)
    report.loads.append(load_average())
    report.seconds = time.monotonic() - started
    return report


def _default_server(
    report: LiveReport, generator: LoadGenerator, workdir: Path, slide: Path
) -> None:
    """Sections 1 and 3 on the default server, in the order that keeps each phase clean:
    memory idle, the idle crowd, tiles alone, then the 200 clients (timed live load, then
    the same load with tiles beside it), then tiles alone again."""
    settings = report.settings
    layouts = (settings.layout, settings.idle_layout)
    data_dir = workdir / "live-default"
    _progress("building the rooms (SQLite)")
    world = live_world.build(data_dir, f"sqlite:///{data_dir / 'samsyn.db'}", layouts, slide)
    with ExitStack() as stack:
        server = _serve(stack, _environment(world), workdir / "live-default.log")
        clients = stack.enter_context(LiveClients(workdir / "live-clients.log"))
        idle = settled_memory(server.master)
        crowd, crowd_connected = _crowd(clients, world, server, settings)
        tiles = _TileBench(generator, world, server, settings)
        before = tiles.alone("without live clients")
        name = "1 server, default"
        connected = _connect(clients, world.seats(settings.layout, [server.base]), name)
        live, loaded = _timed_load(clients, connected, settings, [server], name)
        # The same without cursors: what ops and follow mode cost on their own.
        calm_name = "1 server, ops and follow only"
        quiet([server])
        calm, _calm_loaded = _timed_load(
            clients, connected, replace(settings, cursor_hz=0), [server], calm_name
        )
        with_tiles = _load_beside_tiles(clients, connected, settings, server, tiles)
        clients.disconnect()
        busy = quiet([server])
        after = tiles.alone("without live clients again")
    report.runs += [
        replace(live, busy_after_s=busy),
        replace(calm, busy_after_s=busy),
        replace(with_tiles.live, busy_after_s=busy),
    ]
    report.servers.append(Servers(name, idle, loaded, crowd, crowd_connected))
    report.tiles = Tiles((before, after), with_tiles.result, with_tiles.live)


def _two_servers(report: LiveReport, workdir: Path, slide: Path) -> None:
    """Section 2: two servers with one data directory, secret key and PostgreSQL schema,
    joined by Redis; a session made on one is valid on the other."""
    settings = report.settings
    data_dir = workdir / "live-redis"
    name = "2 servers, Redis"
    with live_world.postgres_schema() as url:
        _progress("building the rooms (PostgreSQL)")
        world = live_world.build(data_dir, url, (settings.layout,), slide)
        env = {
            **_environment(world),
            "SAMSYN_DATABASE_URL": url,
            "SAMSYN_MESSAGE_QUEUE": f"redis://{HOST}:6379/{REDIS_DB}",
            "SAMSYN_SECRET_KEY": secrets.token_hex(32),
            # Two hosts in one: each server gets its half of the cores (a worker and a live
            # process each on two cores), as each would have a host of its own.
            **half_the_cores(),
        }
        with ExitStack() as stack:
            servers = [_serve(stack, env, workdir / f"live-redis-{n}.log") for n in (1, 2)]
            clients = stack.enter_context(LiveClients(workdir / "live-clients.log"))
            idle = settled_memory(*(server.master for server in servers))
            seats = world.seats(settings.layout, [server.base for server in servers])
            connected = _connect(clients, seats, name)
            live, loaded = _timed_load(clients, connected, settings, servers, name)
            clients.disconnect()
            busy = quiet(servers)
    report.runs.append(replace(live, busy_after_s=busy))
    report.servers.append(Servers(name, idle, loaded))


def half_the_cores() -> dict[str, str]:
    half = str(max(1, (os.cpu_count() or 2) // 2))
    return {"SAMSYN_WORKERS": half, "SAMSYN_LIVE_PROCESSES": half}


@dataclass(frozen=True)
class Server:
    """A running `samsyn serve`: its gunicorn master and address."""

    master: int
    base: str


def _environment(world: World) -> dict[str, str]:
    """`samsyn serve` on the world's data directory and database, no message queue."""
    env = samsyn_instance.environment(world.data_dir)
    env.pop("SAMSYN_MESSAGE_QUEUE", None)
    env.pop("SAMSYN_PUBLIC_URL", None)
    env["SAMSYN_DATABASE_URL"] = world.database_url
    return env


def _serve(stack: ExitStack, env: dict[str, str], log: Path) -> Server:
    """`samsyn serve` with its defaults (as `make run` starts it) on a free port, running
    until `stack` closes."""
    port = free_port()
    base = f"http://{HOST}:{port}"
    command = [*samsyn_instance.CLI, "serve", "--host", HOST, "--port", str(port)]
    _progress(f"starting samsyn serve on port {port}")
    master = stack.enter_context(running_server(command, env, log, base + "/readyz"))
    return Server(master, base)


def _connect(clients: LiveClients, seats: list[dict[str, Any]], name: str) -> dict[str, Any]:
    _progress(f"{name}: connecting {len(seats)} clients")
    connected = clients.connect(seats, CONNECT_CONCURRENCY, CONNECT_BUDGET_S)
    if connected["joined"] == 0:
        raise BenchmarkError(f"no live client could join a room ({name}): {connected['errors']}")
    return connected


def _timed_load(
    clients: LiveClients,
    connected: dict[str, Any],
    settings: LiveSettings,
    servers: Sequence[Server],
    name: str,
) -> tuple[LiveRun, Memory]:
    """The timed live load of the connected clients; its figures and the servers' largest
    memory while the clients worked."""
    peak = Peak([server.master for server in servers])
    _progress(f"{name}: {settings.seconds:g} s of live load")
    load = load_average()
    figures = clients.load(settings.client_load(), tick=peak.sample)
    peak.sample(force=True)
    return LiveRun(name, connected, figures, load, 0.0), peak.largest


def _crowd(
    clients: LiveClients, world: World, server: Server, settings: LiveSettings
) -> tuple[Memory, dict[str, Any]]:
    """The idle layout's clients connected and joined, doing nothing: the server's memory."""
    seats = world.seats(settings.idle_layout, [server.base])
    _progress(f"connecting {len(seats)} idle clients")
    connected = clients.connect(seats, CONNECT_CONCURRENCY, CONNECT_BUDGET_S)
    time.sleep(1.0)  # presence settles before the memory is read
    held = memory(server.master)
    clients.disconnect()
    quiet([server])
    return held, connected


class _TileBench:
    """wrk on random tiles of the world's large slide, logged in as its tile reader."""

    def __init__(
        self, generator: LoadGenerator, world: World, server: Server, settings: LiveSettings
    ) -> None:
        self.generator = generator
        self.load = settings.tile_load
        self.headers = live_world.login_headers(server.base)
        self.grid = tile_grid(server.base, samsyn_instance.dzi_path(world.tile_image), self.headers)
        check_sample(self.grid, self.headers)
        _progress("tiles: warm-up")
        generator.run(self.grid, replace(self.load, seconds=settings.tile_warmup_s), self.headers)

    def alone(self, what: str) -> LoadResult:
        _progress(f"tiles: {what}")
        return self.run()

    def run(self) -> LoadResult:
        return self.generator.run(self.grid, self.load, self.headers)


@dataclass(frozen=True)
class _Beside:
    live: LiveRun
    result: LoadResult


def _load_beside_tiles(
    clients: LiveClients,
    connected: dict[str, Any],
    settings: LiveSettings,
    server: Server,
    tiles: _TileBench,
) -> _Beside:
    """The same live load again, with wrk on tiles in its middle (a second before and after)."""
    during: list[LoadResult] = []
    lead_s = 1.0

    def tiles_now() -> None:
        time.sleep(lead_s)
        _progress("tiles: with the live clients working")
        during.append(tiles.run())

    seconds = settings.tile_load.seconds + 2 * lead_s
    load = load_average()
    figures = clients.load(settings.ops_load(seconds), on_started=tiles_now)
    live = LiveRun("1 server, ops only, wrk on tiles", connected, figures, load, 0.0)
    return _Beside(live, during[0])


# --- server memory and CPU ------------------------------------------------------------------


def quiet(servers: Sequence[Server], most_s: float = QUIET_MOST_S) -> float:
    """Wait until the servers are about idle and answer /readyz promptly (a backlog of
    messages shows as CPU, an exhausted database pool as a slow /readyz), at most `most_s`;
    the seconds it took."""
    started = time.monotonic()
    masters = [server.master for server in servers]
    last = _cpu_seconds(masters)
    while time.monotonic() - started < most_s:
        time.sleep(QUIET_WINDOW_S)
        now = _cpu_seconds(masters)
        if now - last < QUIET_SHARE * QUIET_WINDOW_S and all(map(_prompt, servers)):
            break
        last = _cpu_seconds(masters)
    return time.monotonic() - started


def _prompt(server: Server) -> bool:
    """Whether /readyz answers 200 within a second."""
    try:
        with urllib.request.urlopen(server.base + "/readyz", timeout=1.0) as reply:
            return bool(reply.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _cpu_seconds(masters: Sequence[int]) -> float:
    """CPU time (user + system) the servers' processes have used so far."""
    ticks = 0
    for pid in (pid for master in masters for pid in _family(master)):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


class Peak:
    """The largest memory of some servers, sampled about once a second."""

    def __init__(self, masters: Sequence[int]) -> None:
        self.masters = masters
        self.largest = Memory(0, 0, 0)
        self.last = 0.0

    def sample(self, force: bool = False) -> None:
        if not force and time.monotonic() - self.last < 1.0:
            return
        self.last = time.monotonic()
        now = memory(*self.masters)
        if now.rss_mb > self.largest.rss_mb:
            self.largest = now


def settled_memory(*masters: int, seconds: float = 5.0) -> Memory:
    """The servers' memory once it stops growing (workers still importing after the first
    answered), read at most `seconds` after the start."""
    deadline = time.monotonic() + seconds
    last = memory(*masters)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = memory(*masters)
        if now.processes == last.processes and now.rss_mb <= last.rss_mb * 1.01:
            return now
        last = now
    return last


def memory(*masters: int) -> Memory:
    """RSS (and PSS, which counts pages the forked workers share once) of each server's
    gunicorn master and every process under it."""
    pids = [pid for master in masters for pid in _family(master)]
    rss = sum(_status_kb(pid, "VmRSS") for pid in pids)
    pss = sum(_pss_kb(pid) for pid in pids)
    return Memory(rss / 1024, pss / 1024, len(pids))


def _family(pid: int) -> Iterator[int]:
    yield pid
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            yield from _family(int(child))


def _status_kb(pid: int, name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{name}:"):
                return int(line.split()[1])
    except OSError:
        pass  # a worker that just exited
    return 0


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# --- the report -----------------------------------------------------------------------------


def format_report(report: LiveReport) -> str:
    settings, layout = report.settings, report.settings.layout
    lines = [
        "== Live collaboration (PERFORMANCE.md section 3) ==",
        f"machine : {machine()}",
        f"load    : {layout.clients} clients = {layout.users} users x {layout.per_user} "
        f"connections, {layout.rooms} rooms of {layout.clients // layout.rooms}; each client an "
        f"op (small polygon) every {settings.op_every_s:g} s, staggered; {settings.cursor_movers} "
        f"members per room move their cursor at {settings.cursor_hz:g} Hz; one presenter per "
        f"room sends its viewport at {settings.viewport_hz:g} Hz; {settings.seconds:g} s per run; "
        "beside the tile benchmark the clients exchange ops only",
        f"servers : `samsyn serve` with its defaults (as `make run`): SQLite, no Redis; then two "
        f"of them with SAMSYN_MESSAGE_QUEUE=redis://{HOST}:6379/{REDIS_DB} on one PostgreSQL "
        "schema, each room's members on both, each server with half of the cores "
        f"({half_the_cores()['SAMSYN_WORKERS']} worker and "
        f"{half_the_cores()['SAMSYN_LIVE_PROCESSES']} live process), as on two hosts",
        *_client_lines(report),
        _load_line(report.loads),
        "figures : latencies in ms at the clients (one clock); a message not received by "
        f"{DRAIN_S:g} s after the run's last send counts as lost, slower than any received",
        "",
        _live_table(report.runs),
        "",
        _memory_table(report.servers),
        "",
        *_tile_lines(report),
        "",
        *_target_lines(report),
        "",
        _anchor_line(report),
        f"took    : {report.seconds:.0f} s, setup included",
    ]
    if report.skipped:
        lines.append(f"two servers: skipped, {report.skipped}")
    return "\n".join(lines)


def _load_line(loads: Sequence[float]) -> str:
    """The machine's load around the runs, flagged when it exceeds the CPUs (shared machine)."""
    cpus = len(os.sched_getaffinity(0))
    busy = f": above {cpus}, other work competed for the CPUs" if max(loads) > cpus else ""
    return f"load avg: 1-min load average {loads[0]:.1f} before, {loads[-1]:.1f} after{busy}"


def _client_lines(report: LiveReport) -> list[str]:
    """The load client and what it cost, run by run: it must not be what is measured."""
    lines = []
    for live in report.runs:
        f, c = live.figures, live.connected
        lines.append(
            f"client  : {live.name}: {c['client']}, one process, {c['seconds']:.1f} s to log in, "
            f"connect and join ({_medians(c['median_ms'])}); CPU {f['client_cpu']:.0%} of a "
            f"core, event-loop delay p99 {f['event_loop_p99_ms']:.1f} ms; 1-min load average "
            f"{live.load:.1f} at the start"
        )
    return lines


def _medians(timings: dict[str, float | None]) -> str:
    """Median ms of a login, a websocket handshake and a join, as the client timed them."""
    shown = [f"{name} {value:.0f} ms" for name, value in timings.items() if value is not None]
    return "medians: " + ", ".join(shown) if shown else "no timings"


def _ms(value: float | None) -> str:
    return "lost" if value is None else f"{value:.1f}"


def _delivered(summary: dict[str, Any]) -> str:
    return f"{summary['count'] / summary['expected']:.1%}" if summary["expected"] else "-"


LIVE_COLUMNS = [
    "run",
    "joined",
    "op p50 ms",
    "p95",
    "p99",
    "ops delivered",
    "viewport p50",
    "p95",
    "delivered",
    "ack p50",
    "p99",
    "msg/s out",
    "msg/s in",
]


def _live_table(runs: Sequence[LiveRun]) -> str:
    rows = []
    for live in runs:
        f, c = live.figures, live.connected
        rows.append(
            [
                live.name,
                f"{c['joined']}/{c['requested']}",
                _ms(f["op"]["p50"]),
                _ms(f["op"]["p95"]),
                _ms(f["op"]["p99"]),
                f"{_delivered(f['op'])} of {f['op']['expected']:,}",
                _ms(f["viewport"]["p50"]),
                _ms(f["viewport"]["p95"]),
                _delivered(f["viewport"]),
                _ms(f["ack"]["p50"]),
                _ms(f["ack"]["p99"]),
                f"{f['out_per_s']:,.0f}",
                f"{f['in_per_s']:,.0f}",
            ]
        )
    notes = [_problems(live) for live in runs]
    traffic = [_traffic(live) for live in runs]
    return "\n".join([table(LIVE_COLUMNS, rows), *[note for note in notes if note], *traffic])


def _traffic(live: LiveRun) -> str:
    """Messages per second by event, sent by the clients and received by them."""
    f = live.figures

    def rates(counts: dict[str, int]) -> str:
        ordered = sorted(counts.items(), key=lambda item: -item[1])
        return ", ".join(f"{event} {number / f['seconds']:,.0f}" for event, number in ordered)

    return f"  {live.name}: msg/s out {rates(f['out_by_event'])}; in {rates(f['in_by_event'])}"


def _problems(live: LiveRun) -> str:
    """Refusals, failed acks, seq gaps and dropped connections of one run, if any."""
    f, c = live.figures, live.connected
    said = []
    if c["errors"]:
        said.append(f"connect/join: {c['errors']}")
    if f["ack_errors"]:
        said.append(f"op acks refused: {f['ack_errors']}")
    for key, what in (("seq_gaps", "seq gaps"), ("removed", "removed"), ("disconnects", "dropped")):
        if f[key]:
            said.append(f"{what}: {f[key]}")
    if live.busy_after_s >= 1.0:
        said.append(f"servers still busy {live.busy_after_s:.0f} s after the clients stopped")
    return f"  {live.name}: " + "; ".join(said) if said else ""


def _memory_table(servers: Sequence[Servers]) -> str:
    rows = []
    for held in servers:
        crowd = "-"
        if held.crowd is not None and held.crowd_connected is not None:
            joined = held.crowd_connected
            crowd = f"{held.crowd.rss_mb:.0f} ({joined['joined']}/{joined['requested']} joined)"
        rows.append(
            [
                held.name,
                str(held.idle.processes),
                f"{held.idle.rss_mb:.0f}",
                f"{held.loaded.rss_mb:.0f}",
                crowd,
                f"{held.idle.pss_mb:.0f} / {held.loaded.pss_mb:.0f}"
                + (f" / {held.crowd.pss_mb:.0f}" if held.crowd else ""),
            ]
        )
    header = [
        "server memory (master + workers)",
        "processes",
        "RSS idle MB",
        "RSS 200 working MB",
        f"RSS {TARGET_IDLE_CLIENTS} idle clients MB",
        "PSS idle / 200 / 500 MB",
    ]
    return table(header, rows)


def _tile_lines(report: LiveReport) -> list[str]:
    tiles = report.tiles
    if tiles is None:
        return []
    rows = [
        _tile_row("no live clients (before)", tiles.alone[0]),
        _tile_row(f"{report.settings.layout.clients} live clients working", tiles.with_live),
        _tile_row("no live clients (after)", tiles.alone[1]),
    ]
    load = report.settings.tile_load
    return [
        f"tiles   : {report.tile_client}, {load.seconds:g} s each, random tiles of the highest "
        f"level of a {report.settings.tile_slide_side} px JPEG slide, logged in (access check "
        "and log on), on the default server above",
        table(["tiles", "tiles/s", "p50 ms", "p99 ms", "requests", "errors"], rows),
        f"tiles/s with live clients / without (before): {tiles.share:.2f}; "
        f"after the live clients left / before: {tiles.recovery:.2f}",
    ]


def _tile_row(name: str, result: LoadResult) -> list[str]:
    return [
        name,
        f"{result.tiles_per_s:,.0f}",
        f"{result.p50_ms:.2f}",
        f"{result.p99_ms:.2f}",
        f"{result.requests:,}",
        str(result.errors),
    ]


def _verdict(met: bool) -> str:
    return "PASS" if met else "MISS"


def _below(value: float | None, target: float) -> bool:
    return value is not None and value < target


def _target_lines(report: LiveReport) -> list[str]:
    lines = []
    by_name = {live.name: live for live in report.runs}
    one, two = by_name.get("1 server, default"), by_name.get("2 servers, Redis")
    if one is not None:
        op = one.figures["op"]
        lines += [
            _target(f"op p50 < {TARGET_OP_P50_MS:g} ms, 1 server", op["p50"], TARGET_OP_P50_MS),
            _target(f"op p99 < {TARGET_OP_P99_MS:g} ms, 1 server", op["p99"], TARGET_OP_P99_MS),
        ]
        lines.append(_viewport_target(one))
    if two is not None:
        op = two.figures["op"]
        lines.append(
            _target(
                f"op p99 < {TARGET_OP_P99_TWO_MS:g} ms, 2 servers", op["p99"], TARGET_OP_P99_TWO_MS
            )
        )
        lines.append(_viewport_target(two))
    lines += _crowd_target(report)
    if report.tiles is not None:
        share = report.tiles.share
        clean = report.tiles.with_live.errors == 0
        lines.append(
            f"target tiles with live clients >= {TARGET_TILE_SHARE:.2f} of without: "
            f"{_verdict(clean and share >= TARGET_TILE_SHARE)} ({share:.2f})"
        )
    return lines


def _target(what: str, value: float | None, target: float) -> str:
    shown = "lost" if value is None else f"{value:.1f} ms"
    return f"target {what}: {_verdict(_below(value, target))} ({shown})"


def _viewport_target(live: LiveRun) -> str:
    p95 = live.figures["viewport"]["p95"]
    what = f"viewport p95 < {TARGET_VIEWPORT_P95_MS:g} ms, {live.name}"
    return _target(what, p95, TARGET_VIEWPORT_P95_MS)


def _crowd_target(report: LiveReport) -> list[str]:
    for held in report.servers:
        if held.crowd_connected is not None:
            c = held.crowd_connected
            met = c["joined"] >= TARGET_IDLE_CLIENTS and c["open"] >= TARGET_IDLE_CLIENTS
            return [
                f"target the default server holds {TARGET_IDLE_CLIENTS} live clients: "
                f"{_verdict(met)} ({c['connected']} connected, {c['joined']} joined, "
                f"{c['open']} still open of {c['requested']})"
                + (f"; refusals: {c['errors']}" if c["errors"] else "")
            ]
    return []


def _anchor_line(report: LiveReport) -> str:
    one = next((live for live in report.runs if live.name == "1 server, default"), None)
    ours = ""
    if one is not None:
        op, viewport = one.figures["op"], one.figures["viewport"]
        ours = (
            f"; samsyn here: another reviewer's annotation arrives in {_ms(op['p50'])} ms "
            f"(p50), {_ms(op['p99'])} ms (p99), follow-mode positions at "
            f"{report.settings.viewport_hz:g} Hz arrive in {_ms(viewport['p95'])} ms (p95)"
        )
    return (
        "anchor  : Cytomine shows other users' annotations by polling every 10 s (up to "
        "10,000 ms, 5,000 ms on average) and sends follow-mode positions every 500 ms (2 Hz); "
        f"Figma saves 95 % of edits within 600 ms; 100 ms feels instantaneous{ours}"
    )


def _progress(message: str) -> None:
    print(f"[live] {message}", file=sys.stderr, flush=True)
