// The live connection: Socket.IO on `/live`, websocket only (the server offers nothing
// else), the session cookie as identity. Loaded only on a page whose image is in a case.

const CLIENT = "/static/dist/socket.io/socket.io.min.js";
const ACK_MS = 8000;

export class LiveError extends Error {
  constructor(code, message) {
    super(message ?? code);
    this.code = code;
  }
}

/** A socket to the live namespace; it reconnects by itself (each time: join again). */
export async function openSocket() {
  await import(CLIENT); // the UMD build defines globalThis.io
  return globalThis.io("/live", {
    path: "/socket.io",
    transports: ["websocket"],
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
  });
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
