"""sites.timezone and sites.k: the settings reporting and exports need

Days in reports are the site's days (an IANA time zone, UTC unless set), and no published
figure covers fewer than ``k`` people (10 unless set, never under 5).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sites") as batch:
        batch.add_column(
            sa.Column("timezone", sa.String(length=64), nullable=False, server_default="UTC")
        )
        batch.add_column(sa.Column("k", sa.Integer(), nullable=False, server_default="10"))


def downgrade():
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("k")
        batch.drop_column("timezone")
