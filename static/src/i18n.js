// Interface text from the message catalogues: Swedish by default, English on request.
// The language is the user's own choice (stored with the user, remembered across sessions);
// before sign-in the browser remembers the last one. Every string a page shows comes from
// static/i18n/<lang>.json through t(); a test fails when a key is missing from a catalogue.

const LANGUAGES = ["sv", "en"];
const REMEMBERED = "samsyn.language";
let messages = {};
let language = "sv";

/** Loads the catalogue for `preferred` (or the remembered one) and sets <html lang>. */
export async function loadMessages(preferred) {
  const chosen = [preferred, localStorage.getItem(REMEMBERED), "sv"].find((code) => LANGUAGES.includes(code));
  const response = await fetch(`/static/i18n/${chosen}.json`, { credentials: "same-origin" });
  messages = response.ok ? await response.json() : {};
  language = chosen;
  localStorage.setItem(REMEMBERED, chosen);
  document.documentElement.lang = chosen;
  return chosen;
}

export function currentLanguage() {
  return language;
}

/** The text for `key`, with {name} placeholders filled from `values`; the key itself when missing. */
export function t(key, values = {}) {
  const template = messages[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

/** Fills every element with a data-i18n key (its text) or data-i18n-<attribute> key (that attribute). */
export function translatePage(root = document) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("*")) {
    for (const { name, value } of [...node.attributes]) {
      if (name.startsWith("data-i18n-")) node.setAttribute(name.slice("data-i18n-".length), t(value));
    }
  }
}

/** Numbers the Swedish way in Swedish (decimal comma, narrow space groups), else English. */
export function number(value, digits = 1) {
  const locale = language === "sv" ? "sv-SE" : "en-GB";
  return new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(value);
}

/** ISO date and 24-hour time in Europe/Stockholm: 2026-12-02 16:05. */
export function dateTime(iso) {
  const moment = new Date(iso);
  const parts = new Intl.DateTimeFormat("sv-SE", {
    timeZone: "Europe/Stockholm",
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).format(moment);
  return parts;
}
