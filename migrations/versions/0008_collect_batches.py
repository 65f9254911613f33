"""collect_batches: a retried batch of events is stored once

The tracker keeps unsent events and retries them; each batch carries a random batch id.
A batch stored under (site, batch id) answers its retries with the first answer's counts.
The rows hold no consent id; they are swept after two days.

Revision ID: 0008
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "collect_batches",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("batch", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("dropped", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_collect_batches_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "batch", name=op.f("pk_collect_batches")),
    )
    op.create_index("ix_collect_batches_received", "collect_batches", ["received_at"])


def downgrade():
    op.drop_index("ix_collect_batches_received", table_name="collect_batches")
    op.drop_table("collect_batches")
