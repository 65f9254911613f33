"""Email campaigns, recipients, their tracking-consent history, and open verdicts.

No column holds a plain address, an IP or a user agent: recipients are keyed by an HMAC
of the normalised address, and a pixel fetch leaves only its verdict and reason codes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
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

# Where a tracking choice came from; the preference centre is the recipient themself.
CONSENT_SOURCES = ("signup_form", "crm_import", "preference_centre", "api", "admin")


class EmailRecipient(db.Model):
    __tablename__ = "email_recipients"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    email_hmac: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EmailConsentRecord(db.Model):
    """One `email_tracking` choice of a recipient; a change appends a row.

    ``seq`` orders one recipient's history; the unique (recipient_id, seq) keeps two
    concurrent writers from both claiming to be the latest.
    """

    __tablename__ = "email_consent_records"
    __table_args__ = (UniqueConstraint("recipient_id", "seq"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("email_recipients.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    email_tracking: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "email_tracking": self.email_tracking,
            "source": self.source,
            "recorded_at": self.recorded_at.isoformat(),
        }


class EmailCampaign(db.Model):
    __tablename__ = "email_campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EmailSend(db.Model):
    """A recipient the campaign is known to have gone to (a pixel URL was asked for).

    ``tracked`` says whether a pixel URL was minted, i.e. tracking was granted then.
    """

    __tablename__ = "email_sends"
    __table_args__ = (UniqueConstraint("campaign_id", "recipient_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("email_campaigns.id", ondelete="CASCADE"))
    recipient_id: Mapped[int] = mapped_column(
        ForeignKey("email_recipients.id", ondelete="CASCADE"), index=True
    )
    tracked: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EmailOpen(db.Model):
    """One pixel fetch: its verdict and reason codes only."""

    __tablename__ = "email_opens"
    __table_args__ = (Index("ix_email_opens_campaign_recipient", "campaign_id", "recipient_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("email_campaigns.id", ondelete="CASCADE"))
    recipient_id: Mapped[int] = mapped_column(
        ForeignKey("email_recipients.id", ondelete="CASCADE"), index=True
    )
    verdict: Mapped[str] = mapped_column(String(16))  # human | machine | unknown
    reasons: Mapped[str] = mapped_column(String(200))  # comma-separated reason codes
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EmailReadTime(db.Model):
    """How long one read pixel was held, as a bucket only."""

    __tablename__ = "email_read_times"
    __table_args__ = (
        Index("ix_email_read_times_campaign_recipient", "campaign_id", "recipient_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("email_campaigns.id", ondelete="CASCADE"))
    recipient_id: Mapped[int] = mapped_column(
        ForeignKey("email_recipients.id", ondelete="CASCADE"), index=True
    )
    bucket: Mapped[str] = mapped_column(String(16))  # glanced | skimmed | read | unsupported
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Erasure removes the recipient with bulk statements; nothing else may.
make_append_only(
    EmailConsentRecord, what="email consent records", erased_by="erasing the recipient"
)
