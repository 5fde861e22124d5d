// The radiology series viewer: a frame on a canvas, scrolled by wheel, keys and slider,
// windowed by the server (presets, dragging, the file's own), with the corner overlays,
// the value under the cursor, cine, zoom, pan, rotation, mirrors, a navigator and distances.
//
// The server does everything a radiologist must be able to trust: modality LUT, window,
// values. The browser fetches rendered frames ahead of the scroll and draws the one asked for
// as soon as it is decoded; the overlays always describe the picture actually on screen.
import { build, element } from "./dom.js";
import { getJson, signInAgain } from "./api.js";
import { closeDialogs, showHelp } from "./dialogs.js";
import { length } from "./format.js";
import { niceScaleBar } from "./optics.js";
import * as wl from "./window-level.js";
import { FrameStore } from "./series-frames.js";
import { SeriesCanvas } from "./series-canvas.js";
import { SeriesOverlay, mm, personName, pixelSpacing, plane, warningDetail, warningKind } from "./series-overlay.js";
import { bindSeriesKeys, helpList } from "./series-keys.js";
import { drawMeasurements, lengthMm, lengthText } from "./series-measure.js";
import { t } from "./i18n.js";
import { attachAnnotations } from "./annotation-ui.js";
import { seriesSurface } from "./surface.js";
import { SeriesPointer } from "./series-pointer.js";
import { seriesStrip, showFrame } from "./viewer-frame.js";
import { startLive } from "./live.js";

const PAGE_STEP = 10;
const REST_MS = 150; // this long on one frame and it is at rest: its lossless picture follows
const ZOOM_STEP = 1.25;
const CINE_RATES = [2, 5, 10, 15, 20, 25, 30, 40, 60];
const DEFAULT_CINE_RATE = 15;
const LOSSLESS_CINE_RATE = 15; // up to this rate cine plays lossless pictures, above it previews
const COLOUR = new Set(["RGB", "YBR_FULL", "YBR_FULL_422", "YBR_PARTIAL_420", "YBR_ICT", "YBR_RCT", "PALETTE COLOR"]);
const ICONS = {
  zoomOut: '<path d="M4 10h12"/>',
  zoomIn: '<path d="M4 10h12M10 4v12"/>',
  home: '<path d="M3 7.5V3h4.5M12.5 3H17v4.5M17 12.5V17h-4.5M7.5 17H3v-4.5"/><rect x="6.5" y="6.5" width="7" height="7" rx="1"/>',
  rotateLeft: '<path d="M5.5 6.5A6 6 0 1 1 4 11"/><path d="M5.5 2.5v4h4"/>',
  rotateRight: '<path d="M14.5 6.5A6 6 0 1 0 16 11"/><path d="M14.5 2.5v4h-4"/>',
  flipHorizontal: '<path d="M10 2.5v15"/><path d="M7.5 5.5 3 14h4.5zM12.5 5.5 17 14h-4.5z"/>',
  invert: '<circle cx="10" cy="10" r="6.5"/><path d="M10 3.5a6.5 6.5 0 0 1 0 13z" fill="currentColor"/>',
  overlay: '<path d="M3 4.5h6M3 7.5h4M11 15.5h6M13 12.5h4"/><rect x="2.5" y="2.5" width="15" height="15" rx="1.5"/>',
  fullscreen: '<path d="M3 7.5V3h4.5M12.5 3H17v4.5M17 12.5V17h-4.5M7.5 17H3v-4.5"/>',
  play: '<path d="M6 4l10 6-10 6z" fill="currentColor"/>',
  pause: '<path d="M6 4h3v12H6zM11 4h3v12h-3z" fill="currentColor"/>',
};

function icon(name) {
  return `<svg viewBox="0 0 20 20" aria-hidden="true">${ICONS[name]}</svg>`;
}

function button(action, { label, title, html, className, pressed } = {}) {
  const node = build("button", { type: "button", title: title ?? label ?? "", className: className ?? "" });
  node.dataset.action = action;
  node.dataset.testid = `series-${action}`;
  if (html) node.innerHTML = html;
  else node.textContent = label;
  if (label && html) node.setAttribute("aria-label", label);
  if (pressed !== undefined) node.setAttribute("aria-pressed", String(pressed));
  return node;
}

function group(label, ...children) {
  const node = build("div", { className: "tool-group" }, ...children);
  if (label) node.setAttribute("aria-label", label);
  return node;
}

/** "90 × 90 mm": the width and height the matrix covers. */
function fieldOfView(image) {
  const spacing = image.pixel_spacing_mm;
  if (!spacing) return null;
  return `${wl.number(image.width * spacing[1], 0)} × ${wl.number(image.height * spacing[0], 0)} mm`;
}

/** A warning for the facts panel: its kind in the page's language, the importer's details after. */
function warningItem(text) {
  const detail = warningDetail(text);
  const item = element("li", null);
  item.append(element("strong", null, warningKind(text)));
  if (detail.text) {
    const words = element("span", null, detail.text);
    if (!detail.known) words.lang = "en"; // a sentence the catalogue does not know yet
    item.append(": ", words);
  }
  return item;
}

/** The facts panel on the right, for a series. */
function showFacts(page, image) {
  const s = image.series ?? {};
  const spacing = s.measured_spacing_mm ?? s.spacing_between_slices_mm;
  const facts = [
    [t("viewer.facts.name"), image.name],
    [t("series.facts.modality"), [s.modality ?? image.modality, s.manufacturer].filter(Boolean).join(" · ")],
    [t("series.facts.images"), String(image.frames)],
    [t("series.facts.matrix"), `${image.width} × ${image.height} px`],
    [t("viewer.facts.pixelSize"), pixelSpacing(image.pixel_spacing_mm) ?? t("viewer.facts.pixelSizeUnknown")],
    [t("series.facts.fieldOfView"), fieldOfView(image)],
    [t("series.facts.plane"), plane(s.orientation)],
    [t("series.facts.thickness"), mm(s.slice_thickness_mm, 2)],
    [t("series.facts.spacing"), image.frames > 1 ? mm(spacing, 2) : null],
    [t("series.facts.photometric"), s.photometric_interpretation],
    [t("series.facts.values"), s.unit === "HU" ? t("series.facts.hounsfield") : null],
    [t("series.facts.fileWindow"), s.default_window ? wl.values(s.default_window[0], s.default_window[1], 1) : t("series.facts.noFileWindow")],
  ];
  const items = facts.filter(([, value]) => value).flatMap(([label, value]) => [element("dt", null, label), element("dd", null, value)]);
  page.facts.replaceChildren(...items);
  const warnings = s.warnings ?? [];
  if (warnings.length) {
    const list = build("ul", { className: "series-warning-list" }, warnings.map(warningItem));
    list.dataset.testid = "series-warning-list";
    page.facts.after(build("h2", { className: "warnings-heading", textContent: t("series.facts.warnings") }), list);
  }
  page.name.textContent = image.name;
  document.title = image.name;
}

function fillHelp() {
  const keys = document.querySelector("#help-dialog .keys");
  if (!keys) return;
  keys.replaceChildren(...helpList().flatMap(([combo, meaning]) => [
    build("dt", {}, combo.flatMap((key, index) => [index ? " " : null, element("kbd", null, key)])),
    element("dd", null, meaning),
  ]));
}

/** The value under the cursor, asked of the server: one request at a time, the latest wins. */
class ValueProbe {
  constructor(imageId, onAnswer) {
    this.imageId = imageId;
    this.onAnswer = onAnswer;
    this.busy = false;
    this.next = null;
    this.answers = new Map();
  }

  ask(k, x, y) {
    const key = `${k}/${x}/${y}`;
    const known = this.answers.get(key);
    if (known) {
      this.next = null;
      this.onAnswer(known);
      return;
    }
    this.next = { k, x, y, key };
    if (!this.busy) this.send();
  }

  async send() {
    const wanted = this.next;
    this.next = null;
    if (!wanted) return;
    this.busy = true;
    try {
      const url = `/api/images/${encodeURIComponent(this.imageId)}/frames/${wanted.k}/value?x=${wanted.x}&y=${wanted.y}`;
      const answer = { ...(await getJson(url)), k: wanted.k, x: wanted.x, y: wanted.y };
      if (this.answers.size > 2000) this.answers.clear();
      this.answers.set(wanted.key, answer);
      this.onAnswer(answer);
    } catch (error) {
      if (error.status === 401) signInAgain();
      this.onAnswer({ k: wanted.k, x: wanted.x, y: wanted.y, error: error.message });
    } finally {
      this.busy = false;
      if (this.next) this.send();
    }
  }
}

class SeriesViewer {
  constructor(image, page, context = { case: null, images: [] }) {
    this.image = image;
    this.page = page;
    this.context = context;
    this.series = image.series ?? {};
    this.count = image.frames;
    this.frames = this.series.frames ?? [];
    this.spacing = image.pixel_spacing_mm ?? this.series.pixel_spacing_mm ?? null;
    this.colour = COLOUR.has(this.series.photometric_interpretation);
    this.hu = this.series.unit === "HU";
    this.presets = this.hu && !this.colour ? this.series.presets ?? {} : {};
    this.window = this.defaultWindow();
    this.target = 0;
    this.direction = 1;
    this.shown = null; // {k, window, preview, bitmap} on screen, or {k, window, error}
    this.drawn = 0;
    this.previewsDrawn = 0;
    this.waiters = [];
    this.tool = "pan";
    this.dragging = false;
    this.moving = false;
    this.restTimer = 0;
    this.lastDraft = null;
    this.draftBusy = null;
    this.latestDraft = null;
    this.measurements = [];
    this.measuring = null;
    this.readout = null;
    this.overlayShown = true;
    this.cursor = null;
    this.wheelRest = 0;
    this.cine = { playing: false, fps: DEFAULT_CINE_RATE, last: 0, shownTimes: [] };
    this.scheduled = false;
    this.viewListeners = new Set(); // what is drawn over the image follows every change

    this.buildChrome();
    this.canvas = new SeriesCanvas(page.stage, image, this.spacing);
    this.overlay = new SeriesOverlay(page.stage, image, context);
    this.overlay.slot.append(this.canvas.navigator);
    this.canvas.onNavigate = () => this.schedule();
    this.store = new FrameStore(image, {
      onLoaded: (k, window, preview) => this.loaded(k, window, preview),
      onFailed: (k, window, error) => this.failed(k, window, error),
    });
    this.probe = new ValueProbe(image.id, (answer) => this.showValue(answer));
    this.wirePointer();
    new ResizeObserver(() => this.schedule()).observe(page.stage);
    this.request();
    this.showWindowButtons();
  }

  /** The file's window where it has one; a soft-tissue window for CT without one (min–max of
   * a CT frame is mostly air and metal); else each frame's min–max. */
  defaultWindow() {
    if (this.series.default_window || !this.hu || this.colour) return wl.FILE;
    return wl.preset(this.presets, "abdomen") ?? wl.FILE;
  }

  // --- chrome ---------------------------------------------------------------------------

  buildChrome() {
    const { shell, stage } = this.page;
    shell.classList.add("series-shell");
    shell.setAttribute("aria-label", t("series.viewer"));
    stage.classList.add("series-stage");
    stage.querySelector("#osd")?.remove();
    stage.querySelector("[data-testid=magnification]")?.remove();
    stage.querySelector("[data-testid=scale-bar]")?.remove();
    this.page.loading.textContent = t("viewer.loading.series");
    document.querySelector("#associated")?.remove();

    this.windowMenu = this.buildWindowMenu();
    this.toolButtons = {
      pan: button("toolPan", { label: t("series.tool.pan"), title: t("series.tool.panTitle"), pressed: true }),
      window: button("toolWindow", { label: t("series.tool.window"), title: t("series.tool.windowTitle"), pressed: false }),
      measure: button("toolMeasure", { label: t("series.tool.measure"), title: t("series.tool.measureTitle"), pressed: false }),
    };
    const toolbar = this.page.shell.querySelector(".toolbar");
    toolbar.setAttribute("aria-label", t("series.toolbar"));
    toolbar.replaceChildren(
      group(t("series.group.zoom"),
        button("zoomOut", { label: t("viewer.tool.zoomOut"), title: t("viewer.tool.zoomOutTitle"), html: icon("zoomOut") }),
        button("zoomIn", { label: t("viewer.tool.zoomIn"), title: t("viewer.tool.zoomInTitle"), html: icon("zoomIn") }),
        button("home", { label: t("series.tool.home"), title: t("series.tool.homeTitle"), html: icon("home") })),
      group(t("series.group.orientation"),
        button("rotateLeft", { label: t("viewer.tool.rotateLeft"), title: t("viewer.tool.rotateLeftTitle"), html: icon("rotateLeft") }),
        button("rotateRight", { label: t("viewer.tool.rotateRight"), title: t("viewer.tool.rotateRightTitle"), html: icon("rotateRight") }),
        button("flipHorizontal", { label: t("series.tool.mirror"), title: t("series.tool.mirrorTitle"), html: icon("flipHorizontal") }),
        button("invert", { label: t("series.tool.invert"), title: t("series.tool.invertTitle"), html: icon("invert"), pressed: false }),
        button("overlay", { label: t("series.tool.overlay"), title: t("series.tool.overlayTitle"), html: icon("overlay"), pressed: true })),
      group(t("series.group.leftButton"), ...Object.values(this.toolButtons)),
      this.colour
        ? build("span", { className: "tool-group tool-label", textContent: t("series.window.colour"), title: t("series.window.colourTitle") })
        : build("label", { className: "tool-group window-menu", title: t("series.window.menuTitle") },
          element("span", "tool-label", t("series.window.label")), this.windowMenu),
      group(null, button("reset", { label: t("viewer.tool.reset"), title: t("series.tool.resetTitle") })),
      build("div", { className: "tool-group tool-group-end" },
        button("fullscreen", { label: t("viewer.tool.fullscreen"), title: t("viewer.tool.fullscreenTitle"), html: icon("fullscreen") }),
        button("help", { label: t("viewer.tool.help"), title: t("viewer.tool.helpTitle"), html: "?" })),
    );
    this.toolbar = toolbar;
    if (this.colour) this.toolButtons.window.disabled = true;
    this.buildCineBar();
    fillHelp();
  }

  buildCineBar() {
    const many = this.count > 1;
    this.playButton = button("cine", { label: t("series.cine.play"), title: t("series.cine.playTitle"), html: icon("play") });
    this.rateSelect = build("select", { className: "cine-rate", title: t("series.cine.rate") },
      CINE_RATES.map((rate) => build("option", { value: String(rate), textContent: t("series.cine.fps", { fps: rate }), selected: rate === DEFAULT_CINE_RATE })));
    this.rateSelect.dataset.testid = "cine-rate";
    this.rateSelect.setAttribute("aria-label", t("series.cine.rate"));
    this.slider = build("input", { type: "range", min: "0", max: String(Math.max(this.count - 1, 0)), step: "1", value: "0", className: "frame-slider" });
    this.slider.dataset.testid = "frame-slider";
    this.slider.setAttribute("aria-label", t("series.cine.slider"));
    this.position = element("span", "frame-position", t("series.cine.position", { index: 1, count: this.count }));
    this.position.dataset.testid = "frame-position";
    this.progress = element("span", "frame-progress muted small");
    const bar = build("div", { className: "cine-bar" }, this.playButton, this.rateSelect, this.slider, this.position, this.progress);
    bar.dataset.testid = "cine-bar";
    bar.setAttribute("role", "toolbar");
    bar.setAttribute("aria-label", t("series.cine.bar"));
    if (!many) bar.hidden = true;
    this.page.stage.after(bar);
    const strip = seriesStrip(this.image.id, this.context);
    if (strip) bar.after(strip);
    this.slider.addEventListener("input", () => {
      this.stopCine();
      this.go(Number(this.slider.value));
    });
    this.rateSelect.addEventListener("change", () => {
      this.cine.fps = Number(this.rateSelect.value);
      this.rateSelect.blur();
      if (this.cine.playing) {
        this.overlay.setCine(t("series.cine.playing", { fps: this.cine.fps }));
        this.cine.shownTimes = [];
        this.request();
      }
    });
  }

  /** The window menu: the file's own (or min–max), the CT presets, and "custom" after a drag. */
  buildWindowMenu() {
    const option = (value, text) => build("option", { value, textContent: text });
    const menu = build("select", { className: "window-select" },
      option("file", this.series.default_window ? t("series.window.fileOption") : t("series.window.autoOption")),
      wl.PRESET_ORDER.filter((name) => this.presets[name]).map((name, index) => {
        const { center, width } = this.presets[name];
        const values = wl.values(center, width, 1);
        return option(name, t("series.window.presetOption", { preset: wl.presetLabel(name), values, key: index + 1 }));
      }),
      option("custom", t("series.window.customOption")));
    menu.dataset.testid = "window-menu";
    menu.setAttribute("aria-label", t("series.window.label"));
    menu.addEventListener("change", () => {
      if (menu.value === "file") this.setWindow(wl.FILE);
      else if (menu.value !== "custom") this.choosePreset(menu.value);
      menu.blur(); // keys go back to the viewer
    });
    return menu;
  }

  showWindowButtons() {
    const value = this.window.kind === "file" ? "file" : this.window.preset ?? "custom";
    this.windowMenu.value = value;
    this.windowMenu.querySelector("option[value=custom]").hidden = value !== "custom";
  }

  setTool(tool) {
    this.tool = this.tool === tool && tool !== "pan" ? "pan" : tool;
    for (const [name, node] of Object.entries(this.toolButtons)) node.setAttribute("aria-pressed", String(name === this.tool));
    this.page.stage.dataset.tool = this.tool;
  }

  // --- frames and windows -----------------------------------------------------------------

  /** Ask the store for what is needed now. */
  request() {
    if (this.dragging) return this.requestDraft(this.window);
    let mode = this.moving ? "move" : "rest";
    if (this.cine.playing) mode = this.cine.fps <= LOSSLESS_CINE_RATE ? "play" : "move";
    this.store.plan(this.target, this.window, { direction: this.direction, loop: this.cine.playing, mode });
    this.schedule();
  }

  /** While dragging a window: one preview at a time, always of the latest window. */
  requestDraft(window) {
    this.latestDraft = window;
    if (this.store.has(this.target, window)) {
      this.schedule();
      return;
    }
    if (this.draftBusy) return;
    this.draftBusy = { k: this.target, window };
    this.store.plan(this.target, window, { mode: "window" });
  }

  /** Is this the preview the window drag was waiting for? */
  draftArrived(k, window) {
    const busy = this.draftBusy;
    if (!busy || busy.k !== k || !wl.same(busy.window, window)) return false;
    this.draftBusy = null;
    return true;
  }

  loaded(k, window, preview) {
    if (this.draftArrived(k, window)) {
      this.lastDraft = window;
      if (this.dragging && this.latestDraft && !wl.same(this.latestDraft, window)) this.requestDraft(this.latestDraft);
    }
    if (k === this.target || this.cine.playing) this.schedule();
    this.showProgress();
  }

  failed(k, window, error) {
    if (error.status === 401) return signInAgain();
    this.draftArrived(k, window);
    if (k === this.target && wl.same(window, this.window)) this.schedule();
    if (error.status === 0) this.showBanner(error.message);
  }

  showProgress() {
    if (this.count <= 1) return;
    if (this.dragging) {
      this.progress.textContent = "";
      return;
    }
    const ready = this.store.readyCount(this.window);
    this.progress.textContent = ready < this.count ? t("series.cine.loaded", { ready, count: this.count }) : "";
  }

  /** Moves to frame k (clamped); the picture follows as soon as it is ready. */
  go(k, { fromCine = false } = {}) {
    const next = Math.min(Math.max(Math.round(k), 0), this.count - 1);
    if (!fromCine) this.stopCine();
    if (next === this.target) return;
    this.direction = next >= this.target ? 1 : -1;
    if (fromCine) this.direction = 1;
    this.target = next;
    if (!fromCine) {
      this.moving = true;
      clearTimeout(this.restTimer);
      this.restTimer = setTimeout(() => {
        this.moving = false;
        this.request();
      }, REST_MS);
    }
    this.slider.value = String(next);
    this.position.textContent = t("series.cine.position", { index: next + 1, count: this.count });
    this.request();
  }

  step(delta) {
    this.go(this.target + delta);
  }

  setWindow(window) {
    if (this.colour) return;
    this.window = window;
    this.showWindowButtons();
    this.request();
  }

  choosePreset(name) {
    const window = wl.preset(this.presets, name);
    if (window) this.setWindow(window);
  }

  /** The window the picture on screen was made with. */
  shownWindow() {
    return this.shown?.window ?? this.window;
  }

  // --- drawing ------------------------------------------------------------------------------

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.render();
    });
  }

  /** The picture to show now: the target in the wanted window; while dragging, the latest
   * draft of the target; else nothing new (the previous picture stays). */
  pick() {
    const exact = this.store.get(this.target, this.window);
    if (exact) return { ...exact, k: this.target, window: this.window };
    if (this.dragging && this.lastDraft) {
      const draft = this.store.get(this.target, this.lastDraft);
      if (draft?.bitmap) return { ...draft, k: this.target, window: this.lastDraft };
    }
    return null;
  }

  render() {
    this.canvas.resize();
    const picked = this.pick();
    const before = this.shown;
    if (picked) {
      this.shown = picked;
      this.store.showing(picked.bitmap ?? null);
    }
    const shown = this.shown;
    this.canvas.draw(shown?.bitmap ?? null);
    if (shown?.bitmap) {
      drawMeasurements(this.canvas, this.measurementsOf(shown.k), this.spacing);
      if (this.measuring) drawMeasurements(this.canvas, [this.measuring], this.spacing);
    }
    if (picked && (!before || before.k !== picked.k || before.bitmap !== picked.bitmap || before.error !== picked.error)) {
      this.displayed(picked, before);
    }
    this.overlay.setView(this.canvas, ...this.scaleBar());
    for (const listener of this.viewListeners) listener();
  }

  /** A new picture is on screen: overlays, counters, waiters, the value under the cursor. */
  displayed(picked, before) {
    this.drawn += 1;
    if (picked.preview) this.previewsDrawn += 1;
    this.page.loading.hidden = true;
    if (picked.error) {
      this.showBanner(t("series.error.frame", { index: picked.k + 1, count: this.count, reason: picked.error.message }));
      this.page.stage.classList.add("frame-failed");
    } else {
      if (before?.error) this.hideBanner();
      this.page.stage.classList.remove("frame-failed");
    }
    this.overlay.setFrame(picked.k, this.count, this.frames[picked.k]);
    this.canvas.canvas.setAttribute("aria-label", t("series.canvas", { name: this.image.name, index: picked.k + 1, count: this.count }));
    this.overlay.setPreview(Boolean(picked.preview));
    const frameWindow = this.frames[picked.k]?.window ?? null;
    this.overlay.setWindow(this.colour ? null : wl.describe(picked.window, frameWindow));
    if (this.cine.playing) this.countCineFrame();
    this.waiters = this.waiters.filter((waiter) => !waiter(picked));
    if (!before || before.k !== picked.k) this.askValue();
  }

  scaleBar() {
    if (!this.canvas.mmPerWorld) return [null, 0];
    const micronsPerPixel = (this.canvas.mmPerWorld * 1000) / this.canvas.scale;
    const bar = niceScaleBar(micronsPerPixel, 160);
    return [length(bar.microns), bar.pixels];
  }

  showBanner(text) {
    this.page.banner.textContent = text;
    this.page.banner.hidden = false;
  }

  hideBanner() {
    this.page.banner.hidden = true;
  }

  // --- value under the cursor -----------------------------------------------------------

  askValue() {
    if (!this.cursor || !this.shown?.bitmap) return;
    const [x, y] = this.canvas.toImage(this.cursor[0], this.cursor[1]);
    const column = Math.floor(x);
    const row = Math.floor(y);
    if (column < 0 || row < 0 || column >= this.image.width || row >= this.image.height) {
      this.overlay.setValue(null);
      this.readout = null;
      return;
    }
    this.probe.ask(this.shown.k, column, row);
  }

  showValue(answer) {
    if (answer.k !== this.shown?.k) return;
    let text;
    const where = { x: answer.x, y: answer.y };
    if (answer.error) text = t("series.value.unavailable", { reason: answer.error, ...where });
    else if (answer.unit === "HU") text = t("series.value.hu", { value: wl.number(answer.value, 1), ...where });
    else if (this.colour) text = t("series.value.luma", { value: wl.number(answer.value, 1), ...where });
    else text = t("series.value.other", { value: [wl.number(answer.value, 2), answer.unit].filter(Boolean).join(" "), ...where });
    this.readout = answer;
    this.overlay.setValue(text);
  }

  // --- measurements ----------------------------------------------------------------------

  measurementsOf(k) {
    return this.measurements.filter((m) => m.k === k);
  }

  // --- pointer ----------------------------------------------------------------------------

  wirePointer() {
    this.pointer = new SeriesPointer(this);
    this.pointer.wire();
  }

  viewChanged() {
    this.schedule();
    this.askValue();
  }

  // --- cine -------------------------------------------------------------------------------

  toggleCine() {
    if (this.cine.playing) this.stopCine();
    else this.startCine();
  }

  startCine() {
    if (this.count < 2) return;
    this.cine.playing = true;
    this.cine.last = performance.now();
    this.cine.shownTimes = [];
    this.playButton.innerHTML = icon("pause");
    this.playButton.setAttribute("aria-label", t("series.cine.pause"));
    this.playButton.setAttribute("aria-pressed", "true");
    this.direction = 1;
    this.request();
    const tick = (now) => {
      if (!this.cine.playing) return;
      const interval = 1000 / this.cine.fps;
      if (now - this.cine.last >= interval - 2) {
        const next = (this.target + 1) % this.count;
        if (this.store.has(next, this.window)) {
          // Keep the cadence, but never try to catch up on frames that were late.
          this.cine.last = now - this.cine.last < 2 * interval ? this.cine.last + interval : now;
          this.go(next, { fromCine: true });
        }
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
    this.overlay.setCine(t("series.cine.playing", { fps: this.cine.fps }));
  }

  stopCine() {
    if (!this.cine.playing) return;
    this.cine.playing = false;
    this.playButton.innerHTML = icon("play");
    this.playButton.setAttribute("aria-label", t("series.cine.play"));
    this.playButton.setAttribute("aria-pressed", "false");
    this.overlay.setCine(null);
    this.request();
  }

  countCineFrame() {
    const now = performance.now();
    const times = this.cine.shownTimes;
    times.push(now);
    while (times.length && now - times[0] > 2000) times.shift();
    if (times.length >= 3) {
      const rate = ((times.length - 1) * 1000) / (times[times.length - 1] - times[0]);
      this.overlay.setCine(t("series.cine.playingShown", { fps: this.cine.fps, shown: wl.number(rate, 1) }));
    }
  }

  // --- actions ----------------------------------------------------------------------------

  reset() {
    this.stopCine();
    this.canvas.reset();
    this.measurements = [];
    this.measuring = null;
    this.setTool("pan");
    this.toolbar.querySelector("[data-action=invert]").setAttribute("aria-pressed", "false");
    this.setWindow(this.defaultWindow());
    this.viewChanged();
  }

  escape() {
    if (closeDialogs()) return;
    if (this.measuring) {
      this.measuring = null;
      this.schedule();
      return;
    }
    if (this.tool !== "pan") return this.setTool("pan");
    this.page.shell.classList.remove("full-page");
  }

  async toggleFullscreen() {
    const shell = this.page.shell;
    if (document.fullscreenElement) return document.exitFullscreen();
    if (shell.classList.contains("full-page")) return shell.classList.remove("full-page");
    try {
      await shell.requestFullscreen();
    } catch {
      shell.classList.add("full-page");
    }
  }

  actions() {
    const view = (change) => () => {
      change();
      this.viewChanged();
    };
    const actions = {
      nextFrame: () => this.step(1),
      previousFrame: () => this.step(-1),
      pageForward: () => this.step(PAGE_STEP),
      pageBack: () => this.step(-PAGE_STEP),
      firstFrame: () => this.go(0),
      lastFrame: () => this.go(this.count - 1),
      cine: () => this.toggleCine(),
      zoomIn: view(() => this.canvas.zoomBy(ZOOM_STEP)),
      zoomOut: view(() => this.canvas.zoomBy(1 / ZOOM_STEP)),
      home: view(() => this.canvas.home()),
      rotateLeft: view(() => this.canvas.rotateBy(-90)),
      rotateRight: view(() => this.canvas.rotateBy(90)),
      flipHorizontal: view(() => this.canvas.flipHorizontal()),
      flipVertical: view(() => this.canvas.flipVertical()),
      invert: view(() => {
        this.canvas.invert = !this.canvas.invert;
        this.toolbar.querySelector("[data-action=invert]").setAttribute("aria-pressed", String(this.canvas.invert));
      }),
      overlay: () => {
        this.overlayShown = !this.overlayShown;
        this.overlay.toggle(this.overlayShown);
        this.toolbar.querySelector("[data-action=overlay]").setAttribute("aria-pressed", String(this.overlayShown));
      },
      fileWindow: () => this.setWindow(wl.FILE),
      toolPan: () => this.setTool("pan"),
      toolWindow: () => !this.colour && this.setTool("window"),
      toolMeasure: () => this.setTool("measure"),
      reset: () => this.reset(),
      fullscreen: () => this.toggleFullscreen(),
      help: showHelp,
      escape: () => this.escape(),
    };
    wl.PRESET_ORDER.filter((name) => this.presets[name]).forEach((name, index) => {
      actions[`preset${index + 1}`] = () => this.choosePreset(name);
    });
    return actions;
  }

  wireActions() {
    const actions = this.actions();
    for (const node of this.page.shell.querySelectorAll("[data-action]")) {
      node.addEventListener("click", () => {
        actions[node.dataset.action]?.();
        if (node.dataset.action !== "cine") node.blur(); // keys go back to the viewer
      });
    }
    bindSeriesKeys(actions);
  }

  // --- for tests and scripts --------------------------------------------------------------

  /** Resolves when frame k (and, if given, the window with that key) is on screen, as the
   * lossless picture unless `preview` allows a JPEG preview. */
  whenDisplayed(k, windowKey = null, { preview = false } = {}) {
    const matches = (shown) => shown && shown.k === k && (preview || !shown.preview)
      && (windowKey == null || wl.key(shown.window) === windowKey);
    if (matches(this.shown)) return Promise.resolve(this.state());
    return new Promise((resolve) => {
      this.waiters.push((shown) => {
        if (!matches(shown)) return false;
        resolve(this.state());
        return true;
      });
    });
  }

  state() {
    const shown = this.shown;
    return {
      target: this.target,
      frame: shown?.k ?? null,
      window: shown ? { ...shown.window, key: wl.key(shown.window) } : null,
      wantedWindow: wl.key(this.window),
      dragging: this.dragging,
      preview: Boolean(shown?.preview),
      error: shown?.error?.message ?? null,
      drawn: this.drawn,
      previewsDrawn: this.previewsDrawn,
      fetched: this.store.fetched,
      tool: this.tool,
      rotation: this.canvas.rotation,
      mirrored: this.canvas.mirrored,
      inverted: this.canvas.invert,
      imageZoom: this.canvas.imageZoom,
      atHome: this.canvas.atHome,
      cine: this.cine.playing,
      fps: this.cine.fps,
      measurements: this.measurements.map((m) => ({ ...m, mm: lengthMm(m.a, m.b, this.spacing), text: lengthText(m.a, m.b, this.spacing) })),
      readout: this.readout ?? null,
    };
  }

  expose() {
    window.samsyn = {
      image: this.image,
      kind: "series",
      viewer: this,
      state: () => this.state(),
      drawn: () => this.drawn,
      go: (k) => this.go(k),
      whenDisplayed: (k, windowKey, options) => this.whenDisplayed(k, windowKey, options),
      setWindow: (center, width) => this.setWindow(wl.explicit(center, width)),
      preset: (name) => this.choosePreset(name),
      imageToScreen: (x, y) => this.canvas.imageToScreen(x, y),
      screenToImage: (x, y) => this.canvas.toImage(x, y),
    };
  }
}

/** Opens the series viewer on the viewer page (its shell, stage, banner and facts). */
export function openSeries(image, page, context, me = null) {
  showFacts(page, image);
  if (context) showFrame(image, context, { personName });
  const viewer = new SeriesViewer(image, page, context);
  viewer.wireActions();
  viewer.expose();
  if (me) {
    const panel = document.querySelector("#info-panel");
    window.samsyn.annotations = attachAnnotations({ surface: seriesSurface(viewer), image, me: me.user, stage: page.stage, panel });
  }
  startLive({ kind: "series", viewer, image, context, annotations: window.samsyn.annotations, me: me?.user, page });
  return viewer;
}
