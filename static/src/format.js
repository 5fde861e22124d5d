// How samsyn writes numbers for pathologists: grouped digits, µm and mm, magnifications;
// with the decimal comma in Swedish (i18n.js decides the language).
import { currentLanguage, number } from "./i18n.js";

const NARROW_SPACE = "\u202f";

export function groupDigits(n) {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, NARROW_SPACE);
}

/** `value` with exactly `digits` decimals (10.0×, not 10×): a comma in Swedish. */
export function fixed(value, digits) {
  const text = value.toFixed(digits);
  return currentLanguage() === "sv" ? text.replace(".", ",") : text;
}

/** Three significant digits, as the scanner's numbers deserve: 0,25, 23,1, 1 500. */
function significant(value) {
  return number(Number(value.toPrecision(3)), 6);
}

export function pixelSize(width, height) {
  return `${groupDigits(width)} × ${groupDigits(height)} px`;
}

/** Physical extent of the scanned area, e.g. "23,0 × 16,4 mm"; null without a pixel size. */
export function physicalSize(width, height, mpp) {
  if (!mpp) return null;
  const mm = (pixels, micronsPerPixel) => fixed((pixels * micronsPerPixel) / 1000, 1);
  return `${mm(width, mpp[0])} × ${mm(height, mpp[1])} mm`;
}

export function micronsPerPixel(mpp) {
  if (!mpp) return null;
  const [x, y] = mpp.map((v) => Number(v.toPrecision(3)));
  return x === y ? `${significant(x)} µm/px` : `${significant(x)} × ${significant(y)} µm/px`;
}

/** A length for a scale bar: µm below one millimetre, mm from there on. */
export function length(microns) {
  return microns < 1000 ? `${significant(microns)} µm` : `${significant(microns / 1000)} mm`;
}

export function magnification(m) {
  return m >= 100 ? `${Math.round(m)}×` : `${fixed(m, 1)}×`;
}

export function objectivePower(power) {
  return power ? `${significant(power)}×` : null;
}

export function bytes(n) {
  if (n == null) return null;
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : significant(value)} ${units[unit]}`;
}
