"""The access rules of samsyn as one pure function: facts in, a decision out.

No database and no Flask here, so every rule can be tested as a table of users x
subjects x actions. `app/access.py` gathers the facts and asks `decide`; no route or
event handler decides by itself.

Rules (Patientdatalagen, Lag 2022:913; DOMAIN.md rules 1-4 and 8-10):
- care roles (pathologist, radiologist, clinician) of the owning organisation see its cases,
  create cases for its patients and share them; only the owning organisation shares and
  revokes;
- another organisation only through an active care relation: a share (to its
  organisation, unit or to the user by name), a referral its unit (or the named
  specialist) has accepted and not yet closed, or the user's own emergency access;
- a referral is read by both sides: the requester, those copied on it and the
  requesting unit's care staff; the receiving unit's care staff (or the named specialist)
  accept, decline, are assigned, answer and sign it; the requesting side withdraws it;
  either side closes it;
- a spärr hides the patient's data recorded by the blocking organisation (or unit) from
  everyone outside it who would otherwise see it; a consent lifts it for the consenting
  organisation (which still needs a care relation, and only for the cases in the
  consent's scope), emergency access lifts it for one user; both are flagged for the log
  reviewer; the other side learns only that blocked information exists, and somebody
  without any relation learns nothing at all;
- a spärr is recorded by an organisation holding the patient's data; a consent by a care
  role whose relation the spärr blocks; emergency access by any care role, always flagged;
- admins manage shares of their organisation's cases but see no images; log reviewers
  read the log of their organisations, not the record; students see only teaching cases
  (and mark them up for practice, never a care case); a patient sees their own record and
  their own access log;
- an annotation belongs to its author: whoever may view the image reads the shared layer,
  a draft is seen by its author alone, and only the author changes or deletes it (with the
  right to annotate the case); an organisation's annotation classes are read by its staff
  and managed by its administrators.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

CARE_ROLES = frozenset({"pathologist", "radiologist", "clinician"})
ROLES = frozenset(CARE_ROLES | {"admin", "log_reviewer", "teacher", "student", "patient"})
READ_ACTIONS = frozenset({"list", "view", "render"})
CASE_ACTIONS = frozenset(
    READ_ACTIONS
    | {
        "export",
        "share",
        "revoke",
        "annotate",
        "edit",
        "edit_case",
        "delete",
        "manage",
        "create_case",
    }
)
PATIENT_ACTIONS = frozenset({"view_patient", "block", "consent", "emergency_access"})
LOG_ACTIONS = frozenset({"read_log", "read_own_log"})
DIRECTORY_ACTIONS = frozenset({"search_directory"})
# On one annotation (AnnotationFacts): read it, change it, delete it.
ANNOTATION_ACTIONS = frozenset({"read_annotation", "change_annotation", "delete_annotation"})
# On an organisation's list of annotation classes (OrganisationFacts).
CLASS_ACTIONS = frozenset({"list_classes", "manage_classes"})
# On one referral (ReferralSubject): which side may do what (its state decides the rest).
REQUESTER_ACTIONS = frozenset({"read_referral", "withdraw_referral", "close_referral"})
RECEIVER_ACTIONS = frozenset(
    {
        "read_referral",
        "accept_referral",
        "decline_referral",
        "assign_referral",
        "answer_referral",
        "sign_referral",
        "close_referral",
    }
)
REFERRAL_ACTIONS = frozenset(REQUESTER_ACTIONS | RECEIVER_ACTIONS)
# The states in which an accepted referral is a care relation (DOMAIN.md rule 2).
REFERRAL_OPEN = frozenset({"accepted", "in_review", "answered"})
ACTIONS = frozenset(
    CASE_ACTIONS
    | PATIENT_ACTIONS
    | LOG_ACTIONS
    | DIRECTORY_ACTIONS
    | ANNOTATION_ACTIONS
    | CLASS_ACTIONS
    | REFERRAL_ACTIONS
)
STAFF_ROLES = frozenset(ROLES - {"patient"})
SHARED_ACTIONS = frozenset(READ_ACTIONS | {"annotate", "edit", "export"})
TEACHER_ACTIONS = frozenset(
    READ_ACTIONS | {"annotate", "edit", "edit_case", "export", "share", "revoke"}
)
# "edit_case" changes the case itself (its question, history, status, sender, images):
# the owning organisation's work, never a recipient's.
OWNER_ONLY_ACTIONS = frozenset({"share", "revoke", "create_case", "delete", "edit_case"})
# Students practise on teaching cases: they read them and mark them up, nothing more.
STUDENT_ACTIONS = frozenset(READ_ACTIONS | {"annotate", "edit"})
ADMIN_ACTIONS = frozenset({"list", "share", "revoke", "manage"})


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
    """What the rules need of a case (or of an image outside any case, or of a case about
    to be created: then `id` is None)."""

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
    """An active consent (to an organisation or user) or emergency access (to a user).

    A consent's `cases` is its scope: the case ids it lifts the spärr for, None for all.
    """

    id: str
    kind: str
    until: datetime
    org_id: str | None = None
    user_id: str | None = None
    cases: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ReferralFacts:
    """A referral of the case as a relation: to whom it went and where it stands."""

    id: str
    org_id: str
    unit_id: str | None
    user_id: str | None
    status: str
    blinded: bool = False
    requester_org_id: str | None = None


@dataclass(frozen=True)
class Relations:
    """The active shares and referrals of the case, and the patient's blocks, consents and
    emergency grants."""

    shares: tuple[ShareFacts, ...] = ()
    blocks: tuple[BlockFacts, ...] = ()
    consents: tuple[GrantFacts, ...] = ()
    emergencies: tuple[GrantFacts, ...] = ()
    referrals: tuple[ReferralFacts, ...] = ()


@dataclass(frozen=True)
class PatientFacts:
    """A patient as a whole: the owning organisation and every case with its own shares.

    The patient's blocks, consents and emergency grants come in `decide`'s `relations`.
    """

    id: str
    org_id: str
    cases: tuple[tuple[CaseFacts, Relations], ...] = ()


@dataclass(frozen=True)
class AnnotationFacts:
    """One annotation: the case (or image) it is drawn on, its author and its layer."""

    case: CaseFacts
    author_id: str
    layer: str = "shared"


@dataclass(frozen=True)
class OrganisationFacts:
    """An organisation as the owner of lists such as its annotation classes."""

    id: str


@dataclass(frozen=True)
class ReferralSubject:
    """One referral as the subject of an action: where it went, who sent it (user, unit,
    organisation) and who is copied on it."""

    referral: ReferralFacts
    requester_id: str
    requester_org_id: str
    requester_unit_id: str | None
    copied: tuple[str, ...] = ()
    case: CaseFacts | None = None


Subject = CaseFacts | PatientFacts | AnnotationFacts | OrganisationFacts | ReferralSubject | None


@dataclass(frozen=True)
class Decision:
    """Allowed or not, why, on which role and basis, and until when it holds.

    `visible` tells a refusal whether the caller may learn that the thing exists
    (403) or must not (404). `flagged` marks accesses a log reviewer must follow up.
    `blocked` marks a refusal because of a spärr (the caller may learn only that
    blocked information exists). `scope` names the organisations a log decision covers.
    `conceal` names the organisation whose own marks a blinded reviewer does not see.
    """

    allowed: bool
    reason: str
    purpose: str = "care"
    role: Role | None = None
    basis: str | None = None
    visible: bool = False
    flagged: bool = False
    until: datetime | None = None
    blocked: bool = False
    scope: tuple[str, ...] = ()
    # A blinded second opinion: the organisation whose marks, notes and preliminary
    # diagnosis this viewer may not see until their own report is signed.
    conceal: str | None = None


def decide(
    actor: Actor, action: str, subject: Subject, relations: Relations, now: datetime
) -> Decision:
    """The decision for `actor` doing `action` on `subject`, given the active relations.

    Case actions take a CaseFacts, patient actions a PatientFacts (None for a patient
    samsyn does not hold), log and directory actions no subject.
    """
    if action in LOG_ACTIONS:
        return _on_log(actor, action)
    if action in DIRECTORY_ACTIONS:
        return _on_directory(actor)
    if action in CLASS_ACTIONS:
        if not isinstance(subject, OrganisationFacts):
            return Decision(False, "wrong_subject")
        return _on_classes(actor, action, subject)
    if action in ANNOTATION_ACTIONS:
        if not isinstance(subject, AnnotationFacts):
            return Decision(False, "wrong_subject")
        return _on_annotation(actor, action, subject, relations, now)
    if action in PATIENT_ACTIONS:
        if subject is not None and not isinstance(subject, PatientFacts):
            return Decision(False, "wrong_subject")
        return _on_patient(actor, action, subject, relations, now)
    if action in REFERRAL_ACTIONS:
        if not isinstance(subject, ReferralSubject):
            return Decision(False, "wrong_subject")
        return _on_referral(actor, action, subject, relations)
    if action not in CASE_ACTIONS or not isinstance(subject, CaseFacts):
        return Decision(False, "unknown_action")
    return _on_case(actor, action, subject, relations, now)


def _on_case(
    actor: Actor, action: str, case: CaseFacts, relations: Relations, now: datetime
) -> Decision:
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
    if role.role == "admin":
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
    if action in ADMIN_ACTIONS:
        return Decision(
            True, "administration", purpose="administration", role=role, basis="own_org"
        )
    return Decision(False, "admin_sees_no_images", role=role, visible=True)


def _as_teaching(
    actor: Actor, role: Role, action: str, case: CaseFacts, relations: Relations, now: datetime
) -> Decision:
    if case.purpose != "teaching":
        return Decision(False, "teaching_material_only", role=role)
    own = case.org_id == role.org_id
    share = None if own else _active_share(actor, role, relations, now)
    if not own and share is None:
        return Decision(False, "no_relation", role=role)
    allowed_actions = TEACHER_ACTIONS if role.role == "teacher" else STUDENT_ACTIONS
    if action == "create_case":
        allowed_actions = frozenset({"create_case"}) if role.role == "teacher" else frozenset()
    if action not in allowed_actions or (action in OWNER_ONLY_ACTIONS and not own):
        return Decision(False, "not_for_this_role", role=role, visible=True)
    basis = f"share:{share.id}" if share else "own_org"
    until = share.until if share else None
    return Decision(True, "teaching", purpose="teaching", role=role, basis=basis, until=until)


def _as_carer(
    actor: Actor, role: Role, action: str, case: CaseFacts, relations: Relations, now: datetime
) -> Decision:
    """Own organisation or a share first; a spärr then decides, unless a consent in scope
    or the user's own emergency grant lifts it. Without any relation the spärr is not
    even mentioned."""
    emergency = _emergency(actor, relations, now)
    relation = _care_relation(actor, role, action, case, relations, now)
    if relation is None:
        if emergency is not None:
            return _lifted(role, action, emergency)
        return Decision(False, "no_relation", role=role)
    if _blocking(role, case, relations) is None:
        return relation
    consent = _consent(actor, role, case, relations, now)
    if consent is not None:
        if not relation.allowed:
            return relation
        until = min(relation.until, consent.until) if relation.until else consent.until
        basis = f"{relation.basis}+consent:{consent.id}"
        return replace(relation, basis=basis, until=until, flagged=True)
    if emergency is not None:
        return _lifted(role, action, emergency)
    return Decision(False, "blocked", role=role, blocked=True)


def _care_relation(
    actor: Actor, role: Role, action: str, case: CaseFacts, relations: Relations, now: datetime
) -> Decision | None:
    """The decision the caller's own organisation or a share gives, before any spärr;
    None when there is no relation at all."""
    if case.org_id == role.org_id:
        return Decision(True, "own_org", role=role, basis="own_org")
    share = _active_share(actor, role, relations, now)
    if share is None:
        return _referral_relation(actor, role, action, relations)
    if action not in SHARED_ACTIONS:
        return Decision(False, "not_with_a_share", role=role, visible=True)
    basis = f"share:{share.id}"
    return Decision(True, "share", purpose=share.purpose, role=role, basis=basis, until=share.until)


def _referral_relation(
    actor: Actor, role: Role, action: str, relations: Relations
) -> Decision | None:
    """An accepted referral to the caller's unit (or to them by name) opens the case to
    them for the second opinion until it is closed; nothing before acceptance does. A
    blinded one hides the requesting organisation's own marks until the answer is signed."""
    for referral in relations.referrals:
        if referral.status in REFERRAL_OPEN and _received_by(actor, role, referral):
            if action not in SHARED_ACTIONS:
                return Decision(False, "not_with_a_referral", role=role, visible=True)
            blinded = referral.blinded and referral.status != "answered"
            return Decision(
                True,
                "referral",
                purpose="second_opinion",
                role=role,
                basis=f"referral:{referral.id}",
                conceal=referral.requester_org_id if blinded else None,
            )
    return None


def receiving(actor: Actor, referral: ReferralFacts) -> bool:
    """Whether one of the actor's roles is on the referral's receiving side."""
    return any(_received_by(actor, role, referral) for role in actor.roles)


def _received_by(actor: Actor, role: Role, referral: ReferralFacts) -> bool:
    """The referral went to this role: to the user by name, else to the role's unit, or
    to the organisation as a whole when it names no unit."""
    if role.role not in CARE_ROLES:
        return False
    if referral.user_id is not None:
        return referral.user_id == actor.user_id
    if referral.unit_id is not None:
        return referral.unit_id == role.unit_id
    return referral.org_id == role.org_id


def _on_referral(
    actor: Actor, action: str, subject: ReferralSubject, relations: Relations
) -> Decision:
    """The requesting side reads, withdraws and closes; the receiving side reads,
    accepts, declines, is assigned, answers, signs and closes, once it is sent and unless
    a spärr of the patient hides the case from it (then it learns only that blocked
    information exists)."""
    referral = subject.referral
    refusals: list[Decision] = []
    for role in actor.roles:
        receives = _received_by(actor, role, referral) and referral.status != "draft"
        if receives and subject.case is not None and _blocking(role, subject.case, relations):
            refusals.append(Decision(False, "blocked", role=role, blocked=True, visible=True))
        elif receives:
            if action in RECEIVER_ACTIONS:
                return Decision(
                    True,
                    "receives",
                    purpose="second_opinion",
                    role=role,
                    basis=f"referral:{referral.id}",
                )
            refusals.append(Decision(False, "not_for_the_receiver", role=role, visible=True))
        if _requests(actor, role, subject):
            if action in REQUESTER_ACTIONS:
                return Decision(
                    True, "requests", purpose="care", role=role, basis=f"referral:{referral.id}"
                )
            refusals.append(Decision(False, "not_for_the_requester", role=role, visible=True))
    return _most_telling(refusals)


def _requests(actor: Actor, role: Role, subject: ReferralSubject) -> bool:
    """The requester, a user copied on it, or care staff of the requesting unit."""
    if actor.user_id == subject.requester_id or actor.user_id in subject.copied:
        return True
    return (
        role.role in CARE_ROLES
        and role.org_id == subject.requester_org_id
        and subject.requester_unit_id is not None
        and role.unit_id == subject.requester_unit_id
    )


def _lifted(role: Role, action: str, grant: GrantFacts) -> Decision:
    """Access resting on an emergency grant: reading and annotating only, flagged."""
    if action not in SHARED_ACTIONS:
        return Decision(False, "not_with_a_grant", role=role, visible=True)
    return Decision(
        True,
        "emergency",
        purpose="emergency",
        role=role,
        basis=f"emergency:{grant.id}",
        flagged=True,
        until=grant.until,
    )


def _on_patient(
    actor: Actor, action: str, patient: PatientFacts | None, relations: Relations, now: datetime
) -> Decision:
    care = [role for role in actor.roles if role.role in CARE_ROLES]
    if action == "emergency_access":
        return _emergency_request(care, patient)
    if patient is None:
        return Decision(False, "no_relation")
    if action == "view_patient":
        return _view_patient(actor, patient, relations, now)
    if action == "block":
        return _record_block(actor, patient)
    return _record_consent(actor, care, patient, relations, now)


def _emergency_request(care: list[Role], patient: PatientFacts | None) -> Decision:
    """Nödåtkomst: any care role may ask, for a patient samsyn holds; asking for a number it
    does not hold is refused and flagged all the same (asking is worth a reviewer's look)."""
    if not care:
        return Decision(False, "emergency_needs_a_care_role", visible=True)
    if patient is None:
        return Decision(False, "unknown_patient", purpose="emergency", role=care[0], flagged=True)
    return Decision(True, "emergency", purpose="emergency", role=care[0], flagged=True)


def _view_patient(
    actor: Actor, patient: PatientFacts, relations: Relations, now: datetime
) -> Decision:
    """A patient as a whole: allowed when one of their cases may be viewed; blocked when a
    relation exists but a spärr hides it; otherwise the patient stays unknown."""
    decisions = [
        _on_case(actor, "view", case, _merged(case_relations, relations), now)
        for case, case_relations in patient.cases
    ]
    allowed = next((decision for decision in decisions if decision.allowed), None)
    if allowed is not None:
        return allowed
    if any(decision.blocked for decision in decisions):
        return Decision(False, "blocked", blocked=True, visible=True)
    return Decision(False, "no_relation")


def _record_block(actor: Actor, patient: PatientFacts) -> Decision:
    """A spärr is recorded by a care role or an admin of an organisation holding the
    patient's data (the patient's own organisation or the owner of one of their cases)."""
    holders = {patient.org_id} | {case.org_id for case, _relations in patient.cases}
    for role in actor.roles:
        if role.role in CARE_ROLES | {"admin"} and role.org_id in holders:
            return Decision(True, "records_spärr", role=role, basis="own_org")
    return Decision(False, "no_relation")


def _record_consent(
    actor: Actor, care: list[Role], patient: PatientFacts, relations: Relations, now: datetime
) -> Decision:
    """A samtycke is recorded by a care role whose relation to one of the patient's cases
    the spärr blocks: it lifts the spärr for that organisation only."""
    unblocked = replace(relations, blocks=())
    for role in care:
        for case, case_relations in patient.cases:
            opened, closed = _merged(case_relations, unblocked), _merged(case_relations, relations)
            without_block = _as_carer(actor, role, "view", case, opened, now)
            with_block = _as_carer(actor, role, "view", case, closed, now)
            if without_block.allowed and with_block.blocked:
                return Decision(True, "records_consent", role=role, basis=without_block.basis)
    return Decision(False, "no_relation")


def _merged(case: Relations, patient: Relations) -> Relations:
    """A case's shares and referrals with the patient's blocks, consents and emergency
    grants."""
    return Relations(
        case.shares, patient.blocks, patient.consents, patient.emergencies, case.referrals
    )


# What an action on one annotation asks of its case.
_CASE_ACTION_OF = {
    "read_annotation": "view",
    "change_annotation": "edit",
    "delete_annotation": "edit",
}


def _on_annotation(
    actor: Actor, action: str, annotation: AnnotationFacts, relations: Relations, now: datetime
) -> Decision:
    """The case decides first; then a draft is its author's alone, and a shared annotation
    is read by all who see the case but changed and deleted by its author only."""
    on_case = _on_case(actor, _CASE_ACTION_OF[action], annotation.case, relations, now)
    if not on_case.allowed:
        return on_case
    own = annotation.author_id == actor.user_id
    if annotation.layer == "draft" and not own:
        return Decision(False, "draft_of_another", role=on_case.role)
    if action != "read_annotation" and not own:
        return Decision(False, "not_the_author", role=on_case.role, visible=True)
    return on_case


def _on_classes(actor: Actor, action: str, organisation: OrganisationFacts) -> Decision:
    """An organisation's annotation classes: its staff read them, its admins manage them."""
    wanted = STAFF_ROLES if action == "list_classes" else frozenset({"admin"})
    for role in actor.roles:
        if role.org_id == organisation.id and role.role in wanted:
            return Decision(True, "own_org", purpose="administration", role=role, basis="own_org")
    member = any(role.org_id == organisation.id for role in actor.roles)
    return Decision(False, "not_for_this_role" if member else "no_relation", visible=True)


def _on_log(actor: Actor, action: str) -> Decision:
    if action == "read_own_log":
        if actor.patient_id is not None and any(r.role == "patient" for r in actor.roles):
            return Decision(True, "own_record", purpose="own_record", basis="own_record")
        return Decision(False, "log_extract_is_for_patients", visible=True)
    reviewer = [role for role in actor.roles if role.role == "log_reviewer"]
    if not reviewer:
        return Decision(False, "log_is_for_log_reviewers", visible=True)
    scope = tuple(sorted({role.org_id for role in reviewer}))
    return Decision(
        True, "log_review", purpose="log_review", role=reviewer[0], basis="own_org", scope=scope
    )


def _on_directory(actor: Actor) -> Decision:
    """The directory of organisations, units and staff is for staff picking a recipient;
    a patient has no one to share with."""
    staff = [role for role in actor.roles if role.role in STAFF_ROLES]
    if not staff:
        return Decision(False, "directory_is_for_staff", visible=True)
    return Decision(True, "staff", purpose="administration", role=staff[0], basis="own_org")


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


def _consent(
    actor: Actor, role: Role, case: CaseFacts, relations: Relations, now: datetime
) -> GrantFacts | None:
    """A consent of the patient to this organisation (or user) that covers this case."""
    for consent in relations.consents:
        addressed = consent.org_id == role.org_id and consent.user_id in (None, actor.user_id)
        in_scope = consent.cases is None or case.id in consent.cases
        if addressed and in_scope and consent.until > now:
            return consent
    return None


def _emergency(actor: Actor, relations: Relations, now: datetime) -> GrantFacts | None:
    for grant in relations.emergencies:
        if grant.user_id == actor.user_id and grant.until > now:
            return grant
    return None
