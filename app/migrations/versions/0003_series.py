"""Radiology series: the metadata read at import, and the modality for listings.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("images") as batch_op:
        batch_op.add_column(sa.Column("modality", sa.String(16), nullable=True))
        batch_op.add_column(sa.Column("series_meta", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("images") as batch_op:
        batch_op.drop_column("series_meta")
        batch_op.drop_column("modality")
