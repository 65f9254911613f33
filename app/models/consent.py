"""Append-only consent records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.extensions import db
from app.models.types import BigIntPK, UTCDateTime


class AppendOnlyError(RuntimeError):
    """A code path tried to change a consent record in place."""


class ConsentRecord(db.Model):
    """One choice (or withdrawal) a visitor made; a change adds a row.

    ``seq`` orders the records of one ``consent_id``; the unique constraint on
    (consent_id, seq) is what keeps concurrent writers from forking history.
    """

    __tablename__ = "consent_records"
    __table_args__ = (
        UniqueConstraint("consent_id", "seq"),
        Index("ix_consent_records_site_consent", "site_id", "consent_id", "seq"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    record_uid: Mapped[str] = mapped_column(String(36), unique=True)
    consent_id: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    policy_version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16), default="choice")  # choice | withdrawal
    choices: Mapped[dict[str, bool]] = mapped_column(JSON)
    method: Mapped[str] = mapped_column(String(16))
    lang: Mapped[str] = mapped_column(String(16))
    texts_hash: Mapped[str] = mapped_column(String(64))
    gpc: Mapped[bool] = mapped_column(Boolean, default=False)
    country: Mapped[str | None] = mapped_column(String(2))
    browser_family: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    def as_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_uid,
            "consent_id": self.consent_id,
            "seq": self.seq,
            "policy_version": self.policy_version,
            "kind": self.kind,
            "choices": dict(self.choices),
            "method": self.method,
            "lang": self.lang,
            "texts_hash": self.texts_hash,
            "gpc": self.gpc,
            "country": self.country,
            "browser_family": self.browser_family,
            "recorded_at": self.recorded_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
        }


# The same trigger the migration creates, for schemas built with ``create_all`` (tests).
_SQLITE_TRIGGER = DDL(
    "CREATE TRIGGER consent_records_append_only BEFORE UPDATE ON consent_records "
    "BEGIN SELECT RAISE(ABORT, 'consent records are append-only'); END"
)
_PG_FUNCTION = DDL(
    "CREATE OR REPLACE FUNCTION heedful_refuse_update() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'consent records are append-only'; END $$ LANGUAGE plpgsql"
)
_PG_TRIGGER = DDL(
    "CREATE TRIGGER consent_records_append_only BEFORE UPDATE ON consent_records "
    "FOR EACH ROW EXECUTE FUNCTION heedful_refuse_update()"
)
_table = ConsentRecord.__table__
event.listen(_table, "after_create", _SQLITE_TRIGGER.execute_if(dialect="sqlite"))
event.listen(_table, "after_create", _PG_FUNCTION.execute_if(dialect="postgresql"))
event.listen(_table, "after_create", _PG_TRIGGER.execute_if(dialect="postgresql"))


@event.listens_for(ConsentRecord, "before_update")
def _refuse_update(mapper: Any, connection: Any, target: ConsentRecord) -> None:
    raise AppendOnlyError("consent records are append-only; add a new record instead")


@event.listens_for(ConsentRecord, "before_delete")
def _refuse_orm_delete(mapper: Any, connection: Any, target: ConsentRecord) -> None:
    # Erasure deletes with a bulk statement in app.privacy; nothing else may.
    raise AppendOnlyError("consent records are only removed by a data-subject erasure")
