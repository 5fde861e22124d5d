// The image list: every slide and series the signed-in user may see, with a way into the viewer.
import { getJson } from "./api.js";
import { element, sayWhenMissing } from "./dom.js";
import { loadMessages, number, t, translatePage } from "./i18n.js";
import { signedIn } from "./nav.js";
import { signIn } from "./signin.js";
import { showSignedInUser } from "./user.js";
import * as format from "./format.js";

const content = document.querySelector("#content");
const status = document.querySelector("#status");
const banner = document.querySelector("#error-banner");

function detail(label, value) {
  if (value == null || value === "") return [];
  return [element("dt", null, label), element("dd", null, value)];
}

/* The measurements with a decimal comma in Swedish: format.js writes them with a point. */

function scannedArea(image) {
  if (!image.mpp) return null;
  const mm = (pixels, micronsPerPixel) => number((pixels * micronsPerPixel) / 1000, 1);
  return `${mm(image.width, image.mpp[0])} × ${mm(image.height, image.mpp[1])} mm`;
}

function resolution(mpp) {
  if (!mpp) return null;
  const [x, y] = mpp.map((v) => Number(v.toPrecision(3)));
  return x === y ? `${number(x, 4)} µm/px` : `${number(x, 4)} × ${number(y, 4)} µm/px`;
}

function fileSize(bytes) {
  if (bytes == null) return null;
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${number(Number(value.toPrecision(3)), 2)} ${units[unit]}`;
}

function describe(image) {
  const list = element("dl", "facts");
  const source = [image.format, image.vendor].filter(Boolean).join(" · ");
  list.append(
    ...detail(t("images.fact.format"), source),
    ...detail(t("images.fact.pixels"), format.pixelSize(image.width, image.height)),
    ...detail(t("images.fact.area"), scannedArea(image)),
    ...detail(t("images.fact.resolution"), resolution(image.mpp)),
    ...detail(t("images.fact.objective"), format.objectivePower(image.objective_power)),
    ...detail(t("images.fact.file"), fileSize(image.size_bytes)),
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
    alt: t("images.thumbnail_alt", { name: image.name }),
    loading: "lazy",
  });
  sayWhenMissing(picture, t("images.no_overview"));
  thumbnail.append(picture);
  const title = element("h2", "image-name");
  title.append(Object.assign(element("a", null, image.name), { href }));
  const kind = element("span", "kind", image.kind === "series" ? t("images.kind.series") : t("images.kind.slide"));
  const open = Object.assign(element("a", "open-link", t("images.open")), { href });
  item.append(thumbnail, kind, title, describe(image), open);
  return item;
}

function showImages(images) {
  if (images.length === 0) {
    status.textContent = t("images.none");
    status.className = "notice";
    content.replaceChildren();
    return;
  }
  status.textContent = images.length === 1 ? t("images.count_one") : t("images.count", { n: images.length });
  status.className = "count";
  const grid = element("ul", "image-grid");
  grid.append(...images.map(card));
  content.replaceChildren(grid);
}

function showError(error) {
  status.textContent = "";
  banner.textContent = t("images.failed", { message: error.message });
  banner.hidden = false;
}

/** The signed-in user's language, or (signed out) the one this browser remembers. */
async function chooseLanguage() {
  const me = await signedIn().catch(() => null);
  await loadMessages(me?.user?.language);
  translatePage();
}

async function load() {
  showSignedInUser();
  status.textContent = t("images.loading");
  status.className = "loading-images";
  try {
    showImages(await getJson("/api/images"));
  } catch (error) {
    if (error.status !== 401) return showError(error);
    status.textContent = "";
    await signIn(content);
    location.reload(); // the signed-in user's own language, navigation and images
  }
}

await chooseLanguage();
load();
