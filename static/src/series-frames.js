// Frames of a series as decoded bitmaps: fetched from the rendered-frame route, kept in a
// bounded cache, and fetched ahead of the scroll so the next frames are ready when asked for.
//
// Two qualities, as PACS workstations do it: a frame at rest is PNG (lossless: exactly the
// server's windowing, and its neighbours are fetched lossless too); while the series is
// scrolled fast, played or windowed, JPEG previews (quality 95, four times quicker for the
// server to make) keep up with the hand, and the PNG replaces the preview as soon as the
// frame is at rest. The overlay says whenever a preview is on screen.
import * as wl from "./window-level.js";
import { t } from "./i18n.js";

const CONCURRENT_FETCHES = 6; // what a browser opens to one host over HTTP/1.1
const BITMAP_BUDGET_BYTES = 320 * 2 ** 20;
const AHEAD = 40;
const BEHIND = 6;
const NEAR_AHEAD = 4; // lossless neighbours fetched at rest
const NEAR_BEHIND = 2;
const MAX_VIEWPORT = 4096; // the server's limit for `viewport`
const PREVIEW_QUALITY = 95;

export class FrameError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** The server's explanation of a failed response. */
async function failure(response) {
  const body = await response.json().catch(() => null);
  return new FrameError(response.status, body?.message ?? t("series.error.status", { status: response.status }));
}

export class FrameStore {
  /**
   * @param image the series' metadata from GET /api/images/<id>
   * @param onLoaded called with (k, window, preview) when a frame has been decoded
   * @param onFailed called with (k, window, FrameError) when a frame cannot be had
   */
  constructor(image, { onLoaded, onFailed }) {
    this.image = image;
    this.count = image.frames;
    this.onLoaded = onLoaded;
    this.onFailed = onFailed;
    const scale = Math.min(1, MAX_VIEWPORT / image.width, MAX_VIEWPORT / image.height);
    this.viewport = scale < 1 ? [Math.floor(image.width * scale), Math.floor(image.height * scale)] : null;
    this.frameBytes = Math.max(1, Math.round(image.width * scale) * Math.round(image.height * scale) * 4);
    this.ahead = Math.max(2, Math.min(AHEAD, Math.floor(BITMAP_BUDGET_BYTES / 3 / this.frameBytes)));
    this.entries = new Map(); // key -> {bitmap} | {error}, least recently used first
    this.pending = new Map(); // key -> AbortController
    this.queue = [];
    this.wanted = new Set();
    this.bytes = 0;
    this.fetched = 0;
    this.onScreen = null; // the bitmap being shown: never closed while it is
    this.retired = new Set(); // dropped from the cache while on screen
  }

  /** The viewer shows this bitmap now; one dropped earlier while on screen can go. */
  showing(bitmap) {
    const previous = this.onScreen;
    this.onScreen = bitmap;
    if (previous && previous !== bitmap && this.retired.delete(previous)) previous.close();
  }

  key(k, window, preview = false) {
    return `${k}|${wl.key(window)}|${preview ? "jpg" : "png"}`;
  }

  url(k, window, preview = false) {
    const params = new URLSearchParams();
    const value = wl.query(window);
    if (value) params.set("window", value);
    if (this.viewport) params.set("viewport", this.viewport.join(","));
    params.set("format", preview ? "jpg" : "png");
    if (preview) params.set("quality", String(PREVIEW_QUALITY));
    return `/api/images/${encodeURIComponent(this.image.id)}/frames/${k}/rendered?${params}`;
  }

  /** The best picture of frame k in this window: {bitmap, preview} or {error, preview}, or null. */
  get(k, window) {
    for (const preview of [false, true]) {
      const key = this.key(k, window, preview);
      const entry = this.entries.get(key);
      if (entry) {
        this.entries.delete(key); // most recently used goes last
        this.entries.set(key, entry);
        return { ...entry, preview };
      }
    }
    return null;
  }

  /** True when some picture of frame k in this window is ready (lossless or preview). */
  has(k, window) {
    return this.entries.has(this.key(k, window)) || this.entries.has(this.key(k, window, true));
  }

  /**
   * What to have ready now, most urgent first.
   * - at rest: the target lossless, its near neighbours lossless, previews further ahead;
   * - moving (scrolling fast, quick cine): previews of the target and ahead, a few behind;
   * - playing (slow cine): lossless pictures ahead;
   * - windowing (a drag): a preview of the target only.
   * `loop` wraps around the ends (cine).
   */
  plan(target, window, { direction = 1, loop = false, mode = "rest" } = {}) {
    const frames = [];
    const wrap = (k) => (loop ? ((k % this.count) + this.count) % this.count : k);
    const add = (k, preview) => {
      const index = wrap(k);
      if (index < 0 || index >= this.count) return;
      if (preview && this.entries.has(this.key(index, window))) return; // lossless already here
      const key = this.key(index, window, preview);
      if (!frames.some((item) => item.key === key)) frames.push({ k: index, window, key, preview });
    };
    if (mode === "window") {
      add(target, true);
    } else {
      add(target, mode === "move");
      if (mode === "rest") {
        for (let step = 1; step <= Math.max(NEAR_AHEAD, NEAR_BEHIND); step += 1) {
          if (step <= NEAR_AHEAD) add(target + step * direction, false);
          if (step <= NEAR_BEHIND) add(target - step * direction, false);
        }
      }
      for (let step = 1; step <= this.ahead; step += 1) {
        add(target + step * direction, mode !== "play");
        if (step <= BEHIND) add(target - step * direction, mode !== "play");
      }
    }
    this.wanted = new Set(frames.map(({ key }) => key));
    for (const [key, controller] of this.pending) {
      if (!this.wanted.has(key)) {
        controller.abort();
        this.pending.delete(key);
      }
    }
    this.queue = frames.filter(({ key }) => !this.entries.has(key) && !this.pending.has(key));
    this.pump();
  }

  pump() {
    while (this.pending.size < CONCURRENT_FETCHES && this.queue.length) {
      const { k, window, key, preview } = this.queue.shift();
      if (this.entries.has(key) || this.pending.has(key)) continue;
      this.load(k, window, key, preview);
    }
  }

  async load(k, window, key, preview) {
    const controller = new AbortController();
    this.pending.set(key, controller);
    try {
      const response = await fetch(this.url(k, window, preview), {
        credentials: "same-origin",
        signal: controller.signal,
      });
      if (!response.ok) throw await failure(response);
      const bitmap = await createImageBitmap(await response.blob());
      if (controller.signal.aborted) {
        bitmap.close();
        return;
      }
      this.fetched += 1;
      this.store(key, { bitmap });
      if (!preview) this.drop(this.key(k, window, true)); // the lossless picture replaces its preview
      this.onLoaded(k, window, preview);
    } catch (error) {
      if (controller.signal.aborted) return;
      const reason = error instanceof FrameError
        ? error
        : new FrameError(0, error?.name === "TypeError"
          ? t("series.error.unreachable")
          : t("series.error.undecodable", { reason: error?.message ?? error }));
      if (reason.status !== 0) this.store(key, { error: reason });
      this.onFailed(k, window, reason);
    } finally {
      if (this.pending.get(key) === controller) this.pending.delete(key);
      this.pump();
    }
  }

  store(key, entry) {
    this.entries.set(key, entry);
    if (entry.bitmap) this.bytes += entry.bitmap.width * entry.bitmap.height * 4;
    for (const [oldKey, old] of this.entries) {
      if (this.bytes <= BITMAP_BUDGET_BYTES) break;
      if (this.wanted.has(oldKey) || !old.bitmap) continue;
      this.drop(oldKey);
    }
  }

  drop(key) {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    if (entry.bitmap) {
      this.bytes -= entry.bitmap.width * entry.bitmap.height * 4;
      if (entry.bitmap === this.onScreen) this.retired.add(entry.bitmap);
      else entry.bitmap.close();
    }
  }

  /** Forgets previews in windows other than `window` (the many made while dragging one). */
  forgetPreviews(window) {
    const keep = `|${wl.key(window)}|`;
    for (const key of [...this.entries.keys()]) {
      if (key.endsWith("|jpg") && !key.includes(keep) && !this.wanted.has(key)) this.drop(key);
    }
  }

  /** How many frames have some picture in this window, for the progress note. */
  readyCount(window) {
    const frames = new Set();
    const part = `|${wl.key(window)}|`;
    for (const [key, entry] of this.entries) {
      if (entry.bitmap && key.includes(part)) frames.add(key.slice(0, key.indexOf("|")));
    }
    return frames.size;
  }
}
