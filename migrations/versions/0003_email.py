"""email: campaigns, recipients, consent history, opens

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _id() -> sa.Column:
    return sa.Column("id", BIG_ID, nullable=False)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete="CASCADE"
    )


def upgrade():
    op.create_table(
        "email_recipients",
        _id(),
        sa.Column("email_hmac", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_recipients")),
        sa.UniqueConstraint("email_hmac", name=op.f("uq_email_recipients_email_hmac")),
    )
    op.create_table(
        "email_campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("email_campaigns", "site_id", "sites"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_campaigns")),
    )
    op.create_index(op.f("ix_email_campaigns_site_id"), "email_campaigns", ["site_id"])
    op.create_table(
        "email_consent_records",
        _id(),
        sa.Column("recipient_id", BIG_ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("email_tracking", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        _fk("email_consent_records", "recipient_id", "email_recipients"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_consent_records")),
        sa.UniqueConstraint(
            "recipient_id", "seq", name=op.f("uq_email_consent_records_recipient_id_seq")
        ),
    )
    op.create_table(
        "email_opens",
        _id(),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", BIG_ID, nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.String(length=200), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        _fk("email_opens", "campaign_id", "email_campaigns"),
        _fk("email_opens", "recipient_id", "email_recipients"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_opens")),
    )
    op.create_index(
        "ix_email_opens_campaign_recipient", "email_opens", ["campaign_id", "recipient_id"]
    )
    op.create_index(op.f("ix_email_opens_recipient_id"), "email_opens", ["recipient_id"])
    op.create_table(
        "email_read_times",
        _id(),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", BIG_ID, nullable=False),
        sa.Column("bucket", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        _fk("email_read_times", "campaign_id", "email_campaigns"),
        _fk("email_read_times", "recipient_id", "email_recipients"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_read_times")),
    )
    op.create_index(
        "ix_email_read_times_campaign_recipient",
        "email_read_times",
        ["campaign_id", "recipient_id"],
    )
    op.create_index(op.f("ix_email_read_times_recipient_id"), "email_read_times", ["recipient_id"])
    op.create_table(
        "email_sends",
        _id(),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", BIG_ID, nullable=False),
        sa.Column("tracked", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("email_sends", "campaign_id", "email_campaigns"),
        _fk("email_sends", "recipient_id", "email_recipients"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_sends")),
        sa.UniqueConstraint(
            "campaign_id", "recipient_id", name=op.f("uq_email_sends_campaign_id_recipient_id")
        ),
    )
    op.create_index(op.f("ix_email_sends_recipient_id"), "email_sends", ["recipient_id"])
    _create_append_only_trigger()


def _create_append_only_trigger():
    # Append-only is enforced by the database too, not just by the ORM. The PostgreSQL
    # function is shared with consent_records (0001); re-creating it is harmless.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
    else:
        op.execute(SQLITE_TRIGGER)


SQLITE_TRIGGER = """
CREATE TRIGGER email_consent_records_append_only BEFORE UPDATE ON email_consent_records
BEGIN SELECT RAISE(ABORT, 'consent records are append-only'); END
"""
PG_FUNCTION = """
CREATE OR REPLACE FUNCTION heedful_refuse_update() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'consent records are append-only'; END $$ LANGUAGE plpgsql
"""
PG_TRIGGER = """
CREATE TRIGGER email_consent_records_append_only BEFORE UPDATE ON email_consent_records
FOR EACH ROW EXECUTE FUNCTION heedful_refuse_update()
"""


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP TRIGGER IF EXISTS email_consent_records_append_only ON email_consent_records"
        )
    else:
        op.execute("DROP TRIGGER IF EXISTS email_consent_records_append_only")
    op.drop_index(op.f("ix_email_sends_recipient_id"), table_name="email_sends")
    op.drop_table("email_sends")
    op.drop_index(op.f("ix_email_read_times_recipient_id"), table_name="email_read_times")
    op.drop_index("ix_email_read_times_campaign_recipient", table_name="email_read_times")
    op.drop_table("email_read_times")
    op.drop_index(op.f("ix_email_opens_recipient_id"), table_name="email_opens")
    op.drop_index("ix_email_opens_campaign_recipient", table_name="email_opens")
    op.drop_table("email_opens")
    op.drop_table("email_consent_records")
    op.drop_index(op.f("ix_email_campaigns_site_id"), table_name="email_campaigns")
    op.drop_table("email_campaigns")
    op.drop_table("email_recipients")
