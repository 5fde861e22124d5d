// One referral: the patient and case always at the top, the request (question, history,
// preliminary diagnosis, priority, wish-by time, from and to), its images, the answer and
// the steps of its history; the buttons its state and the reader's side allow. Fetched
// afresh and redrawn in place on every `referral` event for it, so the referring clinician
// sees the signed answer without reloading.
import { getJson } from "./api.js";
import { build, element, show } from "./dom.js";
import { patientBlock } from "./case-format.js";
import { t } from "./i18n.js";
import { onReferral } from "./referral-live.js";
import { renderActions } from "./referral-actions.js";
import { ReportPanel } from "./referral-report.js";
import {
  OPEN, dueBlock, fromBlock, holdsText, priorityBadge, sideOf, statusBadge, statusName, stepName, timeText, toBlock,
} from "./referral-format.js";

const SETTLE_MS = 120;

const page = {
  section: document.querySelector("#referral"),
  top: document.querySelector("#referral-top"),
  live: document.querySelector("#referral-live-status"),
  facts: document.querySelector("#referral-facts"),
  comparison: document.querySelector("#referral-comparison"),
  images: document.querySelector("#referral-images"),
  steps: document.querySelector("#referral-steps"),
  banner: document.querySelector("#error-banner"),
};

/** Whether this reader may open the case and its images now: the requesting side always
 * (its own case), the receiving side only while an accepted referral is its care relation. */
function opensCase(referral, side) {
  return side === "requesting" || OPEN.includes(referral.status);
}

/* The top: who the patient is and which case, always in view */

function renderTop(referral, side) {
  const title = opensCase(referral, side)
    ? build("a", { href: `/cases/${encodeURIComponent(referral.case)}`, textContent: referral.case_title })
    : element("span", null, referral.case_title);
  title.dataset.testid = "referral-case";
  page.top.replaceChildren(
    build("div", { className: "top-patient" }, element("span", "bar-label", t("referrals.top.patient")), patientBlock(referral.patient)),
    build("div", { className: "top-case" }, element("span", "bar-label", t("referrals.top.case")), title),
    build("div", { className: "top-state" }, statusBadge(referral.status), priorityBadge(referral.priority)),
  );
  document.title = `${t("referrals.detail.title", { case: referral.case_title })} · samsyn`;
}

/* The request */

function fact(label, value, testid) {
  const dd = element("dd");
  if (testid) dd.dataset.testid = testid;
  dd.append(value ?? "");
  return [element("dt", null, label), dd];
}

function text(value) {
  return value ? element("span", "frame-text", value) : element("span", "muted", t("referrals.detail.empty"));
}

/** The requester's preliminary diagnosis, or why it is not shown (a blinded review). */
function preliminary(referral, side) {
  if (referral.preliminary != null) return text(referral.preliminary);
  if (referral.blinded && side === "receiving") {
    return element("span", "blinded-note", t("referrals.blinded.hidden"));
  }
  return text(null);
}

function renderFacts(referral, side) {
  const rows = [
    ...fact(t("referrals.field.question"), text(referral.question), "referral-question"),
    ...fact(t("referrals.field.history"), text(referral.history), "referral-history"),
    ...fact(t("referrals.field.preliminary"), preliminary(referral, side), "referral-preliminary"),
    ...fact(t("referrals.field.priority"), priorityBadge(referral.priority)),
    ...fact(t("referrals.field.due"), dueBlock(referral)),
    ...fact(t("referrals.field.from"), fromBlock(referral.from), "referral-from"),
    ...fact(t("referrals.field.to"), toBlock(referral.to), "referral-to"),
    ...fact(t("referrals.field.status"), statusBadge(referral.status)),
    ...fact(t("referrals.field.assignee"), referral.assignee ?? element("span", "muted", t("referrals.assignee.none")), "referral-assignee"),
    ...fact(t("referrals.field.created"), timeText(referral.created)),
  ];
  if (referral.blinded) rows.push(...fact(t("referrals.field.blinded"), element("span", "blinded-flag", t("referrals.blinded.yes"))));
  if (referral.reason) rows.push(...fact(t("referrals.field.reason"), text(referral.reason), "referral-reason"));
  page.facts.replaceChildren(...rows);
}

/** A blinded second opinion, once signed: the requester's preliminary diagnosis beside the
 * reviewer's conclusion. */
function renderComparison(referral) {
  const signed = referral.report?.signed;
  const shown = referral.blinded && signed && referral.preliminary != null;
  page.comparison.hidden = !shown;
  if (!shown) return;
  page.comparison.querySelector("[data-field=preliminary]").textContent = referral.preliminary;
  page.comparison.querySelector("[data-field=conclusion]").textContent = referral.report.conclusion || referral.report.findings;
}

/* Images: links into the viewer once they may be opened */

const imageNames = new Map();

async function namesOf(ids) {
  const wanted = ids.filter((id) => !imageNames.has(id));
  const answers = await Promise.allSettled(wanted.map((id) => getJson(`/api/images/${encodeURIComponent(id)}`)));
  answers.forEach((answer, i) => { if (answer.status === "fulfilled") imageNames.set(wanted[i], answer.value); });
}

function imageItem(id) {
  const image = imageNames.get(id);
  const kind = image?.kind === "series" ? t("referrals.holds.series") : t("referrals.holds.slide");
  const modality = image?.modality ? ` · ${image.modality}` : "";
  const anchor = build("a", { href: `/viewer/${encodeURIComponent(id)}`, textContent: image?.name ?? id });
  anchor.dataset.testid = "referral-image-link";
  return build("li", { className: "referral-image", data: { testid: "referral-image", imageId: id } },
    anchor, element("span", "muted small", `${kind}${modality}`));
}

/** Before acceptance (and after declining or closing) the receiving side gets no link and
 * asks for nothing: a request would be a refused access in the log. */
let drawn = 0;

async function renderImages(referral, side) {
  const token = ++drawn;
  const summary = element("p", "muted small", holdsText(referral.holds));
  if (!opensCase(referral, side)) {
    const why = referral.status === "sent" ? "referrals.images.after_accept" : `referrals.images.closed.${referral.status}`;
    const note = element("p", "note images-closed", t(why));
    note.dataset.testid = "images-closed";
    page.images.replaceChildren(summary, note);
    return;
  }
  await namesOf(referral.images);
  if (token !== drawn) return; // a later state was drawn meanwhile
  const list = build("ul", { className: "referral-image-list" }, referral.images.map(imageItem));
  const regions = referral.regions?.length ? element("p", "muted small", t("referrals.images.regions", { n: referral.regions.length })) : null;
  page.images.replaceChildren(summary, list, regions ?? "");
}

/* Steps: who did what, when */

function renderSteps(referral) {
  page.steps.replaceChildren(...(referral.steps ?? []).map((step) => build("li", { className: "referral-step", data: { testid: "referral-step", step: step.step } },
    element("span", "step-name", step.step === "create" && step.status !== "draft" ? t("referrals.step.create_sent") : stepName(step.step)),
    element("span", "small", step.user ?? ""),
    timeText(step.at))));
}

/* Loading, and live */

let current = null;
let report = null;
let asked = 0;

async function load(id, me, live = false) {
  const mine = ++asked;
  let referral;
  try {
    referral = await getJson(`/api/referrals/${encodeURIComponent(id)}`);
  } catch (error) {
    // A fetch afresh that fails keeps what is shown (and says why); a first one has nothing.
    if (mine === asked) current ? show(page.banner, error.message) : failed(error);
    return null;
  }
  if (mine !== asked) return null;
  show(page.banner, "");
  draw(referral, me, live);
  return referral;
}

/** Draws the referral; `live` when another's step brought it (then said in words). */
function draw(referral, me, live = false) {
  const before = current;
  current = referral;
  const side = sideOf(referral, me.user);
  page.section.dataset.status = referral.status;
  page.section.dataset.side = side;
  renderTop(referral, side);
  renderFacts(referral, side);
  renderComparison(referral);
  renderSteps(referral);
  renderImages(referral, side);
  report.update(referral, side);
  renderActions(referral, side, me, hooks(referral.id, me));
  if (live && before && before.status !== referral.status) {
    show(page.live, t("referrals.live.changed", { status: statusName(referral.status) }));
  }
}

/** What a step hands back: `changed` draws the referral a step answered with (and drops any
 * fetch still under way, which would be older), `reload` fetches it afresh. */
function hooks(id, me) {
  return {
    reload: () => load(id, me),
    changed: (next) => {
      asked += 1;
      draw(next, me);
    },
  };
}

function failed(error) {
  const what = { 403: "referrals.detail.forbidden", 404: "referrals.detail.not_found" }[error.status] ?? "referrals.detail.failed";
  page.top.replaceChildren(element("h1", null, t(what)));
  show(page.banner, `${t(what)}: ${error.message}`);
  page.section.querySelectorAll(".referral-layout").forEach((part) => { part.hidden = true; });
}

export async function showReferral(id, me) {
  page.section.hidden = false;
  report = new ReportPanel(document.querySelector("#report-body"), me, hooks(id, me));
  let settle = 0;
  onReferral((event) => {
    if (event.id !== id && !event.reconnected) return;
    clearTimeout(settle);
    settle = setTimeout(() => load(id, me, true), SETTLE_MS);
  });
  await load(id, me);
}
