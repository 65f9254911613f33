"""collection: raw events, sessions, search terms, drop counters

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# On PostgreSQL the raw tables are partitioned by month; the service makes monthly
# partitions on demand and the DEFAULT partition catches anything before that.
PARTITIONED = {"postgresql_partition_by": "RANGE (received_at)"}


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("consent_id", sa.String(length=40), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("host", sa.String(length=253), nullable=True),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("query", sa.String(length=1024), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=True),
        sa.Column("referrer", sa.String(length=300), nullable=True),
        sa.Column("target", sa.String(length=2048), nullable=True),
        sa.Column("engaged_ms", sa.Integer(), nullable=True),
        sa.Column("browser", sa.String(length=64), nullable=True),
        sa.Column("browser_version", sa.String(length=16), nullable=True),
        sa.Column("os", sa.String(length=64), nullable=True),
        sa.Column("os_version", sa.String(length=16), nullable=True),
        sa.Column("device", sa.String(length=16), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("region", sa.String(length=8), nullable=True),
        sa.Column("city", sa.String(length=128), nullable=True),
        sa.Column("asn", sa.BigInteger(), nullable=True),
        sa.Column("network_org", sa.String(length=200), nullable=True),
        sa.Column("network_domain", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_events_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", "received_at", name=op.f("pk_events")),
        **PARTITIONED,
    )
    op.create_index("ix_events_consent_received", "events", ["consent_id", "received_at"])
    op.create_index("ix_events_site_received", "events", ["site_id", "received_at"])
    op.create_index("ix_events_site_session", "events", ["site_id", "session_id"])

    op.create_table(
        "search_terms",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("consent_id", sa.String(length=40), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("term", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("engine", sa.String(length=32), nullable=True),
        sa.Column("path", sa.String(length=1024), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_search_terms_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", "received_at", name=op.f("pk_search_terms")),
        **PARTITIONED,
    )
    op.create_index("ix_search_terms_consent", "search_terms", ["consent_id"])
    op.create_index("ix_search_terms_site_received", "search_terms", ["site_id", "received_at"])

    op.create_table(
        "daily_drop_counts",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_daily_drop_counts_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "day", "reason", name=op.f("pk_daily_drop_counts")),
    )
    if _is_postgresql():
        for table in ("events", "search_terms"):
            op.execute(f"CREATE TABLE IF NOT EXISTS {table}_default PARTITION OF {table} DEFAULT")


def downgrade():
    op.drop_table("daily_drop_counts")
    # Dropping a partitioned table drops its partitions (monthly and DEFAULT) with it.
    op.drop_index("ix_search_terms_site_received", table_name="search_terms")
    op.drop_index("ix_search_terms_consent", table_name="search_terms")
    op.drop_table("search_terms")
    op.drop_index("ix_events_site_session", table_name="events")
    op.drop_index("ix_events_site_received", table_name="events")
    op.drop_index("ix_events_consent_received", table_name="events")
    op.drop_table("events")
