"""Login sessions: argon2 passwords, server-side sessions, CSRF, throttling, idle expiry.

The cookie holds a random token; the database holds only its SHA-256. A session is
checked against the database at most every `SESSION_RECHECK` seconds per process, and at
once after the policy epoch changes (logout, a user disabled), so tiles do not cost a
round trip each.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import g, request
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.clients import environ_client
from app.epoch import PolicyEpoch
from app.extensions import Database
from app.models import LoginFailure, LoginSession, Membership, Organisation, Unit, User, utcnow
from app.policy import Actor, Role
from samsyn.errors import Forbidden, SamsynError
from samsyn.text import storable

COOKIE = "samsyn_session"
SESSION_COOKIE = re.compile(rf"(?:^|;)\s*{COOKIE}=([A-Za-z0-9_-]{{1,128}})(?:;|$)")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_hasher = PasswordHasher()
# Made on the first login of an unknown user, not at start-up: an argon2 hash costs 64 MiB.
_DUMMY_HASH: str | None = None


class Unauthenticated(SamsynError):
    code = "unauthenticated"
    status = 401


class Throttled(SamsynError):
    code = "too_many_attempts"
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


@dataclass(frozen=True)
class Assignment:
    """A role (medarbetaruppdrag) with the names the access log records."""

    role: Role
    org_name: str
    org_hsa_id: str
    unit_name: str | None


@dataclass(frozen=True)
class Principal:
    """The logged-in user as every request sees it."""

    user_id: str
    username: str
    name: str
    hsa_id: str | None
    patient_id: str | None
    memberships: tuple[Assignment, ...]
    session_key: str
    csrf_token: str
    language: str = "sv"

    @property
    def actor(self) -> Actor:
        return Actor(self.user_id, tuple(m.role for m in self.memberships), self.patient_id)

    def membership(self, role: Role | None) -> Assignment | None:
        return next((m for m in self.memberships if m.role == role), None)

    def has_role(self, *names: str) -> bool:
        return any(m.role.role in names for m in self.memberships)

    def public(self) -> dict[str, object]:
        return {
            "id": self.user_id,
            "username": self.username,
            "name": self.name,
            "hsa_id": self.hsa_id,
            "language": self.language,
            "roles": [
                {
                    "role": m.role.role,
                    "org": m.org_name,
                    "org_id": m.role.org_id,
                    "unit": m.unit_name,
                    "unit_id": m.role.unit_id,
                }
                for m in self.memberships
            ],
        }


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    """Creates, checks and ends login sessions, with a short-lived per-process cache."""

    def __init__(self, config: dict[str, Any], database: Database, epoch: PolicyEpoch) -> None:
        self.database = database
        self.epoch = epoch
        self.idle = timedelta(minutes=config["SESSION_IDLE_MINUTES"])
        self.lifetime = timedelta(hours=config["SESSION_MAX_HOURS"])
        self.recheck = config["SESSION_RECHECK"]
        self._cache: dict[str, tuple[Principal, float, int]] = {}
        self._lock = threading.Lock()

    def login(
        self, username: object, password: object, client: str | None
    ) -> tuple[Principal, str]:
        """Check the credentials and open a session; returns the principal and the cookie token.

        The attempt is recorded before the password is checked, so parallel guesses count
        against each other (see `throttle`); a right password takes its record back.
        """
        if not isinstance(username, str) or not isinstance(password, str):
            raise Unauthenticated("username and password must be text")
        if not (_storable(username, 64) and _storable(password, 1024)):
            raise Unauthenticated("wrong username or password")
        attempt = self._attempt(username, client)
        with self.database.session() as session:
            user = session.scalar(select(User).where(User.username == username))
            matches = _password_matches(user, password)
        if not matches or user is None:
            raise Unauthenticated("wrong username or password")
        return self._open(user, client, attempt)

    def _attempt(self, username: str, client: str | None) -> int:
        """Record an attempt as a failure until proven right; refuse it (and forget it) while
        the failures before it ask for a pause."""
        with self.database.session() as session:
            row = LoginFailure(username=username, client=client)
            session.add(row)
            session.flush()
            attempt = row.id
        with self.database.session() as session:
            wait = throttle(session, username, client, attempt, utcnow())
            if wait > 0:
                session.execute(delete(LoginFailure).where(LoginFailure.id == attempt))
        if wait > 0:
            raise Throttled(
                f"too many failed logins; try again in {wait} seconds", retry_after=wait
            )
        return attempt

    def _open(self, user: User, client: str | None, attempt: int) -> tuple[Principal, str]:
        """A new session for a user whose password was right; this address's failures for
        the username are forgotten."""
        with self.database.session() as session:
            session.execute(
                delete(LoginFailure).where(
                    LoginFailure.username == user.username,
                    (LoginFailure.client == client) | (LoginFailure.id == attempt),
                )
            )
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            session.add(
                LoginSession(
                    token_hash=_token_hash(token), user_id=user.id, csrf_token=csrf, client=client
                )
            )
            session.flush()
            return load_principal(session, user, _token_hash(token), csrf), token

    def principal(self, token: str | None, epoch: int) -> Principal | None:
        """The principal of a cookie token, or None when the session is unknown or expired.

        `epoch` is the policy epoch read for this request; a change drops the cached session.
        """
        if not token or len(token) > 128:
            return None
        key = _token_hash(token)
        cached = self._cache.get(key)
        if cached and cached[2] == epoch and time.monotonic() - cached[1] < self.recheck:
            return cached[0]
        principal = self._check(key)
        with self._lock:
            if principal is None:
                self._cache.pop(key, None)
            else:
                self._cache[key] = (principal, time.monotonic(), epoch)
        return principal

    def _check(self, key: str) -> Principal | None:
        now = utcnow()
        with self.database.session() as session:
            row = session.get(LoginSession, key)
            if row is None:
                return None
            if row.last_seen + self.idle < now or row.created + self.lifetime < now:
                session.delete(row)
                return None
            user = session.get(User, row.user_id)
            if user is None or not user.active:
                return None
            if now - row.last_seen >= SEEN_STEP:
                row.last_seen = now
            return load_principal(session, user, key, row.csrf_token)

    def logout(self, principal: Principal) -> None:
        """End the session everywhere: its row goes, and with it (by the policy epoch) every
        process's cached copy."""
        with self.database.session() as session:
            row = session.get(LoginSession, principal.session_key)
            if row is not None:
                session.delete(row)
        with self._lock:
            self._cache.pop(principal.session_key, None)


# Activity is kept to the minute: checking a session writes at most once a minute, not at
# every check (a live process checks each of its connections every few seconds).
SEEN_STEP = timedelta(minutes=1)

# A username+address pair: five quick tries, then pauses doubling from 30 s up to 15 min.
# A username from anywhere: ten, then pauses up to a minute (the real user is only slowed).
# An address for any usernames: thirty (a hospital behind one NAT), then up to a minute.
THROTTLE_RULES = ((5, 30, 900), (10, 1, 60), (30, 1, 60))
THROTTLE_WINDOW = timedelta(minutes=15)


def throttle(
    session: Session, username: str, client: str | None, attempt: int, now: datetime
) -> int:
    """Seconds the attempt `attempt` must still wait, judged by the failures recorded before it
    (in the last 15 minutes): 0 when it may go ahead."""
    since = now - THROTTLE_WINDOW
    earlier = (LoginFailure.id < attempt, LoginFailure.at > since)
    scopes = (
        (LoginFailure.username == username, LoginFailure.client == client),
        (LoginFailure.username == username,),
        (LoginFailure.client == client,),
    )
    wait = 0.0
    for (free, first_pause, longest), scope in zip(THROTTLE_RULES, scopes, strict=True):
        count, last = session.execute(
            select(func.count(), func.max(LoginFailure.at)).where(*earlier, *scope)
        ).one()
        if count >= free and last is not None:
            pause = min(first_pause * 2 ** (count - free), longest)
            wait = max(wait, pause - (now - last).total_seconds())
    return max(0, math.ceil(wait))


def _storable(text: str, longest: int) -> bool:
    """Non-empty text of at most `longest` characters that any database can store."""
    return bool(text) and len(text) <= longest and storable(text)


def session_token(environ: dict[str, Any]) -> str | None:
    """The session cookie's value read straight from a WSGI environ (the tile fast path and
    the live gate, below Flask); tokens are URL-safe base64, so a pattern reads them."""
    match = SESSION_COOKIE.search(environ.get("HTTP_COOKIE", ""))
    return match.group(1) if match else None


def _dummy_hash() -> str:
    """A hash to verify against when the user is unknown, so that costs the same time."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
    return _DUMMY_HASH


def _password_matches(user: User | None, password: str) -> bool:
    """Verify with argon2; an unknown user costs the same time as a wrong password."""
    stored = user.password_hash if user and user.active and user.password_hash else None
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def load_principal(session: Session, user: User, key: str, csrf: str) -> Principal:
    """The principal of a user: roles with organisation and unit names."""
    rows = session.execute(
        select(Membership, Organisation, Unit)
        .join(Organisation, Organisation.id == Membership.org_id)
        .outerjoin(Unit, Unit.id == Membership.unit_id)
        .where(Membership.user_id == user.id)
        .order_by(Membership.role)
    ).all()
    memberships = tuple(
        Assignment(
            Role(m.role, m.org_id, m.unit_id), org.name, org.hsa_id, unit.name if unit else None
        )
        for m, org, unit in rows
    )
    return Principal(
        user.id,
        user.username,
        user.name,
        user.hsa_id,
        user.patient_id,
        memberships,
        key,
        csrf,
        user.language or "sv",
    )


def current_principal() -> Principal:
    """The logged-in user of this request, or 401."""
    principal: Principal | None = getattr(g, "principal", None)
    if principal is None:
        raise Unauthenticated("log in first")
    return principal


def authenticate_request() -> None:
    """Before each request: who is asking, from where, and is a state change carrying the
    CSRF token."""
    from app.services import services

    found = services()
    g.client = environ_client(request.environ, found.config["TRUSTED_PROXIES"])
    g.epoch = found.epoch.current()
    g.principal = found.sessions.principal(request.cookies.get(COOKIE), g.epoch)
    if request.method in SAFE_METHODS or g.principal is None:
        return
    sent = request.headers.get("X-CSRF-Token", "")
    if not hmac.compare_digest(sent.encode(), g.principal.csrf_token.encode()):
        raise Forbidden("the X-CSRF-Token header is missing or wrong")
