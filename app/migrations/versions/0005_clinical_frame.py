"""The clinical frame: an image's identity warning (the file names another patient), a
case's question, history, status, sender and last change, and each user's language.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(
            sa.Column("language", sa.String(8), nullable=False, server_default="sv")
        )
    with op.batch_alter_table("images") as batch_op:
        batch_op.add_column(sa.Column("identity_warning", sa.Text(), nullable=True))
    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(sa.Column("question", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("history", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("status", sa.String(16), nullable=False, server_default="open")
        )
        batch_op.add_column(sa.Column("sender", sa.String(255), nullable=True))
        batch_op.add_column(sa.Column("updated", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch_op:
        for column in ("updated", "sender", "status", "history", "question"):
            batch_op.drop_column(column)
    with op.batch_alter_table("images") as batch_op:
        batch_op.drop_column("identity_warning")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("language")
