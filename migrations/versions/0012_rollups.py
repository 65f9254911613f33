"""rollups: per-site, per-day report aggregates and the visitor-day table

``heedful rollup`` fills them from the raw events (it is safe from cron every minute);
``heedful rollup --rebuild`` recomputes them for every stored day.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _site(table: str) -> list:
    return [
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f(f"fk_{table}_site_id_sites"), ondelete="CASCADE"
        ),
    ]


def _figures() -> list:
    return [
        sa.Column("visitors", sa.Integer(), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("pageviews", sa.Integer(), nullable=False),
        sa.Column("bounces", sa.Integer(), nullable=False),
        sa.Column("duration_s", sa.BigInteger(), nullable=False),
        sa.Column("engaged_ms", sa.BigInteger(), nullable=False),
    ]


def upgrade():
    op.create_table(
        "rollup_watermarks",
        *_site("rollup_watermarks"),
        sa.Column("through", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_rollup_watermarks")),
    )
    op.create_table(
        "rollup_daily_totals",
        *_site("rollup_daily_totals"),
        sa.Column("day", sa.Date(), nullable=False),
        *_figures(),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("downloads", sa.Integer(), nullable=False),
        sa.Column("outbounds", sa.Integer(), nullable=False),
        sa.Column("searches", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "day", name=op.f("pk_rollup_daily_totals")),
    )
    op.create_table(
        "rollup_daily_dimensions",
        *_site("rollup_daily_dimensions"),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("value", sa.String(length=2048), nullable=False),
        *_figures(),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("exits", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("sketch", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint(
            "site_id", "dimension", "day", "value", name=op.f("pk_rollup_daily_dimensions")
        ),
    )
    op.create_table(
        "rollup_monthly_dimensions",
        *_site("rollup_monthly_dimensions"),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("value", sa.String(length=2048), nullable=False),
        sa.Column("visitors", sa.Integer(), nullable=False),
        sa.Column("max_day_visitors", sa.Integer(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("pageviews", sa.Integer(), nullable=False),
        sa.Column("bounces", sa.Integer(), nullable=False),
        sa.Column("duration_s", sa.BigInteger(), nullable=False),
        sa.Column("engaged_ms", sa.BigInteger(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("exits", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("sketch", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint(
            "site_id", "dimension", "month", "value", name=op.f("pk_rollup_monthly_dimensions")
        ),
    )
    op.create_table(
        "rollup_visitor_days",
        *_site("rollup_visitor_days"),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("consent_id", sa.String(length=40), nullable=False),
        sa.Column("prev_day", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint(
            "site_id", "day", "consent_id", name=op.f("pk_rollup_visitor_days")
        ),
    )
    op.create_table(
        "rollup_visitor_day_counts",
        *_site("rollup_visitor_day_counts"),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("prev_day", sa.Date(), nullable=False),
        sa.Column("visitors", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "site_id", "day", "prev_day", name=op.f("pk_rollup_visitor_day_counts")
        ),
    )
    op.create_index(
        "ix_rollup_visitor_days_range", "rollup_visitor_days", ["site_id", "day", "prev_day"]
    )
    op.create_index(
        "ix_rollup_visitor_days_consent",
        "rollup_visitor_days",
        ["consent_id", "site_id", "day"],
    )


def downgrade():
    op.drop_index("ix_rollup_visitor_days_consent", table_name="rollup_visitor_days")
    op.drop_index("ix_rollup_visitor_days_range", table_name="rollup_visitor_days")
    op.drop_table("rollup_visitor_day_counts")
    op.drop_table("rollup_visitor_days")
    op.drop_table("rollup_monthly_dimensions")
    op.drop_table("rollup_daily_dimensions")
    op.drop_table("rollup_daily_totals")
    op.drop_table("rollup_watermarks")
