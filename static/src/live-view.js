// What the live room needs of a viewer, the same for a slide and a series: where the view
// is (the image box on screen, the rotation, the frame, the window), how to put the view
// where another member's is, and when the user moves it by hand.
//
// Positions are level-0 image pixels; `bounds` is [x, y, w, h] of the part of the image the
// stage shows (at a quarter turn the box of the turned screen).
import { apply, imageBox, invert } from "./annotation-render.js";
import * as wl from "./window-level.js";

/** Keys that change what either viewer shows (keyboard.js, series-keys.js): pressing one is
 * taking the view back into one's own hands. */
const SLIDE_KEYS = new Set(["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "+", "=", "-", "_", "0", "1", "2", "3", "4", "r", "R"]);
const SERIES_KEYS = new Set([...SLIDE_KEYS, "5", "6", "7", "8", "9", "PageUp", "PageDown", "Home", "End", " ",
  "h", "H", "v", "V", "x", "X"]);

/** A rotation as the protocol has it: 0, 90, 180 or 270. */
export function quarterTurns(degrees) {
  return ((Math.round((degrees ?? 0) / 90) * 90) % 360 + 360) % 360;
}

function rounded(value) {
  return Math.round(value * 10) / 10;
}

/** The image box the stage shows, as [x, y, w, h]. */
function shownBounds(surface, stage) {
  const [x0, y0, x1, y1] = imageBox(surface.matrix(), stage.clientWidth, stage.clientHeight);
  return [rounded(x0), rounded(y0), rounded(x1 - x0), rounded(y1 - y0)];
}

/** Calls `listener` when the user pans, zooms, rotates or scrolls by hand (pointer, wheel,
 * the view's keys, the toolbar), never for changes made by code. */
function onUserMove(shell, stage, keys, listener) {
  const byHand = (event) => {
    if (event.target.closest?.(".stage, .toolbar, .cine-bar, .series-strip")) listener();
  };
  shell.addEventListener("pointerdown", byHand, true);
  stage.addEventListener("wheel", listener, { capture: true, passive: true });
  shell.addEventListener("input", byHand, true); // the frame slider
  window.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || !keys.has(event.key)) return;
    if (event.target.closest?.("input:not([type=range]), textarea, select, [contenteditable], dialog")) return;
    listener();
  }, true);
}

/** The live view of an OpenSeadragon slide viewer. */
export function slideView(viewer, surface, page) {
  const tiled = () => viewer.world.getItemAt(0);
  return {
    kind: "slide",
    surface,
    stage: page.stage,
    ready: () => Boolean(tiled()),
    opened: () => (tiled() ? Promise.resolve() : new Promise((resolve) => viewer.addOnceHandler("open", resolve))),
    bounds: () => shownBounds(surface, page.stage),
    rotation: () => quarterTurns(viewer.viewport.getRotation()),
    frame: () => null,
    window: () => undefined,
    toImage: (sx, sy) => apply(invert(surface.matrix()), sx, sy),
    toScreen: (x, y) => apply(surface.matrix(), x, y),
    /** The view put where `view` is: same rotation, the same centre, the box fitted. */
    show({ bounds, rotation }, { atOnce = false } = {}) {
      const item = tiled();
      if (!item || !bounds) return;
      if (quarterTurns(viewer.viewport.getRotation()) !== quarterTurns(rotation)) {
        viewer.viewport.setRotation(quarterTurns(rotation), true);
      }
      const [x, y, w, h] = bounds;
      viewer.viewport.fitBounds(item.imageToViewportRectangle(x, y, Math.max(w, 1), Math.max(h, 1)), atOnce);
    },
    onUserMove: (listener) => onUserMove(page.shell, page.stage, SLIDE_KEYS, listener),
  };
}

/** The window of a series as the protocol sends it: [center, width]; for the file's own
 * window the frame's values where the file gives them, else nothing. */
function windowOf(series) {
  const window = series.window;
  if (wl.isExplicit(window)) return [window.center, window.width];
  return series.frames[series.target]?.window ?? undefined;
}

function sameWindow(series, [center, width]) {
  const wanted = wl.explicit(center, width);
  if (wl.same(series.window, wanted)) return true;
  // The file's own window shows the same picture as its values asked for explicitly.
  const own = series.frames[series.target]?.window;
  return !wl.isExplicit(series.window) && Boolean(own) && wl.same(wl.explicit(own[0], own[1]), wanted);
}

/** The window to show for [center, width]: the preset of those values by its name. */
function windowFrom(series, [center, width]) {
  const wanted = wl.explicit(center, width);
  const name = wl.PRESET_ORDER.find((preset) => series.presets[preset] && wl.same(wl.preset(series.presets, preset), wanted));
  return name ? wl.preset(series.presets, name) : wanted;
}

/** The live view of the series viewer. */
export function seriesView(series, surface, page) {
  const canvas = series.canvas;
  return {
    kind: "series",
    surface,
    stage: page.stage,
    ready: () => true,
    opened: () => Promise.resolve(),
    bounds: () => shownBounds(surface, page.stage),
    rotation: () => quarterTurns(canvas.rotation),
    frame: () => series.target,
    window: () => (series.colour ? undefined : windowOf(series)),
    toImage: (sx, sy) => canvas.toImage(sx, sy),
    toScreen: (x, y) => canvas.imageToScreen(x, y),
    show({ bounds, rotation, frame, window }) {
      if (Number.isInteger(frame) && frame !== series.target) series.go(frame);
      if (window && !series.colour && !sameWindow(series, window)) series.setWindow(windowFrom(series, window));
      if (!bounds) return series.viewChanged();
      canvas.rotation = quarterTurns(rotation);
      const [x, y, w, h] = bounds;
      const wide = Math.max(w, 1) * canvas.sx;
      const high = Math.max(h, 1) * canvas.sy;
      const [across, down] = canvas.quarterTurned ? [high, wide] : [wide, high];
      canvas.scale = Math.min(canvas.width / across, canvas.height / down);
      canvas.centreOn((x + w / 2) * canvas.sx, (y + h / 2) * canvas.sy);
      series.viewChanged();
    },
    onUserMove: (listener) => onUserMove(page.shell, page.stage, SERIES_KEYS, listener),
  };
}
