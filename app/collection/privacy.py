"""Access and erasure cover the collected events and search terms of a consent id."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import delete, select

from app.extensions import db
from app.models.analytics import Event, SearchTerm
from app.privacy.registry import DataHolder, register_holder


def _export_events(consent_id: str) -> list[dict[str, Any]]:
    rows = db.session.scalars(
        select(Event).where(Event.consent_id == consent_id).order_by(Event.received_at, Event.id)
    )
    return [row.as_dict() for row in rows]


def _erase_events(consent_id: str) -> int:
    return db.session.execute(delete(Event).where(Event.consent_id == consent_id)).rowcount or 0


def _export_search_terms(consent_id: str) -> list[dict[str, Any]]:
    rows = db.session.scalars(
        select(SearchTerm)
        .where(SearchTerm.consent_id == consent_id)
        .order_by(SearchTerm.received_at, SearchTerm.id)
    )
    return [row.as_dict() for row in rows]


def _erase_search_terms(consent_id: str) -> int:
    result = db.session.execute(delete(SearchTerm).where(SearchTerm.consent_id == consent_id))
    return result.rowcount or 0


def register(app: Flask) -> None:
    register_holder(app, DataHolder("events", _export_events, _erase_events, order=100))
    register_holder(
        app, DataHolder("search_terms", _export_search_terms, _erase_search_terms, order=100)
    )
