// Keys of the series viewer, working anywhere on the page without first clicking the image.
// ([ and ] move to the previous and next image of the case: viewer-frame.js binds them.)
import { t } from "./i18n.js";

const BINDINGS = {
  ArrowDown: "nextFrame",
  ArrowRight: "nextFrame",
  ArrowUp: "previousFrame",
  ArrowLeft: "previousFrame",
  PageDown: "pageForward",
  PageUp: "pageBack",
  Home: "firstFrame",
  End: "lastFrame",
  " ": "cine",
  "+": "zoomIn",
  "=": "zoomIn",
  "-": "zoomOut",
  _: "zoomOut",
  0: "home",
  1: "preset1",
  2: "preset2",
  3: "preset3",
  4: "preset4",
  5: "preset5",
  6: "preset6",
  7: "preset7",
  8: "preset8",
  9: "fileWindow",
  r: "rotateRight",
  R: "rotateLeft",
  h: "flipHorizontal",
  H: "flipHorizontal",
  v: "flipVertical",
  V: "flipVertical",
  i: "invert",
  I: "invert",
  w: "toolWindow",
  W: "toolWindow",
  m: "toolMeasure",
  M: "toolMeasure",
  p: "toolPan",
  P: "toolPan",
  o: "overlay",
  O: "overlay",
  x: "reset",
  X: "reset",
  f: "fullscreen",
  F: "fullscreen",
  "?": "help",
  Escape: "escape",
};

/** Typing into a field keeps its keys; the frame slider does not (its keys are ours). */
function typingInto(target) {
  return Boolean(target.closest?.("input:not([type=range]), textarea, select, [contenteditable]"));
}

/** Calls actions[name] for bound keys; while a dialog is open only Escape acts. Keys held
 * down repeat, so holding an arrow scrolls through the series. */
export function bindSeriesKeys(actions) {
  window.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typingInto(event.target)) return;
    const action = actions[BINDINGS[event.key]];
    if (!action) return;
    if (event.key !== "Escape" && document.querySelector("dialog[open]")) return;
    if (event.key === " " && event.target.closest?.("button")) return; // Space presses a focused button
    event.preventDefault();
    event.stopPropagation();
    action(event);
  }, true);
}

/** The help window's list, in the same order as the bindings above. */
export const HELP = [
  [["↓", "→"], "Next image"],
  [["↑", "←"], "Previous image"],
  [["PgDn", "PgUp"], "Ten images forward, back"],
  [["Home", "End"], "First, last image"],
  [["Wheel"], "Scroll through the images (Ctrl + wheel zooms)"],
  [["Space"], "Cine: play or pause"],
  [["1 … 8"], "CT window presets, in the order of the Window menu"],
  [["9"], "The file's own window"],
  [["Right drag"], "Window: left–right width, up–down level"],
  [["w"], "Left button sets the window"],
  [["m"], "Left button measures a distance"],
  [["p"], "Left button pans (the default)"],
  [["+", "−"], "Zoom in, zoom out"],
  [["0"], "Fit the image"],
  [["r", "R"], "Rotate 90° right, left"],
  [["h", "v"], "Mirror left–right, top–bottom"],
  [["i"], "Invert the grey scale"],
  [["o"], "Text on the image on or off"],
  [["x"], "Reset window, view and measurements"],
  [["f"], "Full screen on or off"],
  [["[", "]"], t("viewer.keys.caseImages")],
  [["?"], "This list"],
  [["Esc"], "Close a window, stop measuring"],
];
