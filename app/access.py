"""The one access policy as the application uses it: facts from the database, `policy.decide`,
a short-lived decision cache, and an access-log entry for every access to patient data.

Every route that touches a case, an image or a patient goes through `authorize_image`,
`authorize_case`, `visible_cases` or `visible_images`. A refusal answers 404 when the
caller may not know the thing exists and 403 when they may.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Flask, current_app, g, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import Access, TileFolder, append, append_in
from app.auth import Principal, current_principal
from app.extensions import db
from app.models import Block, Case, Consent, EmergencyAccess, Image, Share
from app.policy import (
    BlockFacts,
    CaseFacts,
    Decision,
    GrantFacts,
    Relations,
    ShareFacts,
    decide,
)
from samsyn.errors import Forbidden, NotFound

DECISION_TTL = 30.0


@dataclass(frozen=True)
class Checked:
    """A decision together with the facts it was made on."""

    decision: Decision
    case: CaseFacts
    resource: str


def now_utc() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; samsyn stores UTC only."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def image_facts(session: Session, image_id: str) -> CaseFacts | None:
    """The case facts an image is judged by, or None when there is no such image."""
    if len(image_id) > 32:
        return None
    row = session.execute(
        select(Image.org_id, Case)
        .outerjoin(Case, Case.id == Image.case_id)
        .where(Image.id == image_id)
    ).first()
    if row is None:
        return None
    org_id, case = row
    if case is None:
        return CaseFacts(None, org_id, None, None)
    return case_facts(case)


def case_facts(case: Case) -> CaseFacts:
    return CaseFacts(case.id, case.org_id, case.unit_id, case.patient_id, case.purpose)


def relations(session: Session, case: CaseFacts, now: datetime) -> Relations:
    """Active shares of the case, and the patient's active blocks, consents and emergency grants."""
    shares = (
        ()
        if case.id is None
        else tuple(
            ShareFacts(s.id, s.org_id, s.unit_id, s.user_id, s.purpose, aware(s.until))
            for s in session.scalars(
                select(Share).where(
                    Share.case_id == case.id, Share.revoked.is_(None), Share.until > now
                )
            )
        )
    )
    if case.patient_id is None:
        return Relations(shares=shares)
    patient = case.patient_id
    blocks = tuple(
        BlockFacts(b.id, b.org_id, b.unit_id)
        for b in session.scalars(
            select(Block).where(Block.patient_id == patient, Block.lifted.is_(None))
        )
    )
    consents = tuple(
        GrantFacts(c.id, "consent", aware(c.until), org_id=c.org_id, user_id=c.user_id)
        for c in session.scalars(
            select(Consent).where(Consent.patient_id == patient, Consent.until > now)
        )
    )
    emergencies = tuple(
        GrantFacts(e.id, "emergency", aware(e.until), user_id=e.user_id)
        for e in session.scalars(
            select(EmergencyAccess).where(
                EmergencyAccess.patient_id == patient, EmergencyAccess.until > now
            )
        )
    )
    return Relations(shares, blocks, consents, emergencies)


class AccessControl:
    """Decisions per request, cached per session for a few seconds on the hot path (tiles)."""

    def __init__(self, app: Flask) -> None:
        self.epoch = app.extensions["samsyn_epoch"]
        self.folder = TileFolder(db.bound_copy(), gap=app.config["TILE_LOG_GAP"])
        self._cache: dict[tuple[str, str, str], tuple[Checked, float, int]] = {}
        self._lock = threading.Lock()

    def check_image(
        self, principal: Principal, action: str, image_id: str, epoch: int | None = None
    ) -> Checked | None:
        """The decision on an image, or None when no such image exists.

        `epoch` is the policy epoch read for this request (the request's own by default).
        """
        key = (principal.session_key, action, image_id)
        if epoch is None:
            epoch = g.epoch if "epoch" in g else self.epoch.current()
        cached = self._cache.get(key)
        if cached and cached[2] == epoch and time.monotonic() < cached[1]:
            return cached[0]
        with db.session() as session:
            facts = image_facts(session, image_id)
            if facts is None:
                return None
            now = now_utc()
            decision = decide(principal.actor, action, facts, relations(session, facts, now), now)
        checked = Checked(decision, facts, f"image:{image_id}")
        self._remember(key, checked, epoch)
        return checked

    def _remember(self, key: tuple[str, str, str], checked: Checked, epoch: int) -> None:
        lifetime = DECISION_TTL
        if checked.decision.until is not None:
            lifetime = min(lifetime, (checked.decision.until - now_utc()).total_seconds())
        with self._lock:
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[key] = (checked, time.monotonic() + max(lifetime, 0.0), epoch)

    def check_case(
        self, session: Session, principal: Principal, action: str, case: Case
    ) -> Checked:
        now = now_utc()
        facts = case_facts(case)
        decision = decide(principal.actor, action, facts, relations(session, facts, now), now)
        return Checked(decision, facts, f"case:{case.id}")


def access_control() -> AccessControl:
    return current_app.extensions["samsyn_access"]


def describe_access(
    principal: Principal, checked: Checked, action: str, client: str | None = None, **detail: object
) -> Access:
    """The log entry for one decision (`client`: the caller's address, the request's by default)."""
    decision = checked.decision
    assignment = principal.membership(decision.role) or (
        principal.memberships[0] if principal.memberships else None
    )
    return Access(
        resource=checked.resource,
        action=action,
        outcome="allowed" if decision.allowed else "denied",
        purpose=decision.purpose,
        user_id=principal.user_id,
        username=principal.username,
        user_name=principal.name,
        user_hsa_id=principal.hsa_id,
        role=assignment.role.role if assignment else ("patient" if principal.patient_id else None),
        org_id=assignment.role.org_id if assignment else None,
        org_name=assignment.org_name if assignment else None,
        unit_name=assignment.unit_name if assignment else None,
        patient_id=checked.case.patient_id,
        basis=decision.basis,
        client=client if client is not None else request.remote_addr,
        detail={"reason": decision.reason, **detail},
        flagged=decision.flagged or decision.blocked,
    )


def log(
    principal: Principal,
    checked: Checked,
    action: str,
    session: Session | None = None,
    **detail: object,
) -> None:
    """One access-log entry; inside `session` when the request has written in it already."""
    entry = describe_access(principal, checked, action, None, **detail)
    if session is None:
        append(db, [entry])
    else:
        append_in(session, [entry])


def refuse(checked: Checked) -> None:
    """Raise the refusal that tells the caller no more than they may know."""
    if checked.decision.visible:
        raise Forbidden("you may not do this")
    raise NotFound("no such resource, or you may not see it")


def authorize_image(action: str, image_id: str) -> Checked:
    """Check and log one access to an image; raise 404 or 403 when refused."""
    principal = current_principal()
    checked = access_control().check_image(principal, action, image_id)
    if checked is None:
        raise NotFound("no such resource, or you may not see it")
    if action == "render" and checked.decision.allowed:
        access_control().folder.hit(
            (principal.user_id, image_id), lambda: describe_access(principal, checked, action)
        )
        return checked
    log(principal, checked, action)
    if not checked.decision.allowed:
        refuse(checked)
    return checked


def authorize_case(session: Session, action: str, case_id: str) -> tuple[Case, Checked]:
    """Check and log one access to a case; raise 404 or 403 when refused."""
    principal = current_principal()
    case = session.get(Case, case_id) if len(case_id) <= 32 else None
    if case is None:
        raise NotFound("no such resource, or you may not see it")
    checked = access_control().check_case(session, principal, action, case)
    log(principal, checked, action)
    if not checked.decision.allowed:
        refuse(checked)
    return case, checked


def visible_cases(
    session: Session, principal: Principal, cases: list[Case]
) -> list[tuple[Case, Checked]]:
    """The cases the principal may list, each listing of patient data logged."""
    checked = _listable(
        session, principal, [(case_facts(case), f"case:{case.id}") for case in cases]
    )
    return [
        (case, check) for case, check in zip(cases, checked, strict=True) if check.decision.allowed
    ]


def visible_images(session: Session, principal: Principal, images: list[Image]) -> list[Image]:
    """The images the principal may list, each listing of a patient's image logged."""
    ids = {image.case_id for image in images if image.case_id}
    cases = {case.id: case for case in session.scalars(select(Case).where(Case.id.in_(ids)))}
    subjects = [
        (
            case_facts(cases[image.case_id])
            if image.case_id in cases
            else CaseFacts(None, image.org_id, None, None),
            f"image:{image.id}",
        )
        for image in images
    ]
    checked = _listable(session, principal, subjects)
    return [image for image, check in zip(images, checked, strict=True) if check.decision.allowed]


def _listable(
    session: Session, principal: Principal, subjects: list[tuple[CaseFacts, str]]
) -> list[Checked]:
    """The "list" decision for each subject; the relations of a case are read once however
    many of its images are listed, and the allowed listings of patient data are logged."""
    now = now_utc()
    known: dict[CaseFacts, Relations] = {}
    decisions, entries = [], []
    for facts, resource in subjects:
        if facts not in known:
            known[facts] = relations(session, facts, now)
        check = Checked(decide(principal.actor, "list", facts, known[facts], now), facts, resource)
        decisions.append(check)
        if check.decision.allowed and facts.patient_id:
            entries.append(describe_access(principal, check, "list"))
    append(db, entries)
    return decisions
