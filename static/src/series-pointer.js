// The series viewer's pointer tools: pan with the left (or middle) button, window with a
// right drag (or the window tool), distances with the measuring tool, the value under the
// cursor, and the wheel through the frames (Ctrl+wheel zooms). Separate from the viewer so
// that other layers (annotations, live cursors) can take the pointer over the same stage.
import { getJson } from "./api.js";
import * as wl from "./window-level.js";

const WHEEL_STEP_PIXELS = 50;

export class SeriesPointer {
  constructor(viewer) {
    this.viewer = viewer;
    this.drag = null;
    this.dragBase = null;
  }

  wire() {
    const stage = this.viewer.page.stage;
    const canvas = this.viewer.canvas.canvas;
    const local = (event) => {
      const box = stage.getBoundingClientRect();
      return [event.clientX - box.left, event.clientY - box.top];
    };
    stage.addEventListener("contextmenu", (event) => event.preventDefault());
    stage.addEventListener("wheel", (event) => {
      event.preventDefault();
      if (event.ctrlKey || event.metaKey) {
        const [x, y] = local(event);
        this.viewer.canvas.zoomBy(Math.exp(-event.deltaY / 300), x, y);
        this.viewer.viewChanged();
        return;
      }
      const pixels = event.deltaMode === 1 ? event.deltaY * 33 : event.deltaMode === 2 ? event.deltaY * 400 : event.deltaY;
      if (Math.abs(pixels) >= WHEEL_STEP_PIXELS) {
        this.viewer.wheelRest = 0;
        this.viewer.step(Math.sign(pixels) * Math.max(1, Math.round(Math.abs(pixels) / 100)));
        return;
      }
      this.viewer.wheelRest += pixels;
      if (Math.abs(this.viewer.wheelRest) >= WHEEL_STEP_PIXELS) {
        this.viewer.step(Math.sign(this.viewer.wheelRest));
        this.viewer.wheelRest = 0;
      }
    }, { passive: false });

    canvas.addEventListener("pointerdown", (event) => {
      if (this.drag) return;
      const [x, y] = local(event);
      const kind = event.button === 2 || (event.button === 0 && this.viewer.tool === "window") ? "window"
        : event.button === 1 || (event.button === 0 && this.viewer.tool === "pan") ? "pan"
          : event.button === 0 && this.viewer.tool === "measure" ? "measure" : null;
      if (!kind || (kind === "window" && this.viewer.colour)) return;
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
      this.drag = { kind, pointer: event.pointerId, x0: x, y0: y, x, y };
      if (kind === "window") this.startWindowDrag();
      if (kind === "measure") {
        const point = this.viewer.canvas.toImage(x, y);
        this.viewer.measuring = { k: this.viewer.target, a: point, b: point };
      }
      stage.classList.add(`dragging-${kind}`);
    });
    canvas.addEventListener("pointermove", (event) => {
      const [x, y] = local(event);
      this.viewer.cursor = [x, y];
      const drag = this.drag;
      if (drag && drag.pointer === event.pointerId) {
        const dx = x - drag.x;
        const dy = y - drag.y;
        drag.x = x;
        drag.y = y;
        if (drag.kind === "pan") {
          this.viewer.canvas.panBy(dx, dy);
          this.viewer.viewChanged();
        } else if (drag.kind === "window") {
          this.moveWindowDrag();
        } else if (drag.kind === "measure") {
          this.viewer.measuring.b = this.viewer.canvas.toImage(x, y);
          this.viewer.schedule();
        }
      }
      this.viewer.askValue();
    });
    const end = (event) => {
      const drag = this.drag;
      if (!drag || drag.pointer !== event.pointerId) return;
      this.drag = null;
      stage.classList.remove(`dragging-${drag.kind}`);
      if (drag.kind === "window") this.endWindowDrag();
      if (drag.kind === "measure") this.endMeasure();
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    canvas.addEventListener("pointerleave", () => {
      if (this.drag) return;
      this.viewer.cursor = null;
      this.viewer.overlay.setValue(null);
    });
    canvas.addEventListener("dblclick", () => {
      this.viewer.canvas.home();
      this.viewer.viewChanged();
    });
  }

  startWindowDrag() {
    this.viewer.stopCine();
    this.dragBase = null;
    this.viewer.dragging = true;
    const shownWindow = this.viewer.shownWindow();
    const frameWindow = this.viewer.frames[this.viewer.shown?.k ?? this.viewer.target]?.window;
    if (wl.isExplicit(shownWindow)) this.dragBase = { center: shownWindow.center, width: shownWindow.width };
    else if (frameWindow) this.dragBase = { center: frameWindow[0], width: frameWindow[1] };
    else this.estimateAutoWindow().catch(() => null).then((base) => {
      if (!this.viewer.dragging) return;
      this.dragBase = base ?? { center: 0, width: 1 };
      this.moveWindowDrag();
    });
  }

  moveWindowDrag() {
    if (!this.dragBase || !this.drag) return;
    const window = wl.dragged(this.dragBase, this.drag.x - this.drag.x0, this.drag.y - this.drag.y0);
    if (wl.same(window, this.viewer.window)) return;
    this.viewer.window = window;
    this.viewer.showWindowButtons();
    this.viewer.requestDraft(window);
  }

  endWindowDrag() {
    this.viewer.dragging = false;
    this.viewer.draftBusy = null;
    this.viewer.request();
    setTimeout(() => this.viewer.store.forgetPreviews(this.viewer.window), 2000);
  }

  /** The min–max window of the frame on screen, found from its darkest and brightest pixels
   * (exact in the lossless picture) and their values asked of the server: where a drag
   * starts when the file has no window. */
  async estimateAutoWindow() {
    const bitmap = this.viewer.shown?.bitmap;
    if (!bitmap) return null;
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(bitmap, 0, 0);
    const data = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
    let darkest = 0;
    let brightest = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i] < data[darkest]) darkest = i;
      if (data[i] > data[brightest]) brightest = i;
    }
    if (data[darkest] === data[brightest]) return null;
    const where = (i) => {
      const pixel = i / 4;
      return [
        Math.floor(((pixel % bitmap.width) + 0.5) * (this.viewer.image.width / bitmap.width)),
        Math.floor((Math.floor(pixel / bitmap.width) + 0.5) * (this.viewer.image.height / bitmap.height)),
      ];
    };
    try {
      const values = await Promise.all([darkest, brightest].map((i) => {
        const [x, y] = where(i);
        return getJson(`/api/images/${encodeURIComponent(this.viewer.image.id)}/frames/${this.viewer.shown.k}/value?x=${x}&y=${y}`);
      }));
      const low = Math.min(values[0].value, values[1].value);
      const high = Math.max(values[0].value, values[1].value);
      return { center: (low + high) / 2, width: Math.max(high - low, 1e-3) };
    } catch {
      return null;
    }
  }

  endMeasure() {
    const m = this.viewer.measuring;
    this.viewer.measuring = null;
    if (m && Math.hypot(...this.viewer.canvas.imageToScreen(...m.a).map((v, i) => v - this.viewer.canvas.imageToScreen(...m.b)[i])) > 4) {
      this.viewer.measurements.push(m);
    }
    this.viewer.schedule();
  }

}
