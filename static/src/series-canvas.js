// The frame on a canvas: zoom, pan, 90° rotation and flips, at the physical aspect of the
// pixels (PixelSpacing may differ across rows and columns), and a small navigator.
//
// "World" coordinates are image pixels stretched to millimetre proportions: one world unit
// is the smaller pixel spacing. Screen coordinates are CSS pixels of the stage.
import { t } from "./i18n.js";

const MIN_ZOOM_OF_HOME = 0.5;
const MAX_SCREEN_PIXELS_PER_IMAGE_PIXEL = 24;
const NAVIGATOR_SIZE = 150;

export class SeriesCanvas {
  constructor(stage, image, spacing) {
    this.stage = stage;
    this.columns = image.width;
    this.rows = image.height;
    // spacing is [row, col] in mm: the height and width of one pixel.
    const [rowMm, colMm] = spacing ?? [1, 1];
    const unit = Math.min(rowMm, colMm);
    this.mmPerWorld = spacing ? unit : null;
    this.sx = colMm / unit;
    this.sy = rowMm / unit;
    this.worldWidth = this.columns * this.sx;
    this.worldHeight = this.rows * this.sy;

    this.canvas = Object.assign(document.createElement("canvas"), { className: "series-canvas" });
    this.canvas.dataset.testid = "series-canvas";
    this.canvas.setAttribute("role", "img");
    this.context = this.canvas.getContext("2d", { alpha: false });
    stage.prepend(this.canvas);

    this.navigator = Object.assign(document.createElement("div"), { className: "series-navigator", hidden: true });
    this.navigator.dataset.testid = "series-navigator";
    this.navigator.title = t("series.navigator");
    this.navigatorCanvas = document.createElement("canvas");
    this.navigator.append(this.navigatorCanvas);
    this.navigatorContext = this.navigatorCanvas.getContext("2d");

    this.rotation = 0;
    this.flipX = false;
    this.flipY = false;
    this.invert = false;
    this.scale = 1;
    this.cx = this.worldWidth / 2;
    this.cy = this.worldHeight / 2;
    this.atHome = true;
    this.width = 0;
    this.height = 0;
    this.resize();
    this.home();
    this.wireNavigator();
  }

  /** Matches the canvas to the stage (and the display's pixel ratio); true when it changed. */
  resize() {
    const width = Math.max(1, this.stage.clientWidth);
    const height = Math.max(1, this.stage.clientHeight);
    const ratio = window.devicePixelRatio || 1;
    if (width === this.width && height === this.height && ratio === this.ratio) return false;
    this.width = width;
    this.height = height;
    this.ratio = ratio;
    this.canvas.width = Math.round(width * ratio);
    this.canvas.height = Math.round(height * ratio);
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
    if (this.atHome) this.home();
    return true;
  }

  get quarterTurned() {
    return this.rotation % 180 !== 0;
  }

  /** Screen pixels per world unit that fit the whole frame in the stage. */
  homeScale() {
    const [w, h] = this.quarterTurned ? [this.worldHeight, this.worldWidth] : [this.worldWidth, this.worldHeight];
    return Math.min(this.width / w, this.height / h);
  }

  home() {
    this.scale = this.homeScale();
    this.cx = this.worldWidth / 2;
    this.cy = this.worldHeight / 2;
    this.atHome = true;
  }

  get minScale() {
    return this.homeScale() * MIN_ZOOM_OF_HOME;
  }

  get maxScale() {
    return Math.max(this.homeScale() * 2, MAX_SCREEN_PIXELS_PER_IMAGE_PIXEL / Math.min(this.sx, this.sy));
  }

  /** Screen pixels per image pixel along the image's columns (1 = 1:1). */
  get imageZoom() {
    return this.scale * this.sx;
  }

  /** Screen → world. */
  toWorld(px, py) {
    const theta = (this.rotation * Math.PI) / 180;
    const dx = px - this.width / 2;
    const dy = py - this.height / 2;
    const u = dx * Math.cos(theta) + dy * Math.sin(theta);
    const v = -dx * Math.sin(theta) + dy * Math.cos(theta);
    return [this.cx + u / (this.scale * (this.flipX ? -1 : 1)), this.cy + v / (this.scale * (this.flipY ? -1 : 1))];
  }

  /** World → screen. */
  toScreen(wx, wy) {
    const theta = (this.rotation * Math.PI) / 180;
    const u = (wx - this.cx) * this.scale * (this.flipX ? -1 : 1);
    const v = (wy - this.cy) * this.scale * (this.flipY ? -1 : 1);
    return [
      this.width / 2 + u * Math.cos(theta) - v * Math.sin(theta),
      this.height / 2 + u * Math.sin(theta) + v * Math.cos(theta),
    ];
  }

  /** Screen → image pixel coordinates (fractional; 0..columns, 0..rows inside the frame). */
  toImage(px, py) {
    const [wx, wy] = this.toWorld(px, py);
    return [wx / this.sx, wy / this.sy];
  }

  imageToScreen(x, y) {
    return this.toScreen(x * this.sx, y * this.sy);
  }

  /** The patient-independent direction (in image axes: +x along columns, +y down the rows)
   * that points to the screen's right ([1, 0]) or down ([0, 1]). */
  imageDirection(screenX, screenY) {
    const theta = (this.rotation * Math.PI) / 180;
    const u = screenX * Math.cos(theta) + screenY * Math.sin(theta);
    const v = -screenX * Math.sin(theta) + screenY * Math.cos(theta);
    return [Math.round(u) * (this.flipX ? -1 : 1), Math.round(v) * (this.flipY ? -1 : 1)];
  }

  /** Keeps some of the frame in view and the zoom within bounds. */
  constrain() {
    this.scale = Math.min(Math.max(this.scale, this.minScale), this.maxScale);
    this.cx = Math.min(Math.max(this.cx, 0), this.worldWidth);
    this.cy = Math.min(Math.max(this.cy, 0), this.worldHeight);
  }

  /** Zooms by `factor` keeping the world point under (px, py) in place (default: the centre). */
  zoomBy(factor, px = this.width / 2, py = this.height / 2) {
    const [wx, wy] = this.toWorld(px, py);
    this.scale = Math.min(Math.max(this.scale * factor, this.minScale), this.maxScale);
    const [nx, ny] = this.toScreen(wx, wy);
    this.panBy(px - nx, py - ny);
  }

  /** Moves the picture by (dx, dy) screen pixels. */
  panBy(dx, dy) {
    const theta = (this.rotation * Math.PI) / 180;
    const u = dx * Math.cos(theta) + dy * Math.sin(theta);
    const v = -dx * Math.sin(theta) + dy * Math.cos(theta);
    this.cx -= u / (this.scale * (this.flipX ? -1 : 1));
    this.cy -= v / (this.scale * (this.flipY ? -1 : 1));
    this.atHome = false;
    this.constrain();
  }

  centreOn(wx, wy) {
    this.cx = wx;
    this.cy = wy;
    this.atHome = false;
    this.constrain();
  }

  rotateBy(degrees) {
    const wasHome = this.atHome;
    this.rotation = (((this.rotation + degrees) % 360) + 360) % 360;
    if (wasHome) this.home();
    else this.constrain();
  }

  /** Mirrors left-right on the screen, whatever the rotation. */
  flipHorizontal() {
    if (this.quarterTurned) this.flipY = !this.flipY;
    else this.flipX = !this.flipX;
    this.tidyFlips();
  }

  /** Mirrors top-bottom on the screen, whatever the rotation. */
  flipVertical() {
    if (this.quarterTurned) this.flipX = !this.flipX;
    else this.flipY = !this.flipY;
    this.tidyFlips();
  }

  /** Two mirrors make a half turn: say so, so that "flipped" always means a mirror image. */
  tidyFlips() {
    if (this.flipX && this.flipY) {
      this.flipX = false;
      this.flipY = false;
      this.rotation = (this.rotation + 180) % 360;
    }
  }

  get mirrored() {
    return this.flipX !== this.flipY;
  }

  reset() {
    this.rotation = 0;
    this.flipX = false;
    this.flipY = false;
    this.invert = false;
    this.home();
  }

  /** True when part of the frame lies outside the stage. */
  croppedView() {
    const corners = [[0, 0], [this.worldWidth, 0], [0, this.worldHeight], [this.worldWidth, this.worldHeight]];
    return corners.some(([wx, wy]) => {
      const [sx, sy] = this.toScreen(wx, wy);
      return sx < -1 || sy < -1 || sx > this.width + 1 || sy > this.height + 1;
    });
  }

  applyTransform(context, ratio, width, height, scale, cx, cy) {
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.translate(width / 2, height / 2);
    context.rotate((this.rotation * Math.PI) / 180);
    context.scale(scale * (this.flipX ? -1 : 1), scale * (this.flipY ? -1 : 1));
    context.translate(-cx, -cy);
  }

  /** Draws the bitmap (or only the black stage without one). */
  draw(bitmap) {
    const context = this.context;
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.fillStyle = "#000";
    context.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (bitmap) {
      this.applyTransform(context, this.ratio, this.width, this.height, this.scale, this.cx, this.cy);
      context.imageSmoothingEnabled = true;
      context.filter = this.invert ? "invert(1)" : "none";
      context.drawImage(bitmap, 0, 0, this.worldWidth, this.worldHeight);
      context.filter = "none";
    }
    this.drawNavigator(bitmap);
  }

  navigatorGeometry() {
    const [w, h] = this.quarterTurned ? [this.worldHeight, this.worldWidth] : [this.worldWidth, this.worldHeight];
    const scale = NAVIGATOR_SIZE / Math.max(w, h);
    return { width: Math.round(w * scale), height: Math.round(h * scale), scale };
  }

  drawNavigator(bitmap) {
    const show = Boolean(bitmap) && this.croppedView();
    this.navigator.hidden = !show;
    if (!show) return;
    const { width, height, scale } = this.navigatorGeometry();
    const ratio = this.ratio;
    const canvas = this.navigatorCanvas;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
      canvas.style.width = `${width}px`;
      canvas.style.height = `${height}px`;
    }
    const context = this.navigatorContext;
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.fillStyle = "#000";
    context.fillRect(0, 0, canvas.width, canvas.height);
    this.applyTransform(context, ratio, width, height, scale, this.worldWidth / 2, this.worldHeight / 2);
    context.filter = this.invert ? "invert(1)" : "none";
    context.drawImage(bitmap, 0, 0, this.worldWidth, this.worldHeight);
    context.filter = "none";
    // The part of the frame on the stage, outlined.
    const corners = [[0, 0], [this.width, 0], [this.width, this.height], [0, this.height]].map(([x, y]) => this.toWorld(x, y));
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.lineWidth = 2 * ratio;
    context.strokeStyle = "#7fb0f0";
    context.beginPath();
    corners.forEach(([wx, wy], index) => {
      const [x, y] = this.navigatorPoint(wx, wy, width, height, scale);
      if (index) context.lineTo(x * ratio, y * ratio);
      else context.moveTo(x * ratio, y * ratio);
    });
    context.closePath();
    context.stroke();
  }

  /** World → navigator CSS pixels. */
  navigatorPoint(wx, wy, width, height, scale) {
    const theta = (this.rotation * Math.PI) / 180;
    const u = (wx - this.worldWidth / 2) * scale * (this.flipX ? -1 : 1);
    const v = (wy - this.worldHeight / 2) * scale * (this.flipY ? -1 : 1);
    return [width / 2 + u * Math.cos(theta) - v * Math.sin(theta), height / 2 + u * Math.sin(theta) + v * Math.cos(theta)];
  }

  /** Navigator CSS pixels → world. */
  navigatorToWorld(x, y) {
    const { width, height, scale } = this.navigatorGeometry();
    const theta = (this.rotation * Math.PI) / 180;
    const dx = x - width / 2;
    const dy = y - height / 2;
    const u = dx * Math.cos(theta) + dy * Math.sin(theta);
    const v = -dx * Math.sin(theta) + dy * Math.cos(theta);
    return [
      this.worldWidth / 2 + u / (scale * (this.flipX ? -1 : 1)),
      this.worldHeight / 2 + v / (scale * (this.flipY ? -1 : 1)),
    ];
  }

  /** Clicking or dragging in the navigator centres the view there. */
  wireNavigator() {
    const move = (event) => {
      const box = this.navigatorCanvas.getBoundingClientRect();
      this.centreOn(...this.navigatorToWorld(event.clientX - box.left, event.clientY - box.top));
      this.onNavigate?.();
    };
    this.navigatorCanvas.addEventListener("pointerdown", (event) => {
      event.stopPropagation();
      this.navigatorCanvas.setPointerCapture(event.pointerId);
      move(event);
    });
    this.navigatorCanvas.addEventListener("pointermove", (event) => {
      if (this.navigatorCanvas.hasPointerCapture(event.pointerId)) move(event);
    });
  }
}
