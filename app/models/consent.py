"""Append-only consent records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.extensions import db
from app.models.append_only import make_append_only
from app.models.types import BigIntPK, UTCDateTime


class ConsentRecord(db.Model):
    """One choice (or withdrawal) a visitor made; a change adds a row.

    ``seq`` orders the records of one ``consent_id``; the unique constraint on
    (consent_id, seq) is what keeps concurrent writers from forking history.
    """

    __tablename__ = "consent_records"
    __table_args__ = (
        UniqueConstraint("consent_id", "seq"),
        Index("ix_consent_records_site_consent", "site_id", "consent_id", "seq"),
        # A site's records by time: consent coverage and the rollup's dirty days.
        Index("ix_consent_records_site_recorded", "site_id", "recorded_at"),
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


# Erasure deletes with a bulk statement in app.privacy; nothing else may.
make_append_only(ConsentRecord, what="consent records", erased_by="a data-subject erasure")


class StampOutbox(db.Model):
    """A cache invalidation still to be delivered to the shared stamps in Redis.

    Written in the transaction that adds a consent record or changes a site's policy, so
    a committed change always leaves one, and deleted once Redis holds the new stamp. It
    names the stamp slot only, never the consent id.
    """

    __tablename__ = "stamp_outbox"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    slot: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
