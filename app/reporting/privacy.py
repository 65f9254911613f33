"""Access and erasure cover the visitor-day table, the one rollup that keeps a consent id.

Erasing a consent id removes all its visitor days, so no other row's ``prev_day`` points at
one of them. The day totals and dimension rows keep their counts: they hold no identifier.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import delete, select

from app.extensions import db
from app.models.reporting import VisitorDay
from app.subjects import DataHolder, register_holder


def _export(consent_id: str) -> list[dict[str, Any]]:
    rows = db.session.scalars(
        select(VisitorDay).where(VisitorDay.consent_id == consent_id).order_by(VisitorDay.day)
    )
    return [row.as_dict() for row in rows]


def _erase(consent_id: str) -> int:
    found = db.session.execute(delete(VisitorDay).where(VisitorDay.consent_id == consent_id))
    return found.rowcount or 0


def register(app: Flask) -> None:
    register_holder(
        app,
        DataHolder(
            "visitor_days",
            _export,
            _erase,
            order=100,
            key="consent_id",
            tables=(VisitorDay.__tablename__,),
        ),
    )
