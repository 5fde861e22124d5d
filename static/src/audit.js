// The access log for log reviewers: filters, entries (Swedish time, UTC on hover), CSV export
// with the same filters, rule-based alerts and the state of the log's hash chain. Every word
// comes from the catalogue (audit.*), loaded once the reviewer is known; the log's codes
// (actions, outcomes, kinds of resource) are put into words through maps of literal keys, so
// the catalogue test sees each of them, and an unknown code is shown as it is.
import { getJson } from "./api.js";
import { build, cell, element, link, show, table } from "./dom.js";
import { purposeName } from "./case-format.js";
import { number, t } from "./i18n.js";
import { hasRole, roleName, showNavigation, signedIn } from "./nav.js";
import { normalize, problem } from "./personnummer.js";
import { signedInPage } from "./signin.js";
import { fromSwedish, swedish, utc, wallClock } from "./time.js";

const FILTERS = ["patient", "user", "org", "action", "from", "to", "limit"];
const ALERTS_SHOWN = 12;
// The alert rules in the order their tabs stand (app/api/audit.py alert_rules).
const RULE_ORDER = ["emergency_access", "access_without_relation", "consent_access", "own_record", "high_volume", "after_hours"];

/** A rule's tab label and the help line under it. */
function ruleWords(rule) {
  const words = {
    emergency_access: [t("audit.rule.emergency_access"), t("audit.rule_help.emergency_access")],
    access_without_relation: [t("audit.rule.access_without_relation"), t("audit.rule_help.access_without_relation")],
    consent_access: [t("audit.rule.consent_access"), t("audit.rule_help.consent_access")],
    own_record: [t("audit.rule.own_record"), t("audit.rule_help.own_record")],
    high_volume: [t("audit.rule.high_volume"), t("audit.rule_help.high_volume")],
    after_hours: [t("audit.rule.after_hours"), t("audit.rule_help.after_hours")],
  };
  return words[rule] ?? [rule, ""];
}

/** The log's action code as the reviewer reads it ("view" → "öppnade"). */
function actionName(action) {
  const names = {
    list: t("audit.action.list"),
    view: t("audit.action.view"),
    render: t("audit.action.render"),
    export: t("audit.action.export"),
    share: t("audit.action.share"),
    revoke: t("audit.action.revoke"),
    annotate: t("audit.action.annotate"),
    import: t("audit.action.import"),
    view_annotations: t("audit.action.view_annotations"),
    join_live: t("audit.action.join_live"),
    note: t("audit.action.note"),
    view_notes: t("audit.action.view_notes"),
    edit: t("audit.action.edit"),
    edit_case: t("audit.action.edit_case"),
    create_case: t("audit.action.create_case"),
    delete: t("audit.action.delete"),
    manage: t("audit.action.manage"),
    view_patient: t("audit.action.view_patient"),
    emergency_access: t("audit.action.emergency_access"),
    block: t("audit.action.block"),
    consent: t("audit.action.consent"),
    read_log: t("audit.action.read_log"),
    read_own_log: t("audit.action.read_own_log"),
    verify: t("audit.action.verify"),
    search_directory: t("audit.action.search_directory"),
    report: t("audit.action.report"),
    sign: t("audit.action.sign"),
    addendum: t("audit.action.addendum"),
    referral: t("audit.action.referral"),
  };
  return names[action] ?? action ?? "";
}

function outcomeName(outcome) {
  const names = {
    allowed: t("audit.outcome.allowed"),
    denied: t("audit.outcome.denied"),
    failed: t("audit.outcome.failed"),
  };
  return names[outcome] ?? outcome ?? "";
}

/** The kind before the id in a resource or basis ("case:0ba8…", "share:5a5a…+consent:…"). */
function kindName(kind) {
  const names = {
    case: t("audit.kind.case"),
    image: t("audit.kind.image"),
    annotation: t("audit.kind.annotation"),
    annotations: t("audit.kind.annotations"),
    classes: t("audit.kind.classes"),
    patient: t("audit.kind.patient"),
    access_log: t("audit.kind.access_log"),
    own_org: t("audit.kind.own_org"),
    share: t("audit.kind.share"),
    consent: t("audit.kind.consent"),
    emergency: t("audit.kind.emergency"),
    own_record: t("audit.kind.own_record"),
  };
  return names[kind] ?? kind;
}

const page = {
  form: document.querySelector("#filters"),
  filterError: document.querySelector("[data-testid=filter-error]"),
  csv: document.querySelector("#csv-link"),
  chain: document.querySelector("#chain-status"),
  alerts: document.querySelector("#alerts"),
  entries: document.querySelector("#entries"),
  count: document.querySelector("#entry-count"),
  banner: document.querySelector("#error-banner"),
  content: document.querySelector("#audit-content"),
  refused: document.querySelector("#audit-refused"),
};

/* Filters: the form, the page's own URL and the API's query */

function formValues() {
  return Object.fromEntries(FILTERS.map((name) => [name, page.form[name].value.trim()]));
}

function fillForm(params) {
  for (const name of FILTERS) {
    if (params.has(name)) page.form[name].value = params.get(name);
  }
}

/** A typed time as fromSwedish reads it; throws Error naming the field when it is not one. */
function timeOf(text, field) {
  const time = wallClock(text);
  if (!time) throw new Error(t("audit.filter.time_problem", { field }));
  return time;
}

/** The API's query for the form's values; throws Error with a reason when a value is wrong. */
function apiQuery(values) {
  const query = new URLSearchParams();
  if (values.patient) {
    const wrong = problem(values.patient);
    if (wrong) throw new Error(t("audit.filter.patient_problem", { problem: wrong }));
    query.set("patient", normalize(values.patient));
  }
  for (const name of ["user", "org", "action"]) if (values[name]) query.set(name, values[name]);
  if (values.from) query.set("from", fromSwedish(timeOf(values.from, t("audit.filter.from"))));
  if (values.to) query.set("to", fromSwedish(timeOf(values.to, t("audit.filter.to")), true));
  if (values.from && values.to && query.get("from") > query.get("to")) throw new Error(t("audit.filter.order"));
  query.set("limit", values.limit || "500");
  return query;
}

function pageQuery(values) {
  const query = new URLSearchParams();
  for (const name of FILTERS) if (values[name] && !(name === "limit" && values[name] === "500")) query.set(name, values[name]);
  return query;
}

/* Entries */

function personnummer(digits) {
  return /^\d{12}$/.test(digits ?? "") ? `${digits.slice(0, 8)}-${digits.slice(8)}` : digits ?? "";
}

function stack(first, second, className = "muted small") {
  return build("div", { className: "stack" }, element("span", null, first ?? ""), second ? element("span", className, second) : null);
}

function userBlock(entry) {
  // An HSA-id may break after its hyphen ("SE…-" over the name) to leave room for the client.
  const hsa = entry.user_hsa_id ? element("span", "muted small", entry.user_hsa_id)
    : element("span", "muted small missing-hsa", t("audit.entry.no_hsa"));
  return build("div", { className: "stack" }, element("span", null, entry.user_name ?? entry.username ?? ""), hsa);
}

/** "case:0ba8…" as the kind (a word, in the page's font) over the id (code, in mono), so
 * ids neither wrap mid-way nor widen the table. */
function reference(text) {
  if (!text) return "";
  const lines = text.split("+").flatMap((part) => {
    const [kind, id] = part.split(/:(.*)/s);
    const word = element("span", null, kindName(kind));
    return id ? [word, element("span", "mono muted nowrap", id)] : [word];
  });
  return build("div", { className: "stack" }, lines);
}

function actionCell(entry) {
  const reason = entry.action === "emergency_access" ? entry.detail?.reason : null;
  const box = stack(actionName(entry.action), reason ? t("audit.entry.reason", { reason }) : null, "small emergency-reason");
  if (entry.flagged) {
    box.prepend(build("span", { className: "flag", textContent: t("audit.entry.flagged"), title: t("audit.entry.flagged_title") }));
  }
  return cell(box);
}

function outcomeCell(entry) {
  const badge = element("span", `outcome outcome-${entry.outcome}`, outcomeName(entry.outcome));
  const why = entry.detail?.reason && entry.action !== "emergency_access" ? t("audit.entry.decision", { reason: entry.detail.reason }) : "";
  return cell(badge, null, why);
}

function entryRow(entry) {
  const tr = build("tr", { data: { testid: "audit-row", seq: String(entry.seq), flagged: String(entry.flagged) } });
  if (entry.flagged) tr.classList.add("row-flagged");
  if (entry.outcome === "denied") tr.classList.add("row-denied");
  const time = cell(swedish(entry.at, { seconds: true }), "nowrap", utc(entry.at));
  time.dataset.testid = "audit-time";
  tr.append(
    cell(String(entry.seq), "muted small seq"),
    time,
    cell(userBlock(entry), null, t("audit.entry.username", { username: entry.username ?? t("audit.entry.no_username") })),
    cell(entry.role ? roleName(entry.role) : ""),
    cell(stack(entry.org_name, entry.unit_name)),
    cell(personnummer(entry.patient), "nowrap pnr"),
    cell(reference(entry.resource), "small"),
    actionCell(entry),
    cell(purposeName(entry.purpose)),
    outcomeCell(entry),
    cell(reference(entry.basis), "small"),
    cell(entry.client ?? "", "mono small nowrap"),
  );
  return tr;
}

function countText(entries, limit) {
  if (entries.length === 1) return t("audit.entries.one");
  const count = number(entries.length, 0);
  const many = t("audit.entries.many", { count });
  return entries.length >= Number(limit) ? `${many} ${t("audit.entries.more", { count })}` : many;
}

function columnLabels() {
  return [
    "#", t("audit.column.time"), t("audit.column.user"), t("audit.column.role"), t("audit.column.place"),
    t("audit.column.patient"), t("audit.column.resource"), t("audit.column.action"), t("audit.column.purpose"),
    t("audit.column.outcome"), t("audit.column.basis"), t("audit.column.client"),
  ];
}

function showEntries(entries, limit) {
  page.count.textContent = countText(entries, limit);
  page.count.title = t("audit.entries.count_title");
  if (entries.length === 0) {
    page.count.textContent = "";
    page.entries.replaceChildren(element("p", "notice", t("audit.entries.none")));
    return;
  }
  page.entries.replaceChildren(table(columnLabels(), entries.map(entryRow), "data-table audit-table"));
}

/* Alerts */

function alertText(alert) {
  if (alert.rule === "high_volume") {
    return t("audit.alerts.high_volume", { user: alert.user, patients: number(alert.patients, 0), day: alert.day });
  }
  const e = alert.entry;
  const who = e.user_name ? `${e.user_name} (${e.username})` : e.username;
  const patient = e.patient ? t("audit.alerts.patient", { patient: personnummer(e.patient) }) : null;
  const reason = e.action === "emergency_access" && e.detail?.reason ? `“${e.detail.reason}”` : null;
  return [who, patient, actionName(e.action), outcomeName(e.outcome), reason].filter(Boolean).join(" · ");
}

function narrowTo(alert) {
  page.form.reset();
  if (alert.rule === "high_volume") {
    page.form.user.value = alert.user;
    page.form.from.value = `${alert.day} 00:00`;
    page.form.to.value = `${alert.day} 23:59`;
  } else {
    page.form.user.value = alert.entry.username ?? "";
    page.form.patient.value = personnummer(alert.entry.patient ?? "");
  }
  page.form.requestSubmit();
}

function alertItem(alert) {
  const item = build("li", { className: `alert alert-${alert.rule}`, data: { testid: "alert", rule: alert.rule } });
  const when = alert.entry ? element("span", "alert-time", swedish(alert.entry.at)) : element("span", "alert-time", alert.day);
  if (alert.entry) when.title = utc(alert.entry.at);
  const narrow = build("button", { type: "button", className: "link-button", textContent: t("audit.alerts.show_entries") });
  narrow.addEventListener("click", () => narrowTo(alert));
  item.append(when, element("span", "alert-text", alertText(alert)), narrow);
  return item;
}

function alertList(alerts, all) {
  const list = element("ul", "alert-list");
  list.append(...(all ? alerts : alerts.slice(0, ALERTS_SHOWN)).map(alertItem));
  return list;
}

function showAlerts(alerts) {
  if (alerts.length === 0) {
    page.alerts.replaceChildren(element("p", "muted", t("audit.alerts.none")));
    return;
  }
  const unknown = [...new Set(alerts.map((a) => a.rule))].filter((rule) => !RULE_ORDER.includes(rule));
  const byRule = [...RULE_ORDER, ...unknown].map((rule) => [rule, alerts.filter((a) => a.rule === rule)]).filter(([, list]) => list.length);
  const tabs = element("div", "rule-tabs");
  tabs.setAttribute("role", "tablist");
  const body = element("div", "rule-body");
  const select = (rule, list, all = false) => {
    tabs.querySelectorAll("button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.rule === rule)));
    const help = element("p", "muted small rule-help", ruleWords(rule)[1]);
    const nodes = [help, alertList(list, all)];
    if (!all && list.length > ALERTS_SHOWN) {
      const more = build("button", { type: "button", className: "link-button", textContent: t("audit.alerts.show_all", { count: number(list.length, 0) }) });
      more.addEventListener("click", () => select(rule, list, true));
      nodes.push(more);
    }
    body.replaceChildren(...nodes);
  };
  for (const [rule, list] of byRule) {
    const tab = build("button", { type: "button", className: `rule-tab rule-${rule}`, data: { rule, testid: "alert-rule" } },
      element("span", null, ruleWords(rule)[0]), element("span", "rule-count", number(list.length, 0)));
    tab.setAttribute("role", "tab");
    tab.addEventListener("click", () => select(rule, list));
    tabs.append(tab);
  }
  page.alerts.replaceChildren(tabs, body);
  select(...byRule[0]);
}

/* Chain */

function showChain(verdict) {
  page.chain.classList.toggle("chain-broken", !verdict.ok);
  page.chain.classList.toggle("chain-ok", verdict.ok);
  if (verdict.ok) {
    page.chain.textContent = verdict.entries === 1
      ? t("audit.chain.intact_one")
      : t("audit.chain.intact", { entries: number(verdict.entries, 0) });
    page.chain.title = t("audit.chain.intact_title");
  } else {
    // The reason is the server's own sentence (API messages stay English).
    page.chain.textContent = t("audit.chain.broken", { seq: verdict.broken_seq, reason: verdict.reason });
    page.chain.setAttribute("role", "alert");
  }
}

/* Loading */

async function refuse(error) {
  page.content.hidden = true;
  page.chain.hidden = true;
  const { user } = await signedIn();
  const message = page.refused.querySelector("[data-field=message]");
  const roles = user.roles.map((r) => roleName(r.role)).join(", ");
  message.textContent = t("audit.refused.message", { name: user.name, roles, message: error.message });
  if (hasRole(user, "patient")) {
    message.append(` ${t("audit.refused.patient")} `, link(t("audit.refused.patient_link"), "/my/access-log"), ".");
  }
  page.refused.hidden = false;
}

async function search() {
  show(page.filterError, "");
  const values = formValues();
  let query;
  try {
    query = apiQuery(values);
  } catch (error) {
    return show(page.filterError, error.message);
  }
  const shown = pageQuery(values).toString();
  history.replaceState(null, "", shown ? `/audit?${shown}` : "/audit");
  page.csv.href = `/api/audit?${query}&format=csv`;
  page.count.textContent = t("audit.entries.loading");
  const alertQuery = new URLSearchParams(query);
  alertQuery.delete("limit");
  const [entries, alerts] = await Promise.allSettled([
    getJson(`/api/audit?${query}`),
    getJson(`/api/audit/alerts?${alertQuery}`),
  ]);
  if (entries.status === "fulfilled") {
    page.content.hidden = false;
    showEntries(entries.value, query.get("limit"));
  }
  else if (entries.reason.status === 403) return refuse(entries.reason);
  else {
    page.count.textContent = "";
    show(page.banner, t("audit.entries.failed", { message: entries.reason.message }));
  }
  if (alerts.status === "fulfilled") showAlerts(alerts.value);
  else page.alerts.replaceChildren(element("p", "form-error", t("audit.alerts.failed", { message: alerts.reason.message })));
}

async function checkChain() {
  try {
    showChain(await getJson("/api/audit/verify"));
  } catch (error) {
    if (error.status === 403) return refuse(error);
    page.chain.textContent = t("audit.chain.failed", { message: error.message });
    page.chain.classList.add("chain-broken");
  }
}

/** The limits in the page's number style ("1 000" in Swedish, "1,000" in English). */
function numberLimits() {
  for (const option of page.form.limit.options) option.textContent = number(Number(option.value), 0);
}

async function start() {
  if (!(await signedInPage(page.banner))) return;
  numberLimits();
  showNavigation();
  fillForm(new URLSearchParams(location.search));
  page.form.addEventListener("submit", (event) => {
    event.preventDefault();
    show(page.banner, "");
    search();
  });
  page.form.querySelector("[data-action=clear]").addEventListener("click", () => {
    page.form.reset();
    search();
  });
  await Promise.all([checkChain(), search()]);
}

start();
