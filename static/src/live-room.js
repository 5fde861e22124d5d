// The case's live room on the viewer page: joining it, the order of its changes (every op
// and note carries the case's sequence number; a gap, a reconnection or a `sync` ahead of us
// means asking for what was missed), presence, pointers, following and the notes.
import { getJson } from "./api.js";
import { boxOf } from "./annotation-geometry.js";
import { build } from "./dom.js";
import { t } from "./i18n.js";
import { CursorLayer } from "./live-cursors.js";
import { NotesPanel } from "./live-notes.js";
import { FollowBanner, PresenceBar } from "./live-presence.js";
import { call, openSocket, releaseSocket, throttled } from "./live-socket.js";

const CURSOR_MS = 50; // at most 20 pointer positions a second
const VIEWPORT_MS = 80; // about 12 views a second while the view moves
const LOOK_MS = 200;
const LOOKUP_LIMIT = 20;
const GAP_WAIT_MS = 300; // how long a missing sequence number may be late before a resync
const FOLLOW_KEY = "samsyn.live.follow"; // survives the trip to the leader's next image
const FLY_KEY = "samsyn.live.fly"; // a note on another image, to fly to once it is open

function stored(key) {
  try {
    return JSON.parse(sessionStorage.getItem(key) ?? "null");
  } catch {
    return null;
  }
}

function store(key, value) {
  if (value === null) sessionStorage.removeItem(key);
  else sessionStorage.setItem(key, JSON.stringify(value));
}

/** The image an op is on, where its payload says so. */
function imageOfOp(data) {
  const properties = data.annotation?.properties ?? {};
  return data.image ?? properties.image ?? properties.image_id ?? null;
}

/** Why one was taken out of the room, in the page's words. */
function removedText(reason) {
  if (reason === "access_revoked") return t("live.removed.access_revoked");
  if (reason === "logged_out") return t("live.removed.logged_out");
  if (reason === "session_expired") return t("live.removed.session_expired");
  return t("live.removed.other");
}

function joinError(error) {
  return t("live.error.join", { reason: error.message });
}

export class LiveRoom {
  /** `view`: the viewer's live view (live-view.js); `context`: the case and its images. */
  constructor({ caseId, image, view, me, annotations, context, panel }) {
    this.caseId = caseId;
    this.image = image;
    this.view = view;
    this.me = me;
    this.annotations = annotations;
    this.images = new Map((context?.images ?? []).map((entry) => [entry.id, entry]));
    this.panel = panel;
    this.seq = 0;
    this.members = [];
    this.presenter = null;
    this.following = null;
    this.followReason = null; // "member" | "presenter"
    this.declined = null; // a presenter one stopped following by hand
    this.viewports = new Map(); // user -> their last viewport
    this.joined = false;
    this.joinedOnce = false;
    this.removed = false;
    this.resyncing = false;
    this.resyncAgain = false;
    this.buffer = [];
    this.gapTimer = null;
    this.ops = Promise.resolve(); // ops are applied one after the other, in order
    this.listeners = new Set();
  }

  // --- the page ---------------------------------------------------------------------------

  buildInterface() {
    const imageName = (id) => this.images.get(id)?.name ?? id;
    const here = () => ({ image: this.image.id, frame: this.view.frame() });
    this.presence = new PresenceBar(this.me, { follow: (user) => this.follow(user), present: (on) => this.present(on) }, here, imageName);
    this.presence.mount();
    this.banner = new FollowBanner(this.view.stage, () => this.follow(null));
    this.cursors = new CursorLayer(this.view, this.image, (note) => this.goToNote(note));
    this.notes = new NotesPanel(this.panel, {
      send: (draft) => this.sendNote(draft),
      goTo: (note) => this.goToNote(note),
      pickPoint: () => this.pickPoint(),
    }, imageName, here);
  }

  say(text) {
    if (this.annotations?.say) this.annotations.say(text);
    else console.warn(text); // eslint-disable-line no-console
  }

  // --- joining ------------------------------------------------------------------------------

  async start() {
    this.buildInterface();
    this.whenJoined = new Promise((resolve) => {
      this.joinedNow = resolve;
    });
    await this.view.opened();
    this.socket = await openSocket();
    this.wireSocket();
    this.wireView();
    return this.whenJoined;
  }

  /** The page's socket is shared (the referrals use it too): it may be connected already,
   * and on leaving the room its handlers go, not the connection. */
  wireSocket() {
    const socket = this.socket;
    const connected = () => {
      this.presence.connected(true);
      this.join().catch((error) => this.refused(error));
    };
    this.handlers = {
      connect: connected,
      disconnect: () => {
        this.joined = false;
        this.presence.connected(false);
      },
      connect_error: () => {
        this.presence.connected(false);
        this.checkSession();
      },
      presence: (data) => data.case === this.caseId && this.setMembers(data.members ?? []),
      cursor: (data) => data.user !== this.me.id && this.cursors.cursor(data),
      viewport: (data) => this.viewportOf(data),
      presenter: (data) => this.presenterIs(data.user ?? null),
      op: (data) => this.sequenced("op", data),
      note: (data) => this.sequenced("note", data),
      sync: (data) => data.case === this.caseId && this.joined && data.seq > this.seq && this.resync(),
      removed: (data) => (!data.case || data.case === this.caseId) && this.leave(data.reason),
    };
    for (const [event, handler] of Object.entries(this.handlers)) socket.on(event, handler);
    if (socket.connected) connected();
  }

  /** A refused handshake may be an ended session: asking the API sends the page to the sign-in then. */
  checkSession() {
    const now = Date.now();
    if (now - (this.sessionChecked ?? 0) < 10_000) return;
    this.sessionChecked = now;
    getJson("/api/me").catch(() => {});
  }

  /** Join (again, after a reconnection: then also ask for what was missed). */
  async join() {
    const where = { case: this.caseId, image: this.image.id };
    const frame = this.view.frame();
    if (frame !== null) where.frame = frame;
    const ack = await call(this.socket, "join", where);
    this.presenter = ack.presenter ?? null;
    for (const viewport of ack.viewports ?? []) this.viewports.set(viewport.user, viewport);
    this.setMembers(ack.members ?? []);
    const again = this.joinedOnce;
    this.joined = true;
    this.joinedOnce = true;
    this.lookedAt = frame;
    if (again) {
      if (this.following) call(this.socket, "follow", { user: this.following }).catch(() => {});
      await this.resync();
    } else {
      this.seq = ack.seq ?? 0;
      await this.loadNotes();
      this.catchUp();
      this.resume();
      this.flyIfAsked();
    }
    this.lastViewport = null;
    this.sendViewport();
    this.joinedNow();
    this.changed();
  }

  /** The annotations were listed before the join: what changed between that listing and the
   * join is asked for from the newest change the layer holds (applied only where newer). */
  catchUp() {
    const layer = this.annotations?.layer;
    if (!layer || !this.annotations.ready) return;
    let held = 0;
    for (const item of layer.items.values()) held = Math.max(held, item.feature.properties.seq ?? 0);
    if (held < this.seq) this.resync(held);
  }

  async loadNotes() {
    try {
      const answer = await getJson(`/api/cases/${encodeURIComponent(this.caseId)}/notes`);
      this.notes.replace(answer.notes ?? []);
      for (const note of answer.notes ?? []) this.cursors.pin(note);
    } catch (error) {
      this.say(t("live.notes.unavailable", { reason: error.message }));
    }
  }

  setMembers(members) {
    this.members = members;
    this.presence.show({ members, following: this.following, presenter: this.presenter });
    this.cursors.members(members);
    const leader = this.member(this.following);
    if (this.following && !leader) this.banner.show(null);
    else if (leader) {
      this.showFollowing();
      if (leader.image && leader.image !== this.image.id) this.goToImage(leader.image);
    }
    this.changed();
  }

  member(user) {
    return user ? this.members.find((member) => member.user === user) ?? null : null;
  }

  // --- the order of changes ---------------------------------------------------------------

  /** An op or a note: applied in order; a gap means something was missed. */
  sequenced(event, data) {
    if (!this.joined || this.resyncing) {
      this.buffer.push([event, data]);
      return;
    }
    const seq = data.seq;
    if (Number.isFinite(seq) && seq > this.seq + 1) {
      // A change made on another live process of the server may overtake one made here by
      // a few milliseconds: wait a moment for the missing numbers before asking for them.
      this.buffer.push([event, data]);
      this.gapTimer ??= setTimeout(() => {
        this.gapTimer = null;
        if (this.buffer.length) this.resync();
      }, GAP_WAIT_MS);
      return;
    }
    this.applyEvent(event, data);
    if (Number.isFinite(seq)) this.seq = Math.max(this.seq, seq);
    this.closeGap();
    this.changed();
  }

  /** Buffered changes that are in order now that the missing one came. */
  closeGap() {
    this.buffer.sort((a, b) => (a[1].seq ?? 0) - (b[1].seq ?? 0));
    while (this.buffer.length && !(this.buffer[0][1].seq > this.seq + 1)) {
      const [event, data] = this.buffer.shift();
      this.applyEvent(event, data);
      if (Number.isFinite(data.seq)) this.seq = Math.max(this.seq, data.seq);
    }
    if (!this.buffer.length && this.gapTimer) {
      clearTimeout(this.gapTimer);
      this.gapTimer = null;
    }
  }

  applyEvent(event, data) {
    if (event === "op") this.ops = this.ops.then(() => this.applyOp(data)).catch((error) => this.say(error.message));
    else if (event === "note") this.addNote(data);
  }

  /** What happened since `since`: the events, or (when too much was missed) a reload. */
  async resync(since = this.seq) {
    if (this.resyncing) {
      this.resyncAgain = true;
      return;
    }
    this.resyncing = true;
    try {
      const ack = await call(this.socket, "resync", { since });
      const events = ack.events ?? [];
      // Ops that do not say their image each cost a question: past a few, one reload is less.
      const reloadLayer = ack.reload || events.filter((event) => event.event === "op" && this.needsLookup(event)).length > LOOKUP_LIMIT;
      if (reloadLayer) await this.annotations?.layer.reload();
      if (ack.reload) await this.loadNotes();
      for (const event of events) if (!(reloadLayer && event.event === "op")) this.applyEvent(event.event, event);
      this.seq = Math.max(this.seq, ack.seq ?? 0);
    } catch (error) {
      this.say(t("live.error.resync", { reason: error.message }));
    } finally {
      this.resyncing = false;
      this.replayBuffer();
      this.changed();
    }
  }

  replayBuffer() {
    const waiting = this.buffer.splice(0).sort((a, b) => (a[1].seq ?? 0) - (b[1].seq ?? 0));
    for (const [event, data] of waiting) this.sequenced(event, data);
    if (this.resyncAgain && !this.resyncing) {
      this.resyncAgain = false;
      this.resync();
    }
  }

  // --- annotations ----------------------------------------------------------------------------

  /** Another member's change (or one's own coming back): into the layer when it belongs to
   * this image, newer versions only. */
  async applyOp(data) {
    const layer = this.annotations?.layer;
    const annotation = data.annotation;
    if (!layer || !annotation?.id) return;
    const properties = annotation.properties ?? {};
    if (properties.layer === "draft" && properties.author !== this.me.id) return;
    const image = imageOfOp(data);
    if (image && image !== this.image.id) return;
    if (this.needsLookup(data) && !(await this.onThisImage(annotation))) return;
    layer.applyRemote(annotation);
  }

  /** An op on an annotation this page does not hold, not saying which image it is on. */
  needsLookup(data) {
    const annotation = data.annotation;
    return Boolean(annotation && !imageOfOp(data) && !annotation.deleted && !this.annotations?.layer.items.has(annotation.id));
  }

  /** Whether an annotation that does not name its image is one of this image's: the
   * image's own list, within the annotation's box, says. */
  async onThisImage(annotation) {
    const [x0, y0, x1, y1] = boxOf(annotation.geometry);
    const frame = annotation.properties?.frame;
    const query = `bbox=${x0},${y0},${Math.max(x1, x0)},${Math.max(y1, y0)}${Number.isInteger(frame) ? `&frame=${frame}` : ""}`;
    const found = await getJson(`/api/images/${encodeURIComponent(this.image.id)}/annotations?${query}`).catch(() => null);
    return Boolean(found?.features?.some((feature) => feature.id === annotation.id));
  }

  // --- notes --------------------------------------------------------------------------------

  addNote(note) {
    if (this.notes.add(note)) this.cursors.pin(note);
  }

  async sendNote({ text, pinned, point }) {
    const message = { text, image: this.image.id };
    const frame = this.view.frame();
    if (frame !== null) message.frame = frame;
    if (pinned) message.anchor = this.onImage(point ?? this.centre());
    const ack = await call(this.socket, "note", message);
    if (ack.note) this.addNote(ack.note);
    // The room hears one's own note from others' point of view only: the ack is ours.
    if (ack.seq === this.seq + 1) this.seq = ack.seq;
    this.changed();
    return ack.note ?? null;
  }

  /** A point clamped into the image (a point must lie on it), to a tenth of a pixel. */
  onImage([x, y]) {
    const clamp = (value, most) => Math.round(Math.min(Math.max(value, 0), most) * 10) / 10;
    return [clamp(x, this.image.width), clamp(y, this.image.height)];
  }

  centre() {
    const [x, y, w, h] = this.view.bounds();
    return [x + w / 2, y + h / 2];
  }

  /** The next click on the image, as an image point (Esc: none). */
  pickPoint() {
    const overlay = this.cursors.node;
    overlay.classList.add("picking");
    return new Promise((resolve) => {
      const done = (point) => {
        overlay.classList.remove("picking");
        overlay.removeEventListener("click", clicked);
        window.removeEventListener("keydown", escape, true);
        resolve(point);
      };
      const clicked = (event) => {
        const box = overlay.getBoundingClientRect();
        done(this.view.toImage(event.clientX - box.left, event.clientY - box.top));
      };
      const escape = (event) => {
        if (event.key !== "Escape") return;
        event.stopImmediatePropagation();
        done(null);
      };
      overlay.addEventListener("click", clicked);
      window.addEventListener("keydown", escape, true);
    });
  }

  /** To a note's point: on this image at once, on another once it is open. */
  goToNote(note) {
    if (!note.anchor) return;
    if (this.following) this.follow(null);
    if (note.image && note.image !== this.image.id) {
      store(FLY_KEY, { case: this.caseId, image: note.image, frame: note.frame ?? null, anchor: note.anchor });
      this.goToImage(note.image);
      return;
    }
    this.flyTo(note.anchor, note.frame);
  }

  flyTo([x, y], frame) {
    const [, , w, h] = this.view.bounds();
    this.view.show({ bounds: [x - w / 2, y - h / 2, w, h], rotation: this.view.rotation(), frame: frame ?? this.view.frame() });
  }

  flyIfAsked() {
    const fly = stored(FLY_KEY);
    if (!fly || fly.image !== this.image.id) return;
    store(FLY_KEY, null);
    this.flyTo(fly.anchor, fly.frame);
  }

  goToImage(id) {
    if (this.leaving || this.removed) return;
    this.leaving = true;
    location.assign(`/viewer/${encodeURIComponent(id)}`);
  }

  // --- one's own view and pointer ------------------------------------------------------------

  wireView() {
    const sendCursor = throttled(CURSOR_MS, (message) => this.joined && this.emitNow("cursor", message));
    this.view.stage.addEventListener("pointermove", (event) => {
      if (!this.joined) return;
      const box = this.view.stage.getBoundingClientRect();
      const [x, y] = this.view.toImage(event.clientX - box.left, event.clientY - box.top);
      if (!(x >= 0 && y >= 0 && x <= this.image.width && y <= this.image.height)) return;
      sendCursor({ image: this.image.id, frame: this.view.frame(), x: Math.round(x * 10) / 10, y: Math.round(y * 10) / 10 });
    });
    const sendViewport = throttled(VIEWPORT_MS, () => this.sendViewport());
    const look = throttled(LOOK_MS, () => this.look());
    this.view.surface.onChange(() => {
      if (!this.joined) return;
      if (this.view.frame() !== this.lookedAt) look();
      if (!this.following) sendViewport();
    });
    this.view.onUserMove(() => {
      if (this.following) this.follow(null);
    });
  }

  viewportNow() {
    const message = { image: this.image.id, frame: this.view.frame(), bounds: this.view.bounds(), rotation: this.view.rotation() };
    const window = this.view.window();
    if (window) message.window = window;
    return message;
  }

  /** One's own view, when it changed (the view's events fire more often than it moves). */
  sendViewport() {
    if (!this.joined || this.following || !this.view.ready()) return;
    const message = this.viewportNow();
    const said = JSON.stringify(message);
    if (said === this.lastViewport) return;
    this.lastViewport = said;
    this.emitNow("viewport", message);
  }

  /** An event without an ack, sent now or not at all: never kept for after a reconnection
   * (a stale position), never dropped while connected (socket.io's volatile emit drops
   * whatever comes while the websocket is still writing the previous frame). */
  emitNow(event, message) {
    if (this.socket.connected) this.socket.emit(event, message);
  }

  look() {
    const frame = this.view.frame();
    if (!this.joined || frame === this.lookedAt) return;
    this.lookedAt = frame;
    call(this.socket, "look", { image: this.image.id, frame }).catch(() => {});
  }

  // --- following ----------------------------------------------------------------------------

  /** Follow a member (null: nobody). */
  async follow(user, reason = "member") {
    if (this.removed || user === this.me.id) return;
    const before = this.following;
    if (!user && this.followReason === "presenter") this.declined = this.presenter;
    this.following = user;
    this.followReason = user ? reason : null;
    store(FOLLOW_KEY, user ? { case: this.caseId, user, reason } : this.declined ? { case: this.caseId, declined: this.declined } : null);
    this.presence.show({ following: user });
    this.showFollowing();
    this.changed();
    if (user) this.catchUpWith(user);
    else this.sendViewport();
    // The server's record of who follows whom is for the others' presence: following goes on
    // here even if it refuses (a leader between two pages is not in the room for a moment).
    if (before === user || !this.joined) return;
    try {
      const ack = await call(this.socket, "follow", { user });
      if (user && ack.viewport && this.following === user) {
        this.viewports.set(user, ack.viewport);
        this.catchUpWith(user);
      }
    } catch (error) {
      console.warn("follow", error.code); // eslint-disable-line no-console
    }
  }

  /** Straight to where the leader is now: their image, or their last view of this one. */
  catchUpWith(user) {
    const leader = this.member(user);
    if (leader?.image && leader.image !== this.image.id) return this.goToImage(leader.image);
    const viewport = this.viewports.get(user);
    if (viewport && viewport.image === this.image.id) this.view.show(viewport, { atOnce: true });
  }

  showFollowing() {
    if (this.presenter === this.me.id) return this.banner.show(null, { presentingMyself: true });
    this.banner.show(this.member(this.following), { presenting: this.followReason === "presenter" });
  }

  viewportOf(data) {
    if (data.user === this.me.id) return;
    this.viewports.set(data.user, data);
    if (data.user !== this.following) return;
    if (data.image === this.image.id) {
      this.pendingView = data;
      if (this.viewScheduled) return;
      this.viewScheduled = true;
      requestAnimationFrame(() => {
        this.viewScheduled = false;
        if (this.following === data.user && this.pendingView) this.view.show(this.pendingView);
        this.pendingView = null;
        this.changed();
      });
    } else if (this.member(data.user)?.image === data.image) {
      this.goToImage(data.image);
    }
  }

  /** After the join: the presenter, or whom one followed on the previous image. */
  resume() {
    const before = stored(FOLLOW_KEY);
    if (before?.case !== this.caseId) store(FOLLOW_KEY, null);
    else this.declined = before.declined ?? null;
    if (this.presenter && this.presenter !== this.me.id && this.declined !== this.presenter) {
      this.follow(this.presenter, "presenter");
    } else if (before?.case === this.caseId && before.user) {
      // Even before the leader's new page has joined: they are on their way here.
      this.follow(before.user, before.reason ?? "member");
    }
  }

  presenterIs(user) {
    this.presenter = user;
    if (user && user !== this.me.id) {
      this.declined = null;
      this.follow(user, "presenter");
    } else if (this.followReason === "presenter") {
      this.followReason = null;
      this.follow(null);
    }
    this.presence.show({ presenter: user });
    this.showFollowing();
    this.changed();
  }

  async present(on) {
    const before = this.presenter;
    // At once on the page (the switch must not flip back while the server answers).
    this.presenter = on ? this.me.id : before === this.me.id ? null : before;
    this.presence.show({ presenter: this.presenter });
    this.showFollowing();
    if (on && this.following) this.follow(null);
    try {
      await call(this.socket, "present", { on });
      this.presenterIs(this.presenter);
    } catch (error) {
      this.presenter = before;
      this.presence.show({ presenter: before });
      this.showFollowing();
      this.say(error.message);
    }
  }

  // --- out of the room --------------------------------------------------------------------

  /** A join refused: where the room is not open to this user (a role that sees the image
   * but not the case's room), nothing live is shown; anything else is said. */
  refused(error) {
    if (error.code !== "not_found" && error.code !== "forbidden") return this.say(joinError(error));
    if (this.joinedOnce) return this.leave("access_revoked"); // lost while the connection was down
    this.close();
    this.joinedNow();
  }

  /** Nothing live remains on the page. */
  close() {
    if (this.removed) return;
    this.removed = true;
    this.joined = false;
    this.following = null;
    store(FOLLOW_KEY, null);
    for (const [event, handler] of Object.entries(this.handlers ?? {})) this.socket.off(event, handler);
    releaseSocket(this.socket);
    this.presence.remove();
    this.banner.remove();
    this.cursors.remove();
    this.notes.remove();
    this.changed();
  }

  /** Taken out of the room (access revoked, signed out): say so, and nothing live remains. */
  leave(reason) {
    if (this.removed) return;
    this.close();
    const message = build("div", { className: "error-banner live-removed", textContent: removedText(reason), data: { testid: "live-removed", reason: reason ?? "" } });
    message.setAttribute("role", "alert");
    this.view.stage.append(message);
    this.changed();
  }

  // --- for tests --------------------------------------------------------------------------

  onChange(listener) {
    this.listeners.add(listener);
  }

  changed() {
    for (const listener of this.listeners) listener();
  }
}
