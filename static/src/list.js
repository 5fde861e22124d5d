// The image list: every slide and series the signed-in user may see, with a way into the viewer.
import { getJson } from "./api.js";
import { signIn } from "./signin.js";
import { showSignedInUser } from "./user.js";
import * as format from "./format.js";

const content = document.querySelector("#content");
const status = document.querySelector("#status");
const banner = document.querySelector("#error-banner");

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

function detail(label, value) {
  if (value == null || value === "") return [];
  return [element("dt", null, label), element("dd", null, value)];
}

function describe(image) {
  const list = element("dl", "facts");
  const source = [image.format, image.vendor].filter(Boolean).join(" · ");
  list.append(
    ...detail("Format", source),
    ...detail("Pixels", format.pixelSize(image.width, image.height)),
    ...detail("Scanned area", format.physicalSize(image.width, image.height, image.mpp)),
    ...detail("Resolution", format.micronsPerPixel(image.mpp)),
    ...detail("Scanned at", format.objectivePower(image.objective_power)),
    ...detail("File", format.bytes(image.size_bytes)),
  );
  return list;
}

function card(image) {
  const href = `/viewer/${encodeURIComponent(image.id)}`;
  const item = element("li", "image-card");
  item.dataset.testid = "image-card";
  item.dataset.imageId = image.id;
  const thumbnail = Object.assign(element("a", "thumbnail"), { href, tabIndex: -1 });
  const picture = Object.assign(document.createElement("img"), {
    src: `/api/images/${encodeURIComponent(image.id)}/associated/thumbnail.jpg`,
    alt: `Overview of ${image.name}`,
    loading: "lazy",
  });
  picture.addEventListener("error", () => thumbnail.classList.add("missing"));
  thumbnail.append(picture);
  const title = element("h2", "image-name");
  title.append(Object.assign(element("a", null, image.name), { href }));
  const kind = element("span", "kind", image.kind === "series" ? "Radiology series" : "Slide");
  const open = Object.assign(element("a", "open-link", "Open in viewer"), { href });
  item.append(thumbnail, kind, title, describe(image), open);
  return item;
}

function showImages(images) {
  if (images.length === 0) {
    status.textContent =
      "No slides or series yet. Images shared with you, or imported by your unit, will appear here.";
    status.className = "notice";
    content.replaceChildren();
    return;
  }
  status.textContent = images.length === 1 ? "1 image" : `${images.length} images`;
  status.className = "count";
  const grid = element("ul", "image-grid");
  grid.append(...images.map(card));
  content.replaceChildren(grid);
}

function showError(error) {
  status.textContent = "";
  banner.textContent = `The image list could not be loaded: ${error.message}`;
  banner.hidden = false;
}

async function load() {
  showSignedInUser();
  status.textContent = "Loading images…";
  status.className = "loading-images";
  try {
    showImages(await getJson("/api/images"));
  } catch (error) {
    if (error.status !== 401) return showError(error);
    status.textContent = "";
    await signIn(content);
    await load();
  }
}

load();
