"""events: one (site, arrival, visit) index instead of (site, arrival) and (site, visit)

Random visit ids put every new row on a different page of the (site, visit) index, so each
commit of the collection writer wrote one more page per row; with arrival time second the
index grows at its end, like the one it replaces, and it still answers visit counts, now
within a period too.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_events_site_received_session", "events", ["site_id", "received_at", "session_id"]
    )
    op.drop_index("ix_events_site_session", table_name="events")
    op.drop_index("ix_events_site_received", table_name="events")


def downgrade():
    op.create_index("ix_events_site_received", "events", ["site_id", "received_at"])
    op.create_index("ix_events_site_session", "events", ["site_id", "session_id"])
    op.drop_index("ix_events_site_received_session", table_name="events")
