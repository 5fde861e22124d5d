// How cases, patients, purposes and access bases read on the cases pages.
import { element } from "./dom.js";
import { t } from "./i18n.js";
import { swedish, utc } from "./time.js";

/** Purposes by name, looked up when shown (t() knows the words only once the catalogue is loaded). */
function purposeNames() {
  return {
    care: t("cases.purpose.care"),
    second_opinion: t("cases.purpose.second_opinion"),
    mdk: t("cases.purpose.mdk"),
    teaching: t("cases.purpose.teaching"),
    emergency: t("cases.purpose.emergency"),
    administration: t("cases.purpose.administration"),
    own_record: t("cases.purpose.own_record"),
    log_review: t("cases.purpose.log_review"),
  };
}

export function purposeName(purpose) {
  return purposeNames()[purpose] ?? purpose ?? "";
}

/** The parts of an access basis: "share:ab12+consent:cd34" → [{kind: "share", id}, {kind: "consent", id}]. */
export function basisParts(basis) {
  return (basis ?? "").split("+").filter(Boolean).map((part) => {
    const [kind, id] = part.split(":");
    return { kind, id };
  });
}

/** How the caller may see a case: {label, detail, kind, title}. */
export function accessOf(access) {
  const parts = basisParts(access?.basis);
  const main = parts[0]?.kind;
  const consent = parts.some((part) => part.kind === "consent") ? t("cases.access.with_consent") : "";
  const until = access?.until ? t("cases.from.until", { date: swedish(access.until) }) : "";
  const title = access?.until ? t("cases.access.ends", { time: utc(access.until) }) : "";
  const detail = (...bits) => bits.filter(Boolean).join(" · ");
  if (main === "own_org") {
    const admin = access.purpose === "administration" ? t("cases.access.administration") : "";
    return { kind: "own", label: t("cases.from.own"), detail: detail(admin, consent), title };
  }
  if (main === "share") {
    return { kind: "shared", label: t("cases.access.shared"), detail: detail(purposeName(access.purpose), until, consent), title };
  }
  if (main === "referral") {
    return { kind: "shared", label: t("cases.access.referral"), detail: detail(purposeName(access.purpose), consent), title };
  }
  if (main === "emergency") return { kind: "emergency", label: t("cases.access.emergency"), detail: until, title };
  if (main === "consent") return { kind: "shared", label: t("cases.access.consent"), detail: until, title };
  if (main === "own_record") return { kind: "own", label: t("cases.access.own_record"), detail: "", title };
  return { kind: "other", label: access?.basis ?? t("cases.access.unknown"), detail: "", title };
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
    box.append(element("span", "muted", t("cases.patient.none")));
    return box;
  }
  box.append(element("span", "pnr", patient.personnummer));
  const name = element("span", patient.protected_identity ? "patient-name protected" : "patient-name", patient.name);
  if (patient.protected_identity) name.title = t("cases.patient.protected");
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
  if (holds.slides) parts.push(holds.slides === 1 ? t("cases.holds.one_slide") : t("cases.holds.slides", { n: holds.slides }));
  if (holds.series) parts.push(holds.series === 1 ? t("cases.holds.one_series") : t("cases.holds.series", { n: holds.series }));
  const modalities = holds.modalities?.length ? ` (${holds.modalities.join(", ")})` : "";
  return parts.join(" · ") + modalities;
}

export function statusName(status) {
  const names = {
    open: t("cases.status.open"),
    in_review: t("cases.status.in_review"),
    answered: t("cases.status.answered"),
    closed: t("cases.status.closed"),
  };
  return names[status] ?? status;
}

/** The case's status as a small coloured badge. */
export function statusBadge(status) {
  const badge = element("span", `case-status status-${status ?? "open"}`, statusName(status ?? "open"));
  badge.dataset.testid = "case-status";
  return badge;
}
