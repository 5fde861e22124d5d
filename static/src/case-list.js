// The list of cases the signed-in user may see, and (for care staff) the patient lookup.
import { getJson } from "./api.js";
import { build, cell, element, show, table } from "./dom.js";
import { accessBadge, ownerBlock, patientBlock, purposeName } from "./case-format.js";
import { rememberGrant, showEmergencyBanner } from "./emergency.js";
import { CARE_ROLES, hasRole } from "./nav.js";
import { setupLookup } from "./patient-lookup.js";
import { swedishDate, utc } from "./time.js";

const page = {
  section: document.querySelector("#case-list"),
  count: document.querySelector("#case-count"),
  cases: document.querySelector("#cases"),
  banner: document.querySelector("#error-banner"),
};

function titleCell(item) {
  const anchor = build("a", { href: `/cases/${encodeURIComponent(item.id)}`, className: "case-link", textContent: item.title });
  const images = item.images.length === 1 ? "1 image" : `${item.images.length} images`;
  const meta = element("span", "muted small", `${images} · created ${swedishDate(item.created)}`);
  meta.title = `Created ${utc(item.created)}`;
  return build("div", { className: "stack" }, anchor, meta);
}

function row(item) {
  const tr = build("tr", { data: { testid: "case-row", caseId: item.id } });
  tr.append(
    cell(titleCell(item)),
    cell(patientBlock(item.patient)),
    cell(ownerBlock(item.org, item.unit)),
    cell(purposeName(item.purpose)),
    cell(accessBadge(item.access)),
  );
  if (item.access?.basis?.startsWith("emergency:")) tr.classList.add("row-emergency");
  return tr;
}

function render(items) {
  if (items.length === 0) {
    page.count.textContent = "";
    page.cases.replaceChildren(element("p", "notice",
      "No cases yet. Cases of your unit, and cases other organisations share with you, will appear here."));
    return;
  }
  page.count.textContent = items.length === 1 ? "1 case" : `${items.length} cases`;
  const labels = ["Case", "Patient", "Owned by", "Purpose", "Your access"];
  page.cases.replaceChildren(table(labels, items.map(row), "data-table cases-table"));
}

/** Emergency grants visible in the list keep the banner up, in this tab and after a reload. */
function noteEmergencies(userId, items) {
  for (const item of items) {
    const [kind, id] = (item.access?.basis ?? "").split("+")[0].split(":");
    if (kind === "emergency" && item.access.until) {
      rememberGrant(userId, { id, patient: item.patient?.personnummer ?? null, until: item.access.until });
    }
  }
  showEmergencyBanner(userId);
}

let cache = [];

async function refresh(me) {
  page.count.textContent = "Loading cases…";
  try {
    cache = await getJson("/api/cases");
  } catch (error) {
    page.count.textContent = "";
    return show(page.banner, `The cases could not be loaded: ${error.message}`);
  }
  show(page.banner, "");
  render(cache);
  noteEmergencies(me.user.id, cache);
}

export async function showCaseList(me) {
  page.section.hidden = false;
  document.title = "Cases · samsyn";
  if (hasRole(me.user, ...CARE_ROLES)) {
    setupLookup(me, { refresh: () => refresh(me), casesOf: (patientId) => cache.filter((c) => c.patient?.id === patientId) });
  }
  await refresh(me);
}
