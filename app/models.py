"""SQLAlchemy models. The schema itself is owned by the Alembic migrations in app/migrations."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from samsyn.columns import UTCDateTime


def new_id() -> str:
    """An opaque identifier for URLs: 16 hex digits, no meaning, not guessable."""
    return secrets.token_hex(8)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Image(Base):
    """A registered slide or radiology series: where its files are and what they hold.

    Everything a listing or a viewer needs is read once at import and kept here, so no
    file is parsed again to answer a request.
    """

    __tablename__ = "images"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(64))
    vendor: Mapped[str] = mapped_column(String(64))
    reader: Mapped[str] = mapped_column(String(32))
    files: Mapped[list[str]] = mapped_column(JSON)
    source_key: Mapped[str] = mapped_column(String(64), unique=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    levels: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    tile_width: Mapped[int] = mapped_column(Integer)
    tile_height: Mapped[int] = mapped_column(Integer)
    mpp_x: Mapped[float | None] = mapped_column(Float, nullable=True)
    mpp_y: Mapped[float | None] = mapped_column(Float, nullable=True)
    objective_power: Mapped[float | None] = mapped_column(Float, nullable=True)
    associated: Mapped[list[str]] = mapped_column(JSON)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    frames: Mapped[int] = mapped_column(Integer, default=1)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    org_id: Mapped[str | None] = mapped_column(ForeignKey("organisations.id"), nullable=True)
    case_id: Mapped[str | None] = mapped_column(ForeignKey("cases.id"), nullable=True, index=True)
    modality: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # At import, the patient named in the file (DICOM header, label barcode, description)
    # is compared with the case's patient; a mismatch is kept here and shown, never hidden.
    identity_warning: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Everything a radiology series is rendered from, read once at import: loaded on demand.
    series_meta: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True, deferred=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Organisation(Base):
    """A vårdgivare: a region, a private care provider, or a teaching organisation."""

    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    hsa_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AnnotationClass(Base):
    """One entry of an organisation's list of annotation classes (name, colour, SNOMED CT).

    A retired class stays (old annotations still name it) but is no longer offered."""

    __tablename__ = "annotation_classes"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    color: Mapped[str] = mapped_column(String(7))
    code: Mapped[str | None] = mapped_column(String(18), nullable=True)
    retired: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Unit(Base):
    """A vårdenhet: a care unit inside an organisation (a pathology department, a clinic)."""

    __tablename__ = "units"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(255))
    hsa_id: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Patient(Base):
    """A patient, known by personnummer or samordningsnummer (12 digits)."""

    __tablename__ = "patients"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    personnummer: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    protected_identity: Mapped[bool] = mapped_column(Boolean, default=False)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class User(Base):
    """A person who logs in: staff with roles, or a patient reading their own record."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    hsa_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    patient_id: Mapped[str | None] = mapped_column(ForeignKey("patients.id"), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The interface language the user chose: "sv" (the default) or "en".
    language: Mapped[str] = mapped_column(String(8), default="sv")
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Membership(Base):
    """One role of a user at an organisation (and optionally a unit): a medarbetaruppdrag."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "org_id", "unit_id", "role"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    unit_id: Mapped[str | None] = mapped_column(ForeignKey("units.id"), nullable=True)
    role: Mapped[str] = mapped_column(String(32))


class LoginSession(Base):
    """A server-side login session; the cookie holds only its random token."""

    __tablename__ = "login_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LoginFailure(Base):
    """A failed login attempt, for throttling by username and by client address."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    client: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class Case(Base):
    """A patient's images owned by an organisation and unit; teaching cases carry no patient."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    title: Mapped[str] = mapped_column(String(255))
    patient_id: Mapped[str | None] = mapped_column(ForeignKey("patients.id"), nullable=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    unit_id: Mapped[str | None] = mapped_column(ForeignKey("units.id"), nullable=True)
    purpose: Mapped[str] = mapped_column(String(16), default="care")
    # The clinical frame: what is asked, the relevant history, where the case stands
    # (open, in_review, answered, closed) and who sent it (a name or unit, free text).
    question: Mapped[str | None] = mapped_column(Text, nullable=True)
    history: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    sender: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Share(Base):
    """A case shared with an organisation, a unit or a named user, for a purpose, until a time."""

    __tablename__ = "shares"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    org_id: Mapped[str | None] = mapped_column(ForeignKey("organisations.id"), nullable=True)
    unit_id: Mapped[str | None] = mapped_column(ForeignKey("units.id"), nullable=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    purpose: Mapped[str] = mapped_column(String(32))
    until: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class Block(Base):
    """A spärr: the patient blocks data recorded by an organisation (or one of its units)."""

    __tablename__ = "blocks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    unit_id: Mapped[str | None] = mapped_column(ForeignKey("units.id"), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lifted: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Consent(Base):
    """A samtycke: the patient lets one organisation read blocked data, for at most 7 days."""

    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    scope: Mapped[str] = mapped_column(String(255), default="all")
    # The case ids the consent lifts the spärr for; None: all of the patient's cases.
    cases: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    until: Mapped[datetime] = mapped_column(UTCDateTime())


class EmergencyAccess(Base):
    """A nödåtkomst: one user, one patient, a mandatory reason, a short time; always reviewed."""

    __tablename__ = "emergency_access"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    until: Mapped[datetime] = mapped_column(UTCDateTime())
    reviewed: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class AuditHead(Base):
    """The one row that serialises appends to the access log and holds the last hash."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class AccessEntry(Base):
    """One access to patient data. Append-only; `hash` covers the entry and the one before."""

    __tablename__ = "access_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    user_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    user_hsa_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    role: Mapped[str | None] = mapped_column(String(32), nullable=True)
    org_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    org_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    unit_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    patient_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    resource: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    basis: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ConsultNote(Base):
    """A konsultanteckning: what a reviewer wrote in a case's live room, plain text, kept
    with the case's sequence number and optionally pinned to a point of an image."""

    __tablename__ = "consult_notes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    org_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    text: Mapped[str] = mapped_column(Text)
    image_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    frame: Mapped[int | None] = mapped_column(Integer, nullable=True)
    anchor_x: Mapped[float | None] = mapped_column(Float, nullable=True)
    anchor_y: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Written while a referral of the case was open: part of that referral's record.
    referral_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AppliedOp(Base):
    """A live op that was applied, by its client's `op_id`: a retried op answers with the
    acknowledgement it had the first time instead of applying again."""

    __tablename__ = "applied_ops"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    op_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)  # the case sequence it took
    ack: Mapped[dict[str, Any]] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Referral(Base):
    """A remiss: a requester (user and unit) asks a receiving unit, or a named specialist,
    of any organisation for a second opinion on a case. Accepting it is a care relation
    (DOMAIN.md rule 2) until it is closed; declining or withdrawing never opens anything."""

    __tablename__ = "referrals"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    requester_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    requester_org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    requester_unit_id: Mapped[str | None] = mapped_column(ForeignKey("units.id"), nullable=True)
    copied: Mapped[list[str]] = mapped_column(JSON, default=list)  # users kept informed
    to_org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    to_unit_id: Mapped[str | None] = mapped_column(ForeignKey("units.id"), nullable=True)
    to_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    question: Mapped[str] = mapped_column(Text)
    history: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The requester's own preliminary diagnosis: hidden from a blinded reviewer until signed.
    preliminary: Mapped[str | None] = mapped_column(Text, nullable=True)
    priority: Mapped[str] = mapped_column(String(8))
    due: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    images: Mapped[list[str]] = mapped_column(JSON, default=list)
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)  # annotation ids
    blinded: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(12), index=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    assignee_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReferralStep(Base):
    """One change of a referral's state: who, when, from which state to which."""

    __tablename__ = "referral_steps"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referrals.id"), index=True)
    step: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(12))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Report(Base):
    """The svar: findings, conclusion and codes, preliminary while written (versioned like
    annotations), final once signed (signer, time and a hash of the content recorded),
    immutable after; corrections are signed addenda."""

    __tablename__ = "reports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referrals.id"), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    findings: Mapped[str] = mapped_column(Text, default="")
    conclusion: Mapped[str] = mapped_column(Text, default="")
    codes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    annotations: Mapped[list[str]] = mapped_column(JSON, default=list)
    views: Mapped[list[str]] = mapped_column(JSON, default=list)
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    updated: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    signed_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    signed: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    content_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Addendum(Base):
    """A signed correction or addition to a signed report."""

    __tablename__ = "report_addenda"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    signed_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    signed: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    content_hash: Mapped[str] = mapped_column(String(64))
