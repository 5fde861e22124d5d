// What a radiologist reads off the corners of the image: patient and study (top left),
// series and equipment (top right), the frame and its geometry (bottom left), window and
// value under the cursor (bottom right); orientation letters on the edges; warnings on top.
import { element } from "./dom.js";
import { number } from "./window-level.js";
import { t } from "./i18n.js";
import { headerNamesAnother, isTeaching } from "./viewer-frame.js";

const MASKED = "Skyddad identitet";

/** DICOM person name "Family^Given^Middle^Prefix^Suffix" as "Family, Given Middle". */
export function personName(value) {
  if (!value) return null;
  if (!value.includes("^")) return value.trim() || null;
  const [family, given, middle, prefix, suffix] = value.split("=")[0].split("^").map((part) => part.trim());
  const first = [prefix, given, middle].filter(Boolean).join(" ");
  const name = [family, first].filter(Boolean).join(", ");
  return [name, suffix].filter(Boolean).join(" ") || null;
}

/** "198301011234" → "19830101-1234"; anything else as it is. */
export function personnummer(digits) {
  return /^\d{12}$/.test(digits ?? "") ? `${digits.slice(0, 8)}-${digits.slice(8)}` : digits;
}

/** The patient's sex as the header codes it, in words. */
function sexName(code) {
  const names = { M: () => t("series.sex.male"), F: () => t("series.sex.female"), O: () => t("series.sex.other") };
  return names[code]?.() ?? null;
}

export function mm(value, digits = 1) {
  return value == null ? null : `${number(value, digits)} mm`;
}

/** "0,7 × 0,7 mm" from [row, col] spacing, written as width × height of a pixel. */
export function pixelSpacing(spacing) {
  if (!spacing) return null;
  const [row, col] = spacing.map((v) => number(Number(v.toPrecision(3)), 6));
  return row === col ? `${col} × ${row} mm` : t("series.pixel.unequal", { width: col, height: row });
}

/** The name of a plane, and the one an oblique plane is nearest to. */
function planeName(index) {
  return [t("series.plane.sagittal"), t("series.plane.coronal"), t("series.plane.axial")][index];
}

/** The plane of an orientation (row and column direction cosines), for the facts. */
export function plane(orientation) {
  if (!orientation) return null;
  const normal = [
    orientation[1] * orientation[5] - orientation[2] * orientation[4],
    orientation[2] * orientation[3] - orientation[0] * orientation[5],
    orientation[0] * orientation[4] - orientation[1] * orientation[3],
  ].map(Math.abs);
  const biggest = Math.max(...normal);
  const name = planeName(normal.indexOf(biggest));
  return biggest > 0.95 ? name : t("series.plane.oblique", { plane: name.toLowerCase() });
}

/** Patient-direction letters (L/R, P/A, H/F) of a direction in patient coordinates (LPS). */
export function directionLetters(vector) {
  const letters = [["L", "R"], ["P", "A"], ["H", "F"]];
  return vector
    .map((value, axis) => ({ value, letter: letters[axis][value >= 0 ? 0 : 1] }))
    .filter(({ value }) => Math.abs(value) > 0.25)
    .sort((a, b) => Math.abs(b.value) - Math.abs(a.value))
    .map(({ letter }) => letter)
    .join("");
}

/** The kind of a series warning ("gap: about 3 slice(s) missing…") in the page's language.
 * The importer writes its warnings in English, kind first; the details stay as written. */
export function warningKind(text) {
  const kind = text.split(":")[0].trim();
  const kinds = {
    "gap": () => t("series.warning.gap"),
    "irregular spacing": () => t("series.warning.irregular"),
    "tilted gantry": () => t("series.warning.tilted"),
    "duplicate positions": () => t("series.warning.duplicates"),
    "several volumes": () => t("series.warning.volumes"),
    "mixed orientations": () => t("series.warning.orientations"),
    "mixed sizes": () => t("series.warning.sizes"),
    "some frames have no position": () => t("series.warning.noPosition"),
    "one frame": () => t("series.warning.oneFrame"),
    "incomplete": () => t("series.warning.incomplete"),
    "no series instance uid": () => t("series.warning.noSeriesUid"),
  };
  return kinds[kind.toLowerCase()]?.() ?? kind;
}

// The importer's details (tiles/radiology), each a sentence with numbers in it: matched and
// written again from the catalogue, numbers in the page's convention.
const DETAILS = [
  [/^about (\d+) slice\(s\) missing, a step of ([\d.]+) mm where ([\d.]+) mm is usual$/,
    ([missing, step, usual]) => t("series.detail.gap", { missing, step: decimal(step), usual: decimal(usual) })],
  [/^slice steps vary from ([\d.]+) to ([\d.]+) mm$/,
    ([smallest, largest]) => t("series.detail.irregular", { smallest: decimal(smallest), largest: decimal(largest) })],
  [/^the slices are stacked ([\d.]+) degrees off their normal/,
    ([angle]) => t("series.detail.stacked", { angle: decimal(angle, 1) })],
  [/^Gantry\/Detector Tilt is (\S+) degrees$/, ([angle]) => t("series.detail.tilt", { angle: decimal(angle, 1) })],
  [/^(\d+) frame\(s\) share their slice position with another frame$/, ([count]) => t("series.detail.duplicates", { count })],
  [/^(\d+) slice positions with (\d+) frames each/, ([positions, repeats]) => t("series.detail.volumes", { positions, repeats })],
  [/^the frames are not all parallel/, () => t("series.detail.orientations")],
  [/^files of (.+) pixels share one series UID/, ([sizes]) => t("series.detail.sizes", { sizes })],
  [/^ordered by instance number$/, () => t("series.detail.noPosition")],
  [/^the series holds a single image$/, () => t("series.detail.oneFrame")],
  [/^the file forms a series of its own$/, () => t("series.detail.noSeriesUid")],
  [/^compressed frame data ends without its end-of-image marker/, () => t("series.detail.incomplete")],
];

function decimal(text, digits = 2) {
  return number(Number(text), digits);
}

/** The details after the kind ("about 3 slice(s) missing…") in the page's language; a
 * sentence the catalogue does not know stays as the importer wrote it ({text, known}). */
export function warningDetail(text) {
  const colon = text.indexOf(":");
  const detail = colon < 0 ? "" : text.slice(colon + 1).trim();
  for (const [pattern, write] of DETAILS) {
    const match = pattern.exec(detail);
    if (match) return { text: write(match.slice(1)), known: true };
  }
  return { text: detail, known: false };
}

function line(className, text, testid) {
  const node = element("div", `overlay-line ${className ?? ""}`.trim(), text ?? "");
  if (testid) node.dataset.testid = testid;
  node.hidden = !text;
  return node;
}

function setLine(node, text, title) {
  node.textContent = text ?? "";
  node.hidden = !text;
  if (title !== undefined) node.title = title ?? "";
}

export class SeriesOverlay {
  constructor(stage, image, context = { case: null }) {
    this.image = image;
    this.context = context;
    this.series = image.series ?? {};
    this.root = element("div", "series-overlay");
    this.root.dataset.testid = "series-overlay";
    this.topLeft = element("div", "overlay-corner top-left");
    this.topLeft.dataset.testid = "overlay-patient";
    this.topRight = element("div", "overlay-corner top-right");
    this.topRight.dataset.testid = "overlay-series";
    this.bottomLeft = element("div", "overlay-corner bottom-left");
    this.bottomLeft.dataset.testid = "overlay-frame";
    this.bottomRight = element("div", "overlay-corner bottom-right");
    this.bottomRight.dataset.testid = "overlay-display";
    this.markers = Object.fromEntries(["top", "right", "bottom", "left"].map((side) => {
      const marker = element("div", `orientation-marker marker-${side}`);
      marker.dataset.testid = `orientation-${side}`;
      return [side, marker];
    }));
    this.warnings = element("div", "series-warnings");
    this.warnings.dataset.testid = "series-warnings";
    this.root.append(this.topLeft, this.topRight, this.bottomLeft, this.bottomRight, ...Object.values(this.markers), this.warnings);
    stage.append(this.root);
    this.fillStatic();
    this.fillWarnings();
  }

  fillStatic() {
    const s = this.series;
    this.topLeft.append(...this.patientLines(),
      line(null, s.study_date ? t("series.overlay.study", { date: s.study_date }) : null, "overlay-study-date"),
      line(null, s.study_description),
      line(null, s.accession_number ? t("series.overlay.accession", { number: s.accession_number }) : null),
    );
    const modality = [s.modality ?? this.image.modality, s.manufacturer].filter(Boolean).join(" · ");
    this.topRight.append(
      line("strong", modality, "overlay-modality"),
      line(null, s.series_description),
      line(null, s.series_number != null ? t("series.overlay.series", { number: s.series_number }) : null),
      line(null, s.body_part_examined),
    );
    this.frameLine = line("strong", " ", "overlay-frame-number");
    this.locationLine = line(null, null, "overlay-location");
    this.positionLine = line("small", null, "overlay-position");
    this.thicknessLine = line(null, null, "overlay-thickness");
    const spacingText = s.pixel_spacing_mm ? t("series.overlay.pixel", { spacing: pixelSpacing(s.pixel_spacing_mm) }) : t("series.overlay.pixelUnknown");
    this.spacingLine = line(null, spacingText, "overlay-pixel-spacing");
    this.zoomLine = line(null, null, "overlay-zoom");
    this.scaleBar = element("div", "overlay-scale-bar");
    this.scaleBar.dataset.testid = "scale-bar";
    this.bottomLeft.append(this.frameLine, this.locationLine, this.positionLine, this.thicknessLine, this.spacingLine, this.zoomLine, this.scaleBar);
    this.slot = element("div", "overlay-slot"); // the navigator goes here
    this.cineLine = line(null, null, "overlay-cine");
    this.viewLine = line("muted", null, "overlay-view");
    this.valueLine = line(null, null, "overlay-value");
    this.previewLine = line("preview", null, "overlay-preview");
    this.windowLine = line("strong", " ", "overlay-window");
    this.bottomRight.append(this.slot, this.cineLine, this.viewLine, this.valueLine, this.previewLine, this.windowLine);
    this.fillThickness();
  }

  /** The case's patient, never the header's as if it were theirs (a header naming someone
   * else is warned about above the viewer); birth and sex from the header only when it
   * names the case's patient. Teaching shows no identity. */
  patientLines() {
    const s = this.series;
    const theCase = this.context.case;
    if (isTeaching(theCase)) return [line("muted", t("viewer.patient.teaching"), "overlay-patient-teaching")];
    const patient = theCase?.patient;
    if (!patient) return [line("muted", t("series.overlay.noPatient"))];
    const protectedName = patient.protected_identity || patient.name === MASKED;
    const name = protectedName ? t("viewer.patient.protected") : patient.name;
    const born = headerNamesAnother(s, patient) ? ""
      : [s.patient_birth_date && t("series.overlay.born", { date: s.patient_birth_date }), sexName(s.patient_sex)].filter(Boolean).join(" · ");
    return [
      line(protectedName ? "protected" : "strong", name, "overlay-patient-name"),
      line(null, patient.personnummer, "overlay-patient-id"),
      line(null, born),
    ];
  }

  /** Slice thickness and the measured distance between slices; a gap shows when the
   * slices lie further apart than they are thick. */
  fillThickness() {
    const s = this.series;
    const thickness = s.slice_thickness_mm;
    const spacing = s.measured_spacing_mm ?? s.spacing_between_slices_mm;
    const parts = [
      thickness != null && t("series.overlay.thickness", { thickness: mm(thickness) }),
      this.image.frames > 1 && spacing != null && t("series.overlay.spacing", { spacing: mm(spacing, 2) }),
    ];
    const text = parts.filter(Boolean).join(" ");
    const gap = thickness && spacing && spacing > thickness * 1.25 ? spacing - thickness : null;
    setLine(this.thicknessLine, text || null);
    if (gap) {
      const note = element("span", "overlay-note", ` ${t("series.overlay.gap", { gap: mm(gap) })}`);
      note.title = t("series.overlay.gapTitle", { thickness: mm(thickness), spacing: mm(spacing, 2), gap: mm(gap) });
      this.thicknessLine.append(note);
    }
  }

  fillWarnings() {
    // "One frame" is no news on an ultrasound or a radiograph: it stays in the facts panel.
    const warnings = (this.series.warnings ?? []).filter((text) => !/^one frame\b/i.test(text));
    this.warnings.replaceChildren(...warnings.map((text) => {
      const badge = element("span", "series-warning", `⚠ ${warningKind(text)}`);
      const detail = warningDetail(text);
      badge.title = detail.text ? `${warningKind(text)}: ${detail.text}` : warningKind(text);
      return badge;
    }));
    this.warnings.hidden = warnings.length === 0;
  }

  /** The frame shown: k (0-based) of N, its location and position. */
  setFrame(k, total, frame) {
    setLine(this.frameLine, t("series.overlay.frame", { index: k + 1, count: total }));
    setLine(this.locationLine, frame?.location != null ? t("series.overlay.location", { location: mm(frame.location, 2) }) : null);
    // Swedish separates decimal-comma numbers with semicolons: the catalogue holds the list.
    const [x, y, z] = (frame?.position ?? []).map((v) => number(v, 1));
    setLine(this.positionLine, frame?.position ? t("series.overlay.position", { x, y, z }) : null);
  }

  /** Shows or hides the corner texts and orientation letters (warnings stay). */
  toggle(visible) {
    this.root.classList.toggle("overlay-hidden", !visible);
  }

  /** A lossy JPEG preview is on screen (while scrolling fast, playing or windowing). */
  setPreview(preview) {
    setLine(this.previewLine, preview ? t("series.overlay.preview") : null);
    this.previewLine.title = preview ? t("series.overlay.previewTitle") : "";
  }

  setWindow(text) {
    setLine(this.windowLine, text);
  }

  setValue(text) {
    setLine(this.valueLine, text);
  }

  setCine(text) {
    setLine(this.cineLine, text);
  }

  /** Zoom, rotation and flips, the scale bar and the orientation letters for the current view. */
  setView(canvas, scaleText, scalePixels) {
    setLine(this.zoomLine, t("series.overlay.zoom", { percent: Math.round(canvas.imageZoom * 100) }));
    const view = [
      canvas.rotation ? t("series.overlay.rotated", { degrees: canvas.rotation }) : null,
      canvas.mirrored ? t("series.overlay.mirrored") : null,
      canvas.invert ? t("series.overlay.inverted") : null,
    ].filter(Boolean).join(" · ");
    setLine(this.viewLine, view || null);
    if (scaleText) {
      this.scaleBar.hidden = false;
      this.scaleBar.replaceChildren(
        Object.assign(element("div", "overlay-scale-line"), { style: `width: ${scalePixels.toFixed(1)}px` }),
        element("span", "overlay-scale-label", scaleText),
      );
    } else {
      this.scaleBar.hidden = true;
    }
    this.setMarkers(canvas);
  }

  setMarkers(canvas) {
    const orientation = this.series.orientation;
    const sides = { right: [1, 0], left: [-1, 0], bottom: [0, 1], top: [0, -1] };
    for (const [side, [x, y]] of Object.entries(sides)) {
      let text = "";
      if (orientation) {
        const [along, down] = canvas.imageDirection(x, y);
        const vector = [0, 1, 2].map((i) => along * orientation[i] + down * orientation[3 + i]);
        text = directionLetters(vector);
      }
      this.markers[side].textContent = text;
      this.markers[side].hidden = !text;
    }
  }
}
