// The top navigation shared by every page: where this user may go, who is signed in, the
// language switch, sign out. Links follow the user's roles; the server still decides every request.
import { getJson, send } from "./api.js";
import { element, link } from "./dom.js";
import { forgetGrants, showEmergencyBanner } from "./emergency.js";
import { currentLanguage, loadMessages, t } from "./i18n.js";
import { startReferralLive } from "./referral-live.js";

export const CARE_ROLES = ["pathologist", "radiologist", "clinician"];

/** Role names, looked up when shown: t() only knows the words once the catalogue is loaded. */
function roleNames() {
  return {
    pathologist: t("nav.role.pathologist"),
    radiologist: t("nav.role.radiologist"),
    clinician: t("nav.role.clinician"),
    admin: t("nav.role.admin"),
    log_reviewer: t("nav.role.log_reviewer"),
    teacher: t("nav.role.teacher"),
    student: t("nav.role.student"),
    patient: t("nav.role.patient"),
  };
}

/** Which roles open which parts of samsyn; `label` is a function for the same reason. */
const SECTIONS = [
  { key: "cases", label: () => t("nav.section.cases"), href: "/cases", roles: [...CARE_ROLES, "admin", "teacher", "student", "patient"] },
  { key: "images", label: () => t("nav.section.images"), href: "/images", roles: [...CARE_ROLES, "teacher", "student", "patient"] },
  { key: "referrals", label: () => t("nav.section.referrals"), href: "/referrals", roles: CARE_ROLES },
  { key: "audit", label: () => t("nav.section.audit"), href: "/audit", roles: ["log_reviewer"] },
  { key: "my-log", label: () => t("nav.section.my_log"), href: "/my/access-log", roles: ["patient"] },
];

let session = null;

/** GET /api/me once per page: {user, csrf_token}; rejects with ApiError (401 without a session). */
export function signedIn() {
  session ??= getJson("/api/me").catch((error) => {
    session = null;
    throw error;
  });
  return session;
}

export function roleName(role) {
  return roleNames()[role] ?? role;
}

export function hasRole(user, ...roles) {
  return (user.roles ?? []).some((membership) => roles.includes(membership.role));
}

export function may(user, sectionKey) {
  const section = SECTIONS.find((candidate) => candidate.key === sectionKey);
  return Boolean(section && hasRole(user, ...section.roles));
}

function currentSection() {
  const path = location.pathname;
  if (path === "/images" || path.startsWith("/viewer/")) return "images";
  if (path.startsWith("/cases")) return "cases";
  if (path.startsWith("/referrals")) return "referrals";
  if (path.startsWith("/audit")) return "audit";
  if (path.startsWith("/my/access-log")) return "my-log";
  return null;
}

function navLinks(user) {
  const here = currentSection();
  return SECTIONS.filter((section) => hasRole(user, ...section.roles)).map((section) => {
    const anchor = link(section.label(), section.href, "nav-link");
    anchor.dataset.testid = `nav-${section.key}`;
    if (section.key === here) anchor.setAttribute("aria-current", "page");
    return anchor;
  });
}

function placeOf(membership) {
  return [membership.unit, membership.org].filter(Boolean).join(", ");
}

function identity(user) {
  const roles = user.roles ?? [];
  const first = roles[0];
  const box = element("div", "identity");
  box.dataset.testid = "signed-in-user";
  const roleText = [...new Set(roles.map((m) => roleName(m.role)))].join(", ");
  box.append(element("span", "identity-name", user.name));
  const where = first ? placeOf(first) : "";
  box.append(element("span", "identity-role", [roleText, where].filter(Boolean).join(" · ")));
  const hsa = user.hsa_id ? `, ${t("nav.identity.hsa", { id: user.hsa_id })}` : "";
  box.title = [
    `${user.name} (${user.username})${hsa}`,
    ...roles.map((m) => `${roleName(m.role)}: ${placeOf(m)}`),
  ].join("\n");
  return box;
}

function signOutButton(csrfToken) {
  const button = Object.assign(element("button", "sign-out", t("nav.sign_out")), { type: "button" });
  button.dataset.testid = "sign-out";
  button.addEventListener("click", async () => {
    try {
      await send("DELETE", "/api/session", undefined, csrfToken);
    } catch (error) {
      if (error.status !== 401) return alert(t("nav.sign_out_failed", { message: error.message }));
    }
    forgetGrants();
    location.assign("/login");
  });
  return button;
}

function otherLanguage() {
  return currentLanguage() === "sv" ? "en" : "sv";
}

/** Signed in, the choice is the user's own and kept by the server (it wins on every later
 * page and sign-in); without a session only this browser remembers it. Either way the page
 * is loaded afresh, so that nothing drawn in the old language stays behind. */
async function switchLanguage(csrfToken) {
  const other = otherLanguage();
  if (csrfToken) await send("PUT", "/api/me/language", { language: other }, csrfToken);
  else await loadMessages(other);
  location.reload();
}

/** The button naming the other language in that language ("English" on a Swedish page). */
export function languageSwitch(csrfToken) {
  const button = Object.assign(element("button", "language-switch", t("language.switch")), { type: "button" });
  button.dataset.testid = "language-switch";
  button.lang = otherLanguage();
  button.title = t("language.switch_title");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await switchLanguage(csrfToken);
    } catch (error) {
      button.disabled = false;
      if (error.status !== 401) alert(t("language.switch_failed", { message: error.message }));
    }
  });
  return button;
}

function navSlot() {
  let nav = document.querySelector("#nav");
  if (!nav) {
    nav = element("nav", "nav");
    nav.id = "nav";
    document.querySelector(".topbar .brand")?.after(nav);
  }
  nav.setAttribute("aria-label", t("nav.label"));
  return nav;
}

/** The first part of samsyn this user may use: where "samsyn" in the top bar leads (the
 * cases, the worklist, for everyone who has cases). */
function homeOf(user) {
  return SECTIONS.find((section) => hasRole(user, ...section.roles))?.href ?? "/cases";
}

/** A page that drew its navigation before loading the catalogue would show bare keys. */
async function ensureMessages(user) {
  if (t("language.name") === "language.name") await loadMessages(user.language);
}

/** Fills the top bar; quietly does nothing without a session (the page asks to sign in).
 * Someone whose roles open no images (a log reviewer, an administrator) is taken from the
 * image list (or from / and the cases, where a log reviewer has none) to their own part. */
export async function showNavigation() {
  let me;
  try {
    me = await signedIn();
  } catch {
    return null;
  }
  const home = homeOf(me.user);
  const away = ["/", "/images", "/cases"].includes(location.pathname) && !may(me.user, currentSection() ?? "cases");
  if (away && home !== location.pathname) {
    location.replace(home);
    return me;
  }
  await ensureMessages(me.user);
  document.querySelector(".topbar a.brand")?.setAttribute("href", home);
  navSlot().replaceChildren(...navLinks(me.user));
  document.querySelector("#user")?.replaceChildren(identity(me.user), languageSwitch(me.csrf_token), signOutButton(me.csrf_token));
  showEmergencyBanner(me.user.id);
  // Referrals are sent and answered by care staff: they hear of them live on every page.
  if (hasRole(me.user, ...CARE_ROLES)) startReferralLive();
  return me;
}
