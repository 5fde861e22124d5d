"""The live channel: Socket.IO namespace `/live`, the case rooms of the contract.

Reviewers of one case, wherever they are logged in, share a room: who is there and on
which image (`presence`), their cursors, the view a presenter or a followed colleague has
(`viewport`), annotation changes (`op`, through the same store, versions and sequence as
the REST routes, whose changes are broadcast too) and consult notes (`note`). Every
change is committed before it is acknowledged or broadcast; `seq` is the case's one
sequence, so a client that missed something (a gap in `seq`, a reconnect, a `sync`
naming a higher number) asks `resync` for what came after the last one it saw.

The event names and what each carries are in `EVENTS` and the `read_*` functions below:
the one place a payload is checked. Nothing a client sends is passed on as sent: the
server builds every broadcast from checked fields and the connection's own identity.

Identity comes from the login session (checked by `app/livegate.py` before the websocket
opens, again at connect, and at every event through the session cache); a session that
ends, or an access that is revoked, takes the connection out of its room at once. Only
the websocket transport is offered. Under `samsyn serve` these handlers run in a live
process (`app/liveprocess.py`, gevent), elsewhere in the connection's thread; processes
share rooms through `app/livebus.py`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from typing import Any

from flask import Flask, g, has_request_context, request
from flask_socketio import Namespace, SocketIO
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from annotations import store
from app.access import access_control, authorize_case, case_facts, log
from app.auth import COOKIE, Principal
from app.clients import environ_client
from app.extensions import WriterTurn, sqlite_file
from app.identity import patient_json
from app.livebus import LocalBus, QueuedBus, bus_for
from app.liveroom import Connection, Member, Rooms, as_message
from app.models import AppliedOp, Case, Image
from app.notes import case_notes, note_draft, notes_json, org_color, write_note
from app.services import Services, services
from samsyn.errors import BadRequest, Conflict, Forbidden, NotFound, SamsynError

NAMESPACE = "/live"
log_live = logging.getLogger("samsyn.live")

# --- the events and their payloads --------------------------------------------------------

# client -> server: whether it is acknowledged, and what it carries
EVENTS: dict[str, tuple[bool, str]] = {
    "join": (True, '{"case": cid, "image"?: id, "frame"?: k}'),
    "leave": (True, '{"case": cid}'),
    "look": (True, '{"image": id, "frame"?: k}'),
    "cursor": (False, '{"image", "frame", "x", "y"}'),
    "viewport": (False, '{"image", "frame", "bounds": [x, y, w, h], "rotation", "window"?}'),
    "follow": (True, '{"user": id | null}'),
    "present": (True, '{"on": bool}'),
    "op": (True, '{"op_id", "type", "image", "feature" | "id", "base_version"}'),
    "note": (True, '{"text", "image"?, "frame"?, "anchor"?: [x, y]}'),
    "resync": (True, '{"since": seq}'),
}
# server -> client: presence, cursor, viewport, presenter, op, note, sync, removed
OP_TYPES = ("create", "update", "delete")
ROTATIONS = (0, 90, 180, 270)
COORDINATE_LIMIT = 1e9
RESYNC_LIMIT = 2000
CURSOR_INTERVAL = 1 / 15  # the room hears each cursor at most 15 times a second
VIEWPORT_INTERVAL = 1 / 15
ROSTER_EVERY = 3.0
SYNC_EVERY = 10.0
SESSION_EVERY = 15.0
FLOOD_LIMIT = 400  # events refused for the rate before the connection is closed
# Cursors and viewports: the most frequent events, unacknowledged, handled without a
# request context (`LiveNamespace.pointer`).
POINTERS = frozenset({"cursor", "viewport"})
# Events that only move pointers and views: no database on their path.
EPHEMERAL = frozenset({"cursor", "viewport", "look", "follow", "present", "leave"})
# Live events that use the database at once, per worker: the rest wait their turn (or hear
# "busy"), so that a crowd of reviewers never takes the connections tiles and pages need.
DATABASE_SLOTS = 6
BUSY_AFTER = 10.0


def room_of(case_id: str) -> str:
    return f"case:{case_id}"


def user_room(user_id: str) -> str:
    return f"user:{user_id}"


def read_object(data: object) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadRequest("send a JSON object")
    return data


def read_id(data: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= 32 or not value.isalnum():
        raise BadRequest(f"{name} is an id")
    return value


def read_frame(data: dict[str, Any]) -> int | None:
    frame = data.get("frame")
    if frame is None:
        return None
    if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < 1_000_000:
        raise BadRequest("frame is a whole number from 0")
    return frame


def read_number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"{name} is a number")
    if not math.isfinite(value) or abs(value) > COORDINATE_LIMIT:
        raise BadRequest(f"{name} is a finite number")
    return float(value)


def read_cursor(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "image": read_id(data, "image"),
        "frame": read_frame(data),
        "x": read_number(data.get("x"), "x"),
        "y": read_number(data.get("y"), "y"),
    }


def read_viewport(data: dict[str, Any]) -> dict[str, Any]:
    bounds = data.get("bounds")
    if not isinstance(bounds, list) or len(bounds) != 4:
        raise BadRequest("bounds is [x, y, w, h] in image pixels")
    x, y, w, h = (read_number(value, "bounds") for value in bounds)
    if w <= 0 or h <= 0:
        raise BadRequest("bounds has a positive width and height")
    rotation = data.get("rotation", 0)
    if rotation not in ROTATIONS or isinstance(rotation, bool):
        raise BadRequest("rotation is 0, 90, 180 or 270")
    viewport: dict[str, Any] = {
        "image": read_id(data, "image"),
        "frame": read_frame(data),
        "bounds": [x, y, w, h],
        "rotation": rotation,
    }
    window = data.get("window")
    if window is not None:
        if not isinstance(window, list) or len(window) != 2:
            raise BadRequest("window is [center, width]")
        viewport["window"] = [read_number(value, "window") for value in window]
    return viewport


@dataclass(frozen=True)
class OpRequest:
    op_id: str
    type: str
    image: str
    feature: dict[str, Any] | None
    annotation: str | None
    base_version: int | None


def read_op(data: dict[str, Any]) -> OpRequest:
    op_id = data.get("op_id")
    if not isinstance(op_id, str) or not 0 < len(op_id) <= 64 or not op_id.isprintable():
        raise BadRequest("op_id is a string of at most 64 characters")
    kind = data.get("type")
    if kind not in OP_TYPES:
        raise BadRequest('type is "create", "update" or "delete"')
    image = read_id(data, "image")
    assert image is not None
    feature = data.get("feature")
    if kind != "delete" and not isinstance(feature, dict):
        raise BadRequest("a create or update carries the GeoJSON Feature")
    annotation = None if kind == "create" else read_id(data, "id")
    version = data.get("base_version")
    if kind != "create" and (
        isinstance(version, bool) or not isinstance(version, int) or not 0 < version < 2**31
    ):
        raise BadRequest("base_version is the version the change is made to")
    return OpRequest(
        op_id, str(kind), image, feature if kind != "delete" else None, annotation, version
    )


def read_since(data: dict[str, Any]) -> int:
    since = data.get("since")
    if isinstance(since, bool) or not isinstance(since, int) or not 0 <= since < 2**62:
        raise BadRequest("since is the last seq you saw")
    return since


def refused(error: SamsynError) -> dict[str, Any]:
    return {"ok": False, "error": error.code, "message": error.message, **(error.details or {})}


class NotJoined(BadRequest):
    code = "not_joined"


class Busy(SamsynError):
    code = "busy"
    status = 503


class RateLimited(SamsynError):
    code = "rate_limited"
    status = 429


# --- throttling cursors and viewports -----------------------------------------------------


class Throttle:
    """The newest of each key at most once per interval: sent at once when the last one
    is old enough, else kept and sent by the ticker when its time comes."""

    def __init__(self) -> None:
        self._sent: dict[tuple[str, ...], float] = {}
        self._waiting: dict[tuple[str, ...], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def offer(
        self, key: tuple[str, ...], message: dict[str, Any], interval: float
    ) -> dict[str, Any] | None:
        now = time.monotonic()
        with self._lock:
            if now - self._sent.get(key, 0.0) >= interval:
                self._sent[key] = now
                self._waiting.pop(key, None)
                return message
            self._waiting[key] = (self._sent[key] + interval, message)
            return None

    def due(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        with self._lock:
            ready = [key for key, (when, _m) in self._waiting.items() if when <= now]
            messages = [self._waiting.pop(key)[1] for key in ready]
            for key in ready:
                self._sent[key] = now
            if len(self._sent) > 100_000:
                self._sent.clear()
            return messages


# --- the live service of one process -------------------------------------------------------


class Live:
    """The rooms of this process, its bus to the others, and the ticker that keeps them."""

    def __init__(self, app: Flask, socketio: SocketIO, bus: LocalBus | QueuedBus) -> None:
        self.app = app
        self.socketio = socketio
        self.bus = bus
        self.rooms = Rooms(bus.host)
        self.throttle = Throttle()
        # A live process writes rooms' messages to the websockets itself (`Broadcast`).
        self.broadcast: Callable[[str, Any, str, str | None], None] | None = None
        self._epoch: int | None = None
        self._started = False
        self._start_lock = threading.Lock()
        self._handlers = self._appliers()
        self._database = threading.BoundedSemaphore(DATABASE_SLOTS)
        # SQLite takes one writer at a time: live writers of this process queue here, in
        # order, then take the server's writer turn (`WriterTurn`), instead of waiting in
        # SQLite's busy handler, whose sleeps grow to 100 ms and stop the whole process.
        self._database_file = sqlite_file(str(app.config["DATABASE_URL"]))
        self._writer = threading.Lock() if self._database_file else None
        self._turn: WriterTurn | None = None  # opened by the first live writer

    @contextmanager
    def database_turn(self) -> Iterator[None]:
        """One of the process's few database turns for live events and, on SQLite, the
        writer's turn: every such event writes, if only the access log's entry."""
        if self._database_file and self._turn is None:
            self._turn = WriterTurn(self._database_file)
        with ExitStack() as turns:
            for lock in (self._database, self._writer, self._turn):
                if lock is None:
                    continue
                if not lock.acquire(timeout=BUSY_AFTER):
                    raise Busy("the server is busy; try again")
                turns.callback(lock.release)
            yield

    @property
    def found(self) -> Services:
        return services(self.app)

    def start_bus(self) -> None:
        """The bus starts with the application (in each gunicorn worker, after the fork):
        REST changes reach the other processes' rooms even before anyone connects here."""
        self.bus.on_reconnect = self.reconnected
        self.bus.start(self.apply)
        self.bus.publish({"kind": "hello"})

    def start(self) -> None:
        """The ticker starts with the first connection."""
        with self._start_lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._tick_forever, name="live-ticker", daemon=True).start()

    # spreading: applied here first, then told to the other processes

    def spread(self, message: dict[str, Any], skip: str | None = None) -> None:
        self.apply(message, skip)
        self.bus.publish(message)

    def announced(self, messages: list[dict[str, Any]]) -> None:
        """What a committed transaction announced (ops, notes, an import)."""
        skip = g.get("live_sid") if has_request_context() else None
        for message in messages:
            self.spread(message, skip)

    def policy_changed(self) -> None:
        self.found.epoch.bump()
        self.bus.publish({"kind": "policy"})

    def apply(self, message: dict[str, Any], skip: str | None = None) -> None:
        """One live message, from this process or another, to this process's clients."""
        handler = self._handlers.get(str(message.get("kind")))
        if handler is not None:
            handler(message, skip)

    def _appliers(self) -> dict[str, Callable[[dict[str, Any], str | None], None]]:
        return {
            "op": self._apply_op,
            "note": self._apply_event("note"),
            "cursor": self._apply_event("cursor"),
            "viewport": self._apply_viewport,
            "presenter": self._apply_presenter,
            "member": self._apply_member,
            "roster": self._apply_roster,
            "hello": lambda _m, _s: self._publish_roster(),
            "sync": lambda m, _s: self._sync(str(m["case"])),
            "policy": lambda m, _s: self.found.epoch.bump() if m.get("host") else None,
            "referral": self._apply_referral,
        }

    def _emit(self, event: str, data: Any, to: str, skip: str | None = None) -> None:
        if self.broadcast is not None:
            self.broadcast(event, data, to, skip)
            return
        self.socketio.emit(event, data, to=to, namespace=NAMESPACE, skip_sid=skip)

    def _apply_op(self, message: dict[str, Any], skip: str | None) -> None:
        only = message.get("only_user")
        if only:
            for connection in self.rooms.in_case(str(message["case"])):
                if connection.user == only and connection.sid != skip:
                    self._emit("op", message["payload"], connection.sid)
            return
        self._emit("op", message["payload"], room_of(str(message["case"])), skip)

    def _apply_event(self, event: str) -> Callable[[dict[str, Any], str | None], None]:
        def apply(message: dict[str, Any], skip: str | None) -> None:
            self._emit(event, message["payload"], room_of(str(message["case"])), skip)

        return apply

    def _apply_referral(self, message: dict[str, Any], _skip: str | None) -> None:
        """A referral changed: every connection of everyone on either side hears it."""
        for user in message.get("users") or []:
            self._emit("referral", message["payload"], user_room(str(user)))

    def _apply_viewport(self, message: dict[str, Any], skip: str | None) -> None:
        payload = message["payload"]
        self.rooms.keep_viewport(str(message["case"]), str(payload["user"]), payload)
        self._emit("viewport", payload, room_of(str(message["case"])), skip)

    def _apply_presenter(self, message: dict[str, Any], _skip: str | None) -> None:
        case, payload = str(message["case"]), message["payload"]
        self.rooms.set_presenter(case, payload.get("user"))
        self._emit("presenter", payload, room_of(case))

    def _apply_member(self, message: dict[str, Any], _skip: str | None) -> None:
        case, host, sid = str(message["case"]), str(message["host_of"]), str(message["sid"])
        member = Member.from_json(message["member"]) if message.get("member") else None
        if host != self.rooms.host:
            self.rooms.heard_from(host)
            self.rooms.set_member(case, host, sid, member)
        self._presence({case})

    def _apply_roster(self, message: dict[str, Any], _skip: str | None) -> None:
        host = str(message.get("host"))
        self._presence(self.rooms.take_roster(host, list(message.get("entries") or [])))

    def _presence(self, cases: set[str]) -> None:
        for case in cases:
            members = [member.json() for member in self.rooms.members(case)]
            self._emit("presence", {"case": case, "members": members}, room_of(case))

    def _publish_roster(self) -> None:
        self.bus.publish({"kind": "roster", "entries": self.rooms.own_roster()})

    def reconnected(self) -> None:
        """The bus is back: tell the others who is here, and every room to resync."""
        self.bus.publish({"kind": "hello"})
        self._publish_roster()
        for case in self.rooms.cases():
            self._sync(case)

    def _sync(self, case: str) -> None:
        with self.found.db.session() as session:
            seq = store.current_seq(session, case)
        self._emit("sync", {"case": case, "seq": seq}, room_of(case))

    def member_moved(self, connection: Connection, member: Member) -> None:
        """A connection's presence changed (joined, looked elsewhere, follows, presents)."""
        case = connection.case
        left = self.rooms.place(connection.sid, case, member)
        if left is not None:
            self._member_message(left, connection.sid, None)
        if case is not None:
            self._member_message(case, connection.sid, member)

    def member_left(self, connection: Connection) -> None:
        case = connection.case
        if case is None:
            return
        self.rooms.place(connection.sid, None, connection.member)
        self.socketio.server.leave_room(connection.sid, room_of(case), namespace=NAMESPACE)
        self._member_message(case, connection.sid, None)
        if self.rooms.presenter(case) == connection.user and not any(
            m.user == connection.user and m.presenting for m in self.rooms.members(case)
        ):
            self.spread({"kind": "presenter", "case": case, "payload": {"user": None}})

    def _member_message(self, case: str, sid: str, member: Member | None) -> None:
        self.spread(
            {
                "kind": "member",
                "case": case,
                "host_of": self.rooms.host,
                "sid": sid,
                "member": as_message(member) if member else None,
            }
        )

    # --- the ticker ---------------------------------------------------------------------

    def _tick_forever(self) -> None:
        roster_at = sync_at = session_at = time.monotonic()
        while True:
            time.sleep(0.02)
            try:
                for message in self.throttle.due():
                    self.spread(message)
                now = time.monotonic()
                if now - roster_at >= ROSTER_EVERY:
                    roster_at = now
                    if not isinstance(self.bus, LocalBus):
                        self._publish_roster()
                        for host in self.rooms.silent_hosts():
                            self._presence(self.rooms.forget_host(host))
                if now - sync_at >= SYNC_EVERY:
                    sync_at = now
                    for case in self.rooms.cases():
                        self._sync(case)
                        time.sleep(0)
                epoch = self.found.epoch.current()
                if epoch != self._epoch or now - session_at >= SESSION_EVERY:
                    self._epoch, session_at = epoch, now
                    self.recheck()
            except Exception:
                log_live.exception("live ticker")

    def recheck(self) -> None:
        """Every connection's session and room access, as the policy says now: a logout, an
        expiry or a revoked share takes the connection out at once. One database session
        for the pass; each user's decision on a case and each case's images read once."""
        found = self.found
        epoch = found.epoch.current()
        decided: dict[tuple[str, str], bool] = {}
        images: dict[str, frozenset[str]] = {}
        with self.app.app_context(), found.db.session() as session:
            for connection in list(self.rooms.local.values()):
                time.sleep(0)  # in the live process: let the room's events in between
                principal = found.sessions.principal(connection.token, epoch)
                if principal is None:
                    self.remove(connection, "logged_out")
                    self.socketio.server.disconnect(connection.sid, namespace=NAMESPACE)
                    continue
                connection.principal = principal
                case_id = connection.case
                if case_id is None:
                    continue
                key = (principal.session_key, case_id)
                if key not in decided:
                    case = session.get(Case, case_id)
                    decided[key] = (
                        case is not None
                        and (
                            access_control().check_case(
                                session, principal, "view", case_facts(case)
                            )
                        ).decision.allowed
                    )
                if not decided[key]:
                    self.remove(connection, "access_revoked")
                    continue
                if case_id not in images:
                    images[case_id] = case_images(session, case_id)
                connection.images = images[case_id]

    def remove(self, connection: Connection, reason: str) -> None:
        case = connection.case
        if case is None:
            return
        self._emit("removed", {"case": case, "reason": reason}, connection.sid)
        self.member_left(connection)


def live() -> Live:
    from flask import current_app

    found: Live = current_app.extensions["samsyn.live"]
    return found


# --- the namespace --------------------------------------------------------------------------


class LiveNamespace(Namespace):
    """`/live`: connect, disconnect, and every event of `EVENTS` through `dispatch`."""

    def on_connect(self, auth: Any = None) -> bool:
        principal = _principal()
        if principal is None:
            return False
        hub = live()
        hub.start()
        with hub.found.db.session() as session:
            assignment = principal.memberships[0] if principal.memberships else None
            org_id = assignment.role.org_id if assignment else None
            member = Member(
                user=principal.user_id,
                name=principal.name,
                org=org_id,
                org_name=assignment.org_name if assignment else None,
                color=org_color(session, org_id),
                since=time.time(),
            )
        hub.rooms.connect(
            Connection(
                sid=request.sid,  # type: ignore[attr-defined]
                user=principal.user_id,
                token=request.cookies.get(COOKIE, ""),
                session_key=principal.session_key,
                member=member,
                principal=principal,
                address=environ_client(request.environ, hub.found.config["TRUSTED_PROXIES"]),
            )
        )
        self.enter_room(request.sid, user_room(principal.user_id))  # type: ignore[attr-defined]
        return True

    def on_disconnect(self, reason: Any = None) -> None:
        hub = live()
        connection = hub.rooms.connection(request.sid)  # type: ignore[attr-defined]
        if connection is not None:
            hub.member_left(connection)
            hub.rooms.disconnect(connection.sid)

    hub: Live | None = None

    def trigger_event(self, event: str, *args: Any) -> Any:
        if event in ("connect", "disconnect"):
            return super().trigger_event(event, *args)
        if event in POINTERS and self.hub is not None:
            return self.pointer(self.hub, event, str(args[0]), args[1:])
        return self.socketio._handle_event(  # the request context Flask-SocketIO makes
            lambda *data: self.dispatch(event, data), event, self.namespace, *args
        )

    def dispatch(self, event: str, data: tuple[Any, ...]) -> dict[str, Any] | None:
        """Check who asks, how often and what, then run the event's handler; every failure
        is the contract's error acknowledgement, never an exception out of here."""
        hub = live()
        sid = request.sid  # type: ignore[attr-defined]
        connection = hub.rooms.connection(sid)
        acked = EVENTS.get(event, (True, ""))[0]
        try:
            if connection is None:
                raise NotFound("this connection is not known; connect again")
            if event not in EVENTS:
                raise BadRequest(f"unknown event {event!r}")
            self._rate(hub, connection, event)
            if event in EPHEMERAL and connection.principal is not None:
                # What only moves pointers and views trusts the session as the ticker
                # last checked it (every few seconds, and at once on a logout or a
                # revocation).
                self._begin(hub, connection, connection.principal)
                result = HANDLERS[event](hub, connection, read_object(_payload(data)))
            else:
                # Whatever reads or writes patient data checks the session now; each such
                # event writes (a change, or the access log's entry of a join or a resync).
                with hub.database_turn():
                    self._begin(hub, connection, _session_of(hub, connection))
                    result = HANDLERS[event](hub, connection, read_object(_payload(data)))
        except SamsynError as error:
            result = refused(error)
        except Exception:
            log_live.exception("live event %s", event)
            result = {"ok": False, "error": "server_error", "message": "the server failed"}
        return result if acked else None

    @staticmethod
    def _begin(hub: Live, connection: Connection, principal: Principal) -> None:
        """Who acts in this event, as the policy and the access log read it from `g`."""
        g.principal, g.epoch, g.client, g.live_sid = (
            principal,
            hub.found.epoch.current(),
            connection.address,
            connection.sid,
        )

    def pointer(self, hub: Live, event: str, sid: str, data: tuple[Any, ...]) -> None:
        """A cursor or a viewport: many a second from every moving hand, so no request
        context, no database and no answer. The session is the one the ticker last
        checked (every few seconds, and at once on a logout or a revocation); a bad one
        is dropped, as every unacknowledged event's error is."""
        connection = hub.rooms.connection(sid)
        if connection is None or connection.principal is None:
            return
        try:
            self._rate(hub, connection, event)
            HANDLERS[event](hub, connection, read_object(_payload(data)))
        except SamsynError:
            pass
        except Exception:
            log_live.exception("live event %s", event)

    def _rate(self, hub: Live, connection: Connection, event: str) -> None:
        bucket = connection.writes if event in ("op", "note") else connection.bucket
        if bucket.take():
            return
        if connection.bucket.refused + connection.writes.refused > FLOOD_LIMIT:
            log_live.warning("live: a flooding connection of %s was closed", connection.user)
            hub.member_left(connection)
            hub.socketio.server.disconnect(connection.sid, namespace=NAMESPACE)
        raise RateLimited("too many events; slow down")


def _payload(data: tuple[Any, ...]) -> Any:
    """An event's one argument (anything else is no payload at all)."""
    return data[0] if len(data) == 1 else None


def _session_of(hub: Live, connection: Connection) -> Principal:
    found = hub.found
    principal = found.sessions.principal(connection.token, found.epoch.current())
    if principal is None or principal.user_id != connection.user:
        hub.remove(connection, "session_expired")
        hub.socketio.server.disconnect(connection.sid, namespace=NAMESPACE)
        raise NotFound("your session has ended; log in again")
    connection.principal = principal
    return principal


def _principal() -> Principal | None:
    """The principal the gate found for this connection, still valid now."""
    principal: Principal | None = request.environ.get("samsyn.principal")
    if principal is None:
        return None
    found = services()
    token_principal = found.sessions.principal(request.cookies.get(COOKIE), found.epoch.current())
    if token_principal is None or token_principal.user_id != principal.user_id:
        return None
    return token_principal


# --- the handlers ---------------------------------------------------------------------------


def joined(connection: Connection, image: str | None = None) -> str:
    """The case the connection is in (and, when named, that the image is one of its).
    No database here: cursors and viewports come many times a second."""
    if connection.case is None:
        raise NotJoined("join a case first")
    if image is not None and image not in connection.images:
        raise NotJoined("that image is not in the case you joined")
    return connection.case


def case_images(session: Any, case_id: str) -> frozenset[str]:
    return frozenset(session.scalars(select(Image.id).where(Image.case_id == case_id)))


def on_join(hub: Live, connection: Connection, data: dict[str, Any]) -> dict[str, Any]:
    case_id = read_id(data, "case")
    assert case_id is not None
    image, frame = read_id(data, "image", required=False), read_frame(data)
    with hub.found.db.session() as session:
        case, checked = authorize_case(session, "view", case_id, deferred=True, log_as="join_live")
        if checked.decision.conceal is not None:
            # A blinded reviewer works alone until the answer is signed: the room would
            # show the requester's marks and notes.
            raise Forbidden("a blinded second opinion joins the room once its report is signed")
        log(g.principal, checked, "join_live", session=session, room=case_id)
        summary = case_summary(session, case, checked.decision.purpose)
        images = case_images(session, case_id)
        seq = store.current_seq(session, case_id)
    if connection.case is not None and connection.case != case_id:
        hub.member_left(connection)
    hub.socketio.server.enter_room(connection.sid, room_of(case_id), namespace=NAMESPACE)
    connection.case, connection.images = case_id, images
    if image is not None and image not in images:
        image, frame = None, None
    member = replace(connection.member, image=image, frame=frame, since=time.time())
    hub.member_moved(connection, member)
    return {
        "ok": True,
        "case": summary,
        "seq": seq,
        "members": [m.json() for m in hub.rooms.members(case_id)],
        "viewports": hub.rooms.last_viewports(case_id),
        "presenter": hub.rooms.presenter(case_id),
        "me": connection.user,
    }


def case_summary(session: Any, case: Case, purpose: str | None) -> dict[str, Any]:
    from app.models import Patient

    patient = session.get(Patient, case.patient_id) if case.patient_id else None
    return {
        "id": case.id,
        "title": case.title,
        "patient": patient_json(patient) if purpose != "teaching" else None,
    }


def on_leave(hub: Live, connection: Connection, data: dict[str, Any]) -> dict[str, Any]:
    case_id = read_id(data, "case")
    if connection.case != case_id:
        raise NotJoined("you are not in that case's room")
    hub.member_left(connection)
    return {"ok": True}


def on_look(hub: Live, connection: Connection, data: dict[str, Any]) -> dict[str, Any]:
    image = read_id(data, "image")
    joined(connection, image)
    member = replace(connection.member, image=image, frame=read_frame(data), since=time.time())
    hub.member_moved(connection, member)
    return {"ok": True}


def on_cursor(hub: Live, connection: Connection, data: dict[str, Any]) -> None:
    cursor = read_cursor(data)
    case = joined(connection, cursor["image"])
    member = connection.member
    payload = {"user": member.user, "name": member.name, "color": member.color, **cursor}
    message = {"kind": "cursor", "case": case, "payload": payload}
    ready = hub.throttle.offer(("cursor", case, connection.sid), message, CURSOR_INTERVAL)
    if ready is not None:
        hub.spread(ready, skip=connection.sid)


def on_viewport(hub: Live, connection: Connection, data: dict[str, Any]) -> None:
    viewport = read_viewport(data)
    case = joined(connection, viewport["image"])
    payload = {"user": connection.user, **viewport}
    message = {"kind": "viewport", "case": case, "payload": payload}
    ready = hub.throttle.offer(("viewport", case, connection.sid), message, VIEWPORT_INTERVAL)
    if ready is not None:
        hub.spread(ready, skip=connection.sid)


def on_follow(hub: Live, connection: Connection, data: dict[str, Any]) -> dict[str, Any]:
    case = joined(connection)
    leader = read_id(data, "user", required=False)
    if leader is not None and (
        leader == connection.user or leader not in {m.user for m in hub.rooms.members(case)}
    ):
        raise BadRequest("follow someone else who is in the room")
    hub.member_moved(connection, replace(connection.member, following=leader, since=time.time()))
    return {
        "ok": True,
        "viewport": next(
            (v for v in hub.rooms.last_viewports(case) if v.get("user") == leader), None
        ),
    }


def on_present(hub: Live, connection: Connection, data: dict[str, Any]) -> dict[str, Any]:
    case = joined(connection)
    on = data.get("on")
    if not isinstance(on, bool):
        raise BadRequest("on is true or false")
    hub.member_moved(connection, replace(connection.member, presenting=on, since=time.time()))
    current = hub.rooms.presenter(case)
    if on or current == connection.user:
        payload = {
            "user": connection.user if on else None,
            "name": connection.member.name if on else None,
        }
        hub.spread({"kind": "presenter", "case": case, "payload": payload})
    return {"ok": True}


def on_op(hub: Live, connection: Connection, data: dict[str, Any]) -> dict[str, Any]:
    from app.api.annotating import change_on, create_on, delete_on, deleted_json

    op = read_op(data)
    case = joined(connection, op.image)
    user = connection.user
    try:
        with hub.found.db.session() as session:
            earlier = session.get(AppliedOp, (user, op.op_id))
            if earlier is not None:
                return dict(earlier.ack)
            if op.annotation is not None:
                row = store.current(session, op.annotation, deleted_too=True)
                if row.image_id != op.image:
                    raise NotFound("no such annotation on that image")
            if op.type == "create":
                row, annotation = create_on(session, op.image, op.feature or {}, op.op_id)
            elif op.type == "update":
                assert op.annotation is not None and op.base_version is not None
                row, annotation = change_on(
                    session, op.annotation, op.base_version, op.feature or {}, op.op_id
                )
            else:
                assert op.annotation is not None and op.base_version is not None
                row = delete_on(session, op.annotation, op.base_version, op.op_id)
                annotation = deleted_json(row)
            ack = {"ok": True, "seq": row.seq, "annotation": annotation}
            session.add(AppliedOp(user_id=user, op_id=op.op_id, case_id=case, seq=row.seq, ack=ack))
    except Conflict as error:
        return {"ok": False, "error": "conflict", "message": error.message, **(error.details or {})}
    except IntegrityError:  # the same op_id applied by a retry that came in between
        with hub.found.db.session() as session:
            earlier = session.get(AppliedOp, (user, op.op_id))
            if earlier is None:
                raise
            return dict(earlier.ack)
    return ack


def on_note(hub: Live, connection: Connection, data: dict[str, Any]) -> dict[str, Any]:
    case = joined(connection)
    draft = note_draft(data)
    if draft.image is not None:
        joined(connection, draft.image)
    with hub.found.db.session() as session:
        note = write_note(session, g.principal, case, draft, via="live")
        payload = notes_json(session, [note])[0]
    return {"ok": True, "seq": note.seq, "note": payload}


def on_resync(hub: Live, connection: Connection, data: dict[str, Any]) -> dict[str, Any]:
    """Every op and note of the case after `since`, in order, as they were broadcast (each
    annotation as that version left it); `reload` when too much was missed for that."""
    case = joined(connection)
    since = read_since(data)
    with hub.found.db.session() as session:
        _case, checked = authorize_case(session, "view", case, deferred=True, log_as="resync")
        changes = store.changes_since(session, case, since, RESYNC_LIMIT)
        notes = case_notes(session, case, since)
        hidden = checked.decision.conceal
        notes = [note for note in notes if hidden is None or note.org_id != hidden]
        seq = store.current_seq(session, case)
        if len(changes) + len(notes) > RESYNC_LIMIT:
            return {"ok": True, "seq": seq, "events": [], "reload": True}
        events = op_events(session, changes, connection.user, case, since, hidden)
        events += [{"event": "note", **note} for note in notes_json(session, notes)]
        if events:
            log(g.principal, checked, "view_annotations", session=session, via="live", since=since)
    events.sort(key=lambda event: int(event["seq"]))
    return {"ok": True, "seq": seq, "events": events}


def op_events(
    session: Any,
    changes: list[tuple[store.AnnotationVersion, store.AnnotationRow]],
    viewer: str,
    case: str,
    since: int,
    hidden: str | None,
) -> list[dict[str, Any]]:
    """The `op` broadcasts of these versions again: others' drafts left out (as they were)."""
    from app.api.annotating import deleted_json, features_json

    states = [(version, store.as_of(row, version)) for version, row in changes]
    shown = [
        (version, state)
        for version, state in states
        if (state.layer == "shared" or state.author_id == viewer)
        and (hidden is None or state.org_id != hidden)
    ]
    features = features_json(session, [state for _version, state in shown])
    op_ids = dict(
        session.execute(
            select(AppliedOp.seq, AppliedOp.op_id).where(
                AppliedOp.case_id == case, AppliedOp.seq > since
            )
        ).all()
    )
    return [
        {
            "event": "op",
            "seq": version.seq,
            "op_id": op_ids.get(version.seq),
            "user": version.user_id,
            "image": state.image_id,
            "frame": state.frame,
            "type": version.op if version.op in ("create", "delete") else "update",
            "annotation": deleted_json(state) if version.op == "delete" else feature,
        }
        for (version, state), feature in zip(shown, features, strict=True)
    ]


HANDLERS: dict[str, Callable[[Live, Connection, dict[str, Any]], dict[str, Any] | None]] = {
    "join": on_join,
    "leave": on_leave,
    "look": on_look,
    "cursor": on_cursor,
    "viewport": on_viewport,
    "follow": on_follow,
    "present": on_present,
    "op": on_op,
    "note": on_note,
    "resync": on_resync,
}


# --- the server -----------------------------------------------------------------------------


def _origin_check(public_url: str) -> Callable[[str | None, dict[str, Any]], bool]:
    """Pages of samsyn itself only: the public address or the host the page was served
    from (a cross-site page must not open a live connection with the user's cookie)."""

    def allowed(origin: str | None, environ: dict[str, Any]) -> bool:
        if origin is None:
            return True  # not a browser: the session cookie still decides
        served = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
        return origin in (public_url, served)

    return allowed


def live_server(app: Flask) -> SocketIO:
    """The application's Socket.IO server (websocket only, handlers run in the connection's
    own thread) and its live service, joined to the other processes by the configured bus."""
    socketio = SocketIO(
        app,
        async_mode="threading",
        transports=["websocket"],
        cors_allowed_origins=_origin_check(app.config["PUBLIC_URL"]),
        max_http_buffer_size=app.config["LIVE_MESSAGE_BYTES"],
        async_handlers=False,
    )
    namespace = LiveNamespace(NAMESPACE)
    socketio.on_namespace(namespace)
    hub = Live(app, socketio, bus_for(app.config))
    namespace.hub = hub
    hub.start_bus()
    weakref.finalize(app, hub.bus.close)
    app.extensions["samsyn.live"] = hub
    found = services(app)
    found.db.on_announce = hub.announced
    found.db.on_policy_change = hub.policy_changed
    return socketio
