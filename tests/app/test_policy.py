"""`app.policy.decide` as a table: actor x action x case x relations -> decision.

Every row names what it checks. A refusal's `visible` decides the HTTP answer: True means
the caller may learn the thing exists (403), False means it must look unknown (404).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.policy import (
    Actor,
    AnnotationFacts,
    BlockFacts,
    CaseFacts,
    GrantFacts,
    OrganisationFacts,
    Relations,
    Role,
    ShareFacts,
    decide,
)

NOW = datetime(2025, 3, 5, 10, 0, tzinfo=UTC)
WEEK = NOW + timedelta(days=7)
THREE_DAYS = NOW + timedelta(days=3)
FOUR_HOURS = NOW + timedelta(hours=4)
A_MINUTE_AGO = NOW - timedelta(minutes=1)

A, B, C = "org-a", "org-b", "org-c"
A_PAT, A_KIR, B_PAT, B_ONK = "unit-a-pat", "unit-a-kir", "unit-b-pat", "unit-b-onk"

PATH_A = Actor("u-path-a", (Role("pathologist", A, A_PAT),))
CLIN_A_KIR = Actor("u-clin-a", (Role("clinician", A, A_KIR),))
RAD_A_NO_UNIT = Actor("u-rad-a", (Role("radiologist", A),))
PATH_B = Actor("u-path-b", (Role("pathologist", B, B_PAT),))
CLIN_B_ONK = Actor("u-clin-b", (Role("clinician", B, B_ONK),))
RAD_C = Actor("u-rad-c", (Role("radiologist", C),))
STUDENT_A = Actor("u-stud-a", (Role("student", A),))
STUDENT_B = Actor("u-stud-b", (Role("student", B),))
TEACHER_A = Actor("u-teach-a", (Role("teacher", A),))
ADMIN_A = Actor("u-admin-a", (Role("admin", A),))
ADMIN_B = Actor("u-admin-b", (Role("admin", B),))
REVIEWER_A = Actor("u-rev-a", (Role("log_reviewer", A),))
PATIENT_1 = Actor("u-pat-1", (Role("patient", A),), patient_id="p1")
PATIENT_2 = Actor("u-pat-2", (Role("patient", A),), patient_id="p2")
ADMIN_A_AND_PATH_B = Actor("u-two", (Role("admin", A), Role("pathologist", B, B_PAT)))
STUDENT_AND_PATH_A = Actor("u-two-a", (Role("student", A), Role("pathologist", A, A_PAT)))
REVIEWER_AND_PATH_B = Actor("u-rev-path", (Role("log_reviewer", A), Role("pathologist", B, B_PAT)))

CARE = CaseFacts("case-1", A, A_PAT, "p1")  # recorded at A's pathology unit
CARE_KIR = CaseFacts("case-2", A, A_KIR, "p1")  # the same patient, A's surgical unit
CARE_P2 = CaseFacts("case-3", A, A_PAT, "p2")
TEACHING = CaseFacts("case-t", A, None, None, purpose="teaching")
LOOSE_IMAGE = CaseFacts(None, A, None, None)  # an image of A outside any case

SHARE_ORG_B = ShareFacts("s-org", B, None, None, "second_opinion", WEEK)
SHARE_UNIT_B_PAT = ShareFacts("s-unit", None, B_PAT, None, "mdk", WEEK)
SHARE_USER_CLIN_B = ShareFacts("s-user", None, None, "u-clin-b", "care", WEEK)
SHARE_EXPIRED = ShareFacts("s-old", B, None, None, "second_opinion", A_MINUTE_AGO)
SHARE_ENDS_NOW = ShareFacts("s-now", B, None, None, "second_opinion", NOW)
SHARE_TEACHING_B = ShareFacts("s-teach", B, None, None, "teaching", WEEK)

BLOCK_A = BlockFacts("b-org", A, None)  # spärr on everything organisation A recorded
BLOCK_A_PAT = BlockFacts("b-unit", A, A_PAT)  # spärr on what A's pathology unit recorded
BLOCK_B = BlockFacts("b-other", B, None)

CONSENT_B = GrantFacts("c-b", "consent", THREE_DAYS, org_id=B)
CONSENT_B_EXPIRED = GrantFacts("c-b-old", "consent", A_MINUTE_AGO, org_id=B)
CONSENT_C = GrantFacts("c-c", "consent", THREE_DAYS, org_id=C)
CONSENT_A = GrantFacts("c-a", "consent", THREE_DAYS, org_id=A)
CONSENT_B_CLIN_ONLY = GrantFacts("c-b-u", "consent", THREE_DAYS, org_id=B, user_id="u-clin-b")

EMERGENCY_PATH_B = GrantFacts("e-1", "emergency", FOUR_HOURS, user_id="u-path-b")
EMERGENCY_EXPIRED = GrantFacts("e-old", "emergency", A_MINUTE_AGO, user_id="u-path-b")


def rel(*items: Any) -> Relations:
    """Relations from a mixed list of shares, blocks, consents and emergency grants."""
    shares = tuple(i for i in items if isinstance(i, ShareFacts))
    blocks = tuple(i for i in items if isinstance(i, BlockFacts))
    grants = [i for i in items if isinstance(i, GrantFacts)]
    return Relations(
        shares,
        blocks,
        tuple(g for g in grants if g.kind == "consent"),
        tuple(g for g in grants if g.kind == "emergency"),
    )


def allowed(reason: str, basis: str, purpose: str = "care", **more: Any) -> dict[str, Any]:
    return {
        "allowed": True,
        "reason": reason,
        "basis": basis,
        "purpose": purpose,
        "flagged": False,
        **more,
    }


def forbidden(reason: str | None = None) -> dict[str, Any]:
    """Refused, and the caller may know the thing exists: 403."""
    expected: dict[str, Any] = {"allowed": False, "visible": True, "flagged": False}
    if reason:
        expected["reason"] = reason
    return expected


def hidden(reason: str | None = None, **more: Any) -> dict[str, Any]:
    """Refused, and the thing must look unknown: 404."""
    expected: dict[str, Any] = {"allowed": False, "visible": False, "flagged": False, **more}
    if reason:
        expected["reason"] = reason
    return expected


@dataclass(frozen=True)
class Row:
    name: str
    actor: Actor
    action: str
    case: CaseFacts
    relations: Relations
    expected: dict[str, Any] = field(default_factory=dict)


ROWS = [
    # --- own organisation -------------------------------------------------------------
    Row("own org: pathologist views", PATH_A, "view", CARE, rel(), allowed("own_org", "own_org")),
    Row(
        "own org: pathologist renders", PATH_A, "render", CARE, rel(), allowed("own_org", "own_org")
    ),
    Row("own org: pathologist lists", PATH_A, "list", CARE, rel(), allowed("own_org", "own_org")),
    Row("own org: pathologist shares", PATH_A, "share", CARE, rel(), allowed("own_org", "own_org")),
    Row(
        "own org: pathologist annotates",
        PATH_A,
        "annotate",
        CARE,
        rel(),
        allowed("own_org", "own_org"),
    ),
    Row(
        "own org: clinician of another unit views",
        CLIN_A_KIR,
        "view",
        CARE,
        rel(),
        allowed("own_org", "own_org"),
    ),
    Row(
        "own org: radiologist without unit views",
        RAD_A_NO_UNIT,
        "view",
        CARE,
        rel(),
        allowed("own_org", "own_org"),
    ),
    Row(
        "own org: image outside a case",
        PATH_A,
        "view",
        LOOSE_IMAGE,
        rel(),
        allowed("own_org", "own_org"),
    ),
    # --- another organisation, no relation ----------------------------------------------
    Row("other org: no share, view", PATH_B, "view", CARE, rel(), hidden("no_relation")),
    Row("other org: no share, render", PATH_B, "render", CARE, rel(), hidden("no_relation")),
    Row("other org: no share, list", PATH_B, "list", CARE, rel(), hidden("no_relation")),
    Row("other org: no share, share", PATH_B, "share", CARE, rel(), hidden("no_relation")),
    Row("other org: image outside a case", PATH_B, "view", LOOSE_IMAGE, rel(), hidden()),
    Row(
        "other org: another case's share does not count",
        RAD_C,
        "view",
        CARE,
        rel(SHARE_ORG_B),
        hidden("no_relation"),
    ),
    # --- share to the organisation -------------------------------------------------------
    Row(
        "share to org: pathologist of it views",
        PATH_B,
        "view",
        CARE,
        rel(SHARE_ORG_B),
        allowed("share", "share:s-org", "second_opinion", until=WEEK),
    ),
    Row(
        "share to org: any unit of it",
        CLIN_B_ONK,
        "view",
        CARE,
        rel(SHARE_ORG_B),
        allowed("share", "share:s-org", "second_opinion"),
    ),
    Row(
        "share to org: tiles",
        PATH_B,
        "render",
        CARE,
        rel(SHARE_ORG_B),
        allowed("share", "share:s-org", "second_opinion"),
    ),
    Row(
        "share to org: listing",
        PATH_B,
        "list",
        CARE,
        rel(SHARE_ORG_B),
        allowed("share", "share:s-org", "second_opinion"),
    ),
    Row(
        "share to org: annotate",
        PATH_B,
        "annotate",
        CARE,
        rel(SHARE_ORG_B),
        allowed("share", "share:s-org", "second_opinion"),
    ),
    Row(
        "share to org: may not re-share",
        PATH_B,
        "share",
        CARE,
        rel(SHARE_ORG_B),
        forbidden("not_with_a_share"),
    ),
    Row("share to org: may not delete", PATH_B, "delete", CARE, rel(SHARE_ORG_B), forbidden()),
    Row("share to org: may not manage", PATH_B, "manage", CARE, rel(SHARE_ORG_B), forbidden()),
    # --- share to a unit -----------------------------------------------------------------
    Row(
        "share to unit: that unit views",
        PATH_B,
        "view",
        CARE,
        rel(SHARE_UNIT_B_PAT),
        allowed("share", "share:s-unit", "mdk"),
    ),
    Row(
        "share to unit: another unit of the org",
        CLIN_B_ONK,
        "view",
        CARE,
        rel(SHARE_UNIT_B_PAT),
        hidden("no_relation"),
    ),
    Row(
        "share to unit: another org",
        RAD_C,
        "view",
        CARE,
        rel(SHARE_UNIT_B_PAT),
        hidden("no_relation"),
    ),
    # --- share to a user by name ---------------------------------------------------------
    Row(
        "share to user: that user views",
        CLIN_B_ONK,
        "view",
        CARE,
        rel(SHARE_USER_CLIN_B),
        allowed("share", "share:s-user", "care"),
    ),
    Row(
        "share to user: a colleague of theirs",
        PATH_B,
        "view",
        CARE,
        rel(SHARE_USER_CLIN_B),
        hidden("no_relation"),
    ),
    # --- expired shares ------------------------------------------------------------------
    Row("expired share", PATH_B, "view", CARE, rel(SHARE_EXPIRED), hidden("no_relation")),
    Row("expired share: tiles", PATH_B, "render", CARE, rel(SHARE_EXPIRED), hidden("no_relation")),
    Row(
        "share ending exactly now", PATH_B, "view", CARE, rel(SHARE_ENDS_NOW), hidden("no_relation")
    ),
    # --- spärr on the owning organisation --------------------------------------------------
    Row(
        "org spärr: inside, same unit",
        PATH_A,
        "view",
        CARE,
        rel(BLOCK_A),
        allowed("own_org", "own_org"),
    ),
    Row(
        "org spärr: inside, other unit",
        CLIN_A_KIR,
        "view",
        CARE,
        rel(BLOCK_A),
        allowed("own_org", "own_org"),
    ),
    Row(
        "org spärr: outside with a share",
        PATH_B,
        "view",
        CARE,
        rel(SHARE_ORG_B, BLOCK_A),
        hidden("blocked", blocked=True),
    ),
    Row(
        "org spärr: outside with a share, tiles",
        PATH_B,
        "render",
        CARE,
        rel(SHARE_ORG_B, BLOCK_A),
        hidden("blocked", blocked=True),
    ),
    Row(
        "org spärr: outside with a share, list",
        PATH_B,
        "list",
        CARE,
        rel(SHARE_ORG_B, BLOCK_A),
        hidden("blocked", blocked=True),
    ),
    Row(
        "spärr of another org does not cover A's data",
        PATH_B,
        "view",
        CARE,
        rel(SHARE_ORG_B, BLOCK_B),
        allowed("share", "share:s-org", "second_opinion"),
    ),
    # --- spärr on a unit -----------------------------------------------------------------
    Row(
        "unit spärr: inside the unit",
        PATH_A,
        "view",
        CARE,
        rel(BLOCK_A_PAT),
        allowed("own_org", "own_org"),
    ),
    Row(
        "unit spärr: other unit of the same org",
        CLIN_A_KIR,
        "view",
        CARE,
        rel(BLOCK_A_PAT),
        hidden("blocked", blocked=True),
    ),
    Row(
        "unit spärr: same org without a unit",
        RAD_A_NO_UNIT,
        "view",
        CARE,
        rel(BLOCK_A_PAT),
        hidden("blocked", blocked=True),
    ),
    Row(
        "unit spärr: another org with a share",
        PATH_B,
        "view",
        CARE,
        rel(SHARE_ORG_B, BLOCK_A_PAT),
        hidden("blocked", blocked=True),
    ),
    Row(
        "unit spärr: data of another unit is not covered",
        CLIN_A_KIR,
        "view",
        CARE_KIR,
        rel(BLOCK_A_PAT),
        allowed("own_org", "own_org"),
    ),
    Row(
        "unit spärr: another org, data of another unit",
        PATH_B,
        "view",
        CARE_KIR,
        rel(SHARE_ORG_B, BLOCK_A_PAT),
        allowed("share", "share:s-org", "second_opinion"),
    ),
    # --- consent (samtycke) --------------------------------------------------------------
    Row(
        "consent lifts the spärr for a share",
        PATH_B,
        "view",
        CARE,
        rel(SHARE_ORG_B, BLOCK_A, CONSENT_B),
        allowed(
            "share", "share:s-org+consent:c-b", "second_opinion", until=THREE_DAYS, flagged=True
        ),
    ),
    Row(
        "consent alone is no care relation",
        PATH_B,
        "view",
        CARE,
        rel(BLOCK_A, CONSENT_B),
        hidden("no_relation"),
    ),
    Row(
        "consent without any spärr is no care relation",
        PATH_B,
        "view",
        CARE,
        rel(CONSENT_B),
        hidden("no_relation"),
    ),
    Row(
        "expired consent",
        PATH_B,
        "view",
        CARE,
        rel(SHARE_ORG_B, BLOCK_A, CONSENT_B_EXPIRED),
        hidden("blocked", blocked=True),
    ),
    Row(
        "consent to another org",
        PATH_B,
        "view",
        CARE,
        rel(SHARE_ORG_B, BLOCK_A, CONSENT_C),
        hidden("blocked", blocked=True),
    ),
    Row(
        "consent to the own org lifts a unit spärr",
        CLIN_A_KIR,
        "view",
        CARE,
        rel(BLOCK_A_PAT, CONSENT_A),
        allowed("own_org", "own_org+consent:c-a", flagged=True),
    ),
    Row(
        "consent to a named user: that user",
        CLIN_B_ONK,
        "view",
        CARE,
        rel(SHARE_ORG_B, BLOCK_A, CONSENT_B_CLIN_ONLY),
        allowed("share", "share:s-org+consent:c-b-u", "second_opinion", flagged=True),
    ),
    Row(
        "consent to a named user: a colleague",
        PATH_B,
        "view",
        CARE,
        rel(SHARE_ORG_B, BLOCK_A, CONSENT_B_CLIN_ONLY),
        hidden("blocked", blocked=True),
    ),
    # --- emergency access (nödåtkomst) ---------------------------------------------------
    Row(
        "emergency: allowed, flagged",
        PATH_B,
        "view",
        CARE,
        rel(EMERGENCY_PATH_B),
        {
            "allowed": True,
            "reason": "emergency",
            "purpose": "emergency",
            "basis": "emergency:e-1",
            "flagged": True,
            "until": FOUR_HOURS,
        },
    ),
    Row(
        "emergency: tiles flagged too",
        PATH_B,
        "render",
        CARE,
        rel(EMERGENCY_PATH_B),
        {"allowed": True, "purpose": "emergency", "flagged": True},
    ),
    Row(
        "emergency: through an org spärr",
        PATH_B,
        "view",
        CARE,
        rel(BLOCK_A, EMERGENCY_PATH_B),
        {
            "allowed": True,
            "reason": "emergency",
            "purpose": "emergency",
            "basis": "emergency:e-1",
            "flagged": True,
        },
    ),
    Row(
        "emergency: through a spärr even with a share",
        PATH_B,
        "view",
        CARE,
        rel(SHARE_ORG_B, BLOCK_A, EMERGENCY_PATH_B),
        {"allowed": True, "purpose": "emergency", "flagged": True},
    ),
    Row(
        "emergency: through a unit spärr inside the org",
        Actor("u-path-b", (Role("clinician", A, A_KIR),)),
        "view",
        CARE,
        rel(BLOCK_A_PAT, EMERGENCY_PATH_B),
        {"allowed": True, "purpose": "emergency", "flagged": True},
    ),
    Row(
        "emergency: no sharing on it",
        PATH_B,
        "share",
        CARE,
        rel(EMERGENCY_PATH_B),
        forbidden("not_with_a_grant"),
    ),
    Row("emergency: no deleting on it", PATH_B, "delete", CARE, rel(EMERGENCY_PATH_B), forbidden()),
    Row(
        "emergency: personal, not for colleagues",
        CLIN_B_ONK,
        "view",
        CARE,
        rel(EMERGENCY_PATH_B),
        hidden("no_relation"),
    ),
    Row("emergency: expired", PATH_B, "view", CARE, rel(EMERGENCY_EXPIRED), hidden("no_relation")),
    Row(
        "emergency: expired, under spärr",
        PATH_B,
        "view",
        CARE,
        rel(BLOCK_A, EMERGENCY_EXPIRED),
        hidden("no_relation"),  # no share: the spärr is not even mentioned
    ),
    Row(
        "emergency: not for a student",
        Actor("u-path-b", (Role("student", B),)),
        "view",
        CARE,
        rel(EMERGENCY_PATH_B),
        hidden(),
    ),
    # --- patients ------------------------------------------------------------------------
    Row(
        "patient: own case",
        PATIENT_1,
        "view",
        CARE,
        rel(),
        allowed("own_record", "own_record", "own_record"),
    ),
    Row(
        "patient: own case, tiles",
        PATIENT_1,
        "render",
        CARE,
        rel(),
        allowed("own_record", "own_record", "own_record"),
    ),
    Row(
        "patient: own case, list",
        PATIENT_1,
        "list",
        CARE,
        rel(),
        allowed("own_record", "own_record", "own_record"),
    ),
    Row(
        "patient: own case under their own spärr",
        PATIENT_1,
        "view",
        CARE,
        rel(BLOCK_A_PAT),
        allowed("own_record", "own_record", "own_record"),
    ),
    Row(
        "patient: may not annotate",
        PATIENT_1,
        "annotate",
        CARE,
        rel(),
        forbidden("patient_reads_only"),
    ),
    Row("patient: may not share", PATIENT_1, "share", CARE, rel(), forbidden("patient_reads_only")),
    Row("patient: another patient's case", PATIENT_2, "view", CARE, rel(), hidden()),
    Row(
        "patient: another patient's case, shared to their org",
        PATIENT_2,
        "view",
        CARE,
        rel(ShareFacts("s-a", A, None, None, "care", WEEK)),
        hidden(),
    ),
    Row("patient: teaching case", PATIENT_1, "view", TEACHING, rel(), hidden()),
    Row("patient: image outside a case", PATIENT_1, "view", LOOSE_IMAGE, rel(), hidden()),
    # --- students ------------------------------------------------------------------------
    Row(
        "student: teaching case of own org",
        STUDENT_A,
        "view",
        TEACHING,
        rel(),
        allowed("teaching", "own_org", "teaching"),
    ),
    Row(
        "student: teaching tiles",
        STUDENT_A,
        "render",
        TEACHING,
        rel(),
        allowed("teaching", "own_org", "teaching"),
    ),
    Row(
        "student: teaching list",
        STUDENT_A,
        "list",
        TEACHING,
        rel(),
        allowed("teaching", "own_org", "teaching"),
    ),
    Row(
        "student: practises annotating a teaching case",
        STUDENT_A,
        "annotate",
        TEACHING,
        rel(),
        allowed("teaching", "own_org", "teaching"),
    ),
    Row(
        "student: never annotates a care case",
        STUDENT_A,
        "annotate",
        CARE,
        rel(),
        hidden("teaching_material_only"),
    ),
    Row(
        "student: read only, no share",
        STUDENT_A,
        "share",
        TEACHING,
        rel(),
        forbidden("not_for_this_role"),
    ),
    Row(
        "student: read only, no export",
        STUDENT_A,
        "export",
        TEACHING,
        rel(),
        forbidden("not_for_this_role"),
    ),
    Row(
        "student: care case of own org",
        STUDENT_A,
        "view",
        CARE,
        rel(),
        hidden("teaching_material_only"),
    ),
    Row(
        "student: care case shared to their org",
        STUDENT_B,
        "view",
        CARE,
        rel(SHARE_ORG_B),
        hidden("teaching_material_only"),
    ),
    Row("student: image outside a case", STUDENT_A, "view", LOOSE_IMAGE, rel(), hidden()),
    Row(
        "student: teaching case of another org",
        STUDENT_B,
        "view",
        TEACHING,
        rel(),
        hidden("no_relation"),
    ),
    Row(
        "student: teaching case shared to their org",
        STUDENT_B,
        "view",
        TEACHING,
        rel(SHARE_TEACHING_B),
        allowed("teaching", "share:s-teach", "teaching"),
    ),
    # --- teachers ------------------------------------------------------------------------
    Row(
        "teacher: views teaching case",
        TEACHER_A,
        "view",
        TEACHING,
        rel(),
        allowed("teaching", "own_org", "teaching"),
    ),
    Row(
        "teacher: annotates teaching case",
        TEACHER_A,
        "annotate",
        TEACHING,
        rel(),
        allowed("teaching", "own_org", "teaching"),
    ),
    Row(
        "teacher: shares teaching case",
        TEACHER_A,
        "share",
        TEACHING,
        rel(),
        allowed("teaching", "own_org", "teaching"),
    ),
    Row(
        "teacher: edits teaching case",
        TEACHER_A,
        "edit",
        TEACHING,
        rel(),
        allowed("teaching", "own_org", "teaching"),
    ),
    Row(
        "teacher: may not delete",
        TEACHER_A,
        "delete",
        TEACHING,
        rel(),
        forbidden("not_for_this_role"),
    ),
    Row("teacher: care case", TEACHER_A, "view", CARE, rel(), hidden("teaching_material_only")),
    Row("teacher: care case, list", TEACHER_A, "list", CARE, rel(), hidden()),
    # --- care roles on teaching material --------------------------------------------------
    Row(
        "pathologist: teaching case reads as teaching",
        PATH_A,
        "view",
        TEACHING,
        rel(),
        allowed("teaching", "own_org", "teaching"),
    ),
    Row(
        "pathologist: marks up a teaching case like a student",
        PATH_A,
        "annotate",
        TEACHING,
        rel(),
        allowed("teaching", "own_org", "teaching"),
    ),
    Row(
        "pathologist: does not share a teaching case", PATH_A, "share", TEACHING, rel(), forbidden()
    ),
    Row("pathologist: teaching case of another org", PATH_B, "view", TEACHING, rel(), hidden()),
    # --- admins --------------------------------------------------------------------------
    Row(
        "admin: lists own org's cases",
        ADMIN_A,
        "list",
        CARE,
        rel(),
        allowed("administration", "own_org", "administration"),
    ),
    Row(
        "admin: shares own org's cases",
        ADMIN_A,
        "share",
        CARE,
        rel(),
        allowed("administration", "own_org", "administration"),
    ),
    Row(
        "admin: manages own org's cases",
        ADMIN_A,
        "manage",
        CARE,
        rel(),
        allowed("administration", "own_org", "administration"),
    ),
    Row("admin: never views", ADMIN_A, "view", CARE, rel(), forbidden("admin_sees_no_images")),
    Row("admin: never renders", ADMIN_A, "render", CARE, rel(), forbidden("admin_sees_no_images")),
    Row("admin: never exports", ADMIN_A, "export", CARE, rel(), forbidden()),
    Row("admin: never annotates", ADMIN_A, "annotate", CARE, rel(), forbidden()),
    Row("admin: teaching case renders neither", ADMIN_A, "render", TEACHING, rel(), forbidden()),
    Row("admin: another org's case, list", ADMIN_B, "list", CARE, rel(), hidden("no_relation")),
    Row("admin: another org's case, share", ADMIN_B, "share", CARE, rel(), hidden("no_relation")),
    Row(
        "admin: another org's case even when shared to theirs",
        ADMIN_B,
        "view",
        CARE,
        rel(SHARE_ORG_B),
        hidden(),
    ),
    Row(
        "admin: org spärr of their own org (inside)",
        ADMIN_A,
        "list",
        CARE,
        rel(BLOCK_A),
        allowed("administration", "own_org", "administration"),
    ),
    Row(
        "admin: unit spärr hides the unit's data from the rest of the org (DOMAIN rule 3)",
        ADMIN_A,
        "list",
        CARE,
        rel(BLOCK_A_PAT),
        hidden(),
    ),
    # --- log reviewers -------------------------------------------------------------------
    Row(
        "log reviewer: view", REVIEWER_A, "view", CARE, rel(), hidden("role_without_record_access")
    ),
    Row(
        "log reviewer: list", REVIEWER_A, "list", CARE, rel(), hidden("role_without_record_access")
    ),
    Row(
        "log reviewer: render",
        REVIEWER_A,
        "render",
        CARE,
        rel(),
        hidden("role_without_record_access"),
    ),
    Row("log reviewer: share", REVIEWER_A, "share", CARE, rel(), hidden()),
    Row("log reviewer: teaching case", REVIEWER_A, "view", TEACHING, rel(), hidden()),
    # --- several roles -------------------------------------------------------------------
    Row(
        "two roles: the pathologist role's share wins over the admin refusal",
        ADMIN_A_AND_PATH_B,
        "view",
        CARE,
        rel(SHARE_ORG_B),
        allowed("share", "share:s-org", "second_opinion", role=Role("pathologist", B, B_PAT)),
    ),
    Row(
        "two roles: pathologist role of the own org",
        STUDENT_AND_PATH_A,
        "view",
        CARE,
        rel(),
        allowed("own_org", "own_org", role=Role("pathologist", A, A_PAT)),
    ),
    Row(
        "two roles: reviewer + pathologist elsewhere, no share",
        REVIEWER_AND_PATH_B,
        "view",
        CARE,
        rel(),
        hidden(),
    ),
    # --- editing the case itself (question, history, status, sender, images) -------------
    Row(
        "edit case: own pathologist",
        PATH_A,
        "edit_case",
        CARE,
        rel(),
        allowed("own_org", "own_org"),
    ),
    Row(
        "edit case: own clinician of another unit",
        CLIN_A_KIR,
        "edit_case",
        CARE,
        rel(),
        allowed("own_org", "own_org"),
    ),
    Row(
        "edit case: a share lets read, not edit the case",
        PATH_B,
        "edit_case",
        CARE,
        rel(SHARE_ORG_B),
        forbidden("not_with_a_share"),
    ),
    Row(
        "edit case: emergency access does not edit the case",
        PATH_B,
        "edit_case",
        CARE,
        rel(EMERGENCY_PATH_B),
        forbidden("not_with_a_grant"),
    ),
    Row("edit case: unrelated org", PATH_B, "edit_case", CARE, rel(), hidden("no_relation")),
    Row("edit case: admin", ADMIN_A, "edit_case", CARE, rel(), forbidden("admin_sees_no_images")),
    Row("edit case: own patient", PATIENT_1, "edit_case", CARE, rel(), forbidden()),
    Row(
        "edit case: teacher, own teaching case",
        TEACHER_A,
        "edit_case",
        TEACHING,
        rel(),
        allowed("teaching", "own_org", "teaching"),
    ),
    Row(
        "edit case: teacher, shared teaching case",
        Actor("u-teach-b", (Role("teacher", B),)),
        "edit_case",
        TEACHING,
        rel(SHARE_TEACHING_B),
        forbidden("not_for_this_role"),
    ),
    Row("edit case: student", STUDENT_A, "edit_case", TEACHING, rel(), forbidden()),
    # --- unknown actions -----------------------------------------------------------------
    Row("unknown action", PATH_A, "fly", CARE, rel(), hidden("unknown_action")),
    Row("unknown action: empty", PATH_A, "", CARE, rel(), hidden("unknown_action")),
    Row("unknown action: wrong case", PATH_A, "VIEW", CARE, rel(), hidden("unknown_action")),
    Row("unknown action: for an admin", ADMIN_A, "drop", CARE, rel(), hidden("unknown_action")),
    # --- no roles at all -----------------------------------------------------------------
    Row("no roles", Actor("u-nobody", ()), "view", CARE, rel(), hidden()),
]


def test_row_names_are_unique() -> None:
    names = [row.name for row in ROWS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_decide(row: Row) -> None:
    decision = decide(row.actor, row.action, row.case, row.relations, NOW)
    observed = {name: getattr(decision, name) for name in row.expected}
    assert observed == row.expected, f"{row.name}: {decision}"
    if decision.allowed:
        assert (
            decision.role is not None
            and decision.role in row.actor.roles
            or decision.basis == "own_record"
        )
    if decision.flagged:  # flagged accesses rest on an emergency grant or a consent
        assert decision.allowed
        assert decision.purpose == "emergency" or "consent:" in (decision.basis or "")


def test_share_decision_expires_with_the_share() -> None:
    """A decision on a share carries the share's end, so a cache cannot outlive it."""
    decision = decide(PATH_B, "render", CARE, rel(SHARE_ORG_B), NOW)
    assert decision.allowed and decision.until == WEEK
    later = decide(PATH_B, "render", CARE, rel(SHARE_ORG_B), WEEK)
    assert not later.allowed and not later.visible


def test_emergency_decision_expires_with_the_grant() -> None:
    decision = decide(PATH_B, "view", CARE, rel(EMERGENCY_PATH_B), NOW)
    assert decision.allowed and decision.until == FOUR_HOURS
    assert not decide(PATH_B, "view", CARE, rel(EMERGENCY_PATH_B), FOUR_HOURS).allowed


def test_consent_and_share_hold_until_the_earlier_of_both() -> None:
    short_share = ShareFacts("s-short", B, None, None, "second_opinion", NOW + timedelta(hours=1))
    decision = decide(PATH_B, "view", CARE, rel(short_share, BLOCK_A, CONSENT_B), NOW)
    assert decision.allowed and decision.until == NOW + timedelta(hours=1)


def test_decide_is_pure() -> None:
    """The same facts give the same decision; nothing in the inputs is changed."""
    relations = rel(SHARE_ORG_B, BLOCK_A, CONSENT_B)
    first = decide(PATH_B, "view", CARE, relations, NOW)
    second = decide(PATH_B, "view", CARE, relations, NOW)
    assert first == second
    assert relations == rel(SHARE_ORG_B, BLOCK_A, CONSENT_B)


@pytest.mark.parametrize(
    "action", ["list", "view", "render", "export", "share", "annotate", "edit", "delete", "manage"]
)
def test_no_action_is_open_to_an_unrelated_org(action: str) -> None:
    for actor in (PATH_B, CLIN_B_ONK, RAD_C, ADMIN_B, STUDENT_B, REVIEWER_A, PATIENT_2):
        decision = decide(actor, action, CARE, rel(), NOW)
        assert not decision.allowed, (actor, action, decision)
        if actor is not REVIEWER_A:
            assert not decision.visible, (actor, action, decision)


@pytest.mark.parametrize(
    ("actor", "allowed_"),
    [
        (PATH_A, True),
        (CLIN_B_ONK, True),
        (ADMIN_A, True),
        (REVIEWER_A, True),
        (TEACHER_A, True),
        (STUDENT_A, True),
        (PATIENT_1, False),
        (Actor("u-nobody", ()), False),
    ],
)
def test_the_directory_is_for_staff(actor: Actor, allowed_: bool) -> None:
    """Picking a recipient: any staff role searches the directory, a patient does not."""
    decision = decide(actor, "search_directory", None, Relations(), NOW)
    assert decision.allowed is allowed_
    assert decision.visible or decision.allowed
    assert not decision.flagged


# --- one annotation: the case decides, then its author and its layer ----------------------
MINE_SHARED = AnnotationFacts(CARE, "u-path-a")
MINE_DRAFT = AnnotationFacts(CARE, "u-path-a", "draft")
B_SHARED = AnnotationFacts(CARE, "u-path-b")
B_DRAFT = AnnotationFacts(CARE, "u-path-b", "draft")
STUDENT_MARK = AnnotationFacts(TEACHING, "u-stud-a")


@pytest.mark.parametrize(
    ("actor", "action", "annotation", "relations", "expected"),
    [
        (PATH_A, "read_annotation", MINE_SHARED, rel(), allowed("own_org", "own_org")),
        (PATH_A, "change_annotation", MINE_SHARED, rel(), allowed("own_org", "own_org")),
        (PATH_A, "delete_annotation", MINE_DRAFT, rel(), allowed("own_org", "own_org")),
        (PATH_A, "read_annotation", B_SHARED, rel(), allowed("own_org", "own_org")),
        (PATH_A, "change_annotation", B_SHARED, rel(), forbidden("not_the_author")),
        (PATH_A, "delete_annotation", B_SHARED, rel(), forbidden("not_the_author")),
        (PATH_A, "read_annotation", B_DRAFT, rel(), hidden("draft_of_another")),
        (PATH_A, "change_annotation", B_DRAFT, rel(), hidden("draft_of_another")),
        (
            PATH_B,
            "change_annotation",
            B_SHARED,
            rel(SHARE_ORG_B),
            allowed("share", "share:s-org", "second_opinion"),
        ),
        (PATH_B, "change_annotation", B_SHARED, rel(), hidden("no_relation")),
        (PATH_B, "read_annotation", MINE_SHARED, rel(SHARE_EXPIRED), hidden("no_relation")),
        (PATH_B, "read_annotation", MINE_SHARED, rel(SHARE_ORG_B, BLOCK_A), hidden("blocked")),
        (ADMIN_A, "read_annotation", MINE_SHARED, rel(), forbidden("admin_sees_no_images")),
        (
            STUDENT_A,
            "change_annotation",
            STUDENT_MARK,
            rel(),
            allowed("teaching", "own_org", "teaching"),
        ),
        (
            STUDENT_A,
            "change_annotation",
            AnnotationFacts(CARE, "u-stud-a"),
            rel(),
            hidden("teaching_material_only"),
        ),
        (
            PATIENT_1,
            "read_annotation",
            MINE_SHARED,
            rel(),
            allowed("own_record", "own_record", "own_record"),
        ),
        (PATIENT_1, "change_annotation", MINE_SHARED, rel(), forbidden("patient_reads_only")),
    ],
)
def test_annotation_decisions(
    actor: Actor,
    action: str,
    annotation: AnnotationFacts,
    relations: Relations,
    expected: dict[str, Any],
) -> None:
    decision = decide(actor, action, annotation, relations, NOW)
    observed = {name: getattr(decision, name) for name in expected}
    assert observed == expected, decision


def test_annotation_actions_need_an_annotation() -> None:
    assert decide(PATH_A, "change_annotation", CARE, rel(), NOW).reason == "wrong_subject"
    assert decide(PATH_A, "list_classes", CARE, rel(), NOW).reason == "wrong_subject"


@pytest.mark.parametrize(
    ("actor", "action", "org", "allowed_"),
    [
        (PATH_A, "list_classes", A, True),
        (STUDENT_A, "list_classes", A, True),
        (ADMIN_A, "list_classes", A, True),
        (ADMIN_A, "manage_classes", A, True),
        (PATH_A, "manage_classes", A, False),
        (ADMIN_B, "manage_classes", A, False),
        (PATH_B, "list_classes", A, False),
        (PATIENT_1, "list_classes", A, False),
        (ADMIN_A_AND_PATH_B, "manage_classes", A, True),
        (ADMIN_A_AND_PATH_B, "manage_classes", B, False),
    ],
)
def test_class_lists_belong_to_their_organisation(
    actor: Actor, action: str, org: str, allowed_: bool
) -> None:
    decision = decide(actor, action, OrganisationFacts(org), Relations(), NOW)
    assert decision.allowed is allowed_, decision
    if decision.allowed:
        assert decision.role is not None and decision.role.org_id == org
