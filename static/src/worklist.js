// The referral worklist: incoming (to my units, or to me by name) and sent, most pressing
// first exactly as the server sorts them, filtered by status, priority, kind of image and
// assignee, with counts per status and the overdue ones marked in words. Fetched afresh
// whenever a `referral` event arrives.
import { getJson } from "./api.js";
import { build, cell, element, show, table } from "./dom.js";
import { patientBlock } from "./case-format.js";
import { t } from "./i18n.js";
import { onReferral } from "./referral-live.js";
import {
  PRIORITIES, STATUSES, dueBlock, fromBlock, holdName, holdsText, priorityBadge, statusBadge, statusName, toBlock,
} from "./referral-format.js";

const BOXES = ["incoming", "outgoing"];
const SETTLE_MS = 150;

const page = {
  section: document.querySelector("#worklist"),
  count: document.querySelector("#worklist-count"),
  tabs: [...document.querySelectorAll("#worklist .box-tab")],
  counts: document.querySelector("#status-counts"),
  filters: document.querySelector("#worklist-filters"),
  rows: document.querySelector("#referral-rows"),
  banner: document.querySelector("#error-banner"),
};

/** What the worklist shows, kept in the address so a reload or a shared link shows the same. */
function stateFromAddress() {
  const query = new URLSearchParams(location.search);
  const box = BOXES.includes(query.get("box")) ? query.get("box") : "incoming";
  return {
    box,
    status: STATUSES.includes(query.get("status")) ? query.get("status") : "",
    priority: PRIORITIES.includes(query.get("priority")) ? query.get("priority") : "",
    modality: query.get("modality") ?? "",
    mine: query.get("assignee") === "me",
  };
}

function remember(state) {
  const query = new URLSearchParams({ box: state.box });
  if (state.status) query.set("status", state.status);
  if (state.priority) query.set("priority", state.priority);
  if (state.modality) query.set("modality", state.modality);
  if (state.mine) query.set("assignee", "me");
  history.replaceState(null, "", `/referrals?${query}`);
}

function listUrl(state) {
  const query = new URLSearchParams({ box: state.box });
  if (state.status) query.set("status", state.status);
  if (state.priority) query.set("priority", state.priority);
  if (state.modality) query.set("modality", state.modality);
  if (state.mine) query.set("assignee", "me");
  return `/api/referrals?${query}`;
}

/* Rows */

function caseCell(item) {
  const anchor = build("a", {
    href: `/referrals/${encodeURIComponent(item.id)}`, className: "case-link referral-link", textContent: item.case_title,
  });
  anchor.dataset.testid = "referral-link";
  const question = element("span", "question-text", item.question ?? "");
  question.dataset.testid = "referral-question";
  const holds = element("span", "muted small", holdsText(item.holds));
  const box = build("div", { className: "stack" }, anchor, question, holds);
  if (item.blinded) box.append(element("span", "blinded-flag small", t("referrals.blinded.short")));
  return box;
}

function statusCell(item) {
  const box = build("div", { className: "stack" }, statusBadge(item.status));
  if (item.reason) box.append(element("span", "muted small reason-text", item.reason));
  return box;
}

function row(item) {
  const tr = build("tr", {
    data: { testid: "referral-row", referralId: item.id, status: item.status, priority: item.priority, overdue: String(item.overdue) },
  });
  tr.append(
    cell(patientBlock(item.patient)),
    cell(caseCell(item)),
    cell(priorityBadge(item.priority)),
    cell(dueBlock(item)),
    cell(fromBlock(item.from)),
    cell(toBlock(item.to)),
    cell(statusCell(item)),
    cell(item.assignee ?? element("span", "muted", t("referrals.assignee.none"))),
  );
  if (item.overdue) tr.classList.add("row-overdue");
  tr.classList.add(`row-priority-${item.priority}`);
  return tr;
}

function renderRows(items, state) {
  if (items.length === 0) {
    const filtered = state.status || state.priority || state.modality || state.mine;
    page.rows.replaceChildren(element("p", "notice", t(filtered ? "referrals.none_filtered" : `referrals.none.${state.box}`)));
    return;
  }
  const labels = [
    t("referrals.column.patient"), t("referrals.column.case"), t("referrals.column.priority"), t("referrals.column.due"),
    t("referrals.column.from"), t("referrals.column.to"), t("referrals.column.status"), t("referrals.column.assignee"),
  ];
  const wrap = element("div", "table-scroll");
  wrap.append(table(labels, items.map(row), "data-table worklist referral-table"));
  page.rows.replaceChildren(wrap);
}

/* Counts: per status (a chip that filters), overdue, and per box on its tab */

function countChip(status, n, state, onPick) {
  const chip = build("button", { type: "button", className: "count-chip" },
    element("span", null, statusName(status)), element("span", "chip-n", String(n)));
  chip.dataset.testid = "status-count";
  chip.dataset.status = status;
  chip.setAttribute("aria-pressed", String(state.status === status));
  chip.addEventListener("click", () => onPick(state.status === status ? "" : status));
  return chip;
}

function renderCounts(answer, state, onPick) {
  const counts = answer.counts ?? {};
  const chips = STATUSES.filter((status) => counts[status]).map((status) => countChip(status, counts[status], state, onPick));
  if (answer.overdue) {
    const overdue = element("span", "count-chip overdue-chip", t("referrals.counts.overdue", { n: answer.overdue }));
    overdue.dataset.testid = "overdue-count";
    chips.push(overdue);
  }
  page.counts.replaceChildren(...chips);
  const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
  page.count.textContent = t("referrals.count", { shown: answer.referrals.length, total });
}

function tabCount(box, counts) {
  const waiting = box === "incoming" ? counts.sent ?? 0 : (counts.sent ?? 0) + (counts.accepted ?? 0) + (counts.in_review ?? 0);
  const badge = page.tabs.find((tab) => tab.dataset.box === box).querySelector(".tab-count");
  badge.textContent = String(waiting);
  badge.title = t(box === "incoming" ? "referrals.box.incoming_waiting" : "referrals.box.outgoing_waiting", { n: waiting });
}

/* Filters */

function fillOptions(select, values, name, chosen) {
  const first = select.options[0];
  select.replaceChildren(first, ...values.map((value) => build("option", { value, textContent: name(value) })));
  select.value = values.includes(chosen) ? chosen : "";
}

/** The kinds of image met in each box so far: what the modality filter offers. */
const kindsSeen = { incoming: new Set(), outgoing: new Set() };

function renderFilters(state, items) {
  const form = page.filters;
  fillOptions(form.status, STATUSES, statusName, state.status);
  fillOptions(form.priority, PRIORITIES, (priority) => t(`referrals.priority.${priority}`), state.priority);
  for (const item of items) for (const kind of Object.keys(item.holds ?? {})) kindsSeen[state.box].add(kind);
  if (state.modality) kindsSeen[state.box].add(state.modality);
  fillOptions(form.modality, [...kindsSeen[state.box]].sort(), holdName, state.modality);
  form.mine.checked = state.mine;
}

function renderTabs(state) {
  for (const tab of page.tabs) tab.setAttribute("aria-selected", String(tab.dataset.box === state.box));
}

/* Loading */

let state = stateFromAddress();
let asked = 0;

async function refresh() {
  const mine = ++asked;
  const other = state.box === "incoming" ? "outgoing" : "incoming";
  let answer;
  let otherAnswer;
  try {
    [answer, otherAnswer] = await Promise.all([
      getJson(listUrl(state)),
      getJson(`/api/referrals?box=${other}&limit=1`),
    ]);
  } catch (error) {
    return show(page.banner, error.message);
  }
  if (mine !== asked) return; // a later fetch has overtaken this one
  show(page.banner, "");
  renderTabs(state);
  renderFilters(state, answer.referrals);
  renderCounts(answer, state, (status) => change({ status }));
  tabCount(state.box, answer.counts ?? {});
  tabCount(other, otherAnswer.counts ?? {});
  renderRows(answer.referrals, state);
  page.section.dataset.loaded = String(mine);
}

function change(values) {
  state = { ...state, ...values };
  remember(state);
  refresh();
}

let settle = 0;

export async function showWorklist(me) {
  page.section.hidden = false;
  document.title = `${t("referrals.heading")} · samsyn`;
  for (const tab of page.tabs) {
    tab.addEventListener("click", () => change({ box: tab.dataset.box, status: "", modality: "" }));
  }
  const form = page.filters;
  form.status.addEventListener("change", () => change({ status: form.status.value }));
  form.priority.addEventListener("change", () => change({ priority: form.priority.value }));
  form.modality.addEventListener("change", () => change({ modality: form.modality.value }));
  form.mine.addEventListener("change", () => change({ mine: form.mine.checked }));
  form.addEventListener("submit", (event) => event.preventDefault());
  onReferral(() => {
    clearTimeout(settle);
    settle = setTimeout(refresh, SETTLE_MS);
  });
  page.section.dataset.user = me.user.username;
  await refresh();
}
