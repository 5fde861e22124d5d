// A patient's loggutdrag in plain words: which vårdgivare and vårdenhet opened their data, on
// which day, when, what they did and why. The server groups it (app/extract.py: days → care
// providers → units → lines, codes and names only, no ids); this page only puts it into words
// from the message catalogue, the same words the PDF (/api/me/access-log.pdf) uses.
import { getJson } from "./api.js";
import { build, element, show, table } from "./dom.js";
import { showNavigation, signedIn } from "./nav.js";
import { signIn } from "./signin.js";
import { currentLanguage, loadMessages, t, translatePage } from "./i18n.js";

const page = {
  summary: document.querySelector("#log-summary"),
  log: document.querySelector("#log"),
  pdf: document.querySelector("#log-pdf"),
  banner: document.querySelector("#error-banner"),
  refused: document.querySelector("#log-refused"),
};

/** 24-hour time in Stockholm: 14:05. */
function clock(iso) {
  return new Intl.DateTimeFormat("sv-SE", {
    timeZone: "Europe/Stockholm", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).format(new Date(iso));
}

/** A line's time, or its from–to when it lasted past the minute. */
function timeRange(line) {
  const [start, end] = [clock(line.from), clock(line.to)];
  return start === end ? start : `${start}–${end}`;
}

/** "onsdag 2026-12-02": the weekday in the page's language and the ISO date. */
function dayHeading(day) {
  const noon = new Date(`${day}T12:00:00Z`);
  const locale = currentLanguage() === "sv" ? "sv-SE" : "en-GB";
  const weekday = new Intl.DateTimeFormat(locale, { weekday: "long", timeZone: "Europe/Stockholm" }).format(noon);
  return `${weekday} ${day}`;
}

function lowerFirst(text) {
  return text.slice(0, 1).toLowerCase() + text.slice(1);
}

/** What, why and role of a line as the catalogue says them (as app/extract.py line_words). */
function words(line) {
  let what = t(`extract.what.${line.what}`);
  if (line.count > 1 && line.what !== "viewed_images") what += ` (${t("extract.times", { count: line.count })})`;
  const reasons = line.why.map((reason) => t(`extract.why.${reason}`));
  const why = [reasons[0], ...reasons.slice(1).map(lowerFirst)].join(", ");
  return { what, why, role: t(`extract.role.${line.role ?? "unknown"}`) };
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
  const values = { days: extract.days.length, from: extract.from, to: extract.to, orgs: orgs.join(", ") };
  return t(extract.from === extract.to ? "extract.summary_one_day" : "extract.summary", values);
}

async function start() {
  let user;
  try {
    ({ user } = await signedIn());
  } catch (error) {
    await loadMessages();
    translatePage();
    if (error.status !== 401) return show(page.banner, error.message);
    await signIn(document.querySelector("#signin-slot"));
    return location.reload();
  }
  await loadMessages(user.language);
  translatePage();
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
