"""The access rules of samsyn as one pure function: facts in, a decision out.

No database and no Flask here, so every rule can be tested as a table of users x
resources x actions. `app/access.py` gathers the facts and asks `decide`.

Rules (Patientdatalagen, Lag 2022:913; DOMAIN.md rules 1-4 and 8-10):
- care roles (pathologist, radiologist, clinician) of the owning organisation see its cases;
- another organisation only through an active share (to its organisation, unit or to the
  user by name) or the user's own emergency access for that patient;
- a spärr hides the patient's data recorded by the blocking organisation (or unit) from
  everyone outside it; a consent lifts it for the consenting organisation (which still
  needs a care relation), emergency access lifts it for one user; the other side learns
  only that blocked information exists;
- admins manage shares of their organisation's cases but see no images; log reviewers
  read the log, not the record; students see only teaching cases; a patient sees their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

CARE_ROLES = frozenset({"pathologist", "radiologist", "clinician"})
ROLES = frozenset(CARE_ROLES | {"admin", "log_reviewer", "teacher", "student", "patient"})
READ_ACTIONS = frozenset({"list", "view", "render"})
ACTIONS = frozenset(READ_ACTIONS | {"export", "share", "annotate", "edit", "delete", "manage"})
SHARED_ACTIONS = frozenset(READ_ACTIONS | {"annotate", "edit", "export"})
TEACHER_ACTIONS = frozenset(READ_ACTIONS | {"annotate", "edit", "export", "share"})


@dataclass(frozen=True)
class Role:
    """One role of a user at an organisation and possibly a unit."""

    role: str
    org_id: str
    unit_id: str | None = None


@dataclass(frozen=True)
class Actor:
    """The person asking: their user id, roles, and the patient they are, if any."""

    user_id: str
    roles: tuple[Role, ...]
    patient_id: str | None = None


@dataclass(frozen=True)
class CaseFacts:
    """What the rules need of a case (or of an image outside any case)."""

    id: str | None
    org_id: str | None
    unit_id: str | None
    patient_id: str | None
    purpose: str = "care"


@dataclass(frozen=True)
class ShareFacts:
    id: str
    org_id: str | None
    unit_id: str | None
    user_id: str | None
    purpose: str
    until: datetime


@dataclass(frozen=True)
class BlockFacts:
    id: str
    org_id: str
    unit_id: str | None


@dataclass(frozen=True)
class GrantFacts:
    """An active consent (to an organisation or user) or emergency access (to a user)."""

    id: str
    kind: str
    until: datetime
    org_id: str | None = None
    user_id: str | None = None


@dataclass(frozen=True)
class Relations:
    """The active shares of the case and the patient's blocks, consents and emergency grants."""

    shares: tuple[ShareFacts, ...] = ()
    blocks: tuple[BlockFacts, ...] = ()
    consents: tuple[GrantFacts, ...] = ()
    emergencies: tuple[GrantFacts, ...] = ()


@dataclass(frozen=True)
class Decision:
    """Allowed or not, why, on which role and basis, and until when it holds.

    `visible` tells a refusal whether the caller may learn that the thing exists
    (403) or must not (404). `flagged` marks accesses a log reviewer must follow up.
    """

    allowed: bool
    reason: str
    purpose: str = "care"
    role: Role | None = None
    basis: str | None = None
    visible: bool = False
    flagged: bool = False
    until: datetime | None = None
    blocked: bool = field(default=False)


def decide(
    actor: Actor, action: str, case: CaseFacts, relations: Relations, now: datetime
) -> Decision:
    """The decision for `actor` doing `action` on `case`, given the active relations."""
    if action not in ACTIONS:
        return Decision(False, "unknown_action")
    refusals = []
    if actor.patient_id is not None and any(role.role == "patient" for role in actor.roles):
        decision = _as_patient(actor, action, case)
        if decision.allowed:
            return decision
        refusals.append(decision)
    for role in actor.roles:
        decision = _as_role(actor, role, action, case, relations, now)
        if decision.allowed:
            return decision
        refusals.append(decision)
    return _most_telling(refusals)


def _most_telling(refusals: list[Decision]) -> Decision:
    """The refusal that says the most the caller may know: visible before invisible."""
    if not refusals:
        return Decision(False, "no_role")
    return sorted(refusals, key=lambda decision: (not decision.visible, not decision.blocked))[0]


def _as_patient(actor: Actor, action: str, case: CaseFacts) -> Decision:
    if case.patient_id is None or case.patient_id != actor.patient_id:
        return Decision(False, "not_own_record")
    if action not in READ_ACTIONS:
        return Decision(False, "patient_reads_only", visible=True)
    return Decision(True, "own_record", purpose="own_record", basis="own_record")


def _as_role(
    actor: Actor, role: Role, action: str, case: CaseFacts, relations: Relations, now: datetime
) -> Decision:
    if role.role in ("admin",):
        if _blocking(role, case, relations) is not None:
            return Decision(False, "blocked", role=role, blocked=True)
        return _as_admin(role, action, case)
    if role.role in ("student", "teacher"):
        return _as_teaching(actor, role, action, case, relations, now)
    if role.role not in CARE_ROLES:
        return Decision(False, "role_without_record_access", role=role)
    if case.purpose == "teaching":
        teaching = _as_teaching(actor, replace(role, role="student"), action, case, relations, now)
        return replace(teaching, role=role)
    return _as_carer(actor, role, action, case, relations, now)


def _as_admin(role: Role, action: str, case: CaseFacts) -> Decision:
    if case.org_id != role.org_id:
        return Decision(False, "no_relation", role=role)
    if action in ("list", "share", "manage"):
        return Decision(
            True, "administration", purpose="administration", role=role, basis="own_org"
        )
    return Decision(False, "admin_sees_no_images", role=role, visible=True)


def _as_teaching(
    actor: Actor, role: Role, action: str, case: CaseFacts, relations: Relations, now: datetime
) -> Decision:
    if case.purpose != "teaching":
        return Decision(False, "teaching_material_only", role=role)
    allowed_actions = TEACHER_ACTIONS if role.role == "teacher" else READ_ACTIONS
    share = None if case.org_id == role.org_id else _active_share(actor, role, relations, now)
    if case.org_id != role.org_id and share is None:
        return Decision(False, "no_relation", role=role)
    if action not in allowed_actions:
        return Decision(False, "not_for_this_role", role=role, visible=True)
    basis = f"share:{share.id}" if share else "own_org"
    until = share.until if share else None
    return Decision(True, "teaching", purpose="teaching", role=role, basis=basis, until=until)


def _as_carer(
    actor: Actor, role: Role, action: str, case: CaseFacts, relations: Relations, now: datetime
) -> Decision:
    emergency = _emergency(actor, relations, now)
    blocked = _blocking(role, case, relations) is not None
    consent = _consent(actor, role, relations, now) if blocked else None
    if blocked and consent is None:
        if emergency is None:
            return Decision(False, "blocked", role=role, blocked=True)
        return _lifted(role, action, emergency)
    if case.org_id == role.org_id:
        return Decision(True, "own_org", role=role, basis=_with(consent, "own_org"))
    share = _active_share(actor, role, relations, now)
    if share is not None:
        if action not in SHARED_ACTIONS:
            return Decision(False, "not_with_a_share", role=role, visible=True)
        until = min(share.until, consent.until) if consent else share.until
        basis = _with(consent, f"share:{share.id}")
        return Decision(True, "share", purpose=share.purpose, role=role, basis=basis, until=until)
    if emergency is not None:
        return _lifted(role, action, emergency)
    return Decision(False, "no_relation", role=role)


def _with(consent: GrantFacts | None, basis: str) -> str:
    """The basis of an access, naming the consent that lifted a spärr for it."""
    return f"{basis}+consent:{consent.id}" if consent else basis


def _lifted(role: Role, action: str, grant: GrantFacts) -> Decision:
    """Access resting on an emergency grant: reading and annotating only, flagged."""
    if action not in SHARED_ACTIONS:
        return Decision(False, "not_with_a_grant", role=role, visible=True)
    emergency = grant.kind == "emergency"
    return Decision(
        True,
        grant.kind,
        purpose="emergency" if emergency else "care",
        role=role,
        basis=f"{grant.kind}:{grant.id}",
        flagged=emergency,
        until=grant.until,
    )


def _blocking(role: Role, case: CaseFacts, relations: Relations) -> BlockFacts | None:
    """A spärr that hides this case from this role: recorded inside it, asked from outside."""
    for block in relations.blocks:
        covers_case = block.org_id == case.org_id and block.unit_id in (None, case.unit_id)
        inside = role.org_id == block.org_id and block.unit_id in (None, role.unit_id)
        if covers_case and not inside:
            return block
    return None


def _active_share(
    actor: Actor, role: Role, relations: Relations, now: datetime
) -> ShareFacts | None:
    for share in relations.shares:
        addressed = (
            (share.org_id is not None and share.org_id == role.org_id)
            or (share.unit_id is not None and share.unit_id == role.unit_id)
            or (share.user_id is not None and share.user_id == actor.user_id)
        )
        if addressed and share.until > now:
            return share
    return None


def _consent(actor: Actor, role: Role, relations: Relations, now: datetime) -> GrantFacts | None:
    for consent in relations.consents:
        addressed = consent.org_id == role.org_id and consent.user_id in (None, actor.user_id)
        if addressed and consent.until > now:
            return consent
    return None


def _emergency(actor: Actor, relations: Relations, now: datetime) -> GrantFacts | None:
    for grant in relations.emergencies:
        if grant.user_id == actor.user_id and grant.until > now:
            return grant
    return None
