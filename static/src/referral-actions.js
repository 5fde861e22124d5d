// The steps a referral's reader may take, by its state and their side: the receiving side
// accepts, declines (with a reason), assigns a reviewer and closes; the requesting side sends
// a draft, withdraws before acceptance and closes. The server decides every step; this only
// offers the buttons that fit.
import { change } from "./api.js";
import { build, element, show } from "./dom.js";
import { confirmAction } from "./confirm.js";
import { t } from "./i18n.js";
import { directoryPicker } from "./referral-picker.js";

const OFFERED = {
  receiving: { sent: ["accept", "decline", "assign"], accepted: ["assign", "close"], in_review: ["assign", "close"], answered: ["close"] },
  requesting: { draft: ["send", "withdraw"], sent: ["withdraw"], accepted: ["close"], in_review: ["close"], answered: ["close"] },
};

const box = document.querySelector("#referral-actions");
const status = document.querySelector("#action-status");
let drawnFor = "";

/** Redrawn only when the state, side or assignee changed, so that a reason being typed is kept. */
export function renderActions(referral, side, me, hooks) {
  const key = [referral.id, referral.status, side, referral.assignee ?? ""].join("|");
  if (key === drawnFor) return;
  drawnFor = key;
  const steps = OFFERED[side]?.[referral.status] ?? [];
  const error = element("p", "form-error");
  error.dataset.testid = "action-error";
  error.setAttribute("role", "alert");
  error.hidden = true;
  const run = stepRunner(referral, hooks, error);
  const parts = steps.map((step) => BUILDERS[step](referral, me, run, error));
  if (parts.length === 0) parts.push(element("p", "muted", t(`referrals.actions.none.${side}`)));
  box.replaceChildren(...parts, error);
}

/** POST /api/referrals/<id>/<step>: the referral as it stands after it, drawn at once. */
function stepRunner(referral, hooks, error) {
  return async (step, body, button) => {
    show(error, "");
    if (button) button.disabled = true;
    try {
      const next = await change("POST", `/api/referrals/${encodeURIComponent(referral.id)}/${step}`, body);
      show(status, t(`referrals.done.${step}`));
      hooks.changed(next);
    } catch (failure) {
      show(error, failure.message);
      if (failure.status === 409) hooks.reload();
    } finally {
      if (button) button.disabled = false;
    }
  };
}

function button(text, testid, className = "") {
  const node = build("button", { type: "button", className, textContent: text });
  node.dataset.testid = testid;
  return node;
}

function acceptPart(_referral, _me, run) {
  const node = button(t("referrals.action.accept"), "accept", "primary");
  node.addEventListener("click", () => run("accept", undefined, node));
  return build("div", { className: "action" }, node, element("p", "form-help", t("referrals.action.accept_help")));
}

/** Declining needs a reason, written here before it is sent. */
function declinePart(_referral, _me, run, error) {
  const open = button(t("referrals.action.decline"), "decline", "danger-outline");
  const reason = build("textarea", { name: "reason", rows: 3, maxLength: 2000 });
  reason.dataset.testid = "decline-reason";
  const confirm = button(t("referrals.action.decline_confirm"), "decline-confirm", "danger-button");
  const cancel = button(t("referrals.dialog.cancel"), "decline-cancel", "cancel");
  const form = build("div", { className: "decline-form" },
    build("label", { className: "field" }, element("span", null, t("referrals.action.decline_reason")), reason),
    build("div", { className: "form-actions" }, confirm, cancel));
  form.hidden = true;
  open.addEventListener("click", () => {
    form.hidden = false;
    open.hidden = true;
    reason.focus();
  });
  cancel.addEventListener("click", () => {
    form.hidden = true;
    open.hidden = false;
  });
  confirm.addEventListener("click", () => {
    if (!reason.value.trim()) {
      show(error, t("referrals.action.decline_need_reason"));
      return reason.focus();
    }
    run("decline", { reason: reason.value }, confirm);
  });
  return build("div", { className: "action" }, open, form);
}

/** A reviewer of the receiving unit by username, picked from the directory or oneself. */
function assignPart(referral, me, run, error) {
  const input = build("input", { type: "text", name: "assignee", autocomplete: "off", placeholder: t("referrals.action.assign_placeholder") });
  input.dataset.testid = "assign-user";
  const list = build("ul", { className: "recipient-options" });
  list.hidden = true;
  let chosen = null;
  directoryPicker(input, list, { kinds: ["user"], onChoose: (entry) => { chosen = entry; } });
  const assign = button(t("referrals.action.assign"), "assign");
  const self = button(t("referrals.action.assign_me"), "assign-me", "link-button");
  assign.addEventListener("click", () => {
    const user = chosen?.value ?? input.value.trim();
    if (!user) return show(error, t("referrals.action.assign_need_user"));
    run("assign", { user }, assign);
  });
  self.addEventListener("click", () => run("assign", { user: me.user.username }, self));
  const current = referral.assignee ? t("referrals.action.assigned_to", { name: referral.assignee }) : t("referrals.assignee.none");
  return build("div", { className: "action assign-form" },
    build("label", { className: "field" }, element("span", null, t("referrals.action.assign_label")), input),
    list,
    build("div", { className: "form-actions" }, assign, self),
    element("p", "muted small", current));
}

function confirmed(step, danger) {
  return (_referral, _me, run) => {
    const node = button(t(`referrals.action.${step}`), step, danger ? "danger-outline" : "");
    node.addEventListener("click", async () => {
      const yes = await confirmAction({
        title: t(`referrals.confirm.${step}.title`),
        message: t(`referrals.confirm.${step}.message`),
        confirm: t(`referrals.action.${step}`),
      });
      if (yes) run(step, undefined, node);
    });
    return build("div", { className: "action" }, node);
  };
}

function sendPart(_referral, _me, run) {
  const node = button(t("referrals.action.send"), "send", "primary");
  node.addEventListener("click", () => run("send", undefined, node));
  return build("div", { className: "action" }, node);
}

const BUILDERS = {
  accept: acceptPart,
  decline: declinePart,
  assign: assignPart,
  send: sendPart,
  withdraw: confirmed("withdraw", true),
  close: confirmed("close", true),
};
