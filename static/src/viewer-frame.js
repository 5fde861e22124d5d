// The frame around both viewers: whose image this is (the case's patient, masked for a
// protected identity, absent in teaching), the case and the way back to it, the case's other
// images (previous, next, and for radiology a strip of its series), a standing warning when
// the image's own header names another patient, and the information panel on small screens.
import { getJson } from "./api.js";
import { build, element } from "./dom.js";
import { t } from "./i18n.js";

/** The case holding `imageId` (from GET /api/cases) and its images described as the image
 * list describes them: {case, images: [{id, name, kind}], error}. */
export async function caseContext(imageId) {
  try {
    const [cases, images] = await Promise.all([getJson("/api/cases"), getJson("/api/images").catch(() => [])]);
    const found = cases.find((candidate) => (candidate.images ?? []).includes(imageId)) ?? null;
    const known = new Map(images.map((image) => [image.id, image]));
    const members = found ? found.images.map((id) => known.get(id) ?? { id, name: id, kind: null }) : [];
    return { case: found, images: members, error: null };
  } catch (error) {
    return { case: null, images: [], error: error.message };
  }
}

export function isTeaching(theCase) {
  return Boolean(theCase && (theCase.purpose === "teaching" || theCase.access?.purpose === "teaching" || !theCase.patient));
}

function digits(value) {
  return String(value ?? "").replace(/\D/g, "");
}

function words(value) {
  return new Set(String(value ?? "").toLowerCase().normalize("NFKD").replace(/[\u0300-\u036f]/g, "")
    .split(/[^a-z]+/).filter((word) => word.length > 1));
}

const MASKED = "skyddad identitet";

/** Does a series header name someone other than the case's patient? Loosely: an identifier
 * that is not the patient's number (compared on its last ten digits), or a name sharing no
 * word with the patient's. Masked names and absent fields say nothing. */
export function headerNamesAnother(header, patient) {
  if (!header || !patient) return false;
  const wanted = digits(patient.personnummer).slice(-10);
  const ids = [header.personnummer, header.patient_id].filter((id) => id && String(id).trim());
  const idDiffers = (id) => digits(id).length < 10 || digits(id).slice(-10) !== wanted;
  if (wanted && ids.some(idDiffers)) return true;
  const name = header.patient_name;
  if (!name || !patient.name || [name, patient.name].some((n) => n.toLowerCase().includes(MASKED))) return false;
  const mine = words(patient.name);
  return ![...words(name)].some((word) => mine.has(word));
}

/** "Family, Given · ID" of a header, for the warning's second line. */
function headerIdentity(header, personName) {
  return [personName(header?.patient_name), header?.personnummer ?? header?.patient_id].filter(Boolean).join(" · ");
}

/** The identity problem of this image in this case, or null: {text, detail}. */
export function identityProblem(image, context, personName = (n) => n) {
  const patient = isTeaching(context.case) ? null : context.case?.patient;
  const server = typeof image.identity_warning === "string" && image.identity_warning.trim() ? image.identity_warning.trim() : null;
  const differs = headerNamesAnother(image.series, patient);
  if (!server && !differs) return null;
  const who = differs ? headerIdentity(image.series, personName) : "";
  const detail = [server, who && t("viewer.identity.header", { who })].filter(Boolean).join(" — ");
  return { text: t("viewer.identity.mismatch"), detail };
}

function patientPart(context) {
  const theCase = context.case;
  if (!theCase) {
    const text = context.error ? t("viewer.patient.unavailable", { reason: context.error }) : t("viewer.patient.none");
    return build("span", { className: "patient-none", textContent: text, data: { testid: "case-patient-none" } });
  }
  if (isTeaching(theCase)) {
    return build("span", { className: "patient-teaching", textContent: t("viewer.patient.teaching"), data: { testid: "case-teaching" } });
  }
  const { patient } = theCase;
  const name = build("span", { className: "patient-name", data: { testid: "case-patient-name" } });
  if (patient.protected_identity) {
    name.textContent = t("viewer.patient.protected");
    name.classList.add("protected");
    name.title = t("viewer.patient.protectedTitle");
  } else {
    name.textContent = patient.name;
  }
  const number = build("span", { className: "patient-number", textContent: patient.personnummer, data: { testid: "case-patient-number" } });
  return build("span", { className: "patient", data: { testid: "case-patient" } },
    element("span", "bar-label", t("viewer.patient.label")), name, number);
}

function casePart(theCase) {
  if (!theCase) return null;
  const anchor = build("a", {
    className: "case-link", href: `/cases/${encodeURIComponent(theCase.id)}`,
    title: t("viewer.case.back", { title: theCase.title }), data: { testid: "case-link" },
  }, element("span", "case-back", "←"), element("span", "case-title", theCase.title));
  return build("span", { className: "case" }, element("span", "bar-label", t("viewer.case.label")), anchor);
}

function goTo(image) {
  if (image) location.assign(`/viewer/${encodeURIComponent(image.id)}`);
}

function navigationPart(context, imageId) {
  const { images } = context;
  const index = images.findIndex((image) => image.id === imageId);
  if (index < 0 || images.length < 2) return { node: null, previous: null, next: null };
  const previous = images[index - 1] ?? null;
  const next = images[index + 1] ?? null;
  const arrow = (text, target, key, testid) => {
    const node = build("button", { type: "button", className: "case-step", textContent: text, disabled: !target, data: { testid } });
    node.title = target ? `${t(key)}: ${target.name}` : t(key);
    node.setAttribute("aria-label", t(key));
    node.addEventListener("click", () => goTo(target));
    return node;
  };
  const values = { index: index + 1, count: images.length };
  const position = build("span", { className: "case-position", textContent: t("viewer.case.position", values),
    title: t("viewer.case.positionTitle", values), data: { testid: "case-position" } });
  const node = build("span", { className: "case-nav" },
    arrow("‹", previous, "viewer.case.previous", "case-previous"), position, arrow("›", next, "viewer.case.next", "case-next"));
  return { node, previous, next };
}

function infoToggle() {
  const workspace = document.querySelector(".workspace");
  const panel = document.querySelector(".info-panel");
  if (!workspace || !panel || panel.hidden) return null;
  const node = build("button", { type: "button", className: "info-toggle", textContent: t("viewer.info.toggle"),
    title: t("viewer.info.toggleTitle"), data: { testid: "info-toggle" } });
  const showState = () => node.setAttribute("aria-expanded", String(getComputedStyle(panel).display !== "none"));
  node.setAttribute("aria-controls", "info-panel");
  node.addEventListener("click", () => {
    workspace.classList.toggle("info-toggled");
    showState();
    node.blur();
    window.dispatchEvent(new Event("resize"));
  });
  window.matchMedia("(max-width: 800px)").addEventListener("change", showState);
  requestAnimationFrame(showState);
  return node;
}

function bindCaseKeys(navigation, pageKeys) {
  const keys = { "[": navigation.previous, "]": navigation.next };
  if (pageKeys) Object.assign(keys, { PageUp: navigation.previous, PageDown: navigation.next });
  window.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || !(event.key in keys)) return;
    if (event.target.closest?.("input:not([type=range]), textarea, select, [contenteditable]")) return;
    if (document.querySelector("dialog[open]")) return;
    event.preventDefault();
    event.stopPropagation();
    goTo(keys[event.key]);
  }, true);
}

function showWarning(slot, problem) {
  if (!slot || !problem) return;
  slot.replaceChildren(
    element("span", "identity-warning-text", `⚠ ${problem.text}`),
    problem.detail ? element("span", "identity-warning-detail", problem.detail) : null,
  );
  slot.title = t("viewer.identity.title");
  slot.hidden = false;
}

/** Fills the patient bar (and the identity warning under it) for `image` in `context`.
 * `pageKeys`: PageUp/PageDown also move through the case (the slide viewer; the series
 * viewer uses them for its frames). */
export function showFrame(image, context, { pageKeys = false, personName } = {}) {
  const bar = document.querySelector("#patient-bar");
  const navigation = navigationPart(context, image?.id);
  bar.replaceChildren(...[patientPart(context), casePart(context.case), navigation.node, infoToggle()].filter(Boolean));
  bar.hidden = false;
  if (image) showWarning(document.querySelector("#identity-warning"), identityProblem(image, context, personName));
  if (navigation.node) bindCaseKeys(navigation, pageKeys);
  return navigation;
}

/** The case's series as thumbnails to switch between (radiology); nothing for a single one. */
export function seriesStrip(imageId, context) {
  const series = context.images.filter((image) => image.kind === "series");
  if (series.length < 2) return null;
  const strip = build("nav", { className: "series-strip", data: { testid: "series-strip" } });
  strip.setAttribute("aria-label", t("viewer.case.series"));
  for (const image of series) {
    const picture = build("img", { src: `/api/images/${encodeURIComponent(image.id)}/associated/thumbnail.jpg`, alt: "", loading: "lazy" });
    const item = build("a", { className: "series-thumb", href: `/viewer/${encodeURIComponent(image.id)}`, title: image.name,
      data: { testid: "series-thumb", image: image.id } }, picture,
      build("span", { className: "series-thumb-text" },
        element("span", "series-thumb-name", image.name),
        element("span", "series-thumb-frames", t("viewer.case.seriesFrames", { count: image.frames ?? "?" }))));
    if (image.id === imageId) item.setAttribute("aria-current", "page");
    strip.append(item);
  }
  return strip;
}
