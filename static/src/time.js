// Times as Swedish clinicians read them: local Swedish time (Europe/Stockholm, whatever the
// computer's own zone), ISO dates and the 24-hour clock, "2026-11-25 21:43", in English too
// (a consultant abroad reads the same times as the Swedish colleague); UTC on demand, as the
// access log stores it. Only words (a weekday, "days") follow the page's language.
import { t } from "./i18n.js";

const ZONE = "Europe/Stockholm";
const FIELDS = new Intl.DateTimeFormat("en-GB", {
  timeZone: ZONE,
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});

function fieldsOf(date) {
  const parts = Object.fromEntries(FIELDS.formatToParts(date).map((p) => [p.type, p.value]));
  return parts;
}

/** "2026-11-25 21:43" (with seconds: "21:43:07") in Swedish time; "" without a time. */
export function swedish(iso, { seconds = false } = {}) {
  if (!iso) return "";
  const p = fieldsOf(new Date(iso));
  const clock = seconds ? `${p.hour}:${p.minute}:${p.second}` : `${p.hour}:${p.minute}`;
  return `${p.year}-${p.month}-${p.day} ${clock}`;
}

export function swedishDate(iso) {
  if (!iso) return "";
  const p = fieldsOf(new Date(iso));
  return `${p.year}-${p.month}-${p.day}`;
}

export function swedishClock(iso) {
  const p = fieldsOf(new Date(iso));
  return `${p.hour}:${p.minute}`;
}

/** The weekday of a Swedish calendar day "YYYY-MM-DD", from the catalogue (Sunday first, as
 * getUTCDay counts): the name is interface text, so it follows the page's language. */
export function weekday(day) {
  const names = [
    t("time.weekday.sunday"), t("time.weekday.monday"), t("time.weekday.tuesday"), t("time.weekday.wednesday"),
    t("time.weekday.thursday"), t("time.weekday.friday"), t("time.weekday.saturday"),
  ];
  return names[new Date(`${day}T12:00:00Z`).getUTCDay()];
}

/** "Onsdag 2026-11-25" (English: "Wednesday 2026-11-25") for headings a patient reads: a
 * heading begins with a capital, though a Swedish weekday is otherwise written in lower case. */
export function longDate(iso) {
  const day = swedishDate(iso);
  const name = weekday(day);
  return `${name.slice(0, 1).toUpperCase()}${name.slice(1)} ${day}`;
}

/** "2026-11-25 20:43:07 UTC", for tooltips next to a Swedish time. */
export function utc(iso) {
  if (!iso) return "";
  return `${new Date(iso).toISOString().replace("T", " ").replace(/\.\d+Z$/, "")} UTC`;
}

function offsetAt(instant) {
  const p = fieldsOf(new Date(instant));
  const wall = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  return wall - Math.floor(instant / 1000) * 1000;
}

/** A Swedish wall-clock time typed the ISO way, "2026-12-03 14:05" (or with a "T", or only the
 * date), as fromSwedish reads it: "2026-12-03T14:05" or "2026-12-03"; null when it is not one
 * (a date that does not exist, a 12-hour clock). A text field rather than the browser's
 * date-time picker, whose format follows the computer's locale (mm/dd/yyyy, AM/PM). */
export function wallClock(text) {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}))?$/.exec((text ?? "").trim());
  if (!match) return null;
  const [, y, mo, d, h, mi] = match.map(Number);
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return null;
  if (match[4] == null) return match.slice(1, 4).join("-");
  if (h > 23 || mi > 59) return null;
  return `${match.slice(1, 4).join("-")}T${match[4]}:${match[5]}`;
}

/** The instant of a Swedish wall-clock time "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM[:SS]", as ISO UTC. */
export function fromSwedish(value, endOfDay = false) {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(value ?? "");
  if (!match) return null;
  const [, y, mo, d, h, mi, s] = match;
  const clock = h == null ? (endOfDay ? [23, 59, 59] : [0, 0, 0]) : [+h, +mi, +(s ?? (endOfDay ? 59 : 0))];
  const wall = Date.UTC(+y, +mo - 1, +d, ...clock);
  let instant = wall - offsetAt(wall);
  instant = wall - offsetAt(instant);
  return new Date(instant).toISOString();
}

/** Today's date in Sweden plus `days`, as "YYYY-MM-DD" for a date input. */
export function swedishDateIn(days) {
  return swedishDate(new Date(Date.now() + days * 86_400_000).toISOString());
}

/** "3 h 12 min" left until iso ("h" and "min" read the same in both languages); "" once it
 * has passed. */
export function remaining(iso) {
  const minutes = Math.floor((new Date(iso).getTime() - Date.now()) / 60_000);
  if (minutes < 0) return "";
  if (minutes < 60) return `${minutes} min`;
  if (minutes < 48 * 60) return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  return t("time.days", { n: Math.floor(minutes / 1440) });
}
