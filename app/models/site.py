"""Sites and their versioned consent policies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.extensions import db
from app.models.types import UTCDateTime


class Site(db.Model):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Per-site collection settings (search parameters, allowed query
    # parameters, download extensions); absent keys take the defaults.
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Reports count days in this IANA time zone; exports publish no figure about fewer
    # than ``k`` people (app.sites.settings has the defaults and the bounds).
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    k: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    policies: Mapped[list[PolicyVersion]] = relationship(
        back_populates="site", order_by="PolicyVersion.version", cascade="all, delete-orphan"
    )

    @property
    def current_policy(self) -> PolicyVersion:
        return self.policies[-1]

    def __repr__(self) -> str:
        return f"<Site {self.key} {self.name!r}>"


class PolicyVersion(db.Model):
    """One immutable version of a site's consent policy."""

    __tablename__ = "policy_versions"
    __table_args__ = (UniqueConstraint("site_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    # [{"key": "necessary", "required": true}, ...] in display order.
    categories: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # {"en": {"title": ..., "categories": {key: {"label", "description"}}}, ...}
    texts: Mapped[dict[str, dict[str, Any]]] = mapped_column(JSON)
    consent_days: Mapped[int] = mapped_column(Integer, default=182)
    refusal_days: Mapped[int] = mapped_column(Integer, default=182)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    site: Mapped[Site] = relationship(back_populates="policies")

    @property
    def category_keys(self) -> list[str]:
        return [c["key"] for c in self.categories]

    @property
    def required_keys(self) -> set[str]:
        return {c["key"] for c in self.categories if c.get("required")}
