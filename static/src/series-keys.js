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

/** The help window's list, in the same order as the bindings above: [[keys], meaning].
 * Built when the help is filled, after the catalogue has loaded. Keys named in words
 * (the wheel, Space, a right drag) are words of the page's language too. */
export function helpList() {
  return [
    [["↓", "→"], t("help.series.next")],
    [["↑", "←"], t("help.series.previous")],
    [["PgDn", "PgUp"], t("help.series.page")],
    [["Home", "End"], t("help.series.ends")],
    [[t("help.series.wheelKey")], t("help.series.wheel")],
    [[t("help.series.spaceKey")], t("help.series.cine")],
    [["1 … 8"], t("help.series.presets")],
    [["9"], t("help.series.fileWindow")],
    [[t("help.series.rightDragKey")], t("help.series.rightDrag")],
    [["w"], t("help.series.windowTool")],
    [["m"], t("help.series.measureTool")],
    [["p"], t("help.series.panTool")],
    [["+", "−"], t("help.zoom")],
    [["0"], t("help.series.home")],
    [["r", "R"], t("help.rotate")],
    [["h", "v"], t("help.series.mirror")],
    [["i"], t("help.series.invert")],
    [["o"], t("help.series.overlay")],
    [["x"], t("help.series.reset")],
    [["f"], t("help.fullscreen")],
    [["[", "]"], t("viewer.keys.caseImages")],
    [["?"], t("help.list")],
    [["Esc"], t("help.series.escape")],
  ];
}
