// Times as Swedish clinicians read them: local Swedish time (Europe/Stockholm, whatever the
// computer's own zone), "2026-11-25 21:43"; UTC on demand, as the access log stores it.

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
const LONG_DATE = new Intl.DateTimeFormat("en-GB", {
  timeZone: ZONE,
  weekday: "short",
  day: "numeric",
  month: "long",
  year: "numeric",
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

/** "Wed 25 November 2026" for headings a patient reads. */
export function longDate(iso) {
  return LONG_DATE.format(new Date(iso));
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

/** "3 h 12 min" left until iso; "" once it has passed. */
export function remaining(iso) {
  const minutes = Math.floor((new Date(iso).getTime() - Date.now()) / 60_000);
  if (minutes < 0) return "";
  if (minutes < 60) return `${minutes} min`;
  if (minutes < 48 * 60) return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  return `${Math.floor(minutes / 1440)} days`;
}
