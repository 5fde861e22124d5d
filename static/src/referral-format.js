// How referrals (remisser) read wherever they are shown: status, priority, wish-by time,
// the sending and receiving side, the steps of their history, what the images are.
import { build, element } from "./dom.js";
import { t } from "./i18n.js";
import { CARE_ROLES } from "./nav.js";
import { remaining, swedish, utc } from "./time.js";

export const STATUSES = ["draft", "sent", "accepted", "in_review", "answered", "declined", "withdrawn", "closed"];
export const PRIORITIES = ["acute", "urgent", "routine"];
/** States in which the receiving side still has work to do (the server's WAITING). */
export const WAITING = ["sent", "accepted", "in_review"];
/** States in which an accepted referral opens the case to the receiving side (policy). */
export const OPEN = ["accepted", "in_review", "answered"];

/** A code in words, looked up when shown (t() knows the words only once the catalogue is
 * loaded); a code the catalogue does not know is shown as it is. */
function named(group, code) {
  const key = `referrals.${group}.${code}`;
  const text = t(key);
  return text === key ? code : text;
}

export const statusName = (status) => named("status", status);
export const priorityName = (priority) => named("priority", priority);
export const stepName = (step) => named("step", step);

export function statusBadge(status) {
  const badge = element("span", `referral-status rstatus-${status}`, statusName(status));
  badge.dataset.testid = "referral-status";
  badge.dataset.status = status;
  return badge;
}

/** Priority in words; acute and urgent also carry a marker so colour is never the only sign. */
export function priorityBadge(priority) {
  const marker = { acute: "!!", urgent: "!" }[priority];
  const badge = element("span", `priority priority-${priority}`);
  badge.dataset.testid = "referral-priority";
  if (marker) badge.append(element("span", "priority-marker", marker), " ");
  badge.append(priorityName(priority));
  return badge;
}

/** The wish-by time in Swedish time (UTC in the tooltip), and "försenad" in words once passed
 * while the referral still waits; the time left otherwise. */
export function dueBlock(referral) {
  const box = element("span", "stack due");
  box.dataset.testid = "referral-due";
  if (!referral.due) {
    box.append(element("span", "muted", t("referrals.due.none")));
    return box;
  }
  box.append(timeText(referral.due));
  if (referral.overdue) {
    const flag = element("span", "overdue-flag", t("referrals.overdue"));
    flag.dataset.testid = "referral-overdue";
    box.append(flag);
  } else if (WAITING.includes(referral.status)) {
    const left = remaining(referral.due);
    if (left) box.append(element("span", "muted small", t("referrals.due.left", { left })));
  }
  return box;
}

/** The sender: person, unit, organisation. */
export function fromBlock(from) {
  return build("span", { className: "stack" },
    element("span", null, from?.name ?? ""),
    element("span", "muted small", [from?.unit, from?.org].filter(Boolean).join(" · ")));
}

/** The receiver: a named specialist or a unit, and the organisation. */
export function toBlock(to) {
  const main = to?.user ?? to?.unit ?? to?.org ?? "";
  const detail = to?.user ? [to?.unit, to?.org] : [to?.unit ? to?.org : null];
  return build("span", { className: "stack" },
    element("span", null, main),
    element("span", "muted small", detail.filter(Boolean).join(" · ")));
}

/** "Snitt 2 · CT 1": what the referred images are ("slide", else their modality). */
export function holdsText(holds) {
  const entries = Object.entries(holds ?? {});
  if (entries.length === 0) return t("referrals.holds.none");
  return entries.map(([kind, n]) => `${holdName(kind)} ${n}`).join(" · ");
}

export function holdName(kind) {
  return kind === "slide" ? t("referrals.holds.slide") : kind === "series" ? t("referrals.holds.series") : kind;
}

/** "2026-12-03 14:05" with the UTC instant as its tooltip. */
export function timeText(iso) {
  const span = element("span", "nowrap", swedish(iso));
  if (iso) span.title = utc(iso);
  return span;
}

/** Which side of the referral this user is on: "receiving" (its unit, or the named
 * specialist) or "requesting" (everyone else who may read it: the requester, their unit,
 * those copied). Only to choose which buttons to offer; the server decides every step. */
export function sideOf(referral, user) {
  const care = (user.roles ?? []).filter((role) => CARE_ROLES.includes(role.role));
  const to = referral.to ?? {};
  const receives = care.some((role) => {
    if (role.org !== to.org) return false;
    if (to.user) return to.user === user.name;
    return to.unit ? role.unit === to.unit : true;
  });
  return receives ? "receiving" : "requesting";
}
