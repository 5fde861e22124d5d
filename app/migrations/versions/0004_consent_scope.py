"""Consent scope: the cases a samtycke lifts the spärr for (none named: all of them).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consents") as batch_op:
        batch_op.add_column(sa.Column("cases", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consents") as batch_op:
        batch_op.drop_column("cases")
