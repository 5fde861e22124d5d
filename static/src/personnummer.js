// Swedish identity numbers, checked in the browser before asking the server (DOMAIN.md):
// YYMMDD-NNNC, YYMMDD+NNNC, YYYYMMDDNNNC, YYYYMMDD-NNNC, YYMMDDNNNC; day 61-91 for a
// samordningsnummer; Luhn check digit over YYMMDDNNN. The reasons a number is refused are
// shown to the user, so they come from the catalogue (patient.pnr.*).
import { t } from "./i18n.js";

function luhnDigit(nine) {
  let sum = 0;
  [...nine].forEach((char, index) => {
    const product = Number(char) * (index % 2 === 0 ? 2 : 1);
    sum += product > 9 ? product - 9 : product;
  });
  return (10 - (sum % 10)) % 10;
}

function dateExists(year, month, day) {
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

function century(yy, plus) {
  const now = new Date().getFullYear();
  let year = Math.floor(now / 100) * 100 + yy;
  if (year > now) year -= 100;
  return plus ? year - 100 : year;
}

/** Why the number is not valid (in the page's language), or null when it is. */
export function problem(input) {
  const text = (input ?? "").trim();
  const match = /^(\d{2})?(\d{6})([-+]?)(\d{4})$/.exec(text);
  if (!match) return t("patient.pnr.format");
  const [, prefix, yymmdd, separator, tail] = match;
  const yy = Number(yymmdd.slice(0, 2));
  const year = prefix ? Number(prefix + yymmdd.slice(0, 2)) : century(yy, separator === "+");
  const month = Number(yymmdd.slice(2, 4));
  let day = Number(yymmdd.slice(4, 6));
  if (day > 60) day -= 60;
  if (month < 1 || month > 12 || !dateExists(year, month, day)) return t("patient.pnr.date");
  if (tail.slice(0, 3) === "000") return t("patient.pnr.serial");
  if (luhnDigit(yymmdd + tail.slice(0, 3)) !== Number(tail[3])) return t("patient.pnr.check");
  return null;
}

/** A valid number written as the server shows it: "YYYYMMDD-NNNC"; null when invalid. */
export function normalize(input) {
  const text = (input ?? "").trim();
  if (problem(text)) return null;
  const [, prefix, yymmdd, separator, tail] = /^(\d{2})?(\d{6})([-+]?)(\d{4})$/.exec(text);
  const year = prefix ? prefix + yymmdd.slice(0, 2) : String(century(Number(yymmdd.slice(0, 2)), separator === "+"));
  return `${year}${yymmdd.slice(2)}-${tail}`;
}
