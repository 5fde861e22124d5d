// A patient's loggutdrag in plain words: which vårdgivare and vårdenhet opened their data, on
// which day, when, what they did and why. The server groups it (app/extract.py: days → care
// providers → units → lines, codes and names only, no ids); this page only puts it into words
// from the message catalogue, the same words the PDF (/api/me/access-log.pdf) uses. The
// codes are put into words through maps of literal keys (extract.what.*, extract.why.*,
// extract.role.*), so the catalogue test sees every one the page may ask for.
import { getJson } from "./api.js";
import { build, element, show, table } from "./dom.js";
import { showNavigation } from "./nav.js";
import { signedInPage } from "./signin.js";
import { number, t } from "./i18n.js";
import { longDate, swedishClock } from "./time.js";

const page = {
  summary: document.querySelector("#log-summary"),
  log: document.querySelector("#log"),
  pdf: document.querySelector("#log-pdf"),
  banner: document.querySelector("#error-banner"),
  refused: document.querySelector("#log-refused"),
};

/** What was done (app/extract.py WHAT), in the patient's words. */
function whatName(code) {
  const names = {
    viewed_images: t("extract.what.viewed_images"),
    opened_case: t("extract.what.opened_case"),
    looked_up: t("extract.what.looked_up"),
    listed: t("extract.what.listed"),
    shared: t("extract.what.shared"),
    unshared: t("extract.what.unshared"),
    created_case: t("extract.what.created_case"),
    annotated: t("extract.what.annotated"),
    edited: t("extract.what.edited"),
    deleted: t("extract.what.deleted"),
    exported: t("extract.what.exported"),
    managed: t("extract.what.managed"),
    opened_emergency: t("extract.what.opened_emergency"),
    recorded_consent: t("extract.what.recorded_consent"),
    recorded_block: t("extract.what.recorded_block"),
    reviewed_log: t("extract.what.reviewed_log"),
    wrote_report: t("extract.what.wrote_report"),
    gave_opinion: t("extract.what.gave_opinion"),
    sent_referral: t("extract.what.sent_referral"),
    used_data: t("extract.what.used_data"),
  };
  return names[code] ?? names.used_data;
}

/** Why it was allowed (app/extract.py why_of). */
function whyName(code) {
  const names = {
    care: t("extract.why.care"),
    second_opinion: t("extract.why.second_opinion"),
    mdk: t("extract.why.mdk"),
    teaching: t("extract.why.teaching"),
    emergency: t("extract.why.emergency"),
    consent: t("extract.why.consent"),
    administration: t("extract.why.administration"),
    log_review: t("extract.why.log_review"),
  };
  return names[code] ?? names.care;
}

/** The staff member's role, in lower case as it stands last on a line. */
function roleName(role) {
  const names = {
    pathologist: t("extract.role.pathologist"),
    radiologist: t("extract.role.radiologist"),
    clinician: t("extract.role.clinician"),
    admin: t("extract.role.admin"),
    log_reviewer: t("extract.role.log_reviewer"),
    teacher: t("extract.role.teacher"),
    student: t("extract.role.student"),
  };
  return names[role] ?? t("extract.role.unknown");
}

/** A line's time (24-hour, Swedish time), or its from–to when it lasted past the minute. */
function timeRange(line) {
  const [start, end] = [swedishClock(line.from), swedishClock(line.to)];
  return start === end ? start : `${start}–${end}`;
}

/** "Onsdag 2026-12-02": the weekday in the page's language and the ISO date. */
function dayHeading(day) {
  return longDate(`${day}T12:00:00Z`);
}

function lowerFirst(text) {
  return text.slice(0, 1).toLowerCase() + text.slice(1);
}

/** What, why and role of a line as the catalogue says them (as app/extract.py line_words). */
function words(line) {
  let what = whatName(line.what);
  if (line.count > 1 && line.what !== "viewed_images") what += ` (${t("extract.times", { count: number(line.count, 0) })})`;
  const reasons = line.why.map(whyName);
  const why = [reasons[0], ...reasons.slice(1).map(lowerFirst)].join(", ");
  return { what, why, role: roleName(line.role) };
}

function placeRow(org, unit) {
  const th = build("th", { colSpan: 4, scope: "rowgroup" },
    element("span", null, t("extract.org_heading", { org: org.org ?? t("extract.no_org") })),
    element("span", "muted", t("extract.unit_heading", { unit: unit.unit ?? t("extract.no_unit") })));
  return build("tr", { className: "extract-place", data: { testid: "access-place" } }, th);
}

function lineRow(line) {
  const { what, why, role } = words(line);
  const tr = build("tr", { data: { testid: "access-row", what: line.what } });
  if (line.why.includes("emergency")) tr.classList.add("row-emergency");
  tr.append(
    element("td", "nowrap", timeRange(line)),
    element("td", null, what),
    element("td", null, why),
    element("td", null, role),
  );
  return tr;
}

function daySection(day) {
  const rows = day.orgs.flatMap((org) => org.units.flatMap((unit) => [placeRow(org, unit), ...unit.lines.map(lineRow)]));
  const labels = [t("extract.time"), t("extract.what_label"), t("extract.why_label"), t("extract.role_label")];
  return build("section", { data: { testid: "access-day", day: day.day } },
    element("h2", "extract-day", dayHeading(day.day)),
    table(labels, rows, "data-table access-table"));
}

function summarise(extract) {
  if (extract.days.length === 0) return t("extract.empty");
  const orgs = [...new Set(extract.days.flatMap((day) => day.orgs.map((org) => org.org ?? t("extract.no_org"))))];
  const values = { days: number(extract.days.length, 0), from: extract.from, to: extract.to, orgs: orgs.join(", ") };
  return t(extract.from === extract.to ? "extract.summary_one_day" : "extract.summary", values);
}

async function start() {
  if (!(await signedInPage(page.banner))) return;
  showNavigation();
  let extract;
  try {
    extract = await getJson("/api/me/access-log/grouped");
  } catch (error) {
    page.summary.hidden = true;
    if (error.status !== 403) return show(page.banner, t("extract.failed", { message: error.message }));
    page.refused.querySelector("[data-field=message]").textContent = t("extract.refused");
    page.refused.hidden = false;
    return;
  }
  page.summary.textContent = summarise(extract);
  page.pdf.hidden = false;
  page.log.replaceChildren(...extract.days.map(daySection));
}

start();
