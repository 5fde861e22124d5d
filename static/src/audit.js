// The access log for log reviewers: filters, entries (Swedish time, UTC on hover), CSV export
// with the same filters, rule-based alerts and the state of the log's hash chain.
import { getJson } from "./api.js";
import { build, cell, element, link, show, table } from "./dom.js";
import { purposeName } from "./case-format.js";
import { hasRole, roleName, showNavigation, signedIn } from "./nav.js";
import { normalize, problem } from "./personnummer.js";
import { signIn } from "./signin.js";
import { fromSwedish, swedish, utc } from "./time.js";

const FILTERS = ["patient", "user", "org", "action", "from", "to", "limit"];
const ALERTS_SHOWN = 12;
const RULES = {
  emergency_access: "Emergency access",
  access_without_relation: "Refused access",
  own_record: "Own record opened",
  high_volume: "Many patients in one day",
  after_hours: "Outside office hours",
};
const RULE_HELP = {
  emergency_access: "Nödåtkomst: check that the reason holds.",
  access_without_relation: "Someone tried to open data without a care relation, or blocked data (spärr).",
  own_record: "A member of staff opened their own record.",
  high_volume: "One user opened many different patients on one day.",
  after_hours: "Access to patient data on a weekend or outside 07–19 Swedish time.",
};

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

/** The API's query for the form's values; throws Error with a reason when a value is wrong. */
function apiQuery(values) {
  const query = new URLSearchParams();
  if (values.patient) {
    const wrong = problem(values.patient);
    if (wrong) throw new Error(`Patient: ${wrong}`);
    query.set("patient", normalize(values.patient));
  }
  for (const name of ["user", "org", "action"]) if (values[name]) query.set(name, values[name]);
  if (values.from) query.set("from", fromSwedish(values.from));
  if (values.to) query.set("to", fromSwedish(values.to, true));
  if (values.from && values.to && query.get("from") > query.get("to")) throw new Error("From lies after To.");
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
  const hsa = entry.user_hsa_id ? element("span", "muted small nowrap", entry.user_hsa_id)
    : element("span", "muted small missing-hsa", "no HSA-id");
  return build("div", { className: "stack" }, element("span", null, entry.user_name ?? entry.username ?? ""), hsa);
}

/** "case:0ba8…" as the kind over the id, so ids neither wrap mid-way nor widen the table. */
function reference(text) {
  if (!text) return "";
  const lines = text.split("+").flatMap((part) => {
    const [kind, id] = part.split(/:(.*)/s);
    return id ? [element("span", null, kind), element("span", "muted nowrap", id)] : [element("span", null, kind)];
  });
  return build("div", { className: "stack" }, lines);
}

function actionCell(entry) {
  const reason = entry.action === "emergency_access" ? entry.detail?.reason : null;
  const box = stack(entry.action, reason ? `Reason: ${reason}` : null, "small emergency-reason");
  if (entry.flagged) box.prepend(build("span", { className: "flag", textContent: "Flagged", title: "Flagged for follow-up by a log reviewer" }));
  return cell(box);
}

function outcomeCell(entry) {
  const badge = element("span", `outcome outcome-${entry.outcome}`, entry.outcome);
  const why = entry.detail?.reason && entry.action !== "emergency_access" ? `Decision: ${entry.detail.reason}` : "";
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
    cell(userBlock(entry), null, `User name: ${entry.username ?? "none"}`),
    cell(entry.role ? roleName(entry.role) : ""),
    cell(stack(entry.org_name, entry.unit_name)),
    cell(personnummer(entry.patient), "nowrap pnr"),
    cell(reference(entry.resource), "mono small"),
    actionCell(entry),
    cell(purposeName(entry.purpose)),
    outcomeCell(entry),
    cell(reference(entry.basis), "mono small"),
    cell(entry.client ?? "", "mono small nowrap"),
  );
  return tr;
}

function showEntries(entries, limit) {
  const more = entries.length >= Number(limit) ? ` (the newest ${entries.length}; narrow the filter or raise the limit to see older ones)` : "";
  page.count.textContent = entries.length === 1 ? "1 entry" : `${entries.length} entries, last logged first${more}`;
  page.count.title = "# is the entry's place in the log. Looking at an image is logged as one entry when the viewing ends, " +
    "with the time it began, so times may be out of order.";
  if (entries.length === 0) {
    page.count.textContent = "";
    page.entries.replaceChildren(element("p", "notice", "No entries match these filters."));
    return;
  }
  const labels = ["#", "Time", "User", "Role", "Organisation / unit", "Patient", "Resource", "Action", "Purpose", "Outcome", "Basis", "Client"];
  page.entries.replaceChildren(table(labels, entries.map(entryRow), "data-table audit-table"));
}

/* Alerts */

function alertText(alert) {
  if (alert.rule === "high_volume") return `${alert.user} opened ${alert.patients} different patients on ${alert.day}`;
  const e = alert.entry;
  const who = e.user_name ? `${e.user_name} (${e.username})` : e.username;
  const patient = e.patient ? ` · patient ${personnummer(e.patient)}` : "";
  const reason = e.action === "emergency_access" && e.detail?.reason ? ` · “${e.detail.reason}”` : "";
  return `${who}${patient} · ${e.action} · ${e.outcome}${reason}`;
}

function narrowTo(alert) {
  page.form.reset();
  if (alert.rule === "high_volume") {
    page.form.user.value = alert.user;
    page.form.from.value = `${alert.day}T00:00`;
    page.form.to.value = `${alert.day}T23:59`;
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
  const narrow = build("button", { type: "button", className: "link-button", textContent: "Show entries" });
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
    page.alerts.replaceChildren(element("p", "muted", "No alerts for these filters."));
    return;
  }
  const byRule = Object.keys(RULES).map((rule) => [rule, alerts.filter((a) => a.rule === rule)]).filter(([, list]) => list.length);
  const tabs = element("div", "rule-tabs");
  tabs.setAttribute("role", "tablist");
  const body = element("div", "rule-body");
  const select = (rule, list, all = false) => {
    tabs.querySelectorAll("button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.rule === rule)));
    const help = element("p", "muted small rule-help", RULE_HELP[rule]);
    const nodes = [help, alertList(list, all)];
    if (!all && list.length > ALERTS_SHOWN) {
      const more = build("button", { type: "button", className: "link-button", textContent: `Show all ${list.length}` });
      more.addEventListener("click", () => select(rule, list, true));
      nodes.push(more);
    }
    body.replaceChildren(...nodes);
  };
  for (const [rule, list] of byRule) {
    const tab = build("button", { type: "button", className: `rule-tab rule-${rule}`, data: { rule, testid: "alert-rule" } },
      element("span", null, RULES[rule]), element("span", "rule-count", String(list.length)));
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
    page.chain.textContent = `✓ Access log intact: ${verdict.entries} entries, hash chain checked`;
    page.chain.title = "Every entry carries the hash of the one before it; none was changed, removed or reordered.";
  } else {
    page.chain.textContent = `⚠ Access log damaged at entry #${verdict.broken_seq}: ${verdict.reason}. ` +
      `Entries from #${verdict.broken_seq} on cannot be trusted; report this to your security officer.`;
    page.chain.setAttribute("role", "alert");
  }
}

/* Loading */

async function refuse(error) {
  page.content.hidden = true;
  page.chain.hidden = true;
  const { user } = await signedIn();
  const message = page.refused.querySelector("[data-field=message]");
  message.textContent = `You are signed in as ${user.name} (${user.roles.map((r) => roleName(r.role)).join(", ")}). ` +
    `The access log is read by the organisation's log reviewers only (the server answered: ${error.message}).`;
  if (hasRole(user, "patient")) {
    message.append(" To see who has accessed your own data, open ", link("My access log", "/my/access-log"), ".");
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
  page.count.textContent = "Loading entries…";
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
    show(page.banner, `The log could not be searched: ${entries.reason.message}`);
  }
  if (alerts.status === "fulfilled") showAlerts(alerts.value);
  else page.alerts.replaceChildren(element("p", "form-error", `Alerts could not be loaded: ${alerts.reason.message}`));
}

async function checkChain() {
  try {
    showChain(await getJson("/api/audit/verify"));
  } catch (error) {
    if (error.status === 403) return refuse(error);
    page.chain.textContent = `The hash chain could not be checked: ${error.message}`;
    page.chain.classList.add("chain-broken");
  }
}

async function start() {
  try {
    await signedIn();
  } catch (error) {
    if (error.status !== 401) return show(page.banner, error.message);
    await signIn(document.querySelector("#signin-slot"));
    return location.reload();
  }
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
