"""Metric definitions over the raw events, which the rollups must agree with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from app.extensions import db
from app.models.analytics import Event


def time_on_page(
    site_id: int, since: datetime | None = None, until: datetime | None = None
) -> dict[str, int]:
    """Engaged milliseconds per path: time on page is the sum of its engagement pings."""
    query = (
        select(Event.path, func.sum(Event.engaged_ms))
        .where(Event.site_id == site_id, Event.type == "engagement")
        .group_by(Event.path)
    )
    if since is not None:
        query = query.where(Event.received_at >= since)
    if until is not None:
        query = query.where(Event.received_at < until)
    return {path: int(total or 0) for path, total in db.session.execute(query)}
