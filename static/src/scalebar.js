// The scale bar in the corner of the stage: a "nice" length of tissue drawn in CSS pixels.
import { micronsPerScreenPixel, niceScaleBar } from "./optics.js";
import { length } from "./format.js";
import { t } from "./i18n.js";

export class ScaleBar {
  constructor(element, mpp) {
    this.element = element;
    this.mpp = mpp;
    this.line = Object.assign(document.createElement("div"), { className: "scale-bar-line" });
    this.label = Object.assign(document.createElement("span"), { className: "scale-bar-label" });
    element.hidden = false;
    if (mpp) {
      element.replaceChildren(this.line, this.label);
    } else {
      element.classList.add("unknown");
      element.textContent = t("slide.scale.unknown");
    }
  }

  update(imageZoom, rotationDegrees) {
    if (!this.mpp || !(imageZoom > 0)) return;
    const bar = niceScaleBar(micronsPerScreenPixel(this.mpp, imageZoom, rotationDegrees));
    this.line.style.width = `${bar.pixels.toFixed(1)}px`;
    this.label.textContent = length(bar.microns);
  }

  get text() {
    return this.element.textContent;
  }
}
