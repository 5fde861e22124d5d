// The drawing tools: what each does with the pointer, in image pixels. A tool collects
// points and hands a finished shape to `finish(kind, geometry, extra)`; while drawing, its
// `preview()` is the shape so far (drawn and measured live). No DOM here beyond events.
import { clamp, ellipse, rectangle, ring, thinned } from "./annotation-geometry.js";

export const TOOLS = ["select", "point", "multipoint", "line", "polyline", "rectangle", "ellipse", "polygon", "freehand", "text"];
const CLOSE_PIXELS = 8; // a click this near the first vertex closes a polygon
const MIN_DRAG_PIXELS = 3;

export class DrawingTool {
  /**
   * `name` one of TOOLS (not "select"); `size` the image {width, height}; `scale()` screen
   * pixels per image pixel now; `finish(kind, geometry, extra)` stores the shape.
   */
  constructor(name, size, scale, finish) {
    this.name = name;
    this.size = size;
    this.scale = scale;
    this.finish = finish;
    this.points = [];
    this.cursor = null;
    this.pressed = false;
  }

  at(point) {
    return clamp(point, this.size.width, this.size.height);
  }

  get dragging() {
    return ["line", "rectangle", "ellipse", "freehand"].includes(this.name);
  }

  get active() {
    return this.points.length > 0;
  }

  down(point) {
    const p = this.at(point);
    if (this.dragging) {
      this.points = [p];
      this.cursor = p;
      this.pressed = true;
      return;
    }
    if (this.name === "point" || this.name === "text") {
      this.finish(this.name, { type: "Point", coordinates: p });
      return;
    }
    if (this.name === "polygon" && this.points.length >= 3 && this.near(p, this.points[0])) {
      this.complete();
      return;
    }
    this.points.push(p);
    this.cursor = p;
  }

  move(point) {
    const p = this.at(point);
    this.cursor = p;
    if (this.pressed && this.name === "freehand") this.points.push(p);
  }

  up(point) {
    if (!this.pressed) return;
    this.pressed = false;
    this.cursor = this.at(point);
    if (this.name === "freehand") this.points.push(this.cursor);
    const [a] = this.points;
    const far = Math.hypot(this.cursor[0] - a[0], this.cursor[1] - a[1]) * this.scale() >= MIN_DRAG_PIXELS;
    if (!far) return this.cancel();
    this.complete();
  }

  /** A double click or Enter ends a multipoint, polyline or polygon. */
  complete() {
    const geometry = this.geometry(true);
    const kind = this.name;
    const extra = kind === "ellipse" ? ellipse(this.points[0], this.cursor).shape : undefined;
    this.cancel();
    if (geometry) this.finish(kind, geometry, extra);
  }

  cancel() {
    this.points = [];
    this.pressed = false;
  }

  near([x0, y0], [x1, y1]) {
    return Math.hypot(x1 - x0, y1 - y0) * this.scale() <= CLOSE_PIXELS;
  }

  /** Consecutive repeated vertices removed (a double click adds its point twice). */
  distinct() {
    return this.points.filter((p, i) => i === 0 || p[0] !== this.points[i - 1][0] || p[1] !== this.points[i - 1][1]);
  }

  /** The shape so far (`final`: as it is stored), or null while it is not a shape yet. */
  geometry(final = false) {
    const cursor = this.cursor;
    const points = this.distinct();
    switch (this.name) {
      case "line":
        return points.length && cursor ? { type: "LineString", coordinates: [points[0], cursor] } : null;
      case "rectangle":
        return points.length && cursor ? rectangle(points[0], cursor) : null;
      case "ellipse":
        return points.length && cursor ? ellipse(points[0], cursor).geometry : null;
      case "freehand": {
        const stroke = thinned(points, 1 / Math.max(this.scale(), 1e-6));
        if (!final) return stroke.length > 1 ? { type: "LineString", coordinates: stroke } : null;
        return stroke.length >= 3 ? { type: "Polygon", coordinates: [ring(stroke)] } : null;
      }
      case "multipoint":
        return points.length ? { type: "MultiPoint", coordinates: points } : null;
      case "polyline": {
        const line = final ? points : [...points, cursor].filter(Boolean);
        return line.length >= 2 ? { type: "LineString", coordinates: line } : null;
      }
      case "polygon": {
        if (final) return points.length >= 3 ? { type: "Polygon", coordinates: [ring(points)] } : null;
        const outline = [...points, cursor].filter(Boolean);
        if (outline.length >= 3) return { type: "Polygon", coordinates: [ring(outline)] };
        return outline.length === 2 ? { type: "LineString", coordinates: outline } : null;
      }
      default:
        return null;
    }
  }

  preview() {
    return this.active ? this.geometry(false) : null;
  }

  previewShape() {
    return this.name === "ellipse" && this.points.length && this.cursor ? ellipse(this.points[0], this.cursor).shape : null;
  }
}
