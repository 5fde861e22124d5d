// Window and level of radiology frames. The server applies them (modality LUT, then VOI):
// the browser only decides which window to ask for, how a drag moves it and how it reads.
//
// A window is either FILE (each frame as its file says: its own VOI LUT or window, else its
// minimum to maximum) or an explicit {center, width} in modality units (HU for CT), with
// the preset's name when it came from one.
import { currentLanguage, t } from "./i18n.js";

export const FILE = Object.freeze({ kind: "file" });

/** The CT presets in the order of their buttons and number keys 1 to 8. */
export const PRESET_ORDER = ["brain", "subdural", "stroke", "lung", "mediastinum", "abdomen", "liver", "bone"];

/** A preset's name in the page's language; the server's name for one this page does not know. */
export function presetLabel(name) {
  const labels = {
    brain: () => t("series.preset.brain"),
    subdural: () => t("series.preset.subdural"),
    stroke: () => t("series.preset.stroke"),
    lung: () => t("series.preset.lung"),
    mediastinum: () => t("series.preset.mediastinum"),
    abdomen: () => t("series.preset.abdomen"),
    liver: () => t("series.preset.liver"),
    bone: () => t("series.preset.bone"),
  };
  return labels[name]?.() ?? name;
}

/** Pixels of drag that double the width (horizontal) / move the level by one width (vertical). */
const DRAG_WIDTH_PIXELS = 240;
const DRAG_LEVEL_PIXELS = 300;
const SMALLEST_WIDTH = 1e-3;

/** The step windows are rounded to: whole units from a width of 100, finer for narrow windows
 * of small-valued data (never coarser than 1, so HU stay exact). */
function step(width) {
  return Math.min(1, 10 ** (Math.floor(Math.log10(Math.max(width, SMALLEST_WIDTH))) - 2));
}

function roundTo(value, unit) {
  const rounded = Math.round(value / unit) * unit;
  return Number(rounded.toFixed(Math.max(0, -Math.floor(Math.log10(unit)))));
}

export function explicit(center, width, preset = null) {
  const unit = step(width);
  const tidyWidth = Math.max(roundTo(width, unit), unit);
  return { kind: "set", center: roundTo(center, unit), width: tidyWidth, preset };
}

export function preset(presets, name) {
  const found = presets?.[name];
  return found ? explicit(found.center, found.width, name) : null;
}

export function isExplicit(window) {
  return window?.kind === "set";
}

/** The `window` query parameter for the rendered-frame route; null for the file's own. */
export function query(window) {
  return isExplicit(window) ? `${window.center},${window.width}` : null;
}

/** A cache key: equal windows give equal keys. */
export function key(window) {
  return query(window) ?? "file";
}

export function same(a, b) {
  return key(a) === key(b);
}

/** The window after a drag of (dx, dy) CSS pixels that began at `start` ({center, width}):
 * right widens (less contrast), left narrows; down raises the level (darker), up lowers it. */
export function dragged(start, dx, dy) {
  const width = Math.max(start.width * Math.exp(dx / DRAG_WIDTH_PIXELS), SMALLEST_WIDTH);
  const center = start.center + (dy * start.width) / DRAG_LEVEL_PIXELS;
  return explicit(center, width);
}

const MINUS = "\u2212";
const formats = new Map(); // built once per language and precision: the overlay asks every frame

function formatFor(locale, digits) {
  const key = `${locale}/${digits}`;
  if (!formats.has(key)) formats.set(key, new Intl.NumberFormat(locale, { maximumFractionDigits: digits, useGrouping: false }));
  return formats.get(key);
}

/** A number as a radiologist reads it: a true minus sign, no trailing zeros, the decimal
 * comma in Swedish; no digit groups, so that HU and window values read as the file has them. */
export function number(value, digits = 1) {
  if (value == null || !Number.isFinite(value)) return "–";
  const locale = currentLanguage() === "sv" ? "sv-SE" : "en-GB";
  const rounded = Number(value.toFixed(digits)) || 0; // never "−0"
  const text = formatFor(locale, digits).format(rounded);
  return text.replace("-", MINUS);
}

/** "C 40 W 400": centre and width, the notation of the DICOM header in both languages. */
export function values(center, width, digits = 3) {
  return t("series.window.values", { center: number(center, digits), width: number(width, digits) });
}

/** "C 40 W 400", with the preset's name; for the file's window the frame's own when known. */
export function describe(window, frameWindow) {
  if (isExplicit(window)) {
    const text = values(window.center, window.width);
    return window.preset ? t("series.window.preset", { preset: presetLabel(window.preset), values: text }) : text;
  }
  if (frameWindow) return t("series.window.file", { values: values(frameWindow[0], frameWindow[1]) });
  return t("series.window.auto");
}
