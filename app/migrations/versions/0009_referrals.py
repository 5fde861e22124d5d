"""Referrals (remiss), their steps, the report (svar) answering each and its addenda.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "referrals",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("case_id", sa.String(32), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("requester_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column(
            "requester_org_id", sa.String(32), sa.ForeignKey("organisations.id"), nullable=False
        ),
        sa.Column("requester_unit_id", sa.String(32), sa.ForeignKey("units.id"), nullable=True),
        sa.Column("copied", sa.JSON(), nullable=False),
        sa.Column("to_org_id", sa.String(32), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("to_unit_id", sa.String(32), sa.ForeignKey("units.id"), nullable=True),
        sa.Column("to_user_id", sa.String(32), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("history", sa.Text(), nullable=True),
        sa.Column("preliminary", sa.Text(), nullable=True),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("due", WHEN, nullable=True),
        sa.Column("images", sa.JSON(), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("blinded", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("assignee_id", sa.String(32), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("created", WHEN, nullable=False),
        sa.Column("updated", WHEN, nullable=False),
    )
    op.create_index("ix_referrals_case_id", "referrals", ["case_id"])
    op.create_index("ix_referrals_to_org_id", "referrals", ["to_org_id"])
    op.create_index("ix_referrals_status", "referrals", ["status"])
    op.create_index("ix_referrals_worklist", "referrals", ["to_org_id", "status", "priority"])
    op.create_index("ix_referrals_requester", "referrals", ["requester_id", "status"])
    op.create_table(
        "referral_steps",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("referral_id", sa.String(32), sa.ForeignKey("referrals.id"), nullable=False),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_referral_steps_referral_id", "referral_steps", ["referral_id"])
    op.create_table(
        "reports",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "referral_id", sa.String(32), sa.ForeignKey("referrals.id"), nullable=False, unique=True
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("conclusion", sa.Text(), nullable=False),
        sa.Column("codes", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("views", sa.JSON(), nullable=False),
        sa.Column("author_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("updated", WHEN, nullable=False),
        sa.Column("signed_by", sa.String(32), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("signed", WHEN, nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=True),
    )
    op.create_table(
        "report_addenda",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("report_id", sa.String(32), sa.ForeignKey("reports.id"), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("signed_by", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("signed", WHEN, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_report_addenda_report_id", "report_addenda", ["report_id"])


def downgrade() -> None:
    op.drop_table("report_addenda")
    op.drop_table("reports")
    op.drop_table("referral_steps")
    op.drop_table("referrals")
