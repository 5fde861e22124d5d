// The worklist: every case the signed-in user may see, newest first, with who shared it and
// why, its status and sender; filters by status, text and own versus shared; new cases.
import { getJson, send } from "./api.js";
import { build, cell, element, show, table } from "./dom.js";
import { accessBadge, holdingsText, patientBlock, purposeName, statusBadge } from "./case-format.js";
import { rememberGrant, showEmergencyBanner } from "./emergency.js";
import { t } from "./i18n.js";
import { CARE_ROLES, hasRole } from "./nav.js";
import { setupLookup } from "./patient-lookup.js";
import { swedish, utc } from "./time.js";

const page = {
  section: document.querySelector("#case-list"),
  count: document.querySelector("#case-count"),
  cases: document.querySelector("#cases"),
  banner: document.querySelector("#error-banner"),
  filters: document.querySelector("#case-filters"),
  text: document.querySelector("#filter-text"),
  status: document.querySelector("#filter-status"),
  scope: document.querySelector("#filter-scope"),
  newOpen: document.querySelector("#new-case-open"),
  newForm: document.querySelector("#new-case-form"),
};

function titleCell(item) {
  const anchor = build("a", { href: `/cases/${encodeURIComponent(item.id)}`, className: "case-link", textContent: item.title });
  const meta = element("span", "muted small", holdingsText(item.holds));
  meta.dataset.testid = "case-holds";
  return build("div", { className: "stack" }, anchor, meta);
}

/** Who the case comes from and why: the owning (sharing) organisation and unit, the basis
 * of access with purpose and expiry. */
function fromCell(item) {
  const box = build("div", { className: "stack" }, accessBadge(item.access));
  const where = [item.access?.org ?? item.org, item.access?.unit ?? item.unit].filter(Boolean).join(" · ");
  box.append(element("span", "small", where), element("span", "muted small", purposeName(item.purpose)));
  return box;
}

function changedCell(item) {
  const moment = item.updated ?? item.created;
  return cell(swedish(moment), "nowrap", utc(moment));
}

function row(item) {
  const tr = build("tr", { data: { testid: "case-row", caseId: item.id, status: item.status } });
  tr.append(
    cell(patientBlock(item.patient)),
    cell(titleCell(item)),
    cell(fromCell(item)),
    cell(statusBadge(item.status)),
    cell(item.sender ?? "", "sender"),
    changedCell(item),
  );
  if (item.access?.basis?.startsWith("emergency:")) tr.classList.add("row-emergency");
  return tr;
}

/** The cases that pass the filters: status, own or shared, text in patient or title. */
function filtered(items) {
  const words = page.text.value.trim().toLocaleLowerCase("sv").split(/\s+/).filter(Boolean);
  const own = (item) => (item.access?.basis ?? "").startsWith("own_org");
  return items.filter((item) => {
    if (page.status.value && item.status !== page.status.value) return false;
    if (page.scope.value === "own" && !own(item)) return false;
    if (page.scope.value === "shared" && own(item)) return false;
    const haystack = [item.title, item.patient?.name, item.patient?.personnummer,
      item.patient?.personnummer?.replace("-", "")].filter(Boolean).join(" ").toLocaleLowerCase("sv");
    return words.every((word) => haystack.includes(word));
  });
}

function newestFirst(items) {
  return [...items].sort((a, b) => (b.updated ?? b.created ?? "").localeCompare(a.updated ?? a.created ?? ""));
}

function render(items) {
  if (items.length === 0) {
    page.count.textContent = "";
    page.filters.hidden = true;
    page.cases.replaceChildren(element("p", "notice", t("cases.none")));
    return;
  }
  page.filters.hidden = false;
  const shown = newestFirst(filtered(items));
  page.count.textContent = t("cases.count", { shown: shown.length, total: items.length });
  if (shown.length === 0) {
    page.cases.replaceChildren(element("p", "notice", t("cases.filter.none")));
    return;
  }
  const labels = [t("cases.column.patient"), t("cases.column.case"), t("cases.column.from"),
    t("cases.column.status"), t("cases.column.sender"), t("cases.column.updated")];
  const wrap = element("div", "table-scroll");
  wrap.append(table(labels, shown.map(row), "data-table cases-table worklist"));
  page.cases.replaceChildren(wrap);
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
  page.count.textContent = t("cases.loading");
  try {
    cache = await getJson("/api/cases");
  } catch (error) {
    page.count.textContent = "";
    return show(page.banner, error.message);
  }
  show(page.banner, "");
  render(cache);
  noteEmergencies(me.user.id, cache);
}

/** The new-case form: patient by personnummer, title, question; on success, the new case. */
function setupNewCase(me) {
  const form = page.newForm;
  const error = form.querySelector(".form-error");
  page.newOpen.hidden = false;
  page.newOpen.addEventListener("click", () => {
    form.hidden = false;
    form.patient.focus();
  });
  form.querySelector(".cancel").addEventListener("click", () => { form.hidden = true; });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    show(error, "");
    const body = { patient: form.patient.value.trim(), title: form.title.value };
    if (form.question.value.trim()) body.question = form.question.value;
    try {
      const made = await send("POST", "/api/cases", body, me.csrf_token);
      location.assign(`/cases/${encodeURIComponent(made.id)}`);
    } catch (failure) {
      show(error, failure.message);
    }
  });
}

export async function showCaseList(me) {
  page.section.hidden = false;
  document.title = `${t("cases.heading")} · samsyn`;
  if (hasRole(me.user, ...CARE_ROLES)) {
    setupLookup(me, { refresh: () => refresh(me), casesOf: (patientId) => cache.filter((c) => c.patient?.id === patientId) });
    setupNewCase(me);
  }
  for (const control of [page.text, page.status, page.scope]) control.addEventListener("input", () => render(cache));
  await refresh(me);
}


