"""Login sessions: argon2 passwords, server-side sessions, CSRF, throttling, idle expiry.

The cookie holds a random token; the database holds only its SHA-256. A session is
checked against the database at most every `SESSION_RECHECK` seconds per process, and at
once after the policy epoch changes (logout, a user disabled), so tiles do not cost a
round trip each.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, current_app, g, request
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import LoginFailure, LoginSession, Membership, Organisation, Unit, User, utcnow
from app.policy import Actor, Role
from samsyn.errors import Forbidden, SamsynError

COOKIE = "samsyn_session"
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

    def __init__(self, app: Flask) -> None:
        self.idle = timedelta(minutes=app.config["SESSION_IDLE_MINUTES"])
        self.lifetime = timedelta(hours=app.config["SESSION_MAX_HOURS"])
        self.recheck = app.config["SESSION_RECHECK"]
        self._cache: dict[str, tuple[Principal, float, int]] = {}
        self._lock = threading.Lock()

    def login(
        self, username: object, password: object, client: str | None
    ) -> tuple[Principal, str]:
        """Check the credentials and open a session; returns the principal and the cookie token."""
        if not isinstance(username, str) or not isinstance(password, str):
            raise Unauthenticated("username and password must be text")
        if not (_storable(username, 64) and _storable(password, 1024)):
            raise Unauthenticated("wrong username or password")
        with db.session() as session:
            self._throttle(session, username, client)
            user = session.scalar(select(User).where(User.username == username))
            matches = _password_matches(user, password)
            if not matches:
                session.add(LoginFailure(username=username, client=client))
        if not matches or user is None:
            raise Unauthenticated("wrong username or password")
        return self._open(user, client)

    def _open(self, user: User, client: str | None) -> tuple[Principal, str]:
        """A new session for a user whose password was right; earlier failures forgotten."""
        username = user.username
        with db.session() as session:
            session.execute(delete(LoginFailure).where(LoginFailure.username == username))
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            session.add(
                LoginSession(
                    token_hash=_token_hash(token), user_id=user.id, csrf_token=csrf, client=client
                )
            )
            session.flush()
            return load_principal(session, user, _token_hash(token), csrf), token

    def _throttle(self, session: Session, username: str, client: str | None) -> None:
        """Five failures for a username, or thirty from one address, in 15 minutes lock it out."""
        since = utcnow() - timedelta(minutes=15)
        by_name = session.scalar(
            select(func.count()).where(LoginFailure.username == username, LoginFailure.at > since)
        )
        by_client = session.scalar(
            select(func.count()).where(LoginFailure.client == client, LoginFailure.at > since)
        )
        if (by_name or 0) >= 5 or (by_client or 0) >= 30:
            raise Throttled("too many failed logins; try again in 15 minutes")

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
        with db.session() as session:
            row = session.get(LoginSession, key)
            if row is None:
                return None
            if _aware(row.last_seen) + self.idle < now or _aware(row.created) + self.lifetime < now:
                session.delete(row)
                return None
            user = session.get(User, row.user_id)
            if user is None or not user.active:
                return None
            row.last_seen = now
            return load_principal(session, user, key, row.csrf_token)

    def logout(self, principal: Principal) -> None:
        with db.session() as session:
            session.execute(
                delete(LoginSession).where(LoginSession.token_hash == principal.session_key)
            )
        with self._lock:
            self._cache.pop(principal.session_key, None)
        current_app.extensions["samsyn_epoch"].bump()


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time samsyn stores is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _storable(text: str, longest: int) -> bool:
    """Non-empty text of at most `longest` characters, without control characters or
    unpaired surrogates, so it can be compared and stored in any database."""
    if not text or len(text) > longest or any(ord(char) < 32 or ord(char) == 127 for char in text):
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
        user.id, user.username, user.name, user.hsa_id, user.patient_id, memberships, key, csrf
    )


def current_principal() -> Principal:
    """The logged-in user of this request, or 401."""
    principal: Principal | None = getattr(g, "principal", None)
    if principal is None:
        raise Unauthenticated("log in first")
    return principal


def authenticate_request() -> None:
    """Before each request: who is asking, and is a state change carrying the CSRF token."""
    sessions: Sessions = current_app.extensions["samsyn_sessions"]
    g.epoch = current_app.extensions["samsyn_epoch"].current()
    g.principal = sessions.principal(request.cookies.get(COOKIE), g.epoch)
    if request.method in SAFE_METHODS or g.principal is None:
        return
    sent = request.headers.get("X-CSRF-Token", "")
    if not hmac.compare_digest(sent.encode(), g.principal.csrf_token.encode()):
        raise Forbidden("the X-CSRF-Token header is missing or wrong")
