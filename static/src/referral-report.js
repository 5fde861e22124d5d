// The answer (svar) to a referral. The receiving side writes it beside the images: findings,
// conclusion, SNOMED CT codes and references to annotations, saved as preliminary versions
// with If-Match (a stale save is a 409, shown with both texts at hand); signing makes it final
// and immutable (signer, time and content hash shown), corrections are signed addenda. The
// requesting side sees it once it is signed.
import { change, getJson } from "./api.js";
import { build, element, show } from "./dom.js";
import { confirmAction } from "./confirm.js";
import { t } from "./i18n.js";
import { timeText } from "./referral-format.js";

const WRITING = ["accepted", "in_review"];
const url = (referral, tail = "") => `/api/referrals/${encodeURIComponent(referral.id)}/report${tail}`;

function heading(text) {
  return element("h3", "form-title", text);
}

function testid(node, id) {
  node.dataset.testid = id;
  return node;
}

/** What an annotation is called in a list: its label, else its class, else its kind. */
function annotationName(feature) {
  const p = feature.properties ?? {};
  return p.label || p.classification?.name || t(`annotations.kind.${p.kind}`);
}

export class ReportPanel {
  constructor(root, me, hooks) {
    this.root = root;
    this.me = me;
    this.hooks = hooks;
    this.editor = null; // built once, kept across live redraws so typing is never lost
    this.base = undefined; // the report version the editor's text is based on
    this.dirty = false;
    this.annotations = new Map(); // id -> {feature, image}
    this.mode = "";
  }

  /** Draws the part of the answer this reader may see now. */
  update(referral, side) {
    this.referral = referral;
    const report = referral.report;
    const mode = report?.signed ? "signed"
      : side === "receiving" && WRITING.includes(referral.status) ? "editing"
        : report ? "preliminary" : "none";
    if (mode !== "editing" || this.mode !== "editing") this.root.replaceChildren();
    if (mode !== "editing") this.editor = null;
    this.mode = mode;
    this.root.dataset.mode = mode;
    if (mode === "editing") return this.showEditor(referral);
    if (mode === "signed") return this.showSigned(referral, side);
    if (mode === "preliminary") return this.showWriting(referral);
    this.root.append(testid(element("p", "muted", t(`referrals.report.none.${referral.status}`)), "report-none"));
  }

  /* Being written, seen from the requesting side: that it is, not what it says yet. */

  showWriting(referral) {
    const report = referral.report;
    const note = element("p", "note", t("referrals.report.being_written", { author: report.author ?? "", version: report.version }));
    note.append(" ", timeText(report.updated));
    this.root.append(testid(note, "report-being-written"));
  }

  /* Signed: read-only, with signer, time and content hash; addenda under it */

  showSigned(referral, side) {
    const report = referral.report;
    const state = report.status === "amended" ? "referrals.report.amended" : "referrals.report.final";
    const signed = element("p", "signed-line");
    signed.append(element("strong", "signed-state", t(state)), " ",
      t("referrals.report.signed_by", { name: report.signed_by ?? "" }), " ", timeText(report.signed));
    const view = build("div", { className: "report-signed" }, testid(signed, "report-signer"),
      ...this.readOnly(report),
      build("p", { className: "hash-line small" }, element("span", "muted", t("referrals.report.hash")), " ",
        testid(element("code", "mono", report.content_hash ?? ""), "report-hash")),
      element("p", "muted small", t("referrals.report.version", { version: report.version })));
    testid(view, "report-signed");
    this.root.append(view, this.addenda(report));
    if (side === "receiving" && referral.status === "answered") this.root.append(this.addendumForm(referral));
    this.loadAnnotations(referral).then(() => this.nameReferences(view));
  }

  readOnly(report) {
    const codes = (report.codes ?? []).map((code) => build("li", { className: "code" },
      element("code", "mono", code.code), " ", element("span", null, code.display ?? "")));
    const refs = (report.annotations ?? []).map((id) => build("li", { className: "annotation-ref", data: { annotationId: id } },
      element("code", "mono", id)));
    return [
      heading(t("referrals.report.findings")), testid(element("p", "frame-text", report.findings || "–"), "report-findings"),
      heading(t("referrals.report.conclusion")), testid(element("p", "frame-text", report.conclusion || "–"), "report-conclusion"),
      ...(codes.length ? [heading(t("referrals.report.codes")), testid(build("ul", { className: "code-list" }, codes), "report-codes")] : []),
      ...(refs.length ? [heading(t("referrals.report.annotations")), testid(build("ul", { className: "ref-list" }, refs), "report-annotations")] : []),
    ];
  }

  /** Names the referenced annotations once known, linked into the viewer of their image. */
  nameReferences(view) {
    for (const item of view.querySelectorAll(".annotation-ref")) {
      const known = this.annotations.get(item.dataset.annotationId);
      if (!known) continue;
      const anchor = build("a", { href: `/viewer/${encodeURIComponent(known.image)}`, textContent: annotationName(known.feature) });
      item.replaceChildren(anchor, " ", element("code", "mono muted", item.dataset.annotationId));
    }
  }

  addenda(report) {
    const items = (report.addenda ?? []).map((addendum) => {
      const line = element("p", "signed-line small");
      line.append(t("referrals.report.signed_by", { name: addendum.signed_by ?? "" }), " ", timeText(addendum.signed));
      return build("li", { className: "addendum", data: { testid: "addendum" } },
        element("p", "frame-text", addendum.text), line,
        build("p", { className: "hash-line small" }, element("span", "muted", t("referrals.report.hash")), " ",
          element("code", "mono", addendum.content_hash ?? "")));
    });
    if (!items.length) return "";
    return build("section", { className: "addenda" }, heading(t("referrals.report.addenda")), build("ol", { className: "addendum-list" }, items));
  }

  addendumForm(referral) {
    const text = build("textarea", { name: "addendum", rows: 3, maxLength: 20000 });
    text.dataset.testid = "addendum-text";
    const error = testid(element("p", "form-error"), "addendum-error");
    error.hidden = true;
    const sign = testid(build("button", { type: "button", className: "primary", textContent: t("referrals.report.addendum_sign") }), "addendum-sign");
    sign.addEventListener("click", async () => {
      if (!text.value.trim()) return show(error, t("referrals.report.addendum_need_text"));
      const yes = await confirmAction({
        title: t("referrals.confirm.addendum.title"), message: t("referrals.confirm.addendum.message"), confirm: t("referrals.report.addendum_sign"),
      });
      if (!yes) return;
      sign.disabled = true;
      try {
        const next = await change("POST", url(referral, "/addenda"), { text: text.value });
        this.hooks.changed(next);
      } catch (failure) {
        show(error, failure.message);
      } finally {
        sign.disabled = false;
      }
    });
    return build("section", { className: "addendum-form" }, heading(t("referrals.report.addendum_title")),
      build("label", { className: "field" }, element("span", null, t("referrals.report.addendum_text")), text),
      build("div", { className: "form-actions" }, sign), error);
  }

  /* The editor */

  showEditor(referral) {
    const report = referral.report;
    if (!this.editor) {
      this.editor = this.buildEditor(referral);
      this.root.replaceChildren(this.editor.form);
      this.fill(report);
      this.loadAnnotations(referral).then(() => this.drawAnnotationChoices());
      return;
    }
    if (!this.dirty) this.fill(report);
    else if (report && report.version !== this.base) {
      show(this.editor.status, t("referrals.report.newer", { author: report.author ?? "", version: report.version }));
    }
  }

  buildEditor(referral) {
    const field = (label, name, rows) => {
      const area = build("textarea", { name, rows, maxLength: 20000 });
      area.dataset.testid = `report-${name}`;
      return [build("label", { className: "field wide" }, element("span", null, label), area), area];
    };
    const [findingsField, findings] = field(t("referrals.report.findings"), "findings", 6);
    const [conclusionField, conclusion] = field(t("referrals.report.conclusion"), "conclusion", 3);
    const codes = testid(build("div", { className: "code-rows" }), "report-code-rows");
    const addCode = testid(build("button", { type: "button", className: "link-button", textContent: t("referrals.report.add_code") }), "report-add-code");
    addCode.addEventListener("click", () => { this.addCodeRow({}); this.touched(); });
    const choices = testid(build("div", { className: "annotation-choices" }), "report-annotation-choices");
    const refresh = build("button", { type: "button", className: "link-button", textContent: t("referrals.report.refresh_annotations") });
    refresh.addEventListener("click", () => this.loadAnnotations(referral, true).then(() => this.drawAnnotationChoices()));
    const status = testid(element("p", "form-status"), "report-status");
    status.hidden = true;
    const conflict = testid(build("div", { className: "conflict" }), "report-conflict");
    conflict.hidden = true;
    conflict.setAttribute("role", "alert");
    const error = testid(element("p", "form-error"), "report-error");
    error.hidden = true;
    error.setAttribute("role", "alert");
    const save = testid(build("button", { type: "submit", textContent: t("referrals.report.save") }), "report-save");
    const sign = testid(build("button", { type: "button", className: "primary", textContent: t("referrals.report.sign") }), "report-sign");
    const form = build("form", { className: "report-form", noValidate: true },
      element("p", "muted small", t("referrals.report.help")),
      status, conflict, findingsField, conclusionField,
      heading(t("referrals.report.codes")), element("p", "form-help", t("referrals.report.codes_help")), codes, addCode,
      heading(t("referrals.report.annotations")), choices, refresh,
      build("div", { className: "form-actions" }, save, sign), error);
    testid(form, "report-form");
    form.addEventListener("input", () => this.touched());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    sign.addEventListener("click", () => this.sign());
    return { form, findings, conclusion, codes, choices, status, conflict, error, save, sign, chosen: new Set() };
  }

  touched() {
    this.dirty = true;
    show(this.editor.status, t("referrals.report.unsaved"));
  }

  /** The editor shows `report` (null: empty) and is based on its version. */
  fill(report) {
    const editor = this.editor;
    editor.findings.value = report?.findings ?? "";
    editor.conclusion.value = report?.conclusion ?? "";
    editor.codes.replaceChildren();
    for (const code of report?.codes ?? []) this.addCodeRow(code);
    editor.chosen = new Set(report?.annotations ?? []);
    this.drawAnnotationChoices();
    this.base = report?.version;
    this.dirty = false;
    editor.conflict.hidden = true;
    show(editor.status, report ? t("referrals.report.saved_version", { version: report.version, author: report.author ?? "" }) : "");
  }

  addCodeRow(code) {
    const value = build("input", { type: "text", name: "code", inputMode: "numeric", maxLength: 18, value: code.code ?? "" });
    value.dataset.testid = "report-code";
    value.setAttribute("aria-label", t("referrals.report.code"));
    value.placeholder = t("referrals.report.code");
    const display = build("input", { type: "text", name: "display", maxLength: 255, value: code.display ?? "" });
    display.dataset.testid = "report-code-display";
    display.setAttribute("aria-label", t("referrals.report.code_display"));
    display.placeholder = t("referrals.report.code_display");
    const remove = build("button", { type: "button", className: "link-button", textContent: t("referrals.report.remove_code") });
    const row = build("div", { className: "code-row" }, value, display, remove);
    remove.addEventListener("click", () => { row.remove(); this.touched(); });
    this.editor.codes.append(row);
  }

  /* References to annotations on the referred images */

  async loadAnnotations(referral, again = false) {
    if (this.annotationsLoaded && !again) return;
    this.annotationsLoaded = true;
    const answers = await Promise.allSettled(referral.images.map((image) =>
      getJson(`/api/images/${encodeURIComponent(image)}/annotations`).then((collection) => ({ image, collection }))));
    for (const answer of answers) {
      if (answer.status !== "fulfilled") continue;
      for (const feature of answer.value.collection.features ?? []) {
        this.annotations.set(String(feature.id), { feature, image: answer.value.image });
      }
    }
  }

  drawAnnotationChoices() {
    const editor = this.editor;
    if (!editor) return;
    const ids = new Set([...this.annotations.keys(), ...editor.chosen]);
    if (ids.size === 0) {
      editor.choices.replaceChildren(element("p", "muted small", t("referrals.report.no_annotations")));
      return;
    }
    editor.choices.replaceChildren(...[...ids].map((id) => {
      const known = this.annotations.get(id);
      const box = build("input", { type: "checkbox", value: id, checked: editor.chosen.has(id) });
      box.addEventListener("change", () => {
        if (box.checked) editor.chosen.add(id);
        else editor.chosen.delete(id);
      });
      const who = known?.feature.properties?.author_name ?? "";
      return build("label", { className: "check annotation-choice", data: { testid: "report-annotation", annotationId: id } },
        box, element("span", null, known ? annotationName(known.feature) : id),
        element("span", "muted small", who), element("code", "mono muted", id));
    }));
  }

  /* Saving and signing */

  values() {
    const editor = this.editor;
    const codes = [...editor.codes.querySelectorAll(".code-row")].map((row) => ({
      code: row.querySelector("[name=code]").value.trim(),
      display: row.querySelector("[name=display]").value.trim(),
    })).filter((code) => code.code || code.display);
    return { findings: editor.findings.value, conclusion: editor.conclusion.value, codes, annotations: [...editor.chosen] };
  }

  /** PUT the report, based on the version the text started from; true when saved. */
  async save() {
    const editor = this.editor;
    show(editor.error, "");
    const bad = this.values().codes.find((code) => !/^\d{6,18}$/.test(code.code));
    if (bad) {
      show(editor.error, t("referrals.report.bad_code", { code: bad.code || "–" }));
      return false;
    }
    editor.save.disabled = true;
    try {
      const saved = await change("PUT", url(this.referral), this.values(), { ifMatch: this.base });
      this.base = saved.version;
      this.dirty = false;
      editor.conflict.hidden = true;
      show(editor.status, t("referrals.report.saved_version", { version: saved.version, author: saved.author ?? "" }));
      this.hooks.reload();
      return true;
    } catch (failure) {
      await this.failedSave(failure);
      return false;
    } finally {
      editor.save.disabled = false;
    }
  }

  async failedSave(failure) {
    if (failure.status === 409 && failure.body?.current) return this.showConflict(failure.body.current);
    if (failure.status === 428) {
      // Someone wrote the first version while this one was being typed.
      const referral = await getJson(`/api/referrals/${encodeURIComponent(this.referral.id)}`).catch(() => null);
      if (referral?.report) return this.showConflict(referral.report);
    }
    show(this.editor.error, failure.message);
  }

  /** A stale save: who saved what meanwhile; keep one's own text or take theirs. */
  showConflict(current) {
    const editor = this.editor;
    const theirs = build("details", { className: "theirs" },
      element("summary", null, t("referrals.conflict.show_theirs")),
      heading(t("referrals.report.findings")), element("p", "frame-text", current.findings || "–"),
      heading(t("referrals.report.conclusion")), element("p", "frame-text", current.conclusion || "–"));
    const take = testid(build("button", { type: "button", textContent: t("referrals.conflict.take_theirs") }), "conflict-take-theirs");
    const keep = testid(build("button", { type: "button", className: "primary", textContent: t("referrals.conflict.keep_mine") }), "conflict-keep-mine");
    take.addEventListener("click", () => this.fill(current));
    keep.addEventListener("click", () => {
      this.base = current.version;
      this.save();
    });
    const when = timeText(current.updated);
    const said = element("p", null, t("referrals.conflict.message", { author: current.author ?? "", version: current.version }));
    said.append(" ", when);
    editor.conflict.replaceChildren(element("strong", null, t("referrals.conflict.title")), said,
      element("p", "muted small", t("referrals.conflict.kept")), theirs, build("div", { className: "form-actions" }, keep, take));
    editor.conflict.hidden = false;
    editor.conflict.scrollIntoView({ block: "nearest" });
  }

  async sign() {
    const editor = this.editor;
    show(editor.error, "");
    const values = this.values();
    if (!values.findings.trim() && !values.conclusion.trim()) return show(editor.error, t("referrals.report.sign_need_text"));
    const yes = await confirmAction({
      title: t("referrals.confirm.sign.title"), message: t("referrals.confirm.sign.message"), confirm: t("referrals.report.sign"),
    });
    if (!yes) return;
    if ((this.dirty || this.base === undefined) && !(await this.save())) return;
    editor.sign.disabled = true;
    try {
      const next = await change("POST", url(this.referral, "/sign"));
      this.editor = null;
      this.dirty = false;
      this.hooks.changed(next);
    } catch (failure) {
      show(editor.error, failure.message);
    } finally {
      editor.sign.disabled = false;
    }
  }
}
