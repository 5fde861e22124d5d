// One case: who it belongs to, its images (into the viewer), and who it is shared with.
import { getJson, send } from "./api.js";
import { build, cell, element, show, table } from "./dom.js";
import { accessBadge, ownerBlock, patientBlock, purposeName } from "./case-format.js";
import { confirmAction } from "./confirm.js";
import { CARE_ROLES, hasRole } from "./nav.js";
import { fromSwedish, swedish, swedishDateIn, utc } from "./time.js";

const LONGEST_SHARE_DAYS = 365;
const DEFAULT_SHARE_DAYS = 30;
const PLACEHOLDERS = {
  org: "e.g. Region Östergötland",
  unit: "e.g. Klinisk patologi Linköping",
  user: "e.g. olle.patolog",
};

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
    ...fact("Patient", patientBlock(item.patient)),
    ...fact("Owned by", ownerBlock(item.org, item.unit)),
    ...fact("Purpose", purposeName(item.purpose)),
    ...fact("Your access", accessBadge(item.access)),
    ...fact("Created", created(item)),
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
  if (!listed) throw Object.assign(new Error("no such resource, or you may not see it"), { status: 404 });
  return { item: listed, limited: true };
}

/** Whether the policy lets this user manage the case's shares: the owning organisation's care
 * staff and administrators (teachers for teaching cases). Asking otherwise would only add a
 * refused access to the log; the server decides either way. */
function mayShare(user, item) {
  const sharing = ["admin", ...CARE_ROLES, ...(item.purpose === "teaching" ? ["teacher"] : [])];
  return (user.roles ?? []).some((role) => role.org_id === item.org_id && sharing.includes(role.role));
}

function imageCard(id, image, limited) {
  const href = `/viewer/${encodeURIComponent(id)}`;
  const card = build("li", { className: "image-card compact", data: { testid: "case-image", imageId: id } });
  const name = image?.name ?? id;
  const picture = build("img", {
    src: `/api/images/${encodeURIComponent(id)}/associated/thumbnail.jpg`,
    alt: `Overview of ${name}`,
    loading: "lazy",
  });
  const thumbnail = build(limited ? "div" : "a", limited ? { className: "thumbnail" } : { className: "thumbnail", href, tabIndex: -1 }, picture);
  picture.addEventListener("error", () => thumbnail.classList.add("missing"));
  const title = element("h3", "image-name");
  title.append(limited ? name : build("a", { href, textContent: name }));
  const kind = element("span", "kind", image?.kind === "series" ? "Radiology series" : "Slide");
  card.append(thumbnail, kind, title);
  if (!limited) card.append(build("a", { href, className: "open-link", textContent: "Open in viewer" }));
  return card;
}

async function showImages(item, limited) {
  if (item.images.length === 0) {
    page.images.replaceChildren(element("p", "muted", "This case has no images yet."));
    return;
  }
  if (limited) {
    page.images.replaceChildren(element("p", "note",
      `${item.images.length === 1 ? "1 image" : `${item.images.length} images`}. ` +
      "Your role manages the case's sharing; it does not open images."));
    return;
  }
  const answers = await Promise.allSettled(item.images.map((id) => getJson(`/api/images/${encodeURIComponent(id)}`)));
  const grid = element("ul", "image-grid compact-grid");
  grid.append(...item.images.map((id, i) => imageCard(id, answers[i].value, limited)));
  page.images.replaceChildren(grid);
}

/* Sharing */

function recipient(share) {
  if (share.org) return ["Organisation", share.org];
  if (share.unit) return ["Unit", share.unit];
  return ["Person", share.user];
}

function state(share) {
  if (share.revoked) return { text: `Revoked ${swedish(share.revoked)}`, kind: "revoked", title: utc(share.revoked) };
  if (!share.active) return { text: "Expired", kind: "expired" };
  return { text: "Active", kind: "active" };
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
    const revoke = build("button", { type: "button", className: "danger-outline", textContent: "Revoke" });
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
    page.shares.replaceChildren(element("p", "muted", "Not shared: only the owning organisation sees this case."));
    return;
  }
  const labels = ["Shared with", "Purpose", "Until", "Shared on", "Status", ""];
  page.shares.replaceChildren(table(labels, orderShares(shares).map((s) => shareRow(s, onRevoke)), "data-table shares-table"));
}

function refusal(item, error) {
  const who = item.org ? `${item.org}'s` : "the owning organisation's";
  const why = error ? ` The server answered: ${error.message}.` : "";
  return `Only ${who} care staff and administrators can see and change who this case is shared with.${why}`;
}

function refuseSharing(item, error) {
  page.refused.textContent = refusal(item, error);
  page.refused.hidden = false;
}

function setUpForm(caseId, me, reload) {
  const form = page.form;
  const error = form.querySelector(".form-error");
  form.until.min = swedishDateIn(0);
  form.until.max = swedishDateIn(LONGEST_SHARE_DAYS);
  form.until.value = swedishDateIn(DEFAULT_SHARE_DAYS);
  const placeholder = () => { form.name.placeholder = PLACEHOLDERS[form.kind.value]; };
  form.kind.addEventListener("change", placeholder);
  placeholder();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    show(error, "");
    const name = form.name.value.trim();
    const until = fromSwedish(form.until.value, true);
    if (!name) return show(error, "Name the organisation, unit or person to share with.");
    if (!until) return show(error, "Choose the last day of the share.");
    const submit = form.querySelector("[type=submit]");
    submit.disabled = true;
    try {
      const share = await send("POST", `/api/cases/${encodeURIComponent(caseId)}/shares`,
        { [form.kind.value]: name, until, purpose: form.purpose.value }, me.csrf_token);
      form.name.value = "";
      show(page.status, `Shared with ${name} until ${swedish(share.until)}.`);
      await reload();
    } catch (failure) {
      show(error, `Not shared: ${failure.message}`);
    } finally {
      submit.disabled = false;
    }
  });
}

async function loadShares(item, me) {
  const url = `/api/cases/${encodeURIComponent(item.id)}/shares`;
  const onRevoke = async (share, name) => {
    const yes = await confirmAction({
      title: `Revoke the share with ${name}?`,
      message: "Their access ends at once, also for anyone looking at the images right now. The case stays as it is.",
      confirm: "Revoke share",
    });
    if (!yes) return;
    try {
      await send("DELETE", `${url}/${encodeURIComponent(share.id)}`, undefined, me.csrf_token);
      show(page.status, `The share with ${name} is revoked.`);
    } catch (failure) {
      show(page.status, `The share could not be revoked: ${failure.message}`);
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
  setUpForm(item.id, me, reload);
}

function showFailure(error) {
  const what = {
    403: "You may not open this case",
    404: "This case was not found, or it is not shared with you",
  }[error.status] ?? "The case could not be loaded";
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
  const tasks = [showImages(loaded.item, loaded.limited)];
  if (mayShare(me.user, loaded.item)) {
    page.sharing.hidden = false;
    tasks.push(loadShares(loaded.item, me));
  } else if (!hasRole(me.user, "patient")) {
    page.sharing.hidden = false;
    refuseSharing(loaded.item, null);
  }
  await Promise.all(tasks);
}
