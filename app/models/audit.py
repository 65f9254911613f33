"""The audit log: who changed what, append-only and hash-chained."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.extensions import db
from app.models.append_only import make_append_only
from app.models.types import UTCDateTime


class AuditEntry(db.Model):
    """One change made by a person, a token, the CLI or the system. ``seq`` numbers the
    chain without gaps, and ``hash`` covers this entry and the previous entry's hash, so
    a changed, removed or inserted entry breaks every hash after it."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # "user:3", "token:7", "cli" or "system": ids, never names or addresses.
    actor: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(64))
    # What was changed, as "kind:id" ("site:demo", "user:3"); never a personal value.
    target: Mapped[str | None] = mapped_column(String(120))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


make_append_only(AuditEntry, what="audit entries", erased_by="nothing: they are kept")
