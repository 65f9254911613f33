"""stamp_outbox: cache invalidations that must reach Redis even when it is down

A consent record (or policy change) and its outbox row commit together; the row is
deleted once the new stamp is in Redis, so no host keeps a withdrawn consent cached.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "stamp_outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stamp_outbox")),
    )


def downgrade():
    op.drop_table("stamp_outbox")
