// Referrals live on every page: on the page's one Socket.IO connection to `/live`
// (live-socket.js, shared with a viewer's case room), the server tells everyone on either
// side of a referral that it changed (`referral` {"id", "status", "report"?}). From it: the number of incoming referrals waiting beside
// "Remisser" in the navigation, a small notice when a referral of yours is answered, and
// the worklist and referral pages, which subscribe with onReferral() and fetch afresh.
import { getJson } from "./api.js";
import { build, element } from "./dom.js";
import { t } from "./i18n.js";
import { openSocket } from "./live-socket.js";

const STYLES = "/static/src/referrals.css";
const SETTLE_MS = 150; // several events of one step (sign, then its announcement) fetch once

const listeners = new Set();
let started = null;
let socket = null;
let countTimer = 0;

/** Calls `listener(event)` for every `referral` event, and with {reconnected: true} when the
 * connection came back (events may have been missed: fetch everything afresh). Returns a
 * function that unsubscribes. */
export function onReferral(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The live socket of this page, once connected (tests and other modules may look). */
export function referralSocket() {
  return socket;
}

/** Starts the page's referral connection once (nav.js does, for care staff). */
export function startReferralLive() {
  ensureStyles();
  started ??= connect().catch(() => null); // the page works without it, only not live
  refreshCount();
  return started;
}

async function connect() {
  socket = await openSocket(); // the page's one connection, shared with a viewer's case room
  let connectedBefore = false;
  const connected = () => {
    if (connectedBefore) tell({ id: null, status: null, reconnected: true });
    connectedBefore = true;
    document.documentElement.dataset.referralLive = "connected";
  };
  socket.on("connect", connected);
  socket.on("disconnect", () => {
    document.documentElement.dataset.referralLive = "disconnected";
  });
  socket.on("referral", (event) => tell(event));
  if (socket.connected) connected();
  return socket;
}

function tell(event) {
  scheduleCount();
  if (event?.status === "answered") noticeIfMine(event);
  for (const listener of [...listeners]) {
    try {
      listener(event ?? {});
    } catch (error) {
      console.error(error);
    }
  }
}

/* The count beside "Remisser": incoming referrals waiting for someone to accept them. */

function scheduleCount() {
  clearTimeout(countTimer);
  countTimer = setTimeout(refreshCount, SETTLE_MS);
}

async function refreshCount() {
  const anchor = document.querySelector("[data-testid=nav-referrals]");
  if (!anchor) return;
  let waiting;
  try {
    const answer = await getJson("/api/referrals?box=incoming&status=sent&limit=1");
    waiting = answer.counts?.sent ?? 0;
  } catch {
    return;
  }
  let badge = anchor.querySelector(".nav-count");
  if (!badge) {
    badge = element("span", "nav-count");
    badge.dataset.testid = "nav-referrals-count";
    anchor.append(" ", badge);
  }
  badge.textContent = String(waiting);
  badge.hidden = waiting === 0;
  badge.title = t("referrals.nav.waiting", { n: waiting });
  anchor.dataset.waiting = String(waiting);
}

/* "Your referral is answered": on every page but that referral's own, which shows the answer. */

function onItsOwnPage(id) {
  return location.pathname === `/referrals/${encodeURIComponent(id)}`;
}

async function noticeIfMine(event) {
  if (!event.id || onItsOwnPage(event.id)) return;
  let sent;
  try {
    sent = await getJson("/api/referrals?box=outgoing&status=answered&limit=1000");
  } catch {
    return;
  }
  const referral = sent.referrals?.find((item) => item.id === event.id);
  if (referral) showNotice(referral, event.report);
}

/** The count and the notice look the same on every page: the pages do not all load it. */
function ensureStyles() {
  if (!document.querySelector(`link[href="${STYLES}"]`)) {
    document.head.append(build("link", { rel: "stylesheet", href: STYLES }));
  }
}

function noticeArea() {
  let area = document.querySelector("#referral-notices");
  if (area) return area;
  area = build("div", { id: "referral-notices", className: "referral-notices" });
  area.setAttribute("role", "status");
  area.setAttribute("aria-live", "polite");
  document.body.append(area);
  return area;
}

function showNotice(referral, report) {
  const area = noticeArea();
  area.querySelector(`[data-referral-id="${CSS.escape(referral.id)}"]`)?.remove();
  const amended = report?.status === "amended";
  const patient = referral.patient ? `${referral.patient.name} (${referral.patient.personnummer})` : "";
  const text = t(amended ? "referrals.notice.amended" : "referrals.notice.answered", {
    case: referral.case_title, patient, signer: report?.signed_by ?? "",
  });
  const close = build("button", { type: "button", className: "notice-close", textContent: "×" });
  close.setAttribute("aria-label", t("referrals.notice.close"));
  close.title = t("referrals.notice.close");
  const notice = build("div", { className: "referral-notice", data: { testid: "referral-notice", referralId: referral.id } },
    element("strong", "notice-title", t("referrals.notice.title")),
    element("span", "notice-text", text),
    build("a", { href: `/referrals/${encodeURIComponent(referral.id)}`, textContent: t("referrals.notice.open") }),
    close);
  close.addEventListener("click", () => notice.remove());
  area.append(notice);
}
