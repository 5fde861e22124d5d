"""Annotations: their current state, every version, the per-case sequence, and a spatial
index on their bounding boxes (an R*Tree on SQLite, GiST on PostgreSQL).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "annotations",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("case_id", sa.String(32), sa.ForeignKey("cases.id"), nullable=True),
        sa.Column("image_id", sa.String(32), sa.ForeignKey("images.id"), nullable=False),
        sa.Column("frame", sa.Integer(), nullable=True),
        sa.Column("author_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("org_id", sa.String(32), nullable=True),
        sa.Column("layer", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("geometry", sa.JSON(), nullable=False),
        sa.Column("shape", sa.JSON(), nullable=True),
        sa.Column("classification", sa.String(255), nullable=True),
        sa.Column("color", sa.String(7), nullable=True),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("object_type", sa.String(16), nullable=False),
        sa.Column("measurements", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("minx", sa.Float(), nullable=False),
        sa.Column("miny", sa.Float(), nullable=False),
        sa.Column("maxx", sa.Float(), nullable=False),
        sa.Column("maxy", sa.Float(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_annotations_image", "annotations", ["image_id", "frame"])
    op.create_index("ix_annotations_case_seq", "annotations", ["case_id", "seq"])
    op.create_table(
        "annotation_versions",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("annotation_id", sa.String(32), nullable=False, index=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.UniqueConstraint("annotation_id", "version"),
    )
    op.create_table(
        "case_sequences",
        sa.Column("case_id", sa.String(32), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE annotation_boxes USING rtree(id, minx, maxx, miny, maxy)")
    else:
        op.execute(
            "CREATE INDEX ix_annotations_box ON annotations "
            "USING gist (box(point(minx, miny), point(maxx, maxy)))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE annotation_boxes")
    op.drop_table("case_sequences")
    op.drop_table("annotation_versions")
    op.drop_table("annotations")
