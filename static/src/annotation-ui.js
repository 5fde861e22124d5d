// The annotation layer on screen, the same on a slide and on a series frame: a canvas over
// the image surface, the tool palette, live measurements, and the panel with layers,
// filters, the list, the selected mark, undo and redo, export and import.
//
// A surface is what a viewer offers (see surface.js): the image↔screen matrix, view-change
// events, the frame, the physical pixel size, and ways to zoom, pan and fly.
import { getJson } from "./api.js";
import { build, element } from "./dom.js";
import { t, number, dateTime } from "./i18n.js";
import { boxOf, distanceTo, measure, moved, verticesOf, withVertex } from "./annotation-geometry.js";
import { AnnotationCanvas, DIRECT_LIMIT, MARGIN, apply, colourOf, drawSelection, drawShapes, imageBox, invert } from "./annotation-render.js";
import { AnnotationLayer } from "./annotation-layer.js";
import { DrawingTool, TOOLS } from "./annotation-tools.js";

const REST_MS = 150;
const DIRECT_BUDGET_MS = 4;
const HIT_PIXELS = 6;
const LIST_LIMIT = 200;
const HANDLE_LIMIT = 500;
const ICONS = {
  pan: '<path d="M10 2v16M2 10h16M10 2l-2.5 2.5M10 2l2.5 2.5M10 18l-2.5-2.5M10 18l2.5-2.5M2 10l2.5-2.5M2 10l2.5 2.5M18 10l-2.5-2.5M18 10l-2.5 2.5"/>',
  select: '<path d="M4 3l11 6-5 1.5L8 16z"/>',
  point: '<circle cx="10" cy="10" r="3"/>',
  multipoint: '<circle cx="5" cy="6" r="2"/><circle cx="14" cy="5" r="2"/><circle cx="9" cy="14" r="2"/>',
  line: '<path d="M3 17 17 3"/>',
  polyline: '<path d="M2 15l5-8 5 6 6-10"/>',
  rectangle: '<rect x="3" y="5" width="14" height="10"/>',
  ellipse: '<ellipse cx="10" cy="10" rx="7.5" ry="5"/>',
  polygon: '<path d="M10 2.5l7 5-2.7 9H5.7L3 7.5z"/>',
  freehand: '<path d="M3 13c2-6 5 2 7-3s4-6 7-2c-1 4-5 8-9 7"/>',
  text: '<path d="M4 4h12M10 4v12"/>',
  undo: '<path d="M7 5L3 9l4 4M3 9h9a5 5 0 0 1 0 10h-2"/>',
  redo: '<path d="M13 5l4 4-4 4M17 9H8a5 5 0 0 0 0 10h2"/>',
};

function icon(name) {
  return `<svg viewBox="0 0 20 20" aria-hidden="true">${ICONS[name]}</svg>`;
}

/** A measurement in words: µm below a millimetre, mm beyond; areas alike. */
export function measurementText(values) {
  const parts = [];
  const length = values.length_um ?? (values.length_mm !== undefined ? values.length_mm * 1000 : undefined);
  const area = values.area_um2 ?? (values.area_mm2 !== undefined ? values.area_mm2 * 1e6 : undefined);
  const perimeter = values.perimeter_um ?? (values.perimeter_mm !== undefined ? values.perimeter_mm * 1000 : undefined);
  const microns = (value) => (value >= 1000 ? `${number(value / 1000, 2)} mm` : `${number(value, 1)} µm`);
  const square = (value) => (value >= 1e5 ? `${number(value / 1e6, 3)} mm²` : `${number(value, 0)} µm²`);
  if (length !== undefined) parts.push(t("annotations.measure.length", { value: microns(length) }));
  if (area !== undefined) parts.push(t("annotations.measure.area", { value: square(area) }));
  if (perimeter !== undefined) parts.push(t("annotations.measure.perimeter", { value: microns(perimeter) }));
  if (values.length_px !== undefined) parts.push(t("annotations.measure.length", { value: `${number(values.length_px, 1)} px` }));
  if (values.area_px2 !== undefined) parts.push(t("annotations.measure.area", { value: `${number(values.area_px2, 0)} px²` }));
  if (values.count !== undefined) parts.push(t("annotations.measure.count", { count: number(values.count, 0) }));
  if (values.mean !== undefined) {
    const unit = values.unit ? ` ${values.unit}` : "";
    parts.push(t("annotations.measure.values", {
      mean: `${number(values.mean, 1)}${unit}`, std: number(values.std, 1), min: number(values.min, 1), max: number(values.max, 1),
    }));
  }
  return parts.join(" · ");
}

const KIND_NAMES = () => ({
  point: t("annotations.kind.point"),
  multipoint: t("annotations.kind.multipoint"),
  line: t("annotations.kind.line"),
  polyline: t("annotations.kind.polyline"),
  rectangle: t("annotations.kind.rectangle"),
  ellipse: t("annotations.kind.ellipse"),
  polygon: t("annotations.kind.polygon"),
  multipolygon: t("annotations.kind.multipolygon"),
  freehand: t("annotations.kind.freehand"),
  text: t("annotations.kind.text"),
});

const TOOL_TITLES = () => ({
  pan: t("annotations.tool.pan"),
  select: t("annotations.tool.select"),
  point: t("annotations.tool.point"),
  multipoint: t("annotations.tool.multipoint"),
  line: t("annotations.tool.line"),
  polyline: t("annotations.tool.polyline"),
  rectangle: t("annotations.tool.rectangle"),
  ellipse: t("annotations.tool.ellipse"),
  polygon: t("annotations.tool.polygon"),
  freehand: t("annotations.tool.freehand"),
  text: t("annotations.tool.text"),
});

export class AnnotationView {
  constructor({ surface, image, me, stage, panel }) {
    this.surface = surface;
    this.image = image;
    this.me = me;
    this.stage = stage;
    this.layer = new AnnotationLayer(image, me);
    this.tool = "pan";
    this.drawing = null;
    this.selected = null;
    this.edit = null; // {kind: "move" | "vertex", start, index, geometry}
    this.classes = [];
    this.chosenClass = "";
    this.draftMode = false;
    this.many = false;
    this.costPerShape = 0;
    this.dirty = true;
    this.lastMove = 0;
    this.scheduled = false;
    this.writer = !(me.roles ?? []).every((role) => role.role === "patient");

    this.canvas = new AnnotationCanvas(stage);
    this.readout = element("div", "readout annotation-readout");
    this.readout.dataset.testid = "annotation-measurement";
    this.readout.setAttribute("aria-live", "polite");
    this.readout.hidden = true;
    this.message = element("div", "annotation-message");
    this.message.dataset.testid = "annotation-message";
    this.message.setAttribute("role", "status");
    this.message.hidden = true;
    stage.append(this.readout, this.message);
    if (this.writer) stage.append(this.buildPalette());
    this.panel = this.buildPanel();
    panel.append(this.panel);

    surface.onChange(() => this.viewMoved());
    this.layer.onChange((what) => {
      this.dirty = true;
      this.schedule();
      this.refreshPanel();
    });
    this.wirePointer();
    this.wireKeys();
    new ResizeObserver(() => this.viewMoved()).observe(stage);
  }

  async start() {
    const [classes] = await Promise.all([
      this.writer ? getJson("/api/classes").catch(() => []) : [],
      this.layer.load(this.surface.frame()),
    ]);
    this.classes = classes;
    this.fillClasses();
  }

  // --- the palette --------------------------------------------------------------------------

  buildPalette() {
    const titles = TOOL_TITLES();
    this.toolButtons = {};
    const palette = build("div", { className: "annotation-palette" });
    palette.setAttribute("role", "toolbar");
    palette.setAttribute("aria-label", t("annotations.palette"));
    palette.dataset.testid = "annotation-tools";
    for (const name of ["pan", ...TOOLS]) {
      const button = build("button", { type: "button", title: titles[name], innerHTML: icon(name) });
      button.setAttribute("aria-label", titles[name]);
      button.setAttribute("aria-pressed", String(name === this.tool));
      button.dataset.testid = `annotation-tool-${name}`;
      button.addEventListener("click", () => this.setTool(name));
      this.toolButtons[name] = button;
      palette.append(button);
    }
    this.undoButton = build("button", { type: "button", title: t("annotations.undo"), innerHTML: icon("undo"), disabled: true });
    this.undoButton.setAttribute("aria-label", t("annotations.undo"));
    this.undoButton.dataset.testid = "annotation-undo";
    this.undoButton.addEventListener("click", () => this.undo());
    this.redoButton = build("button", { type: "button", title: t("annotations.redo"), innerHTML: icon("redo"), disabled: true });
    this.redoButton.setAttribute("aria-label", t("annotations.redo"));
    this.redoButton.dataset.testid = "annotation-redo";
    this.redoButton.addEventListener("click", () => this.redo());
    palette.append(element("span", "palette-gap"), this.undoButton, this.redoButton);
    return palette;
  }

  setTool(name) {
    this.drawing?.cancel();
    this.tool = name;
    this.drawing = name === "pan" || name === "select" ? null : new DrawingTool(name, { width: this.image.width, height: this.image.height }, () => this.scale(), (kind, geometry, extra) => this.finished(kind, geometry, extra));
    for (const [tool, button] of Object.entries(this.toolButtons ?? {})) button.setAttribute("aria-pressed", String(tool === name));
    this.canvas.canvas.classList.toggle("active", name !== "pan");
    this.stage.dataset.annotationTool = name;
    this.showReadout();
    this.schedule();
  }

  scale() {
    const m = this.surface.matrix();
    return Math.hypot(m[0], m[1]);
  }

  // --- the panel ----------------------------------------------------------------------------

  buildPanel() {
    const section = build("section", { className: "annotation-panel" });
    section.dataset.testid = "annotation-panel";
    const heading = element("h2", null, t("annotations.title"));
    this.count = element("span", "muted small");
    this.count.dataset.testid = "annotation-count";
    heading.append(" ", this.count);

    this.classSelect = build("select", { className: "class-select" });
    this.classSelect.dataset.testid = "annotation-class";
    this.classSelect.setAttribute("aria-label", t("annotations.class.choose"));
    this.classSelect.addEventListener("change", () => {
      this.chosenClass = this.classSelect.value;
      this.classSelect.blur();
    });
    this.draftToggle = build("input", { type: "checkbox" });
    this.draftToggle.dataset.testid = "annotation-draft-mode";
    this.draftToggle.addEventListener("change", () => {
      this.draftMode = this.draftToggle.checked;
    });
    const drawingWith = this.writer
      ? build("div", { className: "annotation-drawing" },
        build("label", { className: "annotation-field" }, element("span", null, t("annotations.class.label")), this.classSelect),
        build("label", { className: "check", title: t("annotations.draftModeTitle") }, this.draftToggle, element("span", null, t("annotations.draftMode"))))
      : null;

    this.layerList = build("ul", { className: "layer-list" });
    this.layerList.dataset.testid = "annotation-layers";

    this.filterClass = build("select", {});
    this.filterClass.dataset.testid = "annotation-filter-class";
    this.filterClass.setAttribute("aria-label", t("annotations.filter.class"));
    this.filterClass.addEventListener("change", () => this.layer.setFilter("classification", this.filterClass.value));
    this.filterAuthor = build("select", {});
    this.filterAuthor.dataset.testid = "annotation-filter-author";
    this.filterAuthor.setAttribute("aria-label", t("annotations.filter.author"));
    this.filterAuthor.addEventListener("change", () => this.layer.setFilter("author", this.filterAuthor.value));
    this.filterLayer = build("select", {});
    this.filterLayer.dataset.testid = "annotation-filter-layer";
    this.filterLayer.setAttribute("aria-label", t("annotations.filter.layer"));
    this.filterLayer.addEventListener("change", () => this.layer.setFilter("layer", this.filterLayer.value));
    const filters = build("div", { className: "annotation-filters" }, this.filterClass, this.filterAuthor, this.filterLayer);

    this.list = build("ol", { className: "annotation-list" });
    this.list.dataset.testid = "annotation-list";
    this.listNote = element("p", "muted small");

    this.details = build("div", { className: "annotation-details" });
    this.details.dataset.testid = "annotation-details";
    this.details.hidden = true;

    const exportLink = build("a", { className: "button", href: this.layer.exportUrl(), textContent: t("annotations.export"), title: t("annotations.exportTitle") });
    exportLink.setAttribute("download", "");
    exportLink.dataset.testid = "annotation-export";
    const files = build("div", { className: "annotation-files" }, exportLink);
    if (this.writer) {
      const input = build("input", { type: "file", accept: ".geojson,.json,application/geo+json,application/json", hidden: true });
      input.dataset.testid = "annotation-import-file";
      input.addEventListener("change", () => this.importFile(input));
      const importButton = build("button", { type: "button", textContent: t("annotations.import"), title: t("annotations.importTitle") });
      importButton.dataset.testid = "annotation-import";
      importButton.addEventListener("click", () => input.click());
      files.append(importButton, input);
    }
    section.append(heading, drawingWith, element("h3", null, t("annotations.layers")), this.layerList,
      element("h3", null, t("annotations.list")), filters, this.list, this.listNote, this.details, files);
    return section;
  }

  fillClasses() {
    const none = build("option", { value: "", textContent: t("annotations.class.none") });
    this.classSelect.replaceChildren(none, ...this.classes.map((item) => {
      const option = build("option", { value: item.name, textContent: `■ ${item.name}` });
      option.style.color = item.color;
      return option;
    }));
    this.classSelect.value = this.chosenClass;
  }

  refreshPanel() {
    if (this.panelScheduled) return;
    this.panelScheduled = true;
    setTimeout(() => {
      this.panelScheduled = false;
      this.fillLayers();
      this.fillFilters();
      this.fillList();
      this.fillDetails();
      if (this.undoButton) {
        this.undoButton.disabled = !this.layer.canUndo();
        this.redoButton.disabled = !this.layer.canRedo();
      }
    }, 50);
  }

  layerName(entry) {
    if (entry.key === "draft") return t("annotations.layer.drafts");
    if (entry.author === this.me.id) return t("annotations.layer.mine", { name: entry.name ?? "" });
    return [entry.name, entry.org].filter(Boolean).join(", ");
  }

  fillLayers() {
    const rows = this.layer.layers().map((entry) => {
      const box = build("input", { type: "checkbox", checked: this.layer.layerShown(entry.key) && !this.layer.hidden.has(entry.key) });
      box.addEventListener("change", () => this.layer.setShown(entry.key, box.checked));
      const solo = build("button", { type: "button", className: "solo", textContent: t("annotations.layer.solo"), title: t("annotations.layer.soloTitle") });
      solo.setAttribute("aria-pressed", String(this.layer.solo === entry.key));
      solo.addEventListener("click", () => this.layer.setSolo(entry.key));
      const row = build("li", {}, build("label", { className: "check" }, box, element("span", null, this.layerName(entry))), element("span", "muted small", number(entry.count, 0)), solo);
      row.dataset.testid = `annotation-layer-${entry.key === "draft" ? "draft" : entry.author}`;
      return row;
    });
    this.layerList.replaceChildren(...(rows.length ? rows : [element("li", "muted small", t("annotations.layer.empty"))]));
  }

  fillFilters() {
    const keep = (select, options, first) => {
      const value = select.value;
      select.replaceChildren(build("option", { value: "", textContent: first }), ...options.map(([key, text]) => build("option", { value: key, textContent: text })));
      select.value = options.some(([key]) => key === value) ? value : "";
    };
    const items = [...this.layer.items.values()].filter((item) => this.layer.onFrame(item));
    const classes = [...new Set(items.map((item) => item.feature.properties.classification?.name).filter(Boolean))].sort();
    const authors = new Map(items.map((item) => [item.feature.properties.author, item.feature.properties.author_name ?? ""]));
    keep(this.filterClass, classes.map((name) => [name, name]), t("annotations.filter.allClasses"));
    keep(this.filterAuthor, [...authors].map(([id, name]) => [id, name]), t("annotations.filter.allAuthors"));
    keep(this.filterLayer, this.layer.layers().map((entry) => [entry.key, this.layerName(entry)]), t("annotations.filter.allLayers"));
  }

  fillList() {
    const shown = this.layer.all();
    this.count.textContent = `(${number(shown.length, 0)})`;
    const kinds = KIND_NAMES();
    const rows = shown.slice(0, LIST_LIMIT).map((item) => {
      const { properties } = item.feature;
      const swatch = element("span", "swatch");
      swatch.style.background = colourOf(item.feature);
      const title = properties.label || properties.classification?.name || kinds[properties.kind] || properties.kind;
      const button = build("button", { type: "button", className: "annotation-row" }, swatch,
        element("span", "annotation-name", title),
        element("span", "muted small", [kinds[properties.kind], properties.author_name].filter(Boolean).join(" · ")));
      button.dataset.testid = "annotation-row";
      button.dataset.id = item.feature.id;
      button.setAttribute("aria-pressed", String(this.selected === item.feature.id));
      button.addEventListener("click", () => this.flyTo(item.feature.id));
      return build("li", {}, button);
    });
    this.list.replaceChildren(...rows);
    this.listNote.textContent = shown.length > LIST_LIMIT ? t("annotations.listMore", { shown: number(LIST_LIMIT, 0), count: number(shown.length, 0) })
      : shown.length ? "" : t("annotations.listEmpty");
  }

  fillDetails() {
    const item = this.selected ? this.layer.items.get(this.selected) : null;
    this.details.hidden = !item;
    if (!item) return this.details.replaceChildren();
    const { properties } = item.feature;
    const kinds = KIND_NAMES();
    const facts = build("dl", { className: "facts" });
    const add = (label, value) => value && facts.append(element("dt", null, label), element("dd", null, value));
    add(t("annotations.detail.kind"), kinds[properties.kind] ?? properties.kind);
    add(t("annotations.detail.class"), properties.classification?.name ?? t("annotations.class.none"));
    add(t("annotations.detail.label"), properties.label);
    add(t("annotations.detail.measurements"), measurementText(properties.measurements ?? {}));
    add(t("annotations.detail.author"), [properties.author_name, properties.org].filter(Boolean).join(", "));
    add(t("annotations.detail.layer"), properties.layer === "draft" ? t("annotations.layer.draft") : t("annotations.layer.shared"));
    add(t("annotations.detail.version"), t("annotations.detail.versionValue", { version: properties.version, updated: dateTime(properties.updated) }));
    const actions = build("div", { className: "annotation-actions" });
    if (this.writer && properties.author === this.me.id) {
      const remove = build("button", { type: "button", className: "danger", textContent: t("annotations.delete") });
      remove.dataset.testid = "annotation-delete";
      remove.addEventListener("click", () => this.removeSelected());
      const relabel = build("button", { type: "button", textContent: t("annotations.relabel") });
      relabel.dataset.testid = "annotation-relabel";
      relabel.addEventListener("click", () => this.askLabel(item.feature.id));
      const reclass = build("button", { type: "button", textContent: t("annotations.reclass"), title: t("annotations.reclassTitle") });
      reclass.dataset.testid = "annotation-reclass";
      reclass.addEventListener("click", () => this.act(() => this.layer.update(item.feature.id, { properties: { classification: this.chosenClass || null } })));
      actions.append(relabel, reclass, remove);
      if (properties.layer === "draft") {
        const publish = build("button", { type: "button", textContent: t("annotations.publish"), title: t("annotations.publishTitle") });
        publish.dataset.testid = "annotation-publish";
        publish.addEventListener("click", () => this.act(() => this.layer.update(item.feature.id, { properties: { layer: "shared" } })));
        actions.append(publish);
      }
    }
    this.details.replaceChildren(element("h3", null, t("annotations.selected")), facts, actions);
  }

  // --- drawing on screen ------------------------------------------------------------------

  viewMoved() {
    this.lastMove = performance.now();
    const frame = this.surface.frame();
    if (frame !== this.layer.frame) {
      this.selected = null;
      this.layer.load(frame).catch((error) => this.say(error.message));
    }
    this.schedule();
    clearTimeout(this.restTimer);
    this.restTimer = setTimeout(() => {
      this.dirty = this.dirty || this.many;
      this.schedule();
    }, REST_MS);
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.render();
    });
  }

  render() {
    const resized = this.canvas.resize();
    const matrix = this.surface.matrix();
    const { width, height } = this.canvas;
    const moving = performance.now() - this.lastMove < REST_MS;
    if (this.dirty || resized || !this.many) {
      const box = imageBox(matrix, width, height);
      const found = this.layer.search(box);
      const inView = found.filter((item) => this.layer.shown(item));
      // Drawn afresh on every frame only while the search and the drawing stay well inside a
      // frame's time (learnt from the last fresh drawing); otherwise the drawing is moved as
      // a picture, and nothing is searched until the view rests.
      this.many = found.length > DIRECT_LIMIT || inView.length * this.costPerShape > DIRECT_BUDGET_MS;
      if (this.many) this.canvas.drawCached(matrix, this.layer.inView(imageBox(matrix, width, height, MARGIN)));
      else {
        const started = performance.now();
        this.canvas.drawDirect(matrix, inView, inView.length <= 300);
        if (inView.length >= 50) this.costPerShape = (performance.now() - started) / inView.length;
      }
      this.dirty = false;
    } else if (!moving && !this.canvas.cacheHolds(matrix)) {
      this.canvas.drawCached(matrix, this.layer.inView(imageBox(matrix, width, height, MARGIN)));
    } else {
      this.canvas.blit(matrix);
    }
    this.drawOnTop(matrix);
  }

  /** The selected mark, the one being edited and the one being drawn, over the rest. */
  drawOnTop(matrix) {
    const context = this.canvas.context;
    const item = this.selected ? this.layer.items.get(this.selected) : null;
    if (item && this.layer.shown(item)) {
      const shownItem = this.edit ? { ...item, feature: { ...item.feature, geometry: this.edit.geometry } } : item;
      const vertices = verticesOf(shownItem.feature.geometry);
      const handles = this.mineSelected() && vertices.length <= HANDLE_LIMIT ? vertices : [];
      drawSelection(context, matrix, { ...shownItem, box: boxOf(shownItem.feature.geometry) }, handles);
    }
    const preview = this.drawing?.preview();
    if (preview) {
      const colour = this.classes.find((c) => c.name === this.chosenClass)?.color ?? "#ffd400";
      const feature = { geometry: preview, properties: { classification: { color: colour } } };
      drawShapes(context, matrix, [{ feature, box: boxOf(preview) }], { lineWidth: 2 });
    }
  }

  measurementNow() {
    const preview = this.drawing?.preview();
    if (preview) return measure(preview, this.surface.pixel, this.drawing.previewShape());
    if (this.edit) return measure(this.edit.geometry, this.surface.pixel);
    const item = this.selected ? this.layer.items.get(this.selected) : null;
    return item ? item.feature.properties.measurements : null;
  }

  showReadout() {
    const values = this.measurementNow();
    const text = values ? measurementText(values) : "";
    this.readout.textContent = text;
    this.readout.hidden = !text;
  }

  // --- pointer and keys ---------------------------------------------------------------------

  toImage(event) {
    const box = this.canvas.canvas.getBoundingClientRect();
    return apply(invert(this.surface.matrix()), event.clientX - box.left, event.clientY - box.top);
  }

  wirePointer() {
    const canvas = this.canvas.canvas;
    canvas.addEventListener("wheel", (event) => {
      if (this.surface.ownWheel) return; // the series viewer's stage takes it: frames, Ctrl zooms
      event.preventDefault();
      const box = canvas.getBoundingClientRect();
      this.surface.zoomAt(Math.exp(-event.deltaY / 300), event.clientX - box.left, event.clientY - box.top);
    }, { passive: false });
    canvas.addEventListener("contextmenu", (event) => event.preventDefault());
    canvas.addEventListener("pointerdown", (event) => {
      if (this.tool === "pan") return;
      event.preventDefault();
      canvas.focus?.();
      canvas.setPointerCapture(event.pointerId);
      if (event.button !== 0) {
        this.panning = { x: event.clientX, y: event.clientY };
        return;
      }
      const point = this.toImage(event);
      if (this.tool === "select") return this.selectDown(point);
      this.drawing.down(point);
      this.afterPointer();
    });
    canvas.addEventListener("pointermove", (event) => {
      if (this.panning) {
        this.surface.panBy(event.clientX - this.panning.x, event.clientY - this.panning.y);
        this.panning = { x: event.clientX, y: event.clientY };
        return;
      }
      const point = this.toImage(event);
      if (this.edit) return this.editMove(point);
      if (this.drawing?.active) {
        this.drawing.move(point);
        this.afterPointer();
      }
    });
    const up = (event) => {
      if (this.panning) {
        this.panning = null;
        return;
      }
      if (this.edit) return this.editUp();
      if (this.drawing?.pressed) {
        this.drawing.up(this.toImage(event));
        this.afterPointer();
      }
    };
    canvas.addEventListener("pointerup", up);
    canvas.addEventListener("pointercancel", up);
    canvas.addEventListener("dblclick", (event) => {
      event.preventDefault();
      if (this.drawing?.active) {
        this.drawing.complete();
        this.afterPointer();
      }
    });
  }

  afterPointer() {
    this.showReadout();
    this.schedule();
  }

  wireKeys() {
    document.addEventListener("keydown", (event) => {
      if (event.target.closest?.("input, textarea, select, [contenteditable]")) return;
      const mod = event.ctrlKey || event.metaKey;
      if (mod && event.key.toLowerCase() === "z") {
        event.preventDefault();
        event.stopImmediatePropagation();
        if (event.shiftKey) this.redo();
        else this.undo();
      } else if (mod && event.key.toLowerCase() === "y") {
        event.preventDefault();
        event.stopImmediatePropagation();
        this.redo();
      } else if (event.key === "Escape" && (this.drawing?.active || this.selected)) {
        event.stopImmediatePropagation();
        this.drawing?.cancel();
        this.select(null);
        this.afterPointer();
      } else if (event.key === "Enter" && this.drawing?.active) {
        event.preventDefault();
        this.drawing.complete();
        this.afterPointer();
      } else if ((event.key === "Delete" || event.key === "Backspace") && this.mineSelected()) {
        event.preventDefault();
        this.removeSelected();
      }
    }, true);
  }

  // --- selecting and editing --------------------------------------------------------------

  hit(point) {
    const reach = HIT_PIXELS / this.scale();
    const [x, y] = point;
    let best = null;
    for (const item of this.layer.inView([x - reach, y - reach, x + reach, y + reach])) {
      const distance = distanceTo(item.feature.geometry, x, y);
      if (distance <= reach && (!best || distance < best.distance)) best = { item, distance };
    }
    return best?.item ?? null;
  }

  mineSelected() {
    const item = this.selected ? this.layer.items.get(this.selected) : null;
    return Boolean(item && this.writer && this.layer.mine(item));
  }

  select(id) {
    this.selected = id;
    this.showReadout();
    this.refreshPanel();
    this.schedule();
  }

  selectDown(point) {
    const item = this.selected ? this.layer.items.get(this.selected) : null;
    if (item && this.mineSelected()) {
      const reach = HIT_PIXELS / this.scale();
      const vertices = verticesOf(item.feature.geometry);
      const index = vertices.length <= HANDLE_LIMIT ? vertices.findIndex(([x, y]) => Math.hypot(x - point[0], y - point[1]) <= reach) : -1;
      if (index >= 0) {
        this.edit = { kind: "vertex", index, start: point, geometry: item.feature.geometry };
        return;
      }
      if (distanceTo(item.feature.geometry, ...point) <= reach) {
        this.edit = { kind: "move", start: point, geometry: item.feature.geometry };
        return;
      }
    }
    this.select(this.hit(point)?.feature.id ?? null);
  }

  editMove(point) {
    const item = this.layer.items.get(this.selected);
    if (!item) return;
    const original = item.feature.geometry;
    this.edit.geometry = this.edit.kind === "move"
      ? moved(original, point[0] - this.edit.start[0], point[1] - this.edit.start[1])
      : withVertex(original, this.edit.index, point[0], point[1]);
    this.edit.moved = true;
    this.afterPointer();
  }

  editUp() {
    const edit = this.edit;
    this.edit = null;
    const item = this.layer.items.get(this.selected);
    if (!edit?.moved || !item) return this.afterPointer();
    const patch = { geometry: edit.geometry };
    const shape = item.feature.properties.shape;
    if (shape && edit.kind === "move") {
      const [dx, dy] = [edit.geometry, item.feature.geometry].map((g) => verticesOf(g)[0]).reduce((a, b) => [a[0] - b[0], a[1] - b[1]]);
      patch.properties = { shape: { ...shape, center: [shape.center[0] + dx, shape.center[1] + dy] } };
    }
    this.act(() => this.layer.update(item.feature.id, patch));
  }

  async removeSelected() {
    const id = this.selected;
    if (!id) return;
    this.selected = null;
    await this.act(() => this.layer.remove(id));
  }

  flyTo(id) {
    const item = this.layer.items.get(id);
    if (!item) return;
    const [x0, y0, x1, y1] = item.box;
    const pad = Math.max(x1 - x0, y1 - y0, 40) * 0.6;
    this.surface.fit([x0 - pad, y0 - pad, x1 + pad, y1 + pad]);
    this.select(id);
  }

  // --- storing ------------------------------------------------------------------------------

  finished(kind, geometry, extra) {
    if (kind === "text") return this.askText(geometry);
    const properties = { kind, classification: this.chosenClass || undefined, layer: this.draftMode ? "draft" : "shared" };
    if (extra) properties.shape = extra;
    this.act(async () => {
      const feature = await this.layer.create(geometry, properties);
      this.select(feature.id);
    });
  }

  askText(geometry) {
    this.askInline(t("annotations.textPrompt"), "", (label) => this.act(async () => {
      const feature = await this.layer.create(geometry, { kind: "text", label, classification: this.chosenClass || undefined, layer: this.draftMode ? "draft" : "shared" });
      this.select(feature.id);
    }));
  }

  askLabel(id) {
    const item = this.layer.items.get(id);
    this.askInline(t("annotations.labelPrompt"), item?.feature.properties.label ?? "", (label) => this.act(() => this.layer.update(id, { properties: { label } })));
  }

  /** A small form over the stage asking for one line of text; Enter keeps it, Esc drops it. */
  askInline(question, value, then) {
    this.inline?.remove();
    const input = build("input", { type: "text", value, maxLength: 2000 });
    input.dataset.testid = "annotation-text-input";
    input.setAttribute("aria-label", question);
    const form = build("form", { className: "annotation-inline" }, element("label", null, question), input,
      build("button", { type: "submit", textContent: t("annotations.save") }));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      form.remove();
      this.inline = null;
      if (input.value.trim()) then(input.value.trim());
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.stopPropagation();
        form.remove();
        this.inline = null;
      }
    });
    this.stage.append(form);
    this.inline = form;
    input.focus();
  }

  async act(work) {
    try {
      await work();
    } catch (error) {
      this.say(error.status === 409 ? t("annotations.conflict") : error.message);
    } finally {
      this.showReadout();
      this.refreshPanel();
    }
  }

  undo() {
    if (this.layer.canUndo()) this.act(() => this.layer.undo());
  }

  redo() {
    if (this.layer.canRedo()) this.act(() => this.layer.redo());
  }

  async importFile(input) {
    const file = input.files?.[0];
    input.value = "";
    if (!file) return;
    let document;
    try {
      document = JSON.parse(await file.text());
    } catch {
      return this.say(t("annotations.importUnreadable", { name: file.name }));
    }
    await this.act(async () => {
      const report = await this.layer.importFile(document);
      this.say(t("annotations.imported", { imported: number(report.imported, 0), refused: number(report.refused, 0) }));
    });
  }

  say(text) {
    this.message.textContent = text;
    this.message.hidden = false;
    clearTimeout(this.messageTimer);
    this.messageTimer = setTimeout(() => {
      this.message.hidden = true;
    }, 6000);
  }
}



/** The annotation layer on a viewer's surface, loading at once; `ready` once loaded. */
export function attachAnnotations(options) {
  const view = new AnnotationView(options);
  view.ready = false;
  view.start().then(() => {
    view.ready = true;
  }).catch((error) => view.say(error.message));
  return view;
}
