"""Who is in which case room, across every server process, and what the room last saw.

One `Rooms` per process. Its own connections are known in full (`Connection`); those of
other processes arrive over the live bus as presence entries and are kept per process
(`host`), refreshed by a roster every few seconds and forgotten when a process falls
silent (killed, or cut off from the bus). A member is one user, however many tabs and
screens they have open.

The room also keeps, for late joiners, each member's last viewport and who presents.
Nothing here talks to Flask or to the database.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

HOST_SILENCE = 10.0  # seconds without a roster before another process's members go


@dataclass(frozen=True)
class Member:
    """One connection as the others see it."""

    user: str
    name: str
    org: str | None
    org_name: str | None
    color: str
    image: str | None = None
    frame: int | None = None
    following: str | None = None
    presenting: bool = False
    since: float = 0.0  # when this connection last moved (the freshest wins per user)

    def json(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "name": self.name,
            "org": self.org,
            "org_name": self.org_name,
            "color": self.color,
            "image": self.image,
            "frame": self.frame,
            "following": self.following,
            "presenting": self.presenting,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Member:
        return Member(
            user=str(data["user"]),
            name=str(data.get("name") or ""),
            org=data.get("org"),
            org_name=data.get("org_name"),
            color=str(data.get("color") or "#607080"),
            image=data.get("image"),
            frame=data.get("frame"),
            following=data.get("following"),
            presenting=bool(data.get("presenting")),
            since=float(data.get("since") or 0.0),
        )


@dataclass
class Connection:
    """One live connection of this process."""

    sid: str
    user: str
    token: str
    session_key: str
    member: Member
    case: str | None = None
    images: frozenset[str] = frozenset()  # the joined case's images, read at join and recheck
    principal: Any = None  # the session's principal as last checked
    address: str | None = None
    bucket: TokenBucket = field(default_factory=lambda: TokenBucket(120.0, 60.0))
    writes: TokenBucket = field(default_factory=lambda: TokenBucket(40.0, 10.0))


class TokenBucket:
    """A per-connection rate limit: `burst` events at once, `rate` per second after;
    `refused` counts the events turned away in the last ten seconds."""

    def __init__(self, burst: float, rate: float) -> None:
        self.burst, self.rate = burst, rate
        self.tokens = burst
        self.stamp = self.window = time.monotonic()
        self.refused = 0

    def take(self) -> bool:
        now = time.monotonic()
        if now - self.window > 10.0:
            self.window, self.refused = now, 0
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        self.refused += 1
        return False


class Rooms:
    """The rooms as this process knows them."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.local: dict[str, Connection] = {}
        # case -> (host, sid) -> member: everyone, this process's own connections included
        self.roster: dict[str, dict[tuple[str, str], Member]] = {}
        self.heard: dict[str, float] = {}  # host -> when its last roster came
        self.viewports: dict[str, dict[str, dict[str, Any]]] = {}  # case -> user -> viewport
        self.presenters: dict[str, str] = {}  # case -> user
        self.lock = threading.RLock()

    # --- this process's connections ----------------------------------------------------

    def connect(self, connection: Connection) -> None:
        with self.lock:
            self.local[connection.sid] = connection

    def disconnect(self, sid: str) -> Connection | None:
        with self.lock:
            return self.local.pop(sid, None)

    def connection(self, sid: str) -> Connection | None:
        return self.local.get(sid)

    def in_case(self, case: str) -> list[Connection]:
        with self.lock:
            return [c for c in self.local.values() if c.case == case]

    def place(self, sid: str, case: str | None, member: Member) -> str | None:
        """Put a local connection in a case's room (None: out of any); the case it left."""
        with self.lock:
            connection = self.local[sid]
            left = connection.case
            connection.case, connection.member = case, member
            if left is not None and left != case:
                self.set_member(left, self.host, sid, None)
            if case is not None:
                self.set_member(case, self.host, sid, member)
            return left if left != case else None

    # --- everyone ----------------------------------------------------------------------

    def set_member(self, case: str, host: str, sid: str, member: Member | None) -> None:
        with self.lock:
            room = self.roster.setdefault(case, {})
            if member is None:
                room.pop((host, sid), None)
                if not room:
                    del self.roster[case]
                self._forget_gone_users(case)
            else:
                room[(host, sid)] = member

    def _forget_gone_users(self, case: str) -> None:
        present = {m.user for m in self.roster.get(case, {}).values()}
        for user in list(self.viewports.get(case, {})):
            if user not in present:
                del self.viewports[case][user]
        if self.presenters.get(case) not in present:
            self.presenters.pop(case, None)

    def members(self, case: str) -> list[Member]:
        """One entry per user, from their most recently moved connection; presenting and
        following as any of their connections says."""
        with self.lock:
            entries = sorted(self.roster.get(case, {}).values(), key=lambda m: m.since)
        merged: dict[str, Member] = {}
        for entry in entries:
            before = merged.get(entry.user)
            if before is None:
                merged[entry.user] = entry
            else:
                merged[entry.user] = replace(
                    entry,
                    following=entry.following or before.following,
                    presenting=entry.presenting or before.presenting,
                )
        return sorted(merged.values(), key=lambda m: (m.name, m.user))

    def own_roster(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {"case": c.case, "sid": c.sid, "member": as_message(c.member)}
                for c in self.local.values()
                if c.case is not None
            ]

    def take_roster(self, host: str, entries: list[dict[str, Any]]) -> set[str]:
        """Another process's full list of its members; the cases whose members changed."""
        with self.lock:
            self.heard[host] = time.monotonic()
            before = self._of_host(host)
            after = {
                (str(e["case"]), str(e["sid"])): Member.from_json(e["member"]) for e in entries
            }
            for case, sid in before.keys() - after.keys():
                self.set_member(case, host, sid, None)
            for (case, sid), member in after.items():
                self.set_member(case, host, sid, member)
            changed = {case for case, _sid in before.keys() ^ after.keys()}
            changed |= {key[0] for key, member in after.items() if before.get(key) != member}
            return changed

    def heard_from(self, host: str) -> None:
        with self.lock:
            self.heard[host] = time.monotonic()

    def forget_host(self, host: str) -> set[str]:
        """Drop everything another process said; the cases that changed."""
        with self.lock:
            self.heard.pop(host, None)
            gone = self._of_host(host)
            for case, sid in gone:
                self.set_member(case, host, sid, None)
            return {case for case, _sid in gone}

    def silent_hosts(self) -> list[str]:
        limit = time.monotonic() - HOST_SILENCE
        with self.lock:
            return [host for host, heard in self.heard.items() if heard < limit]

    def _of_host(self, host: str) -> dict[tuple[str, str], Member]:
        return {
            (case, sid): member
            for case, room in self.roster.items()
            for (member_host, sid), member in room.items()
            if member_host == host
        }

    def cases(self) -> list[str]:
        with self.lock:
            return sorted({c.case for c in self.local.values() if c.case is not None})

    # --- what late joiners are shown ---------------------------------------------------

    def keep_viewport(self, case: str, user: str, viewport: dict[str, Any]) -> None:
        with self.lock:
            self.viewports.setdefault(case, {})[user] = viewport

    def last_viewports(self, case: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.viewports.get(case, {}).values())

    def set_presenter(self, case: str, user: str | None) -> None:
        with self.lock:
            if user is None:
                self.presenters.pop(case, None)
            else:
                self.presenters[case] = user

    def presenter(self, case: str) -> str | None:
        return self.presenters.get(case)


def as_message(member: Member) -> dict[str, Any]:
    return {**member.json(), "since": member.since}
