"""visits: find a consent id's events and search terms through its visits

Both tables had an index on the consent id. One visitor's rows sit together in it, so
every stored row dirtied a page of it at random: about a third of the collection writer's
throughput. A visit row is written once per visit (and touched now and then); access and
erasure find the rows on the (site, arrival, visit) indexes within each visit's span, so
the search terms get that index too, in place of (site, arrival).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "visits",
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("consent_id", sa.String(length=40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_visits_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_visits")),
    )
    op.create_index("ix_visits_consent_started", "visits", ["consent_id", "started_at"])
    # Every visit already stored, from the rows of both tables.
    op.execute(
        "INSERT INTO visits (session_id, site_id, consent_id, started_at, last_seen_at) "
        "SELECT session_id, site_id, consent_id, MIN(received_at), MAX(received_at) FROM ("
        " SELECT session_id, site_id, consent_id, received_at FROM events"
        " UNION ALL"
        " SELECT session_id, site_id, consent_id, received_at FROM search_terms"
        ") AS collected GROUP BY session_id, site_id, consent_id"
    )
    op.create_index(
        "ix_search_terms_site_received_session",
        "search_terms",
        ["site_id", "received_at", "session_id"],
    )
    op.drop_index("ix_search_terms_site_received", table_name="search_terms")
    op.drop_index("ix_search_terms_consent", table_name="search_terms")
    op.drop_index("ix_events_consent_received", table_name="events")


def downgrade():
    op.create_index("ix_events_consent_received", "events", ["consent_id", "received_at"])
    op.create_index("ix_search_terms_consent", "search_terms", ["consent_id"])
    op.create_index("ix_search_terms_site_received", "search_terms", ["site_id", "received_at"])
    op.drop_index("ix_search_terms_site_received_session", table_name="search_terms")
    op.drop_index("ix_visits_consent_started", table_name="visits")
    op.drop_table("visits")
