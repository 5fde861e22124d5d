// The live benchmark's load client: one Node.js process holding every live connection.
//
// Driven by benchmarks/live.py over stdin/stdout, one JSON object a line each way:
//   {"cmd": "connect", "seats": [...], "concurrency": n}  -> {"event": "connected", ...}
//   {"cmd": "load", "seconds": s, ...}  -> {"event": "load_started"} then {"event": "load", ...}
//   {"cmd": "disconnect"}  -> {"event": "disconnected", ...}
//   {"cmd": "quit"}
// A seat is one connection: {"id", "username", "password", "base", "case", "image",
// "width", "height"}. Every latency is measured inside this one process (one clock): from the
// sender's emit to each other room member's receipt. Websockets cost little here, so the
// load generator does not take the CPUs the server is measured on.

import { createRequire } from "node:module";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import readline from "node:readline";

const require = createRequire(new URL("../static/package.json", import.meta.url));
const { io } = require("socket.io-client");
const clientVersion = require("socket.io-client/package.json").version;

const ACK_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 5_000;
const CONNECT_ATTEMPTS = 6;
const DRAIN_MS = 2_000; // after the last emit: time for broadcasts still on their way
const VIEWPORT_KEYS = 1000; // viewport numbers cycle; a number is reused after 80 s at 12 Hz

const cookies = new Map(); // username -> "samsyn_session=..."
let seats = []; // connected seats: {seat, socket, me, lastSeq, gaps}

function say(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// --- logging in and connecting -------------------------------------------------------------

async function login(seat) {
  if (cookies.has(seat.username)) return cookies.get(seat.username);
  const started = performance.now();
  const reply = await fetch(`${seat.base}/api/session`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Origin: seat.base },
    body: JSON.stringify({ username: seat.username, password: seat.password }),
  });
  if (reply.status !== 200) throw new Error(`login ${reply.status}`);
  const found = (reply.headers.getSetCookie?.() ?? [reply.headers.get("set-cookie") ?? ""])
    .map((line) => line.split(";")[0])
    .find((pair) => pair.startsWith("samsyn_session="));
  if (!found) throw new Error("login set no session cookie");
  cookies.set(seat.username, found);
  timings.login.push(performance.now() - started);
  return found;
}

async function logins(allSeats, concurrency, errors) {
  // One login per user, before any socket: a login costs the server an argon2 hash.
  const byUser = new Map(allSeats.map((seat) => [seat.username, seat]));
  const queue = [...byUser.values()].filter((seat) => !cookies.has(seat.username));
  const workers = Array.from({ length: concurrency }, async () => {
    while (queue.length) {
      const seat = queue.shift();
      await login(seat).catch((error) => count(errors, `login: ${error.message}`));
    }
  });
  await Promise.all(workers);
}

function openSocket(seat, cookie) {
  // forceNew: every seat its own websocket, never multiplexed onto another seat's.
  const socket = io(`${seat.base}/live`, {
    path: "/socket.io",
    transports: ["websocket"],
    forceNew: true,
    reconnection: false,
    timeout: CONNECT_TIMEOUT_MS,
    extraHeaders: { Cookie: cookie },
    origin: seat.base,
  });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (error) => {
      socket.close();
      reject(new Error(describe(error)));
    });
  });
}

function describe(error) {
  const inner = error?.description?.message ?? error?.description ?? "";
  return `${error?.message ?? error}${inner ? `: ${inner}` : ""}`.slice(0, 120);
}

function call(socket, event, payload) {
  return new Promise((resolve) => {
    socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, (error, ack) => {
      resolve(error ? { ok: false, error: "ack_timeout" } : ack);
    });
  });
}

async function seatUp(seat, errors, deadline) {
  for (let attempt = 1; attempt <= CONNECT_ATTEMPTS && performance.now() < deadline; attempt += 1) {
    try {
      const cookie = await login(seat);
      const t1 = performance.now();
      const socket = await openSocket(seat, cookie);
      const t2 = performance.now();
      const joined = await call(socket, "join", { case: seat.case, image: seat.image });
      timings.handshake.push(t2 - t1);
      timings.join.push(performance.now() - t2);
      timings.seat.push(performance.now() - t1);
      if (!joined?.ok) {
        count(errors, `join: ${joined?.error ?? "no answer"}`);
        return { seat, socket, joined: false, me: null, lastSeq: null, gaps: 0 };
      }
      return { seat, socket, joined: true, me: joined.me, lastSeq: joined.seq, gaps: 0 };
    } catch (error) {
      count(errors, `connect: ${error.message}`);
      await sleep(150 * attempt); // a refused handshake (429, 503) asks for a pause
    }
  }
  return null;
}

const timings = { login: [], handshake: [], join: [], seat: [] }; // ms, of the last connect

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : null;
}

function count(tally, key, by = 1) {
  tally[key] = (tally[key] ?? 0) + by;
}

async function connect(command) {
  const started = performance.now();
  const errors = {};
  const queue = [...command.seats];
  for (const list of Object.values(timings)) list.length = 0;
  await logins(command.seats, command.login_concurrency ?? 8, errors);
  const opened = [];
  // A server that cannot take its clients must not stretch the run: past the budget, the
  // seats left are reported as not connected.
  const deadline = started + (command.budget_s ?? 60) * 1000;
  const workers = Array.from({ length: command.concurrency ?? 4 }, async () => {
    while (queue.length) {
      const seat = queue.shift();
      const up = performance.now() < deadline ? await seatUp(seat, errors, deadline) : null;
      if (up) opened.push(up);
      else if (performance.now() >= deadline) count(errors, "not up within the connect budget");
    }
  });
  await Promise.all(workers);
  opened.sort((a, b) => a.seat.id - b.seat.id);
  seats.push(...opened);
  for (const entry of opened) watchSeq(entry);
  const stillOpen = seats.filter((entry) => entry.socket.connected).length;
  say({
    event: "connected",
    requested: command.seats.length,
    connected: opened.length,
    joined: opened.filter((entry) => entry.joined).length,
    open: stillOpen,
    errors,
    seconds: (performance.now() - started) / 1000,
    median_ms: Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, median(v)])),
    seat_max_ms: timings.seat.length ? Math.max(...timings.seat) : null,
    client: `socket.io-client ${clientVersion}, Node.js ${process.version}`,
  });
}

function watchSeq(entry) {
  // The client rule: a seq more than one past the last seen means something was missed.
  const seen = (message) => {
    if (typeof message?.seq !== "number") return;
    if (entry.lastSeq !== null && message.seq > entry.lastSeq + 1) entry.gaps += 1;
    entry.lastSeq = Math.max(entry.lastSeq ?? 0, message.seq);
  };
  entry.socket.on("op", seen);
  entry.socket.on("note", seen);
}

async function disconnect() {
  const count = seats.length;
  for (const entry of seats) entry.socket.close();
  seats = [];
  await sleep(500); // let the server see the closes before it is measured again
  say({ event: "disconnected", closed: count });
}

// --- the load ------------------------------------------------------------------------------

class Tally {
  constructor() {
    this.opSent = new Map(); // op_id -> {at, expected, received, sender}
    this.opLatency = [];
    this.ackLatency = [];
    this.ackErrors = {};
    this.viewportSent = new Map(); // `${case}|${user}|${n}` -> {at, expected, received}
    this.viewportLatency = [];
    this.out = {};
    this.in = {};
    this.acks = 0;
    this.removed = 0;
    this.disconnects = 0;
  }
}

function roomsOf(entries) {
  const rooms = new Map();
  for (const entry of entries.filter((e) => e.joined)) {
    if (!rooms.has(entry.seat.case)) rooms.set(entry.seat.case, []);
    rooms.get(entry.seat.case).push(entry);
  }
  return rooms;
}

function listen(entry, tally) {
  const socket = entry.socket;
  const handlers = {
    op: (message) => {
      const sent = tally.opSent.get(message?.op_id);
      if (sent && sent.sender !== entry) {
        tally.opLatency.push(performance.now() - sent.at);
        sent.received += 1;
      }
    },
    viewport: (message) => {
      const key = `${entry.seat.case}|${message?.user}|${message?.bounds?.[0]}`;
      const sent = tally.viewportSent.get(key);
      if (sent) {
        tally.viewportLatency.push(performance.now() - sent.at);
        sent.received += 1;
      }
    },
    removed: () => {
      tally.removed += 1;
    },
    disconnect: () => {
      tally.disconnects += 1;
    },
  };
  const any = (event) => count(tally.in, event);
  for (const [event, handler] of Object.entries(handlers)) socket.on(event, handler);
  socket.onAny(any);
  return () => {
    for (const [event, handler] of Object.entries(handlers)) socket.off(event, handler);
    socket.offAny(any);
  };
}

function polygon(seat, random) {
  const side = 40;
  const x = Math.floor(random() * (seat.width - side - 2)) + 1;
  const y = Math.floor(random() * (seat.height - side - 2)) + 1;
  const ring = [[x, y], [x + side, y], [x + side, y + side], [x, y + side], [x, y]];
  return { type: "Feature", geometry: { type: "Polygon", coordinates: [ring] }, properties: {} };
}

function sendOp(entry, tally, room, serial) {
  const opId = `bench-${entry.seat.id}-${serial}-${Math.random().toString(36).slice(2, 8)}`;
  const payload = {
    op_id: opId,
    type: "create",
    image: entry.seat.image,
    feature: polygon(entry.seat, Math.random),
  };
  const at = performance.now();
  tally.opSent.set(opId, { at, expected: room.length - 1, received: 0, sender: entry });
  count(tally.out, "op");
  entry.socket.timeout(ACK_TIMEOUT_MS).emit("op", payload, (error, ack) => {
    tally.acks += 1;
    if (error) return count(tally.ackErrors, "ack_timeout");
    if (!ack?.ok) return count(tally.ackErrors, ack?.error ?? "bad_ack");
    tally.ackLatency.push(performance.now() - at);
    // The sender's own op is known from its ack: its seq is no gap in what the room sent.
    if (typeof ack.seq === "number") entry.lastSeq = Math.max(entry.lastSeq ?? 0, ack.seq);
  });
}

function sendCursor(entry, tally) {
  const { width, height, image } = entry.seat;
  count(tally.out, "cursor");
  entry.socket.emit("cursor", {
    image,
    frame: null,
    x: Math.random() * width,
    y: Math.random() * height,
  });
}

let viewportSerial = 0;

function sendViewport(entry, tally, room) {
  viewportSerial = (viewportSerial + 1) % VIEWPORT_KEYS;
  const n = viewportSerial;
  const key = `${entry.seat.case}|${entry.me}|${n}`;
  tally.viewportSent.set(key, { at: performance.now(), expected: room.length - 1, received: 0 });
  count(tally.out, "viewport");
  entry.socket.emit("viewport", {
    image: entry.seat.image,
    frame: null,
    bounds: [n, 100, 1024, 768],
    rotation: 0,
  });
}

function every(ms, offsetMs, until, action) {
  // A fixed schedule from a start time (no drift), the first run after `offsetMs`.
  const timers = { stopped: false };
  const start = performance.now() + offsetMs;
  let runs = 0;
  const next = () => {
    if (timers.stopped) return;
    const due = start + runs * ms;
    if (due > until) return;
    timers.handle = setTimeout(() => {
      runs += 1;
      action(runs);
      next();
    }, Math.max(due - performance.now(), 0));
  };
  next();
  return () => {
    timers.stopped = true;
    clearTimeout(timers.handle);
  };
}

async function load(command) {
  const tally = new Tally();
  const rooms = roomsOf(seats);
  const unlisten = seats.map((entry) => listen(entry, tally));
  const presenters = [...rooms.values()].map((room) => room[0]);
  const presenting = await Promise.all(presenters.map((p) => call(p.socket, "present", { on: true })));
  presenting.filter((ack) => !ack?.ok).forEach((ack) => count(tally.ackErrors, `present: ${ack?.error}`));
  await sleep(300); // the presenter announcements reach the rooms before anything is timed
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const until = started + command.seconds * 1000;
  const stops = [];
  say({ event: "load_started" });
  const members = [...rooms.values()].flat();
  members.forEach((entry, index) => {
    const room = rooms.get(entry.seat.case);
    if (command.op_every_s > 0) {
      const opMs = command.op_every_s * 1000;
      const stagger = (index / members.length) * opMs;
      stops.push(every(opMs, stagger, until, (n) => sendOp(entry, tally, room, n)));
    }
    const movers = command.cursor_movers ?? room.length;
    if (command.cursor_hz > 0 && room.indexOf(entry) < movers) {
      const cursorMs = 1000 / command.cursor_hz;
      stops.push(every(cursorMs, Math.random() * cursorMs, until, () => sendCursor(entry, tally)));
    }
  });
  for (const presenter of command.viewport_hz > 0 ? presenters : []) {
    const room = rooms.get(presenter.seat.case);
    const viewportMs = 1000 / command.viewport_hz;
    stops.push(every(viewportMs, Math.random() * viewportMs, until, () => sendViewport(presenter, tally, room)));
  }
  await sleep(until - performance.now());
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const inDuring = { ...tally.in };
  stops.forEach((stop) => stop());
  await drain(tally);
  loop.disable();
  unlisten.forEach((off) => off());
  say({ event: "load", ...summary(tally, elapsed, cpu, loop, inDuring, rooms) });
}

async function drain(tally) {
  const deadline = performance.now() + DRAIN_MS;
  const pending = () =>
    tally.acks < (tally.out.op ?? 0) ||
    [...tally.opSent.values()].some((sent) => sent.received < sent.expected);
  while (performance.now() < deadline && pending()) await sleep(50);
}

function percentiles(values, expected) {
  // Nearest rank over every message that should have arrived: one that never did counts
  // as slower than any that did (Infinity), so losses cannot flatter the figures.
  const sorted = [...values].sort((a, b) => a - b);
  const total = Math.max(expected, sorted.length);
  const rank = (fraction) => {
    const index = Math.max(Math.ceil(fraction * total) - 1, 0);
    return index < sorted.length ? sorted[index] : null; // null: a lost message (Infinity)
  };
  return {
    count: sorted.length,
    expected: total,
    p50: rank(0.5),
    p95: rank(0.95),
    p99: rank(0.99),
    max: sorted.length ? sorted[sorted.length - 1] : null,
  };
}

function expectedOf(sentMap) {
  let expected = 0;
  for (const sent of sentMap.values()) expected += sent.expected;
  return expected;
}

function summary(tally, elapsed, cpu, loop, inDuring, rooms) {
  const unanswered = tally.opSent.size - tally.acks;
  if (unanswered > 0) count(tally.ackErrors, "no ack by the end", unanswered);
  const out = Object.values(tally.out).reduce((a, b) => a + b, 0);
  const inbound = Object.values(inDuring).reduce((a, b) => a + b, 0);
  return {
    seconds: elapsed,
    clients: seats.filter((entry) => entry.joined).length,
    rooms: rooms.size,
    op: percentiles(tally.opLatency, expectedOf(tally.opSent)),
    ack: percentiles(tally.ackLatency, tally.opSent.size),
    ack_errors: tally.ackErrors,
    viewport: percentiles(tally.viewportLatency, expectedOf(tally.viewportSent)),
    out_per_s: out / elapsed,
    in_per_s: (inbound + tally.acks) / elapsed,
    out_by_event: tally.out,
    in_by_event: inDuring,
    seq_gaps: seats.reduce((total, entry) => total + entry.gaps, 0),
    removed: tally.removed,
    disconnects: tally.disconnects,
    client_cpu: (cpu.user + cpu.system) / 1e6 / elapsed,
    event_loop_p99_ms: loop.percentile(99) / 1e6,
  };
}

// --- the command loop ----------------------------------------------------------------------

const commands = { connect, load, disconnect };
const lines = readline.createInterface({ input: process.stdin });
let busy = Promise.resolve();
lines.on("line", (line) => {
  const command = JSON.parse(line);
  busy = busy.then(async () => {
    if (command.cmd === "quit") {
      for (const entry of seats) entry.socket.close();
      process.exit(0);
    }
    try {
      await commands[command.cmd](command);
    } catch (error) {
      say({ event: "error", message: String(error?.stack ?? error) });
    }
  });
});
lines.on("close", () => process.exit(0));
