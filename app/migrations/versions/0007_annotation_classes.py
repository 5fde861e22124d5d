"""Annotation classes: each organisation's list of names, colours and SNOMED CT codes.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "annotation_classes",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("org_id", sa.String(32), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("color", sa.String(7), nullable=False),
        sa.Column("code", sa.String(18), nullable=True),
        sa.Column("retired", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("org_id", "name"),
    )
    op.create_index("ix_annotation_classes_org_id", "annotation_classes", ["org_id"])


def downgrade() -> None:
    op.drop_table("annotation_classes")
