"""The one access policy as the application uses it: facts from the database, `policy.decide`,
a short-lived decision cache, and an access-log entry for every access to patient data.

Every route that touches a case, an image, a patient or the log goes through one of the
`authorize_*` functions (or `visible_cases` / `visible_images` for listings). A refusal
answers 404 when the caller may not know the thing exists and 403 when they may, and is
logged as denied. An allowed change is logged once its outcome is known, with what it made
(`recorded`); listings and tiles are folded into one entry per user, subject and period.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import Access, AccessFolder, append, append_in
from app.auth import Principal, current_principal
from app.epoch import PolicyEpoch
from app.extensions import Database
from app.models import (
    Block,
    Case,
    Consent,
    EmergencyAccess,
    Image,
    Patient,
    Referral,
    Share,
    utcnow,
)
from app.policy import (
    REFERRAL_OPEN,
    AnnotationFacts,
    BlockFacts,
    CaseFacts,
    Decision,
    GrantFacts,
    OrganisationFacts,
    PatientFacts,
    ReferralFacts,
    ReferralSubject,
    Relations,
    ShareFacts,
    decide,
)
from samsyn.errors import Forbidden, NotFound, SamsynError

DECISION_TTL = 30.0
UNKNOWN = "no such resource, or you may not see it"


@dataclass(frozen=True)
class Checked:
    """A decision together with the facts it was made on and the resource it names."""

    decision: Decision
    case: CaseFacts
    resource: str


def now_utc() -> datetime:
    return utcnow()


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


def patient_case_facts(patient: Patient) -> CaseFacts:
    """A patient as the subject of a log entry: their organisation, no case."""
    return CaseFacts(None, patient.org_id, None, patient.id)


def case_shares(session: Session, case_id: str | None, now: datetime) -> Relations:
    """The active shares and the accepted, not yet closed, referrals of a case."""
    if case_id is None:
        return Relations()
    rows = session.scalars(
        select(Share).where(Share.case_id == case_id, Share.revoked.is_(None), Share.until > now)
    )
    referrals = session.scalars(
        select(Referral).where(
            Referral.case_id == case_id, Referral.status.in_(sorted(REFERRAL_OPEN))
        )
    )
    return Relations(
        shares=tuple(
            ShareFacts(s.id, s.org_id, s.unit_id, s.user_id, s.purpose, s.until) for s in rows
        ),
        referrals=tuple(
            ReferralFacts(
                r.id,
                r.to_org_id,
                r.to_unit_id,
                r.to_user_id,
                r.status,
                r.blinded,
                r.requester_org_id,
            )
            for r in referrals
        ),
    )


def patient_relations(session: Session, patient_id: str | None, now: datetime) -> Relations:
    """The patient's active blocks, consents (with their scope) and emergency grants."""
    if patient_id is None:
        return Relations()
    blocks = session.scalars(
        select(Block).where(Block.patient_id == patient_id, Block.lifted.is_(None))
    )
    consents = session.scalars(
        select(Consent).where(Consent.patient_id == patient_id, Consent.until > now)
    )
    emergencies = session.scalars(
        select(EmergencyAccess).where(
            EmergencyAccess.patient_id == patient_id, EmergencyAccess.until > now
        )
    )
    return Relations(
        blocks=tuple(BlockFacts(b.id, b.org_id, b.unit_id) for b in blocks),
        consents=tuple(
            GrantFacts(
                c.id,
                "consent",
                c.until,
                org_id=c.org_id,
                user_id=c.user_id,
                cases=tuple(c.cases) if c.cases is not None else None,
            )
            for c in consents
        ),
        emergencies=tuple(
            GrantFacts(e.id, "emergency", e.until, user_id=e.user_id) for e in emergencies
        ),
    )


def relations(session: Session, case: CaseFacts, now: datetime) -> Relations:
    """Active shares and referrals of the case, and the patient's active blocks, consents
    and grants."""
    shares = case_shares(session, case.id, now)
    patient = patient_relations(session, case.patient_id, now)
    return Relations(
        shares.shares,
        patient.blocks,
        patient.consents,
        patient.emergencies,
        shares.referrals,
    )


def patient_facts(session: Session, patient: Patient, now: datetime) -> PatientFacts:
    """A patient with every case of theirs and each case's active shares."""
    cases = session.scalars(select(Case).where(Case.patient_id == patient.id)).all()
    return PatientFacts(
        patient.id,
        patient.org_id,
        tuple((case_facts(case), case_shares(session, case.id, now)) for case in cases),
    )


class AccessControl:
    """Decisions per request, cached per session for a few seconds on the hot path (tiles)."""

    def __init__(self, database: Database, epoch: PolicyEpoch, folder: AccessFolder) -> None:
        self.database = database
        self.epoch = epoch
        self.folder = folder
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
        with self.database.session() as session:
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
        self, session: Session, principal: Principal, action: str, case: CaseFacts
    ) -> Checked:
        """The decision on a case (or on one about to be created, `case.id` None)."""
        now = now_utc()
        decision = decide(principal.actor, action, case, relations(session, case, now), now)
        return Checked(decision, case, f"case:{case.id}" if case.id else "case:new")

    def check_patient(
        self, session: Session, principal: Principal, action: str, patient: Patient | None
    ) -> Checked:
        """The decision on a patient as a whole (None: a number samsyn does not hold)."""
        now = now_utc()
        if patient is None:
            decision = decide(principal.actor, action, None, Relations(), now)
            return Checked(decision, CaseFacts(None, None, None, None), "patient:unknown")
        facts = patient_facts(session, patient, now)
        decision = decide(
            principal.actor, action, facts, patient_relations(session, patient.id, now), now
        )
        return Checked(decision, patient_case_facts(patient), f"patient:{patient.id}")

    def check_annotation(
        self,
        session: Session,
        principal: Principal,
        action: str,
        annotation_id: str,
        annotation: AnnotationFacts,
    ) -> Checked:
        """The decision on one annotation: its case's, then its author's and layer's."""
        now = now_utc()
        case = annotation.case
        decision = decide(principal.actor, action, annotation, relations(session, case, now), now)
        return Checked(decision, case, f"annotation:{annotation_id}")

    def check_organisation(self, principal: Principal, action: str, org_id: str) -> Checked:
        """The decision on a list an organisation keeps (its annotation classes)."""
        decision = decide(
            principal.actor, action, OrganisationFacts(org_id), Relations(), now_utc()
        )
        return Checked(decision, CaseFacts(None, org_id, None, None), f"classes:{org_id}")

    def check_log(self, principal: Principal, action: str, resource: str) -> Checked:
        decision = decide(principal.actor, action, None, Relations(), now_utc())
        return Checked(decision, CaseFacts(None, None, None, principal.patient_id), resource)


def access_control() -> AccessControl:
    from app.services import services

    return services().access


def database() -> Database:
    from app.services import services

    return services().db


def client() -> str | None:
    """The address of this request's client (behind a trusted proxy, the proxy's client)."""
    return g.client if "client" in g else request.remote_addr


def describe_access(
    principal: Principal,
    checked: Checked,
    action: str,
    client_address: str | None = None,
    outcome: str | None = None,
    **detail: object,
) -> Access:
    """The log entry for one decision (`client_address`: the request's by default)."""
    decision = checked.decision
    assignment = principal.membership(decision.role) or (
        principal.memberships[0] if principal.memberships else None
    )
    return Access(
        resource=checked.resource,
        action=action,
        outcome=outcome or ("allowed" if decision.allowed else "denied"),
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
        client=client_address
        if client_address is not None or not has_request_context()
        else client(),
        detail={"reason": decision.reason, **detail},
        flagged=decision.flagged or decision.blocked,
    )


def log(
    principal: Principal,
    checked: Checked,
    action: str,
    session: Session | None = None,
    outcome: str | None = None,
    flagged: bool = False,
    **detail: object,
) -> None:
    """One access-log entry; inside `session` when the request has written in it already.
    `flagged` marks it for a log reviewer's follow-up beyond what the decision flags (a
    share of a protected identity)."""
    entry = describe_access(principal, checked, action, None, outcome, **detail)
    if flagged:
        entry = replace(entry, flagged=True)
    if session is None:
        append(database(), [entry])
    else:
        append_in(session, [entry])


@contextmanager
def recorded(
    session: Session, checked: Checked, action: str, flagged: bool = False, **detail: Any
) -> Iterator[dict[str, Any]]:
    """Log a change once its outcome is known.

    The block fills the yielded dict with what it made (a share id, a recipient); the
    entry is written in the same transaction as the change. A change that fails with a
    samsyn error is logged as failed, with the reason, in a transaction of its own (the
    change itself is rolled back). `flagged` flags the entry either way.
    """
    principal = current_principal()
    made: dict[str, Any] = {}
    try:
        yield made
        session.flush()
    except SamsynError as error:
        # Undo the change first: on SQLite its write lock would block the entry below.
        session.rollback()
        log(
            principal,
            checked,
            action,
            outcome="failed",
            flagged=flagged,
            error=error.message,
            **detail,
            **made,
        )
        raise
    log(principal, checked, action, session=session, flagged=flagged, **detail, **made)


def refuse(checked: Checked) -> None:
    """Raise the refusal that tells the caller no more than they may know."""
    if checked.decision.visible:
        raise Forbidden("you may not do this")
    raise NotFound(UNKNOWN)


def authorize_image(action: str, image_id: str, deferred: bool = False) -> Checked:
    """Check and log one access to an image; raise 404 or 403 when refused.

    A refusal is always logged; an allowed access too, unless `deferred`: then the caller
    logs it with `recorded` once the change is made."""
    principal = current_principal()
    checked = access_control().check_image(principal, action, image_id)
    if checked is None:
        raise NotFound(UNKNOWN)
    if action == "render" and checked.decision.allowed:
        count_tile(access_control().folder, principal, image_id, checked, client())
        return checked
    if not (deferred and checked.decision.allowed):
        log(principal, checked, action)
    if not checked.decision.allowed:
        refuse(checked)
    return checked


def count_tile(
    folder: AccessFolder,
    principal: Principal,
    image_id: str,
    checked: Checked,
    address: str | None,
) -> None:
    """A tile goes into its viewing period's one entry (Flask route and fast path alike)."""
    folder.hit(
        (principal.user_id, "render", f"image:{image_id}"),
        lambda: describe_access(principal, checked, "render", client_address=address),
    )


def authorize_case(
    session: Session,
    action: str,
    case_id: str,
    deferred: bool = False,
    log_as: str | None = None,
) -> tuple[Case, Checked]:
    """Check one access to a case; raise 404 or 403 when refused.

    A refusal is always logged (as `log_as` when the access is more than `action`, such as
    joining the live room); an allowed access too, unless `deferred`: then the caller logs
    it with `recorded` once the change is made.
    """
    principal = current_principal()
    case = session.get(Case, case_id) if len(case_id) <= 32 else None
    if case is None:
        raise NotFound(UNKNOWN)
    checked = access_control().check_case(session, principal, action, case_facts(case))
    if not checked.decision.allowed:
        log(principal, checked, log_as or action)
        refuse(checked)
    elif not deferred:
        log(principal, checked, log_as or action)
    return case, checked


def authorize_new_case(session: Session, facts: CaseFacts) -> Checked:
    """May the caller create this case (for this patient, or a teaching case)?"""
    principal = current_principal()
    checked = access_control().check_case(session, principal, "create_case", facts)
    if not checked.decision.allowed:
        log(principal, checked, "create_case")
        refuse(checked)
    return checked


def authorize_patient(
    session: Session, action: str, patient: Patient | None, **detail: Any
) -> Checked:
    """Check one action on a patient as a whole; refusals are logged (with `detail`) and
    raised, except a blocked view, which the caller answers with "blocked information
    exists"."""
    principal = current_principal()
    checked = access_control().check_patient(session, principal, action, patient)
    if checked.decision.allowed:
        return checked
    if patient is not None or checked.decision.flagged:
        log(principal, checked, action, **detail)
    if not (action == "view_patient" and checked.decision.blocked):
        refuse(checked)
    return checked


def authorize_annotation(
    session: Session, action: str, annotation_id: str, facts: AnnotationFacts, log_as: str
) -> Checked:
    """Check one action on an annotation; a refusal is logged (as `log_as`) and raised, an
    allowed change is logged by the caller with `recorded` once it is made."""
    principal = current_principal()
    checked = access_control().check_annotation(session, principal, action, annotation_id, facts)
    if not checked.decision.allowed:
        log(principal, checked, log_as)
        refuse(checked)
    return checked


def referral_subject(referral: Referral, case: Case | None = None) -> ReferralSubject:
    return ReferralSubject(
        ReferralFacts(
            referral.id,
            referral.to_org_id,
            referral.to_unit_id,
            referral.to_user_id,
            referral.status,
            referral.blinded,
            referral.requester_org_id,
        ),
        referral.requester_id,
        referral.requester_org_id,
        referral.requester_unit_id,
        tuple(referral.copied or ()),
        case_facts(case) if case is not None else None,
    )


def authorize_referral(
    session: Session, action: str, referral_id: str, deferred: bool = True
) -> tuple[Referral, Case, Checked]:
    """Check one action on a referral; a refusal is logged and raised (404 to whoever is
    on neither side), an allowed one logged unless `deferred` (the caller logs it with
    `recorded` once the step is taken)."""
    principal = current_principal()
    referral = session.get(Referral, referral_id) if len(referral_id) <= 32 else None
    if referral is None:
        raise NotFound(UNKNOWN)
    case = session.get(Case, referral.case_id)
    if case is None:
        raise NotFound(UNKNOWN)
    now = now_utc()
    facts = case_facts(case)
    blocks = patient_relations(session, case.patient_id, now)
    decision = decide(principal.actor, action, referral_subject(referral, case), blocks, now)
    checked = Checked(decision, facts, f"referral:{referral.id}")
    if not decision.allowed:
        log(principal, checked, action)
        refuse(checked)
    elif not deferred:
        log(principal, checked, action)
    return referral, case, checked


def visible_referrals(
    session: Session, principal: Principal, referrals: list[Referral], cases: dict[str, Case]
) -> list[tuple[Referral, Checked]]:
    """The worklist's referrals with the decision on reading each (a blocked one stays on
    the list without its patient); each listing of patient data logged (folded)."""
    now = now_utc()
    known: dict[str | None, Relations] = {}
    listed = []
    address = client()
    for referral in referrals:
        case = cases[referral.case_id]
        if case.patient_id not in known:
            known[case.patient_id] = patient_relations(session, case.patient_id, now)
        subject = referral_subject(referral, case)
        decision = decide(principal.actor, "read_referral", subject, known[case.patient_id], now)
        check = Checked(decision, case_facts(case), f"referral:{referral.id}")
        if decision.allowed and case.patient_id:
            access_control().folder.hit(
                (principal.user_id, "list", check.resource),
                _describer(principal, check, "list", address),
                counter="listings",
            )
        if decision.allowed or decision.blocked:
            listed.append((referral, check))
    return listed


def authorize_organisation(action: str, org_id: str) -> Checked:
    """May the caller read (or manage) the lists of this organisation?"""
    principal = current_principal()
    checked = access_control().check_organisation(principal, action, org_id)
    if not checked.decision.allowed:
        if action != "list_classes":
            log(principal, checked, action)
        refuse(checked)
    return checked


def authorize_image_reading(image_id: str, what: str) -> Checked:
    """Check a read of what is drawn on an image (`what`: "annotations"); allowed reads
    of a viewer that asks again at every pan fold into one entry per period, like tiles."""
    principal = current_principal()
    checked = access_control().check_image(principal, "view", image_id)
    if checked is None:
        raise NotFound(UNKNOWN)
    if not checked.decision.allowed:
        log(principal, checked, f"view_{what}")
        refuse(checked)
    resource = f"{what}:{image_id}"
    access_control().folder.hit(
        (principal.user_id, f"view_{what}", resource),
        _describer(principal, replace(checked, resource=resource), f"view_{what}", client()),
        counter="listings",
    )
    return checked


def authorize_log(action: str, resource: str) -> Checked:
    """May the caller read the access log (a reviewer) or their own extract (a patient)?"""
    principal = current_principal()
    checked = access_control().check_log(principal, action, resource)
    if not checked.decision.allowed:
        log(principal, checked, action)
        refuse(checked)
    return checked


def visible_cases(
    session: Session, principal: Principal, cases: list[Case]
) -> list[tuple[Case, Checked]]:
    """The cases the principal may list, each listing of patient data logged (folded)."""
    checked = _listable(
        session, principal, [(case_facts(case), f"case:{case.id}") for case in cases]
    )
    return [
        (case, check) for case, check in zip(cases, checked, strict=True) if check.decision.allowed
    ]


def visible_images(session: Session, principal: Principal, images: list[Image]) -> list[Image]:
    """The images the principal may list, each listing of a patient's image logged (folded)."""
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
    many of its images are listed. Allowed listings of patient data go into one folded
    entry per user and subject and period, like tiles."""
    now = now_utc()
    known: dict[CaseFacts, Relations] = {}
    decisions = []
    address = client()
    for facts, resource in subjects:
        if facts not in known:
            known[facts] = relations(session, facts, now)
        check = Checked(decide(principal.actor, "list", facts, known[facts], now), facts, resource)
        decisions.append(check)
        if check.decision.allowed and facts.patient_id:
            access_control().folder.hit(
                (principal.user_id, "list", resource),
                _describer(principal, check, "list", address),
                counter="listings",
            )
    return decisions


def _describer(
    principal: Principal, checked: Checked, action: str, address: str | None
) -> Callable[[], Access]:
    """Makes the entry of a folded period when it starts (and only then)."""
    return lambda: describe_access(principal, checked, action, address)
