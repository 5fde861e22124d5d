// A patient's loggutdrag in plain words: which organisation and unit opened their data, when,
// what they did and why. The server gives only the patient's own entries, without staff names.
import { getJson } from "./api.js";
import { build, cell, element, show, table } from "./dom.js";
import { roleName, showNavigation, signedIn } from "./nav.js";
import { signIn } from "./signin.js";
import { longDate, swedishClock, swedishDate, utc } from "./time.js";

const ACTIONS = {
  list: "Saw your case in a list of cases",
  view: "Opened your case or record",
  render: "Looked at your images",
  export: "Exported your data",
  share: "Looked at or changed who your case is shared with",
  annotate: "Marked up your images",
  edit: "Changed your case",
  delete: "Removed part of your case",
  manage: "Administered your case",
  emergency_access: "Opened emergency access to your data",
  block: "Recorded your block (spärr)",
  consent: "Recorded your consent",
};
const PURPOSES = {
  care: "Your care",
  second_opinion: "A second opinion on your case",
  mdk: "A multidisciplinary conference (MDK) about your care",
  emergency: "Emergency care (nödåtkomst), checked afterwards by a log reviewer",
  administration: "Administration of your case",
  teaching: "Teaching",
  log_review: "Checking the access log",
};

const page = {
  summary: document.querySelector("#log-summary"),
  log: document.querySelector("#log"),
  banner: document.querySelector("#error-banner"),
  refused: document.querySelector("#log-refused"),
};

function sameAccess(a, b) {
  return ["org", "unit", "role", "action", "purpose"].every((key) => a[key] === b[key]) &&
    swedishDate(a.at) === swedishDate(b.at) && swedishClock(a.at) === swedishClock(b.at);
}

/** Days, newest first, each with its accesses; identical accesses in the same minute count as one row. */
function byDay(entries) {
  const days = [];
  for (const entry of entries) {
    const day = swedishDate(entry.at);
    if (days.at(-1)?.day !== day) days.push({ day, at: entry.at, rows: [] });
    const rows = days.at(-1).rows;
    const last = rows.at(-1);
    if (last && sameAccess(last.entry, entry)) last.count += 1;
    else rows.push({ entry, count: 1 });
  }
  return days;
}

function dayRow(day) {
  const th = build("th", { colSpan: 5, scope: "rowgroup", textContent: longDate(day.at) });
  return build("tr", { className: "day-row" }, th);
}

function row({ entry, count }) {
  const tr = build("tr", { data: { testid: "access-row" } });
  if (entry.purpose === "emergency") tr.classList.add("row-emergency");
  const time = build("div", { className: "stack" }, element("span", null, swedishClock(entry.at)),
    count > 1 ? element("span", "muted small", `${count} times`) : null);
  const who = build("div", { className: "stack" },
    element("span", null, entry.org ?? "Unknown organisation"),
    element("span", "muted", entry.unit ?? "Organisation-wide"));
  tr.append(
    cell(time, "nowrap", utc(entry.at)),
    cell(who),
    cell(entry.role ? roleName(entry.role) : ""),
    cell(ACTIONS[entry.action] ?? entry.action),
    cell(PURPOSES[entry.purpose] ?? entry.purpose ?? ""),
  );
  return tr;
}

function summarise(entries) {
  if (entries.length === 0) return "Nobody has accessed your data in samsyn yet.";
  const orgs = [...new Set(entries.map((e) => e.org).filter(Boolean))];
  const first = swedishDate(entries.at(-1).at);
  const last = swedishDate(entries[0].at);
  const span = first === last ? `on ${first}` : `between ${first} and ${last}`;
  const times = entries.length === 1 ? "once" : `${entries.length} times`;
  const who = orgs.length === 1 ? orgs[0] : `${orgs.length} organisations: ${orgs.join(", ")}`;
  return `Your data was accessed ${times} ${span}, by ${who}.`;
}

async function start() {
  try {
    await signedIn();
  } catch (error) {
    if (error.status !== 401) return show(page.banner, error.message);
    await signIn(document.querySelector("#signin-slot"));
    return location.reload();
  }
  showNavigation();
  let entries;
  try {
    entries = await getJson("/api/me/access-log");
  } catch (error) {
    page.summary.hidden = true;
    if (error.status !== 403) return show(page.banner, `Your access log could not be loaded: ${error.message}`);
    page.refused.querySelector("[data-field=message]").textContent =
      `This page shows patients who has accessed their own data. The server says: ${error.message}.`;
    page.refused.hidden = false;
    return;
  }
  page.summary.textContent = summarise(entries);
  if (entries.length === 0) return;
  const labels = ["Time", "Organisation and unit", "Their role", "What they did", "Why"];
  const rows = byDay(entries).flatMap((day) => [dayRow(day), ...day.rows.map(row)]);
  page.log.replaceChildren(table(labels, rows, "data-table access-table"));
}

start();
