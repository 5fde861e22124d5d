// "Skicka remiss" on the case page: a referral of this case to a unit (found in the
// directory, as the share form finds its recipients) or to a named specialist, with the
// clinical question, history, preliminary diagnosis, priority, a wish-by time, the images,
// blinded or not, and people kept informed (the referring clinician). Sent at once or kept
// as a draft. Under the form, this case's referrals and where they stand, kept live.
import { change, getJson } from "./api.js";
import { build, element, show } from "./dom.js";
import { t } from "./i18n.js";
import { onReferral } from "./referral-live.js";
import { directoryPicker } from "./referral-picker.js";
import { PRIORITIES, dueBlock, priorityBadge, priorityName, statusBadge, toBlock } from "./referral-format.js";
import { fromSwedish, wallClock } from "./time.js";

const STYLES = "/static/src/referrals.css";

function field(label, control, wide = false) {
  return build("label", { className: wide ? "field wide" : "field" }, element("span", null, label), control);
}

function textarea(name, rows, value = "") {
  const area = build("textarea", { name, rows, maxLength: 20000, value: value ?? "" });
  area.dataset.testid = `referral-send-${name}`;
  return area;
}

function input(name, properties = {}) {
  const node = build("input", { type: "text", name, autocomplete: "off", ...properties });
  node.dataset.testid = `referral-send-${name}`;
  return node;
}

/** The recipient: a unit or a named specialist, picked while typing. */
function recipientPart(state) {
  const kind = build("select", { name: "to_kind" },
    build("option", { value: "unit", textContent: t("referrals.send.kind.unit") }),
    build("option", { value: "user", textContent: t("referrals.send.kind.user") }));
  kind.dataset.testid = "referral-send-kind";
  const name = input("to", { placeholder: t("referrals.send.to_placeholder"), required: true });
  const list = build("ul", { className: "recipient-options", data: { testid: "referral-send-options" } });
  list.hidden = true;
  directoryPicker(name, list, {
    kinds: ["unit", "user"],
    onChoose: (entry) => {
      state.chosen = entry;
      if (entry) kind.value = entry.kind;
    },
  });
  return { kind, name, list };
}

function imageChoices(item, facts) {
  return build("fieldset", { className: "image-choices" },
    element("legend", null, t("referrals.send.images")),
    ...item.images.map((id) => {
      const image = facts.get(id);
      const box = build("input", { type: "checkbox", name: "image", value: id, checked: true });
      const kind = image?.kind === "series" ? t("referrals.holds.series") : t("referrals.holds.slide");
      return build("label", { className: "check", data: { testid: "referral-send-image", imageId: id } },
        box, element("span", null, image?.name ?? id), element("span", "muted small", image?.modality ?? kind));
    }));
}

function buildForm(item, facts) {
  const state = { chosen: null };
  const recipient = recipientPart(state);
  const priority = build("select", { name: "priority" }, ...PRIORITIES.map((value) =>
    build("option", { value, textContent: priorityName(value), selected: value === "routine" })));
  priority.dataset.testid = "referral-send-priority";
  const due = input("due", { placeholder: t("referrals.send.due_placeholder") });
  const blinded = build("input", { type: "checkbox", name: "blinded" });
  blinded.dataset.testid = "referral-send-blinded";
  const copy = input("copy", { placeholder: t("referrals.send.copy_placeholder") });
  const error = element("p", "form-error");
  error.dataset.testid = "referral-send-error";
  error.setAttribute("role", "alert");
  error.hidden = true;
  const send = build("button", { type: "submit", className: "primary", textContent: t("referrals.send.submit") });
  send.dataset.testid = "referral-send-submit";
  const draft = build("button", { type: "button", textContent: t("referrals.send.draft") });
  draft.dataset.testid = "referral-send-draft";
  const cancel = build("button", { type: "button", className: "cancel", textContent: t("referrals.dialog.cancel") });
  const form = build("form", { className: "referral-send-form", noValidate: true },
    element("h3", "form-title", t("referrals.send.title")),
    build("div", { className: "form-grid send-grid" },
      field(t("referrals.send.to"), recipient.name),
      field(t("referrals.send.kind"), recipient.kind),
      build("div", { className: "wide" }, recipient.list),
      field(t("referrals.field.question"), textarea("question", 3, item.question), true),
      field(t("referrals.field.history"), textarea("history", 3, item.history), true),
      field(t("referrals.field.preliminary"), textarea("preliminary", 2), true),
      field(t("referrals.field.priority"), priority),
      field(t("referrals.send.due"), due),
      field(t("referrals.send.copy"), copy, true)),
    item.images.length ? imageChoices(item, facts) : element("p", "muted", t("referrals.send.no_images")),
    build("label", { className: "check blinded-choice" }, blinded, element("span", null, t("referrals.send.blinded"))),
    element("p", "form-help", t("referrals.send.help")),
    build("div", { className: "form-actions" }, send, draft, cancel),
    error);
  form.dataset.testid = "referral-send-form";
  return { form, state, recipient, priority, due, blinded, copy, error, send, draft, cancel };
}

/** The body of POST /api/referrals from the form; a string when something is missing. */
function body(item, parts, asDraft) {
  const { form, state, recipient } = parts;
  const name = recipient.name.value.trim();
  if (!name) return t("referrals.send.need_to");
  if (!form.question.value.trim()) return t("referrals.send.need_question");
  let due = null;
  if (parts.due.value.trim()) {
    const wall = wallClock(parts.due.value);
    due = wall && fromSwedish(wall, !wall.includes("T")); // a day alone: by its end
    if (!due) return t("referrals.send.bad_due");
  }
  const images = [...form.querySelectorAll("input[name=image]:checked")].map((box) => box.value);
  // The server reads no images as all of them: say so rather than send more than was ticked.
  if (item.images.length && images.length === 0) return t("referrals.send.need_images");
  const picked = state.chosen?.kind === recipient.kind.value ? state.chosen : null;
  const to = picked?.value ?? name;
  const data = {
    case: item.id,
    [recipient.kind.value === "user" ? "to_user" : "to_unit"]: to,
    question: form.question.value,
    priority: parts.priority.value,
    images,
    blinded: parts.blinded.checked,
    copy: parts.copy.value.split(/[\s,;]+/).filter(Boolean),
    draft: asDraft,
  };
  if (form.history.value.trim()) data.history = form.history.value;
  if (form.preliminary.value.trim()) data.preliminary = form.preliminary.value;
  if (due) data.due = due;
  return data;
}

/* This case's referrals, as its sender sees them */

function referralLine(referral) {
  const anchor = build("a", { href: `/referrals/${encodeURIComponent(referral.id)}`, textContent: referral.question });
  anchor.dataset.testid = "case-referral-link";
  return build("li", { className: "case-referral", data: { testid: "case-referral", referralId: referral.id, status: referral.status } },
    statusBadge(referral.status), priorityBadge(referral.priority), toBlock(referral.to), anchor, dueBlock(referral));
}

async function showCaseReferrals(item, list) {
  let answer;
  try {
    answer = await getJson("/api/referrals?box=outgoing&limit=1000");
  } catch {
    return;
  }
  const mine = answer.referrals.filter((referral) => referral.case === item.id);
  list.replaceChildren(...(mine.length ? mine.map(referralLine) : [element("li", "muted", t("referrals.send.none_yet"))]));
}

function ensureStyles() {
  if (!document.querySelector(`link[href="${STYLES}"]`)) document.head.append(build("link", { rel: "stylesheet", href: STYLES }));
}

/**
 * Adds the referral panel after `anchor` on the case page. `facts` maps image ids to what
 * GET /api/images/<id> said of them (names for the checkboxes).
 */
export function showReferralSending(item, facts, anchor) {
  ensureStyles();
  const open = build("button", { type: "button", className: "primary", textContent: t("referrals.send.open") });
  open.dataset.testid = "referral-send-open";
  const status = element("p", "form-status");
  status.dataset.testid = "referral-send-status";
  status.setAttribute("role", "status");
  status.hidden = true;
  const list = build("ul", { className: "case-referrals", data: { testid: "case-referrals" } });
  const parts = buildForm(item, facts);
  parts.form.hidden = true;
  const panel = build("section", { className: "panel referral-send", data: { testid: "referral-send" } },
    build("div", { className: "panel-heading" }, element("h2", "panel-title", t("referrals.send.heading")), open),
    status, list, parts.form);
  anchor.after(panel);
  open.addEventListener("click", () => {
    parts.form.hidden = false;
    open.hidden = true;
    parts.recipient.name.focus();
  });
  parts.cancel.addEventListener("click", () => {
    parts.form.hidden = true;
    open.hidden = false;
  });
  const submit = async (asDraft) => {
    show(parts.error, "");
    const data = body(item, parts, asDraft);
    if (typeof data === "string") return show(parts.error, data);
    parts.send.disabled = parts.draft.disabled = true;
    try {
      const made = await change("POST", "/api/referrals", data);
      const to = made.to?.user ?? made.to?.unit ?? made.to?.org ?? "";
      show(status, t(asDraft ? "referrals.send.saved_draft" : "referrals.send.sent", { to }));
      parts.form.hidden = true;
      open.hidden = false;
      await showCaseReferrals(item, list);
    } catch (failure) {
      show(parts.error, failure.message);
    } finally {
      parts.send.disabled = parts.draft.disabled = false;
    }
  };
  parts.form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit(false);
  });
  parts.draft.addEventListener("click", () => submit(true));
  onReferral(() => showCaseReferrals(item, list));
  return showCaseReferrals(item, list);
}
