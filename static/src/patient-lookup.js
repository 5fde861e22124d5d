// Looking a patient up by personnummer, and emergency access (nödåtkomst) when the care of
// a patient needs data the user has no relation to. A spärr is shown as exactly what the
// server says: that blocked information exists, nothing more. The words come from the
// catalogue (patient.*): the cases page loads it before it calls setupLookup.
import { getJson, send } from "./api.js";
import { build, element, link, show } from "./dom.js";
import { rememberGrant, showEmergencyBanner } from "./emergency.js";
import { t } from "./i18n.js";
import { normalize, problem } from "./personnummer.js";
import { swedish, utc } from "./time.js";

const MIN_REASON = 10;

const page = {
  panel: document.querySelector("#patient-lookup"),
  form: document.querySelector("#lookup-form"),
  result: document.querySelector("#lookup-result"),
  dialog: document.querySelector("#emergency-dialog"),
  emergencyForm: document.querySelector("#emergency-form"),
};

function paragraph(className, text) {
  return element("p", className, text);
}

function emergencyButton(onClick) {
  const button = build("button", { type: "button", className: "danger-outline", textContent: t("patient.lookup.emergency_open") });
  button.dataset.testid = "emergency-open";
  button.addEventListener("click", onClick);
  return button;
}

function caseLinks(cases) {
  if (cases.length === 0) return null;
  const list = element("ul", "case-links");
  list.append(...cases.map((item) => {
    const entry = element("li");
    entry.append(link(item.title, `/cases/${encodeURIComponent(item.id)}`));
    return entry;
  }));
  return list;
}

function identityLine(patient) {
  const line = element("p", "lookup-patient");
  line.append(element("span", "pnr", patient.personnummer), " ");
  const name = element("span", patient.protected_identity ? "patient-name protected" : "patient-name", patient.name);
  if (patient.protected_identity) name.title = t("patient.lookup.protected_title");
  line.append(name);
  return line;
}

/** What the server answered about the patient, in words, with emergency access where it may help. */
function describe(answer, number, context, openEmergency) {
  const nodes = [];
  let offerEmergency = true;
  if (answer.kind === "found" && answer.patient.personnummer) {
    nodes.push(identityLine(answer.patient));
    const cases = context.casesOf(answer.patient.id);
    nodes.push(paragraph("lookup-text", cases.length ? t("patient.lookup.through_cases") : t("patient.lookup.relation")));
    nodes.push(caseLinks(cases));
    offerEmergency = answer.patient.blocked_information;
    if (offerEmergency) {
      nodes.push(paragraph("blocked-note", t("patient.lookup.blocked_part")));
    }
  } else if (answer.kind === "found") {
    nodes.push(element("p", "lookup-patient pnr", number));
    const note = paragraph("blocked-note", t("patient.lookup.blocked"));
    note.dataset.testid = "blocked-information";
    nodes.push(note, paragraph("lookup-text muted", t("patient.lookup.nothing_more")));
  } else {
    nodes.push(element("p", "lookup-patient pnr", number));
    nodes.push(paragraph("lookup-text", answer.message));
  }
  if (offerEmergency) {
    const actions = element("div", "lookup-actions");
    actions.append(emergencyButton(openEmergency), element("span", "muted small", t("patient.lookup.emergency_hint")));
    nodes.push(actions);
  }
  return nodes.filter(Boolean);
}

async function lookUp(number) {
  try {
    return { kind: "found", patient: await getJson(`/api/patients/${encodeURIComponent(number)}`) };
  } catch (error) {
    if (error.status === 404) {
      return { kind: "unknown", message: t("patient.lookup.unknown") };
    }
    throw error;
  }
}

function grantMessage(grant, number) {
  const box = element("div", "grant-note");
  box.dataset.testid = "emergency-granted";
  const until = element("strong", null, swedish(grant.until));
  until.title = utc(grant.until);
  const line = element("p", null, `${t("patient.emergency.granted", { patient: number })} `);
  line.append(until, ".");
  box.append(line, element("p", "muted", t("patient.emergency.granted_note")));
  return box;
}

function askForReason(number, blocked) {
  const { dialog, emergencyForm: form } = page;
  const error = form.querySelector(".form-error");
  form.reset();
  show(error, "");
  dialog.querySelector("[data-field=patient]").textContent = number;
  dialog.querySelector("[data-field=blocked]").hidden = !blocked;
  dialog.showModal();
  form.reason.focus();
  return { dialog, form, error };
}

function reasonProblem(form) {
  if (form.reason.value.trim().length < MIN_REASON) {
    return t("patient.emergency.reason_short", { min: MIN_REASON });
  }
  if (!form.understood.checked) return t("patient.emergency.confirm_needed");
  return null;
}

function openEmergency(me, number, blocked, context) {
  const { dialog, form, error } = askForReason(number, blocked);
  const submit = form.querySelector("[type=submit]");
  // The button's own label (the page's, already translated) comes back after the request.
  const label = submit.textContent;
  const close = () => dialog.close();
  form.querySelector(".cancel").onclick = close;
  form.querySelector(".dialog-close").onclick = close;
  form.onsubmit = async (event) => {
    event.preventDefault();
    const wrong = reasonProblem(form);
    if (wrong) return show(error, wrong);
    show(error, "");
    submit.disabled = true;
    submit.textContent = t("patient.emergency.opening");
    try {
      const grant = await send("POST", `/api/patients/${encodeURIComponent(number)}/emergency-access`,
        { reason: form.reason.value.trim() }, me.csrf_token);
      rememberGrant(me.user.id, { id: grant.id, patient: number, until: grant.until });
      showEmergencyBanner(me.user.id);
      dialog.close();
      page.result.replaceChildren(grantMessage(grant, number));
      await context.refresh();
    } catch (failure) {
      show(error, t("patient.emergency.refused", { message: failure.message }));
    } finally {
      submit.disabled = false;
      submit.textContent = label;
    }
  };
}

export function setupLookup(me, context) {
  page.panel.hidden = false;
  page.form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const typed = page.form.pnr.value;
    const wrong = problem(typed);
    if (wrong) return page.result.replaceChildren(paragraph("form-error", wrong));
    const number = normalize(typed);
    page.result.replaceChildren(paragraph("muted", t("patient.lookup.looking")));
    try {
      const answer = await lookUp(number);
      const blocked = answer.kind === "found" && answer.patient.blocked_information === true;
      const shown = answer.patient?.personnummer ?? number;
      page.result.replaceChildren(...describe(answer, shown, context, () => openEmergency(me, shown, blocked, context)));
    } catch (failure) {
      page.result.replaceChildren(paragraph("form-error", t("patient.lookup.failed", { message: failure.message })));
    }
  });
}
