"""Report rollups: per-site, per-day aggregates kept by ``heedful rollup`` (app/reporting).

A day is the site's day (``sites.timezone``). Each (site, day) is recomputed wholly from the
raw events and its rows replaced in one transaction, so a rebuild equals the upkeep.
``visitor_days`` is the one rollup table that holds a consent id: it makes visitors over
any range exact, and its data holder lets access and erasure cover it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime

# Values are paths, referrer domains, link targets and search terms as the events store them.
MAX_VALUE = 2048


class RollupWatermark(db.Model):
    """Per site: every event that arrived before ``through`` is in the rollups."""

    __tablename__ = "rollup_watermarks"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    through: Mapped[datetime] = mapped_column(UTCDateTime)


class _DayFigures:
    """The figures every rollup row carries, for its visits and their events."""

    visitors: Mapped[int] = mapped_column(Integer, default=0)
    visits: Mapped[int] = mapped_column(Integer, default=0)
    pageviews: Mapped[int] = mapped_column(Integer, default=0)
    bounces: Mapped[int] = mapped_column(Integer, default=0)
    duration_s: Mapped[int] = mapped_column(BigInteger, default=0)
    engaged_ms: Mapped[int] = mapped_column(BigInteger, default=0)


class DailyTotal(_DayFigures, db.Model):
    """A site's figures for one day."""

    __tablename__ = "rollup_daily_totals"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    events: Mapped[int] = mapped_column(Integer, default=0)  # every stored event
    downloads: Mapped[int] = mapped_column(Integer, default=0)
    outbounds: Mapped[int] = mapped_column(Integer, default=0)
    searches: Mapped[int] = mapped_column(Integer, default=0)


class DailyDimension(_DayFigures, db.Model):
    """A site's figures for one value of one dimension on one day (country = DE, ...).

    ``sketch`` is an Apache DataSketches HLL sketch (base64) of the value's visitors, which
    merges over a range; the day's own ``visitors`` is exact. The key puts the dimension
    before the day: a report reads one dimension over a range of days."""

    __tablename__ = "rollup_daily_dimensions"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    value: Mapped[str] = mapped_column(String(MAX_VALUE), primary_key=True)
    entries: Mapped[int] = mapped_column(Integer, default=0)
    exits: Mapped[int] = mapped_column(Integer, default=0)
    events: Mapped[int] = mapped_column(Integer, default=0)
    sketch: Mapped[str | None] = mapped_column(Text)


class MonthlyDimension(_DayFigures, db.Model):
    """The daily rows of a finished month added up, so a long range reads a row per month
    and value. ``visitors`` is the sum of the days' visitors and ``max_day_visitors`` the
    largest (the bounds of the true count); ``sketch`` is the days' sketches merged."""

    __tablename__ = "rollup_monthly_dimensions"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)  # its first day
    value: Mapped[str] = mapped_column(String(MAX_VALUE), primary_key=True)
    max_day_visitors: Mapped[int] = mapped_column(Integer, default=0)
    days: Mapped[int] = mapped_column(Integer, default=0)
    entries: Mapped[int] = mapped_column(Integer, default=0)
    exits: Mapped[int] = mapped_column(Integer, default=0)
    events: Mapped[int] = mapped_column(Integer, default=0)
    sketch: Mapped[str | None] = mapped_column(Text)


# ``prev_day`` of a consent id's first visitor day in the counts (a key cannot be null).
NEVER_SEEN = date(1, 1, 1)


class VisitorDay(db.Model):
    """One consent id seen on a site on one day, with the day it was last seen before.

    Visitors over [a, b] are the rows in [a, b] whose ``prev_day`` is null or before a:
    each consent id counts once, on its first day in the range."""

    __tablename__ = "rollup_visitor_days"
    __table_args__ = (
        Index("ix_rollup_visitor_days_range", "site_id", "day", "prev_day"),
        Index("ix_rollup_visitor_days_consent", "consent_id", "site_id", "day"),
    )

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    consent_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    prev_day: Mapped[date | None] = mapped_column(Date)

    def as_dict(self) -> dict[str, object]:
        return {"day": self.day.isoformat(), "previous_day": _iso(self.prev_day)}


class VisitorDayCount(db.Model):
    """How many visitor days of a site's day have each ``prev_day`` (NEVER_SEEN for none):
    what a range's visitors are counted from. No consent id."""

    __tablename__ = "rollup_visitor_day_counts"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    prev_day: Mapped[date] = mapped_column(Date, primary_key=True)
    visitors: Mapped[int] = mapped_column(Integer, default=0)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


class ConsentDay(db.Model):
    """A site's consent decisions on one day: by method, with GPC, withdrawals, and how many
    granted each category (``granted``: {category: count}). No consent ids: counts only."""

    __tablename__ = "rollup_consent_days"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    accept_all: Mapped[int] = mapped_column(Integer, default=0)
    reject_all: Mapped[int] = mapped_column(Integer, default=0)
    custom: Mapped[int] = mapped_column(Integer, default=0)
    gpc: Mapped[int] = mapped_column(Integer, default=0)
    withdrawals: Mapped[int] = mapped_column(Integer, default=0)
    granted: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
