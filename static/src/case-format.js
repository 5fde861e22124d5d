// How cases, patients, purposes and access bases read on the cases pages.
import { element } from "./dom.js";
import { t } from "./i18n.js";
import { swedish, utc } from "./time.js";

export const PURPOSE_NAMES = {
  care: "Care",
  second_opinion: "Second opinion",
  mdk: "MDK (multidisciplinary conference)",
  teaching: "Teaching",
  emergency: "Emergency care",
  administration: "Administration",
  own_record: "Own record",
  log_review: "Log review",
};

export function purposeName(purpose) {
  return PURPOSE_NAMES[purpose] ?? purpose ?? "";
}

/** The parts of an access basis: "share:ab12+consent:cd34" → [{kind: "share", id}, {kind: "consent", id}]. */
export function basisParts(basis) {
  return (basis ?? "").split("+").filter(Boolean).map((part) => {
    const [kind, id] = part.split(":");
    return { kind, id };
  });
}

function untilText(until) {
  return until ? ` until ${swedish(until)}` : "";
}

/** How the caller may see a case: {label, detail, kind, title}. */
export function accessOf(access) {
  const parts = basisParts(access?.basis);
  const main = parts[0]?.kind;
  const consent = parts.some((part) => part.kind === "consent") ? "with the patient's consent" : "";
  const until = access?.until ? `until ${swedish(access.until)}` : "";
  const title = access?.until ? `Ends ${utc(access.until)}` : "";
  const detail = (...bits) => bits.filter(Boolean).join(" · ");
  if (main === "own_org") {
    const admin = access.purpose === "administration" ? "administration" : "";
    return { kind: "own", label: "Own organisation", detail: detail(admin, consent), title };
  }
  if (main === "share") {
    return { kind: "shared", label: "Shared with you", detail: detail(purposeName(access.purpose), until, consent), title };
  }
  if (main === "emergency") return { kind: "emergency", label: "Emergency access", detail: until, title };
  if (main === "consent") return { kind: "shared", label: "Patient's consent", detail: until, title };
  if (main === "own_record") return { kind: "own", label: "Your own record", detail: "", title };
  return { kind: "other", label: access?.basis ?? "Unknown", detail: "", title };
}

/** A badge naming the basis of access, with purpose and expiry under it. */
export function accessBadge(access) {
  const { kind, label, detail, title } = accessOf(access);
  const box = element("span", "access-box");
  box.dataset.testid = "case-access";
  box.append(element("span", `access access-${kind}`, label));
  if (detail) box.append(element("span", "access-detail", detail));
  if (title) box.title = title;
  return box;
}

/** Personnummer and name; a protected identity keeps the server's mask and says what it means. */
export function patientBlock(patient) {
  const box = element("span", "patient");
  if (!patient) {
    box.append(element("span", "muted", "No patient (teaching material)"));
    return box;
  }
  box.append(element("span", "pnr", patient.personnummer));
  const name = element("span", patient.protected_identity ? "patient-name protected" : "patient-name", patient.name);
  if (patient.protected_identity) name.title = "Protected identity: name and address are masked everywhere";
  box.append(name);
  return box;
}

/** Organisation over unit, the way the tables show who owns or did something. */
export function ownerBlock(org, unit, noUnit = "") {
  const box = element("span", "stack");
  box.append(element("span", null, org ?? ""));
  if (unit || noUnit) box.append(element("span", "muted small", unit ?? noUnit));
  return box;
}

/** "2 slides · 1 series (CT, MR)": what a case holds, without asking for its images. */
export function holdingsText(holds) {
  if (!holds || (holds.slides === 0 && holds.series === 0)) return t("cases.holds.none");
  const parts = [];
  if (holds.slides) parts.push(t("cases.holds.slides", { n: holds.slides }));
  if (holds.series) parts.push(t("cases.holds.series", { n: holds.series }));
  const modalities = holds.modalities?.length ? ` (${holds.modalities.join(", ")})` : "";
  return parts.join(" · ") + modalities;
}

/** The case's status as a small coloured badge. */
export function statusBadge(status) {
  const badge = element("span", `case-status status-${status ?? "open"}`, t(`cases.status.${status ?? "open"}`));
  badge.dataset.testid = "case-status";
  return badge;
}
