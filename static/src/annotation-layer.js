// The annotations of one image as the browser holds them: a spatial index of every shape,
// the layers (one per author, the case's shared layer and one's own drafts), what is shown,
// and every change sent to the server with the version it was made to. Undo and redo take
// back one's own changes through the server's versions (a revert is a new version).
import { getJson, change } from "./api.js";
import { boxOf } from "./annotation-geometry.js";

await import("/static/dist/rbush/rbush.min.js"); // defines globalThis.RBush

/** One entry of the index: the feature and its box. */
function itemOf(feature) {
  const box = boxOf(feature.geometry);
  return { feature, box, minX: box[0], minY: box[1], maxX: box[2], maxY: box[3] };
}

export function layerKey(feature) {
  return feature.properties.layer === "draft" ? "draft" : `author:${feature.properties.author}`;
}

export class AnnotationLayer {
  constructor(image, me) {
    this.image = image;
    this.me = me;
    this.items = new Map(); // id -> item
    this.index = new globalThis.RBush(16);
    this.hidden = new Set(); // layer keys switched off
    this.solo = null; // a layer key shown alone
    this.filters = { classification: "", author: "", layer: "" };
    this.frame = null;
    this.undone = [];
    this.done = [];
    this.listeners = new Set();
    this.loadedFrames = new Set();
  }

  onChange(listener) {
    this.listeners.add(listener);
  }

  changed(what = "data") {
    for (const listener of this.listeners) listener(what);
  }

  url(path = "") {
    return `/api/images/${encodeURIComponent(this.image.id)}/annotations${path}`;
  }

  /** Every annotation of the image (of one frame on a series), into the index at once. */
  async load(frame = null) {
    this.frame = frame;
    const key = frame ?? "slide";
    if (this.loadedFrames.has(key)) return this.changed("data");
    const query = frame === null ? "" : `?frame=${frame}`;
    const collection = await getJson(this.url(query));
    this.loadedFrames.add(key);
    const fresh = collection.features.filter((feature) => !this.items.has(feature.id)).map(itemOf);
    for (const item of fresh) this.items.set(item.feature.id, item);
    this.index.load(fresh);
    this.changed("data");
  }

  async reload() {
    this.items.clear();
    this.index.clear();
    this.loadedFrames.clear();
    await this.load(this.frame);
  }

  put(feature) {
    const old = this.items.get(feature.id);
    if (old) this.index.remove(old);
    const item = itemOf(feature);
    this.items.set(feature.id, item);
    this.index.insert(item);
    return item;
  }

  drop(id) {
    const old = this.items.get(id);
    if (!old) return;
    this.index.remove(old);
    this.items.delete(id);
  }

  /** A change made elsewhere (the live channel), one's own coming back included: a newer
   * version replaces the one held, a deletion drops it, anything older changes nothing. */
  applyRemote(annotation) {
    const held = this.items.get(annotation.id);
    const version = annotation.deleted ? annotation.version : annotation.properties?.version;
    if (held && held.feature.properties.version >= version) return false;
    if (annotation.deleted) {
      if (!held) return false;
      this.drop(annotation.id);
    } else {
      this.put(annotation);
    }
    this.changed("data");
    return true;
  }

  // --- what is shown ------------------------------------------------------------------------

  onFrame(item) {
    return this.frame === null || item.feature.properties.frame === this.frame;
  }

  layerShown(key) {
    if (this.solo) return key === this.solo;
    return !this.hidden.has(key);
  }

  passes(item) {
    const { properties } = item.feature;
    const { classification, author, layer } = this.filters;
    if (classification && (properties.classification?.name ?? "") !== classification) return false;
    if (author && properties.author !== author) return false;
    if (layer && layerKey(item.feature) !== layer) return false;
    return true;
  }

  shown(item) {
    return this.onFrame(item) && this.layerShown(layerKey(item.feature)) && this.passes(item);
  }

  /** Every shape whose box meets [minX, minY, maxX, maxY], shown or not. */
  search([minX, minY, maxX, maxY]) {
    return this.index.search({ minX, minY, maxX, maxY });
  }

  /** The shown shapes whose boxes meet [minX, minY, maxX, maxY]. */
  inView(box) {
    return this.search(box).filter((item) => this.shown(item));
  }

  /** Every shown shape, for the list. */
  all() {
    return [...this.items.values()].filter((item) => this.shown(item));
  }

  /** The layers present: the drafts first, then one per author, with names and counts. */
  layers() {
    const found = new Map();
    for (const item of this.items.values()) {
      if (!this.onFrame(item)) continue;
      const key = layerKey(item.feature);
      const entry = found.get(key) ?? { key, author: item.feature.properties.author, name: item.feature.properties.author_name, org: item.feature.properties.org, count: 0 };
      entry.count += 1;
      found.set(key, entry);
    }
    return [...found.values()].sort((a, b) => (a.key === "draft" ? -1 : b.key === "draft" ? 1 : (a.name ?? "").localeCompare(b.name ?? "")));
  }

  setShown(key, shown) {
    if (shown) this.hidden.delete(key);
    else this.hidden.add(key);
    this.solo = null;
    this.changed("view");
  }

  setSolo(key) {
    this.solo = this.solo === key ? null : key;
    this.changed("view");
  }

  setFilter(name, value) {
    this.filters[name] = value;
    this.changed("view");
  }

  mine(item) {
    return item.feature.properties.author === this.me.id;
  }

  // --- changes, each one undoable ------------------------------------------------------------

  async create(geometry, properties) {
    const body = { type: "Feature", geometry, properties: { ...properties, frame: this.frame ?? undefined } };
    const made = await change("POST", this.url(), body);
    this.put(made.feature);
    this.remember({ id: made.id, kind: "create", from: 0, to: made.version });
    this.changed("data");
    return made.feature;
  }

  async update(id, patch) {
    const item = this.items.get(id);
    const from = item.feature.properties.version;
    const feature = await this.send("PATCH", id, patch, from);
    this.remember({ id, kind: "update", from, to: feature.properties.version });
    return feature;
  }

  async remove(id) {
    const item = this.items.get(id);
    const from = item.feature.properties.version;
    const gone = await this.sendDelete(id, from);
    this.remember({ id, kind: "delete", from, to: gone.version, feature: item.feature });
    return gone;
  }

  remember(step) {
    this.done.push(step);
    this.undone = [];
  }

  /** A change to an annotation; on a conflict the current one replaces ours, and the error
   * goes on to say so. */
  async send(method, id, body, version) {
    try {
      const feature = await change(method, `/api/annotations/${encodeURIComponent(id)}`, body, { ifMatch: version });
      this.put(feature);
      this.changed("data");
      return feature;
    } catch (error) {
      if (error.status === 409 && error.body?.current) {
        this.put(error.body.current);
        this.changed("data");
      }
      throw error;
    }
  }

  async sendDelete(id, version) {
    try {
      const gone = await change("DELETE", `/api/annotations/${encodeURIComponent(id)}`, undefined, { ifMatch: version });
      this.drop(id);
      this.changed("data");
      return gone;
    } catch (error) {
      if (error.status === 409 && error.body?.current) {
        this.put(error.body.current);
        this.changed("data");
      }
      throw error;
    }
  }

  async revert(id, toVersion, currentVersion) {
    const feature = await change("POST", `/api/annotations/${encodeURIComponent(id)}/revert`, { version: toVersion }, { ifMatch: currentVersion });
    this.put(feature);
    this.changed("data");
    return feature;
  }

  /** The version an annotation is at now, deleted ones included (from the last step). */
  versionNow(step) {
    return this.items.get(step.id)?.feature.properties.version ?? step.now ?? step.to;
  }

  canUndo() {
    return this.done.length > 0;
  }

  canRedo() {
    return this.undone.length > 0;
  }

  async undo() {
    const step = this.done.pop();
    if (!step) return;
    try {
      const now = this.versionNow(step);
      if (step.kind === "create") step.now = (await this.sendDelete(step.id, now)).version;
      else step.now = (await this.revert(step.id, step.from, now)).properties.version;
      this.undone.push(step);
    } catch (error) {
      this.done.push(step);
      throw error;
    } finally {
      this.changed("history");
    }
  }

  async redo() {
    const step = this.undone.pop();
    if (!step) return;
    try {
      const now = this.versionNow(step);
      if (step.kind === "delete") step.now = (await this.sendDelete(step.id, now)).version;
      else step.now = (await this.revert(step.id, step.to, now)).properties.version;
      this.done.push(step);
    } catch (error) {
      this.undone.push(step);
      throw error;
    } finally {
      this.changed("history");
    }
  }

  // --- files ------------------------------------------------------------------------------

  exportUrl() {
    return this.url(".geojson");
  }

  async importFile(document) {
    const query = this.frame === null ? "" : `?frame=${this.frame}`;
    const report = await change("POST", this.url(`/import${query}`), document);
    await this.reload();
    return report;
  }
}
