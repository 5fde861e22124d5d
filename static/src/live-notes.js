// Konsultanteckningar: the case's notes in the information panel, oldest first, from the
// REST list and the live `note` events. A note is plain text (textContent, never HTML); it
// may be pinned to a point of an image (the centre of the view, or a point clicked), and
// clicking a pinned note flies there.
import { build, element } from "./dom.js";
import { dateTime, t } from "./i18n.js";

const MAX_TEXT = 4000;

export class NotesPanel {
  /** `actions`: {send({text, pinned, point}) -> Promise, goTo(note), pickPoint() -> Promise<[x, y] | null>},
   * `imageName(id)`, `here()`: {image, frame}. */
  constructor(panel, actions, imageName, here) {
    this.actions = actions;
    this.imageName = imageName;
    this.here = here;
    this.notes = new Map(); // String(id) -> note
    this.point = null;
    this.count = element("span", "muted small");
    this.count.dataset.testid = "live-note-count";
    const heading = build("h2", {}, element("span", null, t("live.notes.title")), " ", this.count);
    this.list = build("ol", { className: "live-note-list", data: { testid: "live-note-list" } });
    this.empty = element("p", "muted small", t("live.notes.empty"));
    this.node = build("section", { className: "live-notes", data: { testid: "live-notes" } }, heading, this.list, this.empty, this.buildForm());
    this.node.setAttribute("aria-label", t("live.notes.title"));
    const annotations = panel.querySelector(".annotation-panel");
    if (annotations) annotations.before(this.node);
    else panel.append(this.node);
  }

  buildForm() {
    this.input = build("textarea", { className: "live-note-input", rows: 3, maxLength: MAX_TEXT, placeholder: t("live.notes.placeholder"), data: { testid: "live-note-input" } });
    this.input.setAttribute("aria-label", t("live.notes.placeholder"));
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        this.form.requestSubmit();
      }
    });
    this.pinBox = build("input", { type: "checkbox", data: { testid: "live-note-pin" } });
    this.pinBox.addEventListener("change", () => this.showPoint());
    this.pickButton = build("button", { type: "button", className: "live-note-pick", textContent: t("live.notes.pick"), title: t("live.notes.pickTitle"), data: { testid: "live-note-pick" } });
    this.pickButton.addEventListener("click", () => this.pick());
    this.pointText = element("span", "muted small live-note-point");
    this.pointText.dataset.testid = "live-note-point";
    this.error = build("p", { className: "live-note-error", hidden: true, data: { testid: "live-note-error" } });
    this.error.setAttribute("role", "alert");
    this.sendButton = build("button", { type: "submit", textContent: t("live.notes.send"), data: { testid: "live-note-send" } });
    this.form = build("form", { className: "live-note-form" },
      this.input,
      build("div", { className: "live-note-options" },
        build("label", { className: "check", title: t("live.notes.pinTitleForm") }, this.pinBox, element("span", null, t("live.notes.pin"))),
        this.pickButton, this.pointText),
      this.error,
      build("div", { className: "live-note-actions" }, this.sendButton));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.showPoint();
    return this.form;
  }

  showPoint() {
    const pinned = this.pinBox.checked;
    this.pointText.textContent = !pinned ? ""
      : this.point ? t("live.notes.atPoint", { x: Math.round(this.point[0]), y: Math.round(this.point[1]) })
        : t("live.notes.atCentre");
  }

  async pick() {
    this.pickButton.setAttribute("aria-pressed", "true");
    try {
      const point = await this.actions.pickPoint();
      if (point) {
        this.point = point;
        this.pinBox.checked = true;
      }
    } finally {
      this.pickButton.setAttribute("aria-pressed", "false");
      this.showPoint();
    }
  }

  async submit() {
    const text = this.input.value.trim();
    if (!text) return;
    const draft = { text, pinned: this.pinBox.checked, point: this.point };
    // The form is free at once for the next note; a note that fails comes back into it.
    this.input.value = "";
    this.pinBox.checked = false;
    this.point = null;
    this.showPoint();
    this.error.hidden = true;
    try {
      const note = await this.actions.send(draft);
      if (note) this.add(note);
    } catch (error) {
      if (!this.input.value.trim()) {
        this.input.value = draft.text;
        this.pinBox.checked = draft.pinned;
        this.point = draft.point;
        this.showPoint();
      }
      this.error.textContent = t("live.notes.failed", { reason: error.message });
      this.error.hidden = false;
    }
  }

  /** All notes afresh (the REST list). */
  replace(notes) {
    this.notes.clear();
    this.list.replaceChildren();
    for (const note of notes) this.add(note);
    this.refresh();
  }

  /** One note, once: the live event and the ack of one's own may both bring it. */
  add(note) {
    const key = String(note?.id ?? "");
    if (!key || this.notes.has(key)) return false;
    this.notes.set(key, note);
    const row = this.row(note);
    const after = [...this.list.children].find((node) => this.before(note, this.notes.get(node.dataset.key)));
    if (after) after.before(row);
    else this.list.append(row);
    this.refresh();
    row.scrollIntoView?.({ block: "nearest" });
    return true;
  }

  /** Does `a` come before `b`: by sequence, then by time. */
  before(a, b) {
    if (!b) return false;
    if (Number.isFinite(a.seq) && Number.isFinite(b.seq)) return a.seq < b.seq;
    return String(a.created) < String(b.created);
  }

  row(note) {
    const swatch = element("span", "swatch");
    swatch.style.background = note.color ?? "#777";
    const time = build("time", { className: "muted small", dateTime: note.created ?? "", textContent: note.created ? dateTime(note.created) : "" });
    const who = element("span", "live-note-author", [note.name, note.org_name].filter(Boolean).join(", "));
    const text = element("p", "live-note-text", note.text); // text, never HTML
    text.dataset.testid = "live-note-text";
    const row = build("li", { className: "live-note", data: { testid: "live-note", key: String(note.id) } },
      build("div", { className: "live-note-head" }, swatch, who, time), text);
    if (note.anchor) row.append(this.anchorButton(note));
    return row;
  }

  anchorButton(note) {
    const here = this.here();
    const elsewhere = note.image && note.image !== here.image;
    const where = note.frame !== null && note.frame !== undefined ? t("live.notes.frame", { index: note.frame + 1 }) : "";
    const label = elsewhere ? t("live.notes.gotoImage", { image: this.imageName(note.image) }) : t("live.notes.goto");
    const button = build("button", { type: "button", className: "live-note-goto", textContent: [label, where].filter(Boolean).join(" · "),
      title: t("live.notes.gotoTitle"), data: { testid: "live-note-goto" } });
    button.addEventListener("click", () => this.actions.goTo(note));
    return button;
  }

  refresh() {
    this.count.textContent = this.notes.size ? `(${this.notes.size})` : "";
    this.empty.hidden = this.notes.size > 0;
  }

  all() {
    return [...this.notes.values()];
  }

  /** Out of the room: the notes stay readable, no new ones can be written. */
  close() {
    this.form.remove();
  }

  remove() {
    this.node.remove();
  }
}
