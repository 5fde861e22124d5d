// The live connection: Socket.IO on `/live`, websocket only (the server offers nothing
// else), the session cookie as identity. One per page, whoever uses it: the case's room on
// a viewer page, the referrals on every page of care staff.

const CLIENT = "/static/dist/socket.io/socket.io.min.js";
const ACK_MS = 8000;
const RETRY_MS = 1000;

export class LiveError extends Error {
  constructor(code, message) {
    super(message ?? code);
    this.code = code;
  }
}

let shared = null;
let users = 0;

/** The page's one socket to the live namespace, shared by the case's room (live-room.js)
 * and the referrals (referral-live.js); it reconnects by itself (each time: join again).
 * Give it back with releaseSocket() when done: the last one out disconnects. */
export function openSocket() {
  users += 1;
  shared ??= connect().catch((error) => {
    shared = null;
    throw error;
  });
  return shared.then((socket) => {
    if (!socket.active) socket.connect(); // released by everyone before, now wanted again
    return socket;
  });
}

export function releaseSocket(socket) {
  users = Math.max(0, users - 1);
  if (users === 0) socket.disconnect();
}

async function connect() {
  await import(CLIENT); // the UMD build defines globalThis.io
  const socket = globalThis.io("/live", {
    path: "/socket.io",
    transports: ["websocket"],
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
  });
  socket.on("disconnect", (reason) => {
    // The server closed it (a restart, a logout elsewhere): socket.io does not retry by itself.
    if (reason === "io server disconnect") setTimeout(() => users > 0 && !socket.active && socket.connect(), RETRY_MS);
  });
  return socket;
}

/** An acknowledged event: the ack's body when {"ok": true}, else a LiveError with its code. */
export async function call(socket, event, payload) {
  let answer;
  try {
    answer = await socket.timeout(ACK_MS).emitWithAck(event, payload);
  } catch {
    throw new LiveError("timeout");
  }
  if (!answer?.ok) throw new LiveError(answer?.error ?? "bad_answer", answer?.message);
  return answer;
}

/** A function that runs `send` at most every `ms`, always with the latest arguments, and
 * once more after the last call (so the final position is never lost). */
export function throttled(ms, send) {
  let last = 0;
  let timer = 0;
  let pending = null;
  const flush = () => {
    timer = 0;
    last = performance.now();
    const args = pending;
    pending = null;
    send(...args);
  };
  return (...args) => {
    pending = args;
    if (timer) return;
    const wait = ms - (performance.now() - last);
    if (wait <= 0) flush();
    else timer = setTimeout(flush, wait);
  };
}
