// The live channel on the viewer page: the case's room (who is here, their pointers,
// following a member or the presenter, the consultation notes, annotations changing as
// others draw). Both viewers call startLive() once their image is open; an image outside
// any case has no room and shows nothing live.
//
// For tests and scripts: window.samsyn.live = {ready, socket, members(), seq, following,
// notes(), follow(user), present(on), ...}.
import { slideSurface, seriesSurface } from "./surface.js";
import { LiveRoom } from "./live-room.js";
import { seriesView, slideView } from "./live-view.js";

const STYLESHEET = "/static/src/live.css";

/** The case an image belongs to: the image's own field when the server gives one, else the
 * case whose images list it (the viewer's frame found it through GET /api/cases). */
export function caseOf(image, context) {
  return image.case ?? image.case_id ?? context?.case?.id ?? null;
}

function addStylesheet() {
  if (document.querySelector(`link[href="${STYLESHEET}"]`)) return;
  document.head.append(Object.assign(document.createElement("link"), { rel: "stylesheet", href: STYLESHEET }));
}

/** What the tests read; `active` is false on an image outside any case. */
function expose(room) {
  const live = {
    get active() {
      return Boolean(room && !room.removed);
    },
    ready: !room,
    get joined() {
      return Boolean(room?.joined);
    },
    get removed() {
      return Boolean(room?.removed);
    },
    get case() {
      return room?.caseId ?? null;
    },
    get socket() {
      return room?.socket ?? null;
    },
    get seq() {
      return room?.seq ?? 0;
    },
    get following() {
      return room?.following ?? null;
    },
    get presenter() {
      return room?.presenter ?? null;
    },
    members: () => room?.members ?? [],
    notes: () => room?.notes?.all() ?? [],
    viewport: () => room?.viewportNow() ?? null,
    follow: (user) => room?.follow(user ?? null),
    present: (on) => room?.present(Boolean(on)),
    resync: () => room?.resync(),
  };
  window.samsyn = window.samsyn ?? {};
  window.samsyn.live = live;
  return live;
}

/**
 * Joins the room of the image's case. `kind`: "slide" (viewer: the OpenSeadragon viewer)
 * or "series" (viewer: the series viewer); `context`: the case and its images (or a promise
 * of them); `annotations`: the annotation view, whose layer live changes go into.
 */
export async function startLive({ kind, viewer, image, context, annotations, me, page }) {
  const known = await context;
  const caseId = caseOf(image, known);
  if (!caseId || !me) return expose(null);
  addStylesheet();
  const surface = annotations?.surface ?? (kind === "series" ? seriesSurface(viewer) : slideSurface(viewer, image));
  const view = kind === "series" ? seriesView(viewer, surface, page) : slideView(viewer, surface, page);
  const panel = document.querySelector("#info-panel");
  const room = new LiveRoom({ caseId, image, view, me, annotations, context: known, panel });
  const live = expose(room);
  live.whenReady = room.start().then(() => {
    live.ready = true;
    return live;
  }).catch((error) => {
    room.say(error.message);
    return live;
  });
  return live;
}
