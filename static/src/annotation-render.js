// Drawing annotations on a canvas over any image surface, fluid with 100,000 shapes.
//
// Only what is in view is drawn (the spatial index answers which), in one path per colour,
// and a shape smaller than a few screen pixels is drawn as a dot. With many shapes in view a
// moving view is not redrawn shape by shape: the last full drawing (made with a margin
// around the screen) is moved with the view as a picture, and redrawn once the view rests.

const DOT = 2.5; // screen pixels: smaller shapes become dots
const STEP = 0.75; // screen pixels: closer vertices are skipped
const POINT_RADIUS = 4;
export const DIRECT_LIMIT = 4000; // shapes in view drawn afresh on every frame
export const MARGIN = 0.25; // of the screen's size, on each side of a full drawing
const FALLBACK_COLOUR = "#ffd400";

/** The matrix that maps image pixels to screen pixels, applied to a point. */
export function apply([a, b, c, d, e, f], x, y) {
  return [a * x + c * y + e, b * x + d * y + f];
}

export function invert([a, b, c, d, e, f]) {
  const det = a * d - b * c;
  return [d / det, -b / det, -c / det, a / det, (c * f - d * e) / det, (b * e - a * f) / det];
}

export function multiply([a1, b1, c1, d1, e1, f1], [a2, b2, c2, d2, e2, f2]) {
  // first [a2..f2], then [a1..f1]
  return [
    a1 * a2 + c1 * b2,
    b1 * a2 + d1 * b2,
    a1 * c2 + c1 * d2,
    b1 * c2 + d1 * d2,
    a1 * e2 + c1 * f2 + e1,
    b1 * e2 + d1 * f2 + f1,
  ];
}

/** The image box a screen rectangle covers (any rotation), [minX, minY, maxX, maxY]. */
export function imageBox(matrix, width, height, margin = 0) {
  const back = invert(matrix);
  const corners = [[-margin * width, -margin * height], [width * (1 + margin), -margin * height],
    [-margin * width, height * (1 + margin)], [width * (1 + margin), height * (1 + margin)]].map(([x, y]) => apply(back, x, y));
  const xs = corners.map((p) => p[0]);
  const ys = corners.map((p) => p[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

export function colourOf(feature) {
  return feature.properties?.classification?.color ?? FALLBACK_COLOUR;
}

function addPath(context, matrix, points, closed) {
  let [lx, ly] = apply(matrix, points[0][0], points[0][1]);
  context.moveTo(lx, ly);
  for (let i = 1; i < points.length; i++) {
    const [x, y] = apply(matrix, points[i][0], points[i][1]);
    if (Math.abs(x - lx) < STEP && Math.abs(y - ly) < STEP && i < points.length - 1) continue;
    context.lineTo(x, y);
    lx = x;
    ly = y;
  }
  if (closed) context.closePath();
}

function screenSize(matrix, box) {
  const scale = Math.hypot(matrix[0], matrix[1]);
  return [(box[2] - box[0]) * scale, (box[3] - box[1]) * scale];
}

/** Adds one shape to the context's current path (dots and outlines; points as circles). */
function addShape(context, matrix, item) {
  const geometry = item.feature.geometry;
  const [w, h] = screenSize(matrix, item.box);
  if (geometry.type !== "Point" && geometry.type !== "MultiPoint" && w < DOT && h < DOT) {
    const [x, y] = apply(matrix, (item.box[0] + item.box[2]) / 2, (item.box[1] + item.box[3]) / 2);
    context.rect(x - 1, y - 1, 2, 2);
    return;
  }
  switch (geometry.type) {
    case "Point":
    case "MultiPoint":
      for (const [px, py] of geometry.type === "Point" ? [geometry.coordinates] : geometry.coordinates) {
        const [x, y] = apply(matrix, px, py);
        context.moveTo(x + POINT_RADIUS, y);
        context.arc(x, y, POINT_RADIUS, 0, 2 * Math.PI);
      }
      break;
    case "LineString":
      addPath(context, matrix, geometry.coordinates, false);
      break;
    case "Polygon":
      for (const ring of geometry.coordinates) addPath(context, matrix, ring, true);
      break;
    case "MultiPolygon":
      for (const rings of geometry.coordinates) for (const ring of rings) addPath(context, matrix, ring, true);
      break;
    default:
  }
}

/** Every shape of `items` in one stroke per colour and style. */
export function drawShapes(context, matrix, items, { lineWidth = 1.5 } = {}) {
  const groups = new Map();
  for (const item of items) {
    const draft = item.feature.properties?.layer === "draft";
    const key = `${colourOf(item.feature)}|${draft ? "d" : "s"}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(item);
  }
  context.lineWidth = lineWidth;
  context.lineJoin = "round";
  for (const [key, members] of groups) {
    const [colour, style] = key.split("|");
    context.strokeStyle = colour;
    context.setLineDash(style === "d" ? [6, 4] : []);
    context.beginPath();
    for (const item of members) addShape(context, matrix, item);
    context.stroke();
  }
  context.setLineDash([]);
}

/** Labels of text marks and named shapes, only when few enough to read. */
export function drawLabels(context, matrix, items) {
  context.font = "13px system-ui, sans-serif";
  context.textBaseline = "bottom";
  for (const item of items) {
    const label = item.feature.properties?.label;
    if (!label) continue;
    const [x, y] = apply(matrix, item.box[0], item.box[1]);
    const text = label.length > 60 ? `${label.slice(0, 59)}…` : label;
    const width = context.measureText(text).width;
    context.fillStyle = "rgba(0, 0, 0, 0.65)";
    context.fillRect(x, y - 18, width + 8, 18);
    context.fillStyle = "#ffffff";
    context.fillText(text, x + 4, y - 3);
  }
}

/** The selected shape: thicker, lightly filled, with its vertices as handles. */
export function drawSelection(context, matrix, item, handles) {
  const colour = colourOf(item.feature);
  context.save();
  context.lineWidth = 3;
  context.strokeStyle = colour;
  context.fillStyle = `${colour}33`;
  context.beginPath();
  addShape(context, matrix, item);
  if (/Polygon/.test(item.feature.geometry.type)) context.fill("evenodd");
  context.stroke();
  context.fillStyle = "#ffffff";
  context.strokeStyle = "#000000";
  context.lineWidth = 1;
  for (const [x, y] of handles) {
    const [sx, sy] = apply(matrix, x, y);
    context.fillRect(sx - 4, sy - 4, 8, 8);
    context.strokeRect(sx - 4, sy - 4, 8, 8);
  }
  context.restore();
}

/**
 * A canvas over the surface's element that draws what the layer hands it. `draw` is called
 * on every view change; it draws afresh when few shapes are in view and otherwise moves the
 * last full drawing, asking for a new one when the view has rested.
 */
export class AnnotationCanvas {
  constructor(host) {
    this.canvas = Object.assign(document.createElement("canvas"), { className: "annotation-canvas" });
    this.canvas.dataset.testid = "annotation-canvas";
    host.append(this.canvas);
    this.context = this.canvas.getContext("2d");
    this.cache = null; // {canvas, matrix, box}
    this.width = 0;
    this.height = 0;
    this.ratio = 1;
  }

  resize() {
    const box = this.canvas.parentElement.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    if (box.width === this.width && box.height === this.height && ratio === this.ratio) return false;
    this.width = box.width;
    this.height = box.height;
    this.ratio = ratio;
    this.canvas.width = Math.max(1, Math.round(box.width * ratio));
    this.canvas.height = Math.max(1, Math.round(box.height * ratio));
    this.cache = null;
    return true;
  }

  clear() {
    this.context.setTransform(1, 0, 0, 1, 0, 0);
    this.context.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.context.setTransform(this.ratio, 0, 0, this.ratio, 0, 0);
  }

  /** Everything in `items` drawn afresh on screen. */
  drawDirect(matrix, items, labels) {
    this.clear();
    drawShapes(this.context, matrix, items);
    if (labels) drawLabels(this.context, matrix, items);
  }

  /** A full drawing of `items` around the screen, kept to be moved while the view moves. */
  drawCached(matrix, items) {
    const margin = MARGIN;
    const width = Math.round(this.width * (1 + 2 * margin));
    const height = Math.round(this.height * (1 + 2 * margin));
    const offscreen = this.cache?.canvas ?? document.createElement("canvas");
    offscreen.width = Math.max(1, Math.round(width * this.ratio));
    offscreen.height = Math.max(1, Math.round(height * this.ratio));
    const context = offscreen.getContext("2d");
    context.setTransform(this.ratio, 0, 0, this.ratio, 0, 0);
    const shifted = multiply([1, 0, 0, 1, this.width * margin, this.height * margin], matrix);
    drawShapes(context, shifted, items);
    this.cache = { canvas: offscreen, matrix, box: imageBox(matrix, this.width, this.height, margin) };
    this.blit(matrix);
  }

  /** The last full drawing moved to where the view is now. */
  blit(matrix) {
    this.clear();
    if (!this.cache) return false;
    const relative = multiply(matrix, invert(this.cache.matrix));
    const context = this.context;
    const [a, b, c, d, e, f] = relative;
    if (Math.abs(a - 1) < 1e-9 && Math.abs(d - 1) < 1e-9 && Math.abs(b) < 1e-9 && Math.abs(c) < 1e-9) {
      // A pan: copy the screen's part of the drawing, whole device pixels, no resampling.
      const sx = Math.round((this.width * MARGIN - e) * this.ratio);
      const sy = Math.round((this.height * MARGIN - f) * this.ratio);
      context.setTransform(1, 0, 0, 1, 0, 0);
      context.drawImage(this.cache.canvas, sx, sy, this.canvas.width, this.canvas.height, 0, 0, this.canvas.width, this.canvas.height);
      context.setTransform(this.ratio, 0, 0, this.ratio, 0, 0);
      return true;
    }
    if (a > 0 && d > 0 && Math.abs(b) < 1e-9 && Math.abs(c) < 1e-9) return this.blitScaled(relative);
    context.save();
    context.transform(...relative);
    context.translate(-this.width * MARGIN, -this.height * MARGIN);
    context.scale(1 / this.ratio, 1 / this.ratio);
    context.drawImage(this.cache.canvas, 0, 0);
    context.restore();
    return true;
  }

  /** A zoom without rotation: only the part of the drawing that lands on screen is scaled. */
  blitScaled([a, , , d, e, f]) {
    const r = this.ratio;
    const source = this.cache.canvas;
    const offsetX = this.width * MARGIN;
    const offsetY = this.height * MARGIN;
    // the drawing's device pixels that land on the screen's edges
    const x0 = (offsetX - e / a) * r;
    const x1 = (offsetX + (this.width - e) / a) * r;
    const y0 = (offsetY - f / d) * r;
    const y1 = (offsetY + (this.height - f) / d) * r;
    const cx0 = Math.max(x0, 0);
    const cx1 = Math.min(x1, source.width);
    const cy0 = Math.max(y0, 0);
    const cy1 = Math.min(y1, source.height);
    if (cx1 <= cx0 || cy1 <= cy0) return true;
    const across = this.canvas.width / (x1 - x0);
    const down = this.canvas.height / (y1 - y0);
    const context = this.context;
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.imageSmoothingQuality = "low";
    context.drawImage(source, cx0, cy0, cx1 - cx0, cy1 - cy0,
      (cx0 - x0) * across, (cy0 - y0) * down, (cx1 - cx0) * across, (cy1 - cy0) * down);
    context.setTransform(r, 0, 0, r, 0, 0);
    return true;
  }

  /** Does the last full drawing still cover the screen at about the same scale? */
  cacheHolds(matrix) {
    if (!this.cache) return false;
    const now = Math.hypot(matrix[0], matrix[1]);
    const then = Math.hypot(this.cache.matrix[0], this.cache.matrix[1]);
    if (Math.abs(now / then - 1) > 0.01) return false;
    const [x0, y0, x1, y1] = imageBox(matrix, this.width, this.height);
    const [c0, d0, c1, d1] = this.cache.box;
    return x0 >= c0 && y0 >= d0 && x1 <= c1 && y1 <= d1;
  }
}
