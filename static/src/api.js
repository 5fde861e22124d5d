// Talking to the samsyn server: JSON in, JSON out, errors as ApiError with the server's message
// (the server's own words stay as they are; only what this file says itself is translated).
import { t } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, code, message, body = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body; // the whole answer: a 409 carries the current version as `current`
  }
}

/** A 401 from any call but signing in itself means the session has ended (expired, or signed
 * out elsewhere): every page then goes to the sign-in, which brings the user back here. */
function sessionEnded(url) {
  if (location.pathname === "/login") return false;
  return new URL(url, location.href).pathname !== "/api/session";
}

let leaving = false;

export function signInAgain() {
  if (leaving) return; // many calls may fail at once: one trip to the sign-in
  leaving = true;
  location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
}

async function request(url, options = {}) {
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin", ...options });
  } catch {
    throw new ApiError(0, "network", t("api.unreachable"));
  }
  const body = await response.json().catch(() => null);
  if (response.status === 401 && sessionEnded(url)) signInAgain();
  if (!response.ok) {
    throw new ApiError(
      response.status,
      body?.error ?? `http_${response.status}`,
      body?.message ?? t("api.failed", { status: `${response.status} ${response.statusText}`.trim() }),
      body,
    );
  }
  return body;
}

export function getJson(url) {
  return request(url, { headers: { Accept: "application/json" } });
}

/** A state-changing request; with a session it must carry the session's CSRF token. */
export function send(method, url, data, csrfToken) {
  const headers = { Accept: "application/json" };
  if (data !== undefined) headers["Content-Type"] = "application/json";
  if (csrfToken) headers["X-CSRF-Token"] = csrfToken;
  return request(url, { method, headers, body: data === undefined ? undefined : JSON.stringify(data) });
}

/** The server's own explanation for a URL that failed to load in an <img> or in OpenSeadragon. */
export async function failureReason(url) {
  try {
    await getJson(url);
  } catch (error) {
    return error.message;
  }
  return null;
}

let csrf = null;

/** The session's CSRF token, asked of the server once per page. */
function csrfToken() {
  csrf ??= getJson("/api/me").then((me) => me.csrf_token).catch((error) => {
    csrf = null;
    throw error;
  });
  return csrf;
}

/**
 * A change with the headers it needs set here, not by the caller: the CSRF token, and
 * If-Match with the version being changed (`ifMatch`), so a stale write answers 409.
 */
export async function change(method, url, data, { ifMatch } = {}) {
  const headers = { Accept: "application/json", "X-CSRF-Token": await csrfToken() };
  if (data !== undefined) headers["Content-Type"] = "application/json";
  if (ifMatch !== undefined) headers["If-Match"] = `"${ifMatch}"`;
  return request(url, { method, headers, body: data === undefined ? undefined : JSON.stringify(data) });
}
