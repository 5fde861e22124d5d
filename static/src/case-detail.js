// One case: who it belongs to, its images (into the viewer), and who it is shared with.
import { getJson, send } from "./api.js";
import { build, cell, element, sayWhenMissing, show, table } from "./dom.js";
import { accessBadge, ownerBlock, patientBlock, purposeName, statusBadge } from "./case-format.js";
import { confirmAction } from "./confirm.js";
import { showReferralSending } from "./referral-send.js";
import { CARE_ROLES, hasRole } from "./nav.js";
import { t } from "./i18n.js";
import { fromSwedish, swedish, swedishDateIn, utc } from "./time.js";

const LONGEST_SHARE_DAYS = 365;
/** How long a share lasts unless the user picks another day, by purpose. */
const DEFAULT_SHARE_DAYS = { second_opinion: 30, care: 30, mdk: 14, teaching: 180 };
const SEARCH_FROM = 3;

const page = {
  section: document.querySelector("#case-detail"),
  title: document.querySelector("#case-title"),
  facts: document.querySelector("#case-facts"),
  images: document.querySelector("#case-images"),
  sharing: document.querySelector("#sharing"),
  shares: document.querySelector("#shares"),
  status: document.querySelector("#share-status"),
  form: document.querySelector("#share-form"),
  refused: document.querySelector("#sharing-refused"),
  banner: document.querySelector("#error-banner"),
  frameFacts: document.querySelector("#frame-facts"),
  frameEdit: document.querySelector("#frame-edit"),
  frameForm: document.querySelector("#frame-form"),
  frameStatus: document.querySelector("#frame-status"),
  addImages: document.querySelector("#add-images"),
  loose: document.querySelector("#loose-images"),
};

function fact(label, value) {
  const dd = element("dd");
  dd.append(value);
  return [element("dt", null, label), dd];
}

function created(item) {
  const span = element("span", null, swedish(item.created));
  span.title = utc(item.created);
  return span;
}

function showFacts(item) {
  page.title.textContent = item.title;
  document.title = `${item.title} · samsyn`;
  page.facts.replaceChildren(
    ...fact(t("cases.fact.patient"), patientBlock(item.patient)),
    ...fact(t("cases.fact.owner"), ownerBlock(item.org, item.unit)),
    ...fact(t("cases.fact.purpose"), purposeName(item.purpose)),
    ...fact(t("cases.fact.access"), accessBadge(item.access)),
    ...fact(t("cases.fact.created"), created(item)),
  );
}

/** Roles that may open a case (GET /api/cases/<id>); an administrator only lists and shares. */
const VIEWING_ROLES = [...CARE_ROLES, "teacher", "student", "patient"];

/** The case as GET /api/cases/<id> gives it; for an administrator, from the list (asking to
 * view would be refused and logged as a refused access, an alert for the log reviewer). */
async function loadCase(id, user) {
  if (hasRole(user, ...VIEWING_ROLES)) {
    return { item: await getJson(`/api/cases/${encodeURIComponent(id)}`), limited: false };
  }
  const listed = (await getJson("/api/cases")).find((item) => item.id === id);
  if (!listed) throw Object.assign(new Error(t("cases.detail.not_listed")), { status: 404 });
  return { item: listed, limited: true };
}

/** Whether the policy lets this user manage the case's shares: the owning organisation's care
 * staff and administrators (teachers for teaching cases). Asking otherwise would only add a
 * refused access to the log; the server decides either way. */
function mayShare(user, item) {
  const sharing = ["admin", ...CARE_ROLES, ...(item.purpose === "teaching" ? ["teacher"] : [])];
  return (user.roles ?? []).some((role) => role.org_id === item.org_id && sharing.includes(role.role));
}

/** The owning organisation's care staff (teachers on teaching cases) change the case itself;
 * the server decides either way, this only spares others a refused request. */
function mayEdit(user, item) {
  const editing = [...CARE_ROLES, ...(item.purpose === "teaching" ? ["teacher"] : [])];
  return (user.roles ?? []).some((role) => role.org_id === item.org_id && editing.includes(role.role));
}

/** A standing red warning: the file names another patient than the case's. */
function identityWarning(image) {
  if (!image?.identity_warning) return null;
  const box = element("p", "identity-warning");
  box.dataset.testid = "image-identity-warning";
  box.setAttribute("role", "alert");
  box.append(element("strong", null, `${t("cases.images.warning")}: `), String(image.identity_warning));
  return box;
}

function kindName(image) {
  return image?.kind === "series" ? t("cases.images.series") : t("cases.images.slide");
}

function imageCard(id, image, limited) {
  const href = `/viewer/${encodeURIComponent(id)}`;
  const card = build("li", { className: "image-card compact", data: { testid: "case-image", imageId: id } });
  const name = image?.name ?? id;
  const picture = build("img", {
    src: `/api/images/${encodeURIComponent(id)}/associated/thumbnail.jpg`,
    alt: t("cases.images.alt", { name }),
    loading: "lazy",
  });
  const thumbnail = build(limited ? "div" : "a", limited ? { className: "thumbnail" } : { className: "thumbnail", href, tabIndex: -1 }, picture);
  sayWhenMissing(picture, t("images.no_overview"));
  const title = element("h3", "image-name");
  title.append(limited ? name : build("a", { href, textContent: name }));
  const modality = image?.modality ? ` · ${image.modality}` : "";
  const kind = element("span", "kind", `${kindName(image)}${modality}`);
  card.append(thumbnail, kind, title);
  const warning = identityWarning(image);
  if (warning) {
    card.classList.add("has-warning");
    card.append(warning);
  }
  if (!limited) card.append(build("a", { href, className: "open-link", textContent: t("cases.images.open") }));
  return card;
}

function removeButton(item, id, name, me) {
  const button = build("button", { type: "button", className: "danger-outline small-button", textContent: t("cases.images.remove") });
  button.dataset.testid = "remove-image";
  button.addEventListener("click", async () => {
    const yes = await confirmAction({
      title: t("cases.images.remove_title", { name }),
      message: t("cases.images.remove_message"),
      confirm: t("cases.images.remove"),
    });
    if (!yes) return;
    try {
      const changed = await send("DELETE", `/api/cases/${encodeURIComponent(item.id)}/images/${encodeURIComponent(id)}`, undefined, me.csrf_token);
      await showImages(changed, false, me);
    } catch (failure) {
      show(page.banner, failure.message);
    }
  });
  return button;
}

/** What GET /api/images/<id> said of the case's images, kept for the referral form. */
const imageFacts = new Map();

async function showImages(item, limited, me) {
  const editable = !limited && mayEdit(me.user, item);
  if (editable) await showLooseImages(item, me);
  if (item.images.length === 0) {
    page.images.replaceChildren(element("p", "muted", t("cases.images.none")));
    return;
  }
  if (limited) {
    page.images.replaceChildren(element("p", "note", t("cases.images.admin", { n: item.images.length })));
    return;
  }
  const answers = await Promise.allSettled(item.images.map((id) => getJson(`/api/images/${encodeURIComponent(id)}`)));
  answers.forEach((answer, i) => { if (answer.value) imageFacts.set(item.images[i], answer.value); }); // for the referral form
  const grid = element("ul", "image-grid compact-grid");
  grid.append(...item.images.map((id, i) => {
    const card = imageCard(id, answers[i].value, limited);
    if (editable) card.append(removeButton(item, id, answers[i].value?.name ?? id, me));
    return card;
  }));
  page.images.replaceChildren(grid);
}

/** The organisation's images outside any case, to tick and add. */
async function showLooseImages(item, me) {
  let loose;
  try {
    loose = await getJson(`/api/cases/${encodeURIComponent(item.id)}/loose-images`);
  } catch {
    page.addImages.hidden = true;
    return;
  }
  // Nothing to add: no form at all, rather than an empty one.
  page.addImages.hidden = loose.length === 0;
  if (loose.length === 0) return;
  page.loose.replaceChildren(...loose.map((image) => {
    const box = build("input", { type: "checkbox", value: image.id, name: "image" });
    const kind = kindName(image);
    return build("label", { className: "check loose-image", data: { testid: "loose-image", imageId: image.id } },
      box, ` ${image.name} `, element("span", "muted small", kind));
  }));
  page.addImages.onsubmit = async (event) => {
    event.preventDefault();
    const error = page.addImages.querySelector(".form-error");
    const images = [...page.loose.querySelectorAll("input:checked")].map((box) => box.value);
    try {
      const changed = await send("POST", `/api/cases/${encodeURIComponent(item.id)}/images`, { images }, me.csrf_token);
      show(error, "");
      await showImages(changed, false, me);
    } catch (failure) {
      show(error, failure.message);
    }
  };
}

/* The clinical frame: question, history, status, sender */

function frameText(value) {
  return value ? element("span", "frame-text", value) : element("span", "muted", t("cases.frame.empty"));
}

function renderFrame(item) {
  const question = frameText(item.question);
  question.dataset.testid = "case-question";
  const history = frameText(item.history);
  history.dataset.testid = "case-history";
  const sender = frameText(item.sender);
  sender.dataset.testid = "case-sender";
  const changed = element("span", null, swedish(item.updated ?? item.created));
  page.frameFacts.replaceChildren(
    ...fact(t("cases.frame.question"), question),
    ...fact(t("cases.frame.history"), history),
    ...fact(t("cases.frame.status"), statusBadge(item.status)),
    ...fact(t("cases.frame.sender"), sender),
    ...fact(t("cases.frame.updated"), changed),
  );
}

function setUpFrameEditing(item, me) {
  const form = page.frameForm;
  const error = form.querySelector(".form-error");
  page.frameEdit.hidden = false;
  page.frameEdit.addEventListener("click", () => {
    form.title.value = item.title;
    form.question.value = item.question ?? "";
    form.history.value = item.history ?? "";
    form.status.value = item.status ?? "open";
    form.sender.value = item.sender ?? "";
    show(error, "");
    form.hidden = false;
    page.frameEdit.hidden = true;
    form.question.focus();
  });
  form.querySelector(".cancel").addEventListener("click", () => {
    form.hidden = true;
    page.frameEdit.hidden = false;
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = (value) => (value.trim() ? value : null);
    const body = { title: form.title.value, question: text(form.question.value), history: text(form.history.value),
      status: form.status.value, sender: text(form.sender.value) };
    try {
      item = await send("PATCH", `/api/cases/${encodeURIComponent(item.id)}`, body, me.csrf_token);
      showFacts(item);
      renderFrame(item);
      form.hidden = true;
      page.frameEdit.hidden = false;
      show(page.frameStatus, t("cases.frame.saved"));
    } catch (failure) {
      show(error, failure.message);
    }
  });
}

/* Sharing */

function recipient(share) {
  if (share.org) return [t("cases.share.kind.org"), share.org];
  if (share.unit) return [t("cases.share.kind.unit"), share.unit];
  return [t("cases.share.kind.user"), share.user];
}

function state(share) {
  if (share.revoked) {
    return { text: t("cases.share.revoked", { date: swedish(share.revoked) }), kind: "revoked", title: utc(share.revoked) };
  }
  if (!share.active) return { text: t("cases.share.expired"), kind: "expired" };
  return { text: t("cases.share.active"), kind: "active" };
}

function timeCell(iso) {
  return cell(swedish(iso), "nowrap", utc(iso));
}

function shareRow(share, onRevoke) {
  const [kind, name] = recipient(share);
  const status = state(share);
  const who = build("div", { className: "stack" }, element("span", null, name), element("span", "muted small", kind));
  const badge = element("span", `share-state state-${status.kind}`, status.text);
  if (status.title) badge.title = status.title;
  const actions = element("td", "actions");
  if (share.active) {
    const revoke = build("button", { type: "button", className: "danger-outline", textContent: t("cases.share.revoke") });
    revoke.dataset.testid = "revoke-share";
    revoke.addEventListener("click", () => onRevoke(share, name));
    actions.append(revoke);
  }
  const tr = build("tr", { data: { testid: "share-row", shareId: share.id, active: String(share.active) } });
  if (!share.active) tr.classList.add("row-inactive");
  tr.append(cell(who), cell(purposeName(share.purpose)), timeCell(share.until), timeCell(share.created), cell(badge), actions);
  return tr;
}

function orderShares(shares) {
  return [...shares].sort((a, b) => Number(b.active) - Number(a.active) || (b.created ?? "").localeCompare(a.created ?? ""));
}

function renderShares(shares, onRevoke) {
  if (shares.length === 0) {
    page.shares.replaceChildren(element("p", "muted", t("cases.share.none")));
    return;
  }
  const labels = [t("cases.share.column.recipient"), t("cases.share.column.purpose"), t("cases.share.column.until"),
    t("cases.share.column.created"), t("cases.share.column.status"), ""];
  page.shares.replaceChildren(table(labels, orderShares(shares).map((s) => shareRow(s, onRevoke)), "data-table shares-table"));
}

function refusal(item, error) {
  const who = item.org ? t("cases.share.refused_org", { org: item.org }) : t("cases.share.refused");
  return error ? `${who} ${t("cases.share.server_said", { message: error.message })}` : who;
}

function refuseSharing(item, error) {
  page.refused.textContent = refusal(item, error);
  page.refused.hidden = false;
}

/** One suggestion of the directory: kind (org, unit, user), the name the share sends, and
 * what the list shows. */
function suggestions(found) {
  return [
    ...found.organisations.map((org) => ({ kind: "org", name: org.name, label: org.name, detail: t("cases.share.kind.org") })),
    ...found.units.map((unit) => ({ kind: "unit", name: unit.name, label: unit.name, detail: `${t("cases.share.kind.unit")} · ${unit.org}` })),
    ...found.people.map((person) => ({
      kind: "user", name: person.username, label: person.name,
      detail: [t("cases.share.kind.user"), person.unit, person.org].filter(Boolean).join(" · "),
    })),
  ];
}

/** Search as you type in the directory; picking a suggestion sets the kind and the name. */
function setUpRecipientPicker(form) {
  const list = form.querySelector("#recipient-options");
  let asked = 0;
  const close = () => {
    list.hidden = true;
    form.name.setAttribute("aria-expanded", "false");
  };
  const choose = (entry) => {
    form.kind.value = entry.kind;
    form.name.value = entry.name;
    close();
  };
  form.name.addEventListener("input", async () => {
    const query = form.name.value.trim();
    if (query.length < SEARCH_FROM) return close();
    const mine = ++asked;
    let found;
    try {
      found = suggestions(await getJson(`/api/directory?q=${encodeURIComponent(query)}`));
    } catch {
      return close();
    }
    if (mine !== asked) return;
    list.replaceChildren(...(found.length ? found.map((entry) => {
      const option = build("li", { className: "recipient-option", data: { testid: "recipient-option", kind: entry.kind } },
        element("span", "recipient-name", entry.label), element("span", "muted small", entry.detail));
      option.setAttribute("role", "option");
      option.addEventListener("mousedown", (event) => { event.preventDefault(); choose(entry); });
      return option;
    }) : [element("li", "muted small", t("cases.share.no_match"))]));
    list.hidden = false;
    form.name.setAttribute("aria-expanded", "true");
  });
  form.name.addEventListener("blur", close);
  form.name.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });
}

function setUpForm(item, me, reload) {
  const form = page.form;
  const error = form.querySelector(".form-error");
  const protectedBox = form.querySelector("[data-testid=share-protected]");
  protectedBox.hidden = !item.patient?.protected_identity;
  form.until.min = swedishDateIn(0);
  form.until.max = swedishDateIn(LONGEST_SHARE_DAYS);
  const byPurpose = () => { form.until.value = swedishDateIn(DEFAULT_SHARE_DAYS[form.purpose.value] ?? 30); };
  form.purpose.addEventListener("change", byPurpose);
  byPurpose();
  setUpRecipientPicker(form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    show(error, "");
    const name = form.name.value.trim();
    const until = fromSwedish(form.until.value, true);
    if (!name) return show(error, t("cases.share.need_name"));
    if (!until) return show(error, t("cases.share.need_until"));
    const body = { [form.kind.value]: name, until, purpose: form.purpose.value };
    if (item.patient?.protected_identity) body.confirm_protected = form.confirm_protected.checked;
    const submit = form.querySelector("[type=submit]");
    submit.disabled = true;
    try {
      const share = await send("POST", `/api/cases/${encodeURIComponent(item.id)}/shares`, body, me.csrf_token);
      form.name.value = "";
      form.confirm_protected.checked = false;
      show(page.status, t("cases.share.done", { name, date: swedish(share.until) }));
      await reload();
    } catch (failure) {
      show(error, failure.message);
    } finally {
      submit.disabled = false;
    }
  });
}

async function loadShares(item, me) {
  const url = `/api/cases/${encodeURIComponent(item.id)}/shares`;
  const onRevoke = async (share, name) => {
    const yes = await confirmAction({
      title: t("cases.share.revoke_title", { name }),
      message: t("cases.share.revoke_message"),
      confirm: t("cases.share.revoke_confirm"),
    });
    if (!yes) return;
    try {
      await send("DELETE", `${url}/${encodeURIComponent(share.id)}`, undefined, me.csrf_token);
      show(page.status, t("cases.share.revoke_done", { name }));
    } catch (failure) {
      show(page.status, t("cases.share.revoke_failed", { message: failure.message }));
    }
    await reload();
  };
  const reload = async () => renderShares(await getJson(url), onRevoke);
  try {
    await reload();
  } catch (error) {
    return refuseSharing(item, error);
  }
  page.form.hidden = false;
  setUpForm(item, me, reload);
}

function showFailure(error) {
  const what = {
    403: () => t("cases.detail.forbidden"),
    404: () => t("cases.detail.not_found"),
  }[error.status]?.() ?? t("cases.detail.failed");
  page.title.textContent = what;
  show(page.banner, `${what}: ${error.message}`);
  page.section.querySelectorAll(".panel").forEach((panel) => { panel.hidden = true; });
}

export async function showCaseDetail(id, me) {
  page.section.hidden = false;
  let loaded;
  try {
    loaded = await loadCase(id, me.user);
  } catch (error) {
    return showFailure(error);
  }
  showFacts(loaded.item);
  renderFrame(loaded.item);
  if (!loaded.limited && mayEdit(me.user, loaded.item)) setUpFrameEditing(loaded.item, me);
  const tasks = [showImages(loaded.item, loaded.limited, me)];
  if (mayShare(me.user, loaded.item)) {
    page.sharing.hidden = false;
    tasks.push(loadShares(loaded.item, me));
  } else if (!hasRole(me.user, "patient")) {
    page.sharing.hidden = false;
    refuseSharing(loaded.item, null);
  }
  await Promise.all(tasks);
  if (!loaded.limited && mayRefer(me.user, loaded.item)) await showReferralSending(loaded.item, imageFacts, page.sharing);
}

/** A referral is sent from a care role of the case's own organisation (the server's
 * requester_role); teaching cases are not referred. */
function mayRefer(user, item) {
  if (item.purpose === "teaching") return false;
  return (user.roles ?? []).some((role) => role.org_id === item.org_id && CARE_ROLES.includes(role.role));
}
