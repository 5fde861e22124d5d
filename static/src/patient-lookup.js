// Looking a patient up by personnummer, and emergency access (nödåtkomst) when the care of
// a patient needs data the user has no relation to. A spärr is shown as exactly what the
// server says: that blocked information exists, nothing more.
import { getJson, send } from "./api.js";
import { build, element, link, show } from "./dom.js";
import { rememberGrant, showEmergencyBanner } from "./emergency.js";
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
  const button = build("button", { type: "button", className: "danger-outline", textContent: "Emergency access…" });
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
  if (patient.protected_identity) name.title = "Protected identity: name and address are masked everywhere";
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
    nodes.push(paragraph("lookup-text", cases.length
      ? "You have access to this patient's data through:"
      : "You have a care relation to this patient."));
    nodes.push(caseLinks(cases));
    offerEmergency = answer.patient.blocked_information;
    if (offerEmergency) {
      nodes.push(paragraph("blocked-note", "Blocked information exists (spärr): part of this patient's data is not shown to you."));
    }
  } else if (answer.kind === "found") {
    nodes.push(element("p", "lookup-patient pnr", number));
    const note = paragraph("blocked-note", "Blocked information exists (spärr).");
    note.dataset.testid = "blocked-information";
    nodes.push(note, paragraph("lookup-text muted",
      "Nothing more can be shown. The patient's consent, or emergency access if the patient needs care now, is required."));
  } else {
    nodes.push(element("p", "lookup-patient pnr", number));
    nodes.push(paragraph("lookup-text", answer.message));
  }
  if (offerEmergency) {
    const actions = element("div", "lookup-actions");
    actions.append(emergencyButton(openEmergency), element("span", "muted small",
      "Only when the patient needs care now. Logged and reviewed."));
    nodes.push(actions);
  }
  return nodes.filter(Boolean);
}

async function lookUp(number) {
  try {
    return { kind: "found", patient: await getJson(`/api/patients/${encodeURIComponent(number)}`) };
  } catch (error) {
    if (error.status === 404) {
      return {
        kind: "unknown",
        message: "No patient with this number is available to you: there is none, or you have no care relation to them.",
      };
    }
    throw error;
  }
}

function grantMessage(grant, number) {
  const box = element("div", "grant-note");
  box.dataset.testid = "emergency-granted";
  const until = element("strong", null, swedish(grant.until));
  until.title = utc(grant.until);
  const line = element("p", null, `Emergency access to ${number} is open until `);
  line.append(until, ".");
  box.append(line, element("p", "muted", "It ends by itself then. It has been logged and flagged for review. " +
    "The patient's cases you may now open appear in the list below, marked Emergency access."));
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
    return `Write the reason in a sentence (at least ${MIN_REASON} characters): it is read by the log reviewer.`;
  }
  if (!form.understood.checked) return "Confirm that you understand this access is logged and reviewed.";
  return null;
}

function openEmergency(me, number, blocked, context) {
  const { dialog, form, error } = askForReason(number, blocked);
  const submit = form.querySelector("[type=submit]");
  const close = () => dialog.close();
  form.querySelector(".cancel").onclick = close;
  form.querySelector(".dialog-close").onclick = close;
  form.onsubmit = async (event) => {
    event.preventDefault();
    const wrong = reasonProblem(form);
    if (wrong) return show(error, wrong);
    show(error, "");
    submit.disabled = true;
    submit.textContent = "Opening emergency access…";
    try {
      const grant = await send("POST", `/api/patients/${encodeURIComponent(number)}/emergency-access`,
        { reason: form.reason.value.trim() }, me.csrf_token);
      rememberGrant(me.user.id, { id: grant.id, patient: number, until: grant.until });
      showEmergencyBanner(me.user.id);
      dialog.close();
      page.result.replaceChildren(grantMessage(grant, number));
      await context.refresh();
    } catch (failure) {
      show(error, `Emergency access was not granted: ${failure.message}`);
    } finally {
      submit.disabled = false;
      submit.textContent = "Open emergency access";
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
    page.result.replaceChildren(paragraph("muted", "Looking up…"));
    try {
      const answer = await lookUp(number);
      const blocked = answer.kind === "found" && answer.patient.blocked_information === true;
      const shown = answer.patient?.personnummer ?? number;
      page.result.replaceChildren(...describe(answer, shown, context, () => openEmergency(me, shown, blocked, context)));
    } catch (failure) {
      page.result.replaceChildren(paragraph("form-error", `The lookup failed: ${failure.message}`));
    }
  });
}
