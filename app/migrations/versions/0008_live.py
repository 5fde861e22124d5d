"""The live room: consult notes per case and the live ops already applied (by op_id).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consult_notes",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("case_id", sa.String(32), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("org_id", sa.String(32), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("image_id", sa.String(32), nullable=True),
        sa.Column("frame", sa.Integer(), nullable=True),
        sa.Column("anchor_x", sa.Float(), nullable=True),
        sa.Column("anchor_y", sa.Float(), nullable=True),
        sa.Column("referral_id", sa.String(32), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_consult_notes_case_id", "consult_notes", ["case_id"])
    op.create_index("ix_consult_notes_case_seq", "consult_notes", ["case_id", "seq"])
    op.create_index("ix_consult_notes_referral_id", "consult_notes", ["referral_id"])
    op.create_table(
        "applied_ops",
        sa.Column("user_id", sa.String(32), primary_key=True),
        sa.Column("op_id", sa.String(64), primary_key=True),
        sa.Column("case_id", sa.String(32), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("ack", sa.JSON(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_applied_ops_case_seq", "applied_ops", ["case_id", "seq"])


def downgrade() -> None:
    op.drop_table("applied_ops")
    op.drop_table("consult_notes")
