// Emergency access (nödåtkomst) grants of the signed-in user, kept for this browser tab only
// (sessionStorage, cleared at sign-out) so a red banner stays on every page while one runs.
// The banner's words come from the catalogue: every page loads it before showNavigation(),
// which draws the banner, and the banner redraws itself with t() on every refresh.
import { element } from "./dom.js";
import { t } from "./i18n.js";
import { swedish, remaining, utc } from "./time.js";

const KEY = "samsyn.emergency";
const REFRESH_MS = 30_000;
let timer = null;

function stored() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) ?? "{}");
  } catch {
    return {};
  }
}

/** The user's grants still running: [{id, patient, until}]. */
export function activeGrants(userId) {
  const grants = (stored()[userId] ?? []).filter((grant) => new Date(grant.until) > new Date());
  save(userId, grants);
  return grants;
}

function save(userId, grants) {
  const all = stored();
  all[userId] = grants;
  sessionStorage.setItem(KEY, JSON.stringify(all));
}

/** Remember a grant ({id, patient: personnummer as shown, until}); the latest wins per id. */
export function rememberGrant(userId, grant) {
  const others = activeGrants(userId).filter((known) => known.id !== grant.id);
  save(userId, [...others, grant]);
}

export function forgetGrants() {
  sessionStorage.removeItem(KEY);
}

function describe(grant) {
  const left = remaining(grant.until);
  const until = swedish(grant.until);
  const who = grant.patient
    ? t("patient.emergency.banner_patient", { patient: grant.patient, until })
    : t("patient.emergency.banner_one", { until });
  return left ? `${who} (${t("patient.emergency.left", { left })})` : who;
}

/** The red strip under the top bar; it updates itself and goes away when the grants end. */
export function showEmergencyBanner(userId) {
  const topbar = document.querySelector(".topbar");
  if (!topbar) return;
  let banner = document.querySelector("[data-testid=emergency-banner]");
  const grants = activeGrants(userId);
  if (grants.length === 0) {
    banner?.remove();
    clearInterval(timer);
    timer = null;
    return;
  }
  if (!banner) {
    banner = element("div", "emergency-banner");
    banner.dataset.testid = "emergency-banner";
    banner.setAttribute("role", "status");
    topbar.after(banner);
  }
  const lines = grants.map((grant) => {
    const line = element("span", "emergency-grant", describe(grant));
    line.title = t("patient.emergency.ends", { utc: utc(grant.until) });
    return line;
  });
  const note = element("span", "emergency-note", t("patient.emergency.note"));
  banner.replaceChildren(element("strong", "emergency-label", t("patient.emergency.banner_label")), ...lines, note);
  if (!timer) timer = setInterval(() => showEmergencyBanner(userId), REFRESH_MS);
}
