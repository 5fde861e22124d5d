// The slide viewer: OpenSeadragon on the server's Deep Zoom tiles, with the controls a
// pathologist expects (magnifications, scale bar, rotation, label and macro, keyboard).
/* global OpenSeadragon */
import { getJson, failureReason } from "./api.js";
import { showSignedInUser } from "./user.js";
import { signedIn } from "./nav.js";
import { loadMessages, t, translatePage } from "./i18n.js";
import { caseContext, showFrame } from "./viewer-frame.js";
import * as format from "./format.js";
import { MAGNIFICATIONS, imageZoomFor, magnificationAt, nativeMagnification } from "./optics.js";
import { ScaleBar } from "./scalebar.js";
import { bindKeys } from "./keyboard.js";
import { wireDialogs, closeDialogs, showHelp, showAssociated } from "./dialogs.js";
import { attachAnnotations } from "./annotation-ui.js";
import { slideSurface } from "./surface.js";
import { startLive } from "./live.js";

const MAX_ZOOM_PIXEL_RATIO = 2;
const TILE_FAILURES_TO_REPORT = 3;
const ZOOM_STEP = 1.5;
const PAN_STEP = 1 / 6;

const page = {
  shell: document.querySelector("#shell"),
  stage: document.querySelector(".stage"),
  name: document.querySelector("#image-name"),
  banner: document.querySelector(".stage .error-banner"),
  loading: document.querySelector(".stage .loading"),
  magnification: document.querySelector("[data-testid=magnification]"),
  nativeNote: document.querySelector("[data-testid=native-magnification]"),
  scaleBar: document.querySelector("[data-testid=scale-bar]"),
  sharpening: document.querySelector("[data-testid=sharpening]"),
  facts: document.querySelector("#facts"),
};

function imageIdFromPath() {
  return decodeURIComponent(location.pathname.replace(/^\/viewer\//, "").replace(/\/$/, ""));
}

function showBanner(text) {
  page.banner.textContent = text;
  page.banner.hidden = false;
  page.loading.hidden = true;
}

/** Nothing of the slide can be shown: only the explanation stays, no controls that pretend otherwise. */
function showUnreadable(text) {
  showBanner(text);
  page.shell.classList.add("unreadable");
  page.shell.querySelectorAll(".toolbar button").forEach((button) => {
    button.disabled = true;
  });
}

/** Why the image cannot be opened, in the page's words, with the server's reason after. */
function metadataFailure(error) {
  const reason = error.message;
  const said = {
    403: () => t("viewer.error.forbidden", { reason }),
    404: () => t("viewer.error.notFound", { reason }),
    422: () => t("viewer.error.unreadable", { reason }),
  }[error.status];
  return said ? said() : t("viewer.error.notLoaded", { reason });
}

/** The image's metadata; without a session api.js has already sent the page to the sign-in. */
function loadImage(id) {
  return getJson(`/api/images/${encodeURIComponent(id)}`);
}

function showFacts(image) {
  const facts = [
    [t("viewer.facts.name"), image.name],
    [t("slide.facts.format"), [image.format, image.vendor].filter(Boolean).join(" · ")],
    [t("slide.facts.dimensions"), format.pixelSize(image.width, image.height)],
    [t("slide.facts.scannedArea"), format.physicalSize(image.width, image.height, image.mpp)],
    [t("viewer.facts.pixelSize"), format.micronsPerPixel(image.mpp) ?? t("viewer.facts.pixelSizeUnknown")],
    [t("slide.facts.objective"), format.objectivePower(image.objective_power) ?? t("slide.facts.objectiveUnknown")],
    [t("slide.facts.levels"), image.levels?.length],
  ];
  page.facts.replaceChildren(...facts.filter(([, value]) => value).flatMap(([label, value]) => [
    Object.assign(document.createElement("dt"), { textContent: label }),
    Object.assign(document.createElement("dd"), { textContent: value }),
  ]));
  page.name.textContent = image.name;
  document.title = image.name;
}

function dziUrl(image) {
  return `/dzi/${encodeURIComponent(image.id)}.dzi`;
}

/** WebGL drawn by the processor (SwiftShader, llvmpipe: virtual desktops and thin clients
 * without a graphics card) is many times slower than a plain canvas there. */
function softwareWebgl() {
  try {
    const gl = document.createElement("canvas").getContext("webgl");
    if (!gl) return true;
    const info = gl.getExtension("WEBGL_debug_renderer_info");
    const renderer = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : "";
    return /swiftshader|llvmpipe|software|basic render/i.test(renderer);
  } catch {
    return true;
  }
}

function createViewer(image) {
  return OpenSeadragon({
    element: document.querySelector("#osd"),
    drawer: softwareWebgl() ? "canvas" : "webgl",
    prefixUrl: "/static/dist/openseadragon/images/",
    tileSources: dziUrl(image),
    showNavigationControl: false,
    showNavigator: true,
    navigatorPosition: "TOP_RIGHT",
    navigatorAutoFade: false,
    navigatorBackground: "#141517",
    navigatorBorderColor: "#3a3d43",
    navigatorDisplayRegionColor: "#7fb0f0",
    maxZoomPixelRatio: MAX_ZOOM_PIXEL_RATIO,
    preserveImageSizeOnResize: true,
    minZoomImageRatio: 0.5,
    visibilityRatio: 0.2,
    animationTime: 0.5,
    maxTilesPerFrame: 4,
    keyboardNavEnabled: false,
    gestureSettingsMouse: { clickToZoom: false },
  });
}

/** Everything the toolbar, the keys and the tests do to the view. */
class SlideControls {
  constructor(viewer, image) {
    this.viewer = viewer;
    this.image = image;
  }

  get viewport() {
    return this.viewer.viewport;
  }

  imageZoom() {
    return this.viewport.viewportToImageZoom(this.viewport.getZoom(true));
  }

  magnification() {
    return magnificationAt(this.image, this.imageZoom());
  }

  setMagnification(magnification) {
    const wanted = this.viewport.imageToViewportZoom(imageZoomFor(this.image, magnification));
    const zoom = Math.min(Math.max(wanted, this.viewport.getMinZoom()), this.viewport.getMaxZoom());
    this.viewport.zoomTo(zoom);
    this.viewport.applyConstraints();
  }

  /** Lets a small slide zoom out as far as 1×, beyond OpenSeadragon's usual half of the home view. */
  allowLowestMagnification() {
    const atLowest = this.viewport.imageToViewportZoom(imageZoomFor(this.image, MAGNIFICATIONS[0]));
    this.viewport.minZoomLevel = Math.min(this.viewport.getMinZoom(), atLowest);
  }

  zoomBy(factor) {
    this.viewport.zoomBy(factor);
    this.viewport.applyConstraints();
  }

  /** Pans by a fraction of the view, in screen directions whatever the rotation. */
  pan(dx, dy) {
    const size = this.viewport.getContainerSize();
    const centre = new OpenSeadragon.Point(size.x / 2, size.y / 2);
    const moved = centre.plus(new OpenSeadragon.Point(dx * size.x, dy * size.y));
    this.viewport.panBy(this.viewport.pointFromPixel(moved).minus(this.viewport.pointFromPixel(centre)));
    this.viewport.applyConstraints();
  }

  rotateBy(degrees) {
    this.viewport.setRotation(this.viewport.getRotation() + degrees);
  }

  reset() {
    this.viewport.setRotation(0, true);
    this.viewport.goHome();
  }
}

async function toggleFullscreen() {
  if (document.fullscreenElement) return document.exitFullscreen();
  if (page.shell.classList.contains("full-page")) return page.shell.classList.remove("full-page");
  try {
    await page.shell.requestFullscreen();
  } catch {
    page.shell.classList.add("full-page"); // where the Fullscreen API is refused, fill the window
  }
}

function escape() {
  if (!closeDialogs()) page.shell.classList.remove("full-page");
}

function actionsFor(controls) {
  const actions = {
    zoomIn: () => controls.zoomBy(ZOOM_STEP),
    zoomOut: () => controls.zoomBy(1 / ZOOM_STEP),
    home: () => controls.viewport.goHome(),
    panLeft: () => controls.pan(-PAN_STEP, 0),
    panRight: () => controls.pan(PAN_STEP, 0),
    panUp: () => controls.pan(0, -PAN_STEP),
    panDown: () => controls.pan(0, PAN_STEP),
    rotateLeft: () => controls.rotateBy(-90),
    rotateRight: () => controls.rotateBy(90),
    reset: () => controls.reset(),
    fullscreen: toggleFullscreen,
    help: showHelp,
    escape,
  };
  for (const m of MAGNIFICATIONS) actions[`magnification${m}`] = () => controls.setMagnification(m);
  return actions;
}

function wireToolbar(actions) {
  for (const button of page.shell.querySelectorAll("[data-action]")) {
    button.addEventListener("click", () => actions[button.dataset.action]());
  }
  for (const button of page.shell.querySelectorAll("[data-magnification]")) {
    button.addEventListener("click", () => actions[`magnification${button.dataset.magnification}`]());
  }
}

/** How the page knows the scan's full-resolution magnification, as [note, explanation]. */
function nativeNote(image, native) {
  if (image.objective_power) {
    return [t("slide.native.objective", { magnification: format.objectivePower(native) }), t("slide.native.objectiveTitle")];
  }
  if (image.mpp) {
    return [t("slide.native.estimated", { magnification: format.magnification(native) }), t("slide.native.estimatedTitle")];
  }
  return [t("slide.native.unknown"), t("slide.native.unknownTitle")];
}

/** Marks magnifications beyond the scan (enlarged pixels) and out of reach (past OSD's limit). */
function markMagnificationButtons(image) {
  const native = nativeMagnification(image);
  for (const button of page.shell.querySelectorAll("[data-magnification]")) {
    const m = Number(button.dataset.magnification);
    const beyond = m > native * 1.001;
    button.classList.toggle("beyond-native", beyond);
    button.disabled = imageZoomFor(image, m) > MAX_ZOOM_PIXEL_RATIO * 1.001;
    const values = { magnification: button.textContent, key: button.dataset.key, scan: format.magnification(native) };
    button.title = beyond ? t("slide.magnification.beyondTitle", values) : t("slide.magnification.title", values);
  }
  [page.nativeNote.textContent, page.nativeNote.title] = nativeNote(image, native);
}

/** The zoom as a magnification; beyond the scan it says plainly that it is digital. */
function showMagnification(current, native) {
  const digital = current > native * 1.02;
  page.magnification.textContent = digital
    ? t("viewer.zoom.digital", { zoom: format.magnification(current), native: format.objectivePower(native) })
    : format.magnification(current);
  page.magnification.classList.toggle("digital", digital);
  page.magnification.title = digital ? t("viewer.zoom.digitalTitle") : "";
  for (const button of page.shell.querySelectorAll("[data-magnification]")) {
    const m = Number(button.dataset.magnification);
    button.setAttribute("aria-pressed", String(Math.abs(current - m) / m < 0.03));
  }
}

function watchTiles(viewer, image) {
  const tiles = { loaded: 0, failed: 0, reported: false };
  viewer.addHandler("tile-loaded", () => {
    tiles.loaded += 1;
    page.loading.hidden = true;
    page.sharpening.hidden = viewer.world.getItemAt(0)?.getFullyLoaded() ?? true;
  });
  viewer.addHandler("tile-load-failed", async (event) => {
    tiles.failed += 1;
    if (tiles.reported || tiles.failed < TILE_FAILURES_TO_REPORT) return;
    tiles.reported = true;
    const reason = (await failureReason(event.tile.getUrl())) ?? event.message;
    if (tiles.loaded === 0) showUnreadable(t("slide.error.unreadable", { reason }));
    else showBanner(t("slide.error.partial", { reason }));
  });
  viewer.world.addHandler("add-item", ({ item }) => {
    item.addHandler("fully-loaded-change", ({ fullyLoaded }) => {
      page.sharpening.hidden = fullyLoaded || tiles.loaded === 0;
    });
  });
  viewer.addHandler("open-failed", async (event) => {
    const reason = (await failureReason(dziUrl(image))) ?? event.message;
    showUnreadable(t("slide.error.unreadable", { reason }));
  });
}

function watchView(viewer, controls, scaleBar) {
  const update = () => {
    if (viewer.world.getItemCount() === 0) return;
    scaleBar.update(controls.imageZoom(), controls.viewport.getRotation(true));
    showMagnification(controls.magnification(), nativeMagnification(controls.image));
  };
  // The last frame of an animation raises only "animation-finish", not "animation".
  for (const event of ["open", "zoom", "animation", "animation-finish", "rotate", "resize"]) {
    viewer.addHandler(event, update);
  }
}

function offerAssociated(image) {
  const present = ["label", "macro"].filter((name) => image.associated?.includes(name));
  for (const name of present) {
    const button = document.querySelector(`[data-associated=${name}]`);
    button.hidden = false;
    button.addEventListener("click", () => showAssociated(image.id, name));
  }
  document.querySelector("#associated").hidden = present.length === 0;
}

/** The signed-in user's language; the sign-in page takes over when there is no session. */
async function prepareLanguage() {
  const me = await signedIn().catch(() => null);
  await loadMessages(me?.user?.language);
  translatePage();
}

async function main() {
  wireDialogs();
  const id = imageIdFromPath();
  await prepareLanguage();
  const context = caseContext(id);
  let image;
  try {
    image = await loadImage(id);
  } catch (error) {
    page.name.textContent = t("viewer.unavailable");
    document.querySelector(".info-panel").hidden = true;
    showUnreadable(metadataFailure(error));
    showFrame(null, await context);
    return;
  } finally {
    showSignedInUser();
  }
  if (image.kind === "series") {
    const { openSeries } = await import("./series-viewer.js");
    openSeries(image, page, await context, await signedIn().catch(() => null));
    return;
  }
  page.loading.textContent = t("viewer.loading.slide");
  context.then((known) => showFrame(image, known, { pageKeys: true }));
  showFacts(image);
  offerAssociated(image);
  markMagnificationButtons(image);
  const viewer = createViewer(image);
  const controls = new SlideControls(viewer, image);
  const scaleBar = new ScaleBar(page.scaleBar, image.mpp);
  viewer.addOnceHandler("open", () => controls.allowLowestMagnification());
  watchTiles(viewer, image);
  watchView(viewer, controls, scaleBar);
  const actions = actionsFor(controls);
  wireToolbar(actions);
  bindKeys(actions);
  const me = await signedIn().catch(() => null);
  const annotations = me ? attachAnnotations({ surface: slideSurface(viewer, image), image, me: me.user, stage: page.stage, panel: document.querySelector("#info-panel") }) : null;
  window.samsyn = {
    viewer,
    image,
    annotations,
    scaleBarText: () => scaleBar.text,
    sharpening: () => !page.sharpening.hidden,
    magnification: () => controls.magnification(),
    setMagnification: (m) => controls.setMagnification(m),
  };
  startLive({ kind: "slide", viewer, image, context, annotations, me: me?.user, page });
}

main();
