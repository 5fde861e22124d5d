// Other members' pointers over the image, with their names, and the pins of notes fixed to
// a point of this image: positioned from image pixels through the viewer's surface on every
// view change, so they stay on the tissue while the view moves.
import { build, element } from "./dom.js";
import { t } from "./i18n.js";
import { textColourOn } from "./live-presence.js";

const ARROW = '<svg viewBox="0 0 16 20" aria-hidden="true"><path d="M1 1l13 10.5-6 .6 3.6 6.6-2.4 1.3-3.6-6.7L1 17.5z"/></svg>';
const STALE_MS = 30_000; // a pointer not moved for this long fades: its owner has gone quiet

export class CursorLayer {
  /** `view`: the live view (toScreen, frame); `image`: the image on screen. */
  constructor(view, image, onPin) {
    this.view = view;
    this.image = image;
    this.onPin = onPin;
    this.cursors = new Map(); // user -> {node, data, at}
    this.pins = new Map(); // note id -> {node, note}
    this.node = build("div", { className: "live-overlay", data: { testid: "live-overlay" } });
    this.node.setAttribute("aria-hidden", "true");
    view.stage.append(this.node);
    view.surface.onChange(() => this.schedule());
    this.fading = setInterval(() => this.fade(), 5000);
  }

  /** Is a position ({image, frame}) on the picture shown here? */
  onScreen({ image, frame }) {
    if (image !== this.image.id) return false;
    const here = this.view.frame();
    return here === null || frame === null || frame === undefined || frame === here;
  }

  cursor(data) {
    let entry = this.cursors.get(data.user);
    if (!entry) {
      const label = element("span", "live-cursor-name");
      const node = build("div", { className: "live-cursor", innerHTML: ARROW, data: { testid: "live-cursor", user: data.user } });
      node.append(label);
      this.node.append(node);
      entry = { node, label };
      this.cursors.set(data.user, entry);
    }
    entry.data = data;
    entry.at = performance.now();
    entry.label.textContent = data.name ?? "";
    entry.node.style.setProperty("--live-colour", data.color ?? "#ffd400");
    entry.label.style.color = textColourOn(data.color);
    entry.node.classList.remove("stale");
    this.place(entry);
  }

  /** Drops the pointers of those who left, and hides those gone to another image or frame. */
  members(members) {
    const present = new Map(members.map((member) => [member.user, member]));
    for (const [user, entry] of this.cursors) {
      const member = present.get(user);
      if (!member) {
        entry.node.remove();
        this.cursors.delete(user);
      } else if (member.image && !this.onScreen(member)) {
        entry.node.hidden = true;
      }
    }
  }

  pin(note) {
    if (!note.anchor || this.pins.has(note.id)) return;
    const node = build("button", { type: "button", className: "live-pin", title: t("live.notes.pinTitle", { name: note.name ?? "" }), data: { testid: "live-pin", id: String(note.id) } });
    node.style.setProperty("--live-colour", note.color ?? "#ffd400");
    node.addEventListener("click", () => this.onPin(note));
    this.node.append(node);
    const entry = { node, note };
    this.pins.set(note.id, entry);
    this.placePin(entry);
  }

  place(entry) {
    const { data, node } = entry;
    node.hidden = !this.onScreen(data);
    if (node.hidden) return;
    const [x, y] = this.view.toScreen(data.x, data.y);
    node.style.transform = `translate(${x}px, ${y}px)`;
  }

  placePin(entry) {
    const { note, node } = entry;
    node.hidden = !this.onScreen(note);
    if (node.hidden) return;
    const [x, y] = this.view.toScreen(note.anchor[0], note.anchor[1]);
    node.style.transform = `translate(${x}px, ${y}px)`;
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      for (const entry of this.cursors.values()) this.place(entry);
      for (const entry of this.pins.values()) this.placePin(entry);
    });
  }

  fade() {
    const now = performance.now();
    for (const entry of this.cursors.values()) entry.node.classList.toggle("stale", now - entry.at > STALE_MS);
  }

  remove() {
    clearInterval(this.fading);
    this.node.remove();
  }
}
