// Keys that work anywhere on the viewer page, without first clicking into the slide.

const BINDINGS = {
  ArrowLeft: "panLeft",
  ArrowRight: "panRight",
  ArrowUp: "panUp",
  ArrowDown: "panDown",
  "+": "zoomIn",
  "=": "zoomIn",
  "-": "zoomOut",
  _: "zoomOut",
  0: "home",
  1: "magnification1",
  2: "magnification10",
  3: "magnification20",
  4: "magnification40",
  r: "rotateRight",
  R: "rotateLeft",
  f: "fullscreen",
  F: "fullscreen",
  "?": "help",
  Escape: "escape",
};

function typingInto(target) {
  return Boolean(target.closest?.("input, textarea, select, [contenteditable]"));
}

/** Calls actions[name] for bound keys; while a dialog is open only Escape acts. */
export function bindKeys(actions) {
  // Capture phase, so OpenSeadragon's own canvas key handling never sees the same key twice.
  window.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typingInto(event.target)) return;
    const action = actions[BINDINGS[event.key]];
    if (!action) return;
    if (event.key !== "Escape" && document.querySelector("dialog[open]")) return;
    event.preventDefault();
    event.stopPropagation();
    action();
  }, true);
}
