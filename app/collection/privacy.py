"""Access and erasure cover the visits of a consent id and their events and search terms.

The rows are found through the visits: on the (site, arrival, visit) index of each table,
within each visit's span, and only the consent id's own. The visits go last (a higher
order), once their rows are gone.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Flask
from sqlalchemy import delete, select

from app.extensions import db
from app.models.analytics import Event, SearchTerm, Visit
from app.subjects import DataHolder, register_holder

CollectedModel = type[Event] | type[SearchTerm]


def _visits(consent_id: str) -> list[Visit]:
    return list(
        db.session.scalars(
            select(Visit).where(Visit.consent_id == consent_id).order_by(Visit.started_at)
        )
    )


def _of_visit(model: CollectedModel, consent_id: str, visit: Visit) -> list[Any]:
    start, end = visit.span
    return [
        model.site_id == visit.site_id,
        model.received_at.between(start, end),
        model.session_id == visit.session_id,
        model.consent_id == consent_id,
    ]


def _export(model: CollectedModel, consent_id: str) -> list[dict[str, Any]]:
    rows = [
        row
        for visit in _visits(consent_id)
        for row in db.session.scalars(select(model).where(*_of_visit(model, consent_id, visit)))
    ]
    rows.sort(key=lambda row: (row.received_at, row.id))
    return [row.as_dict() for row in rows]


def _erase(model: CollectedModel, consent_id: str) -> int:
    return sum(
        db.session.execute(delete(model).where(*_of_visit(model, consent_id, visit))).rowcount or 0
        for visit in _visits(consent_id)
    )


def _export_visits(consent_id: str) -> list[dict[str, Any]]:
    return [visit.as_dict() for visit in _visits(consent_id)]


def _erase_visits(consent_id: str) -> int:
    return db.session.execute(delete(Visit).where(Visit.consent_id == consent_id)).rowcount or 0


def register(app: Flask) -> None:
    for model, kind in ((Event, "events"), (SearchTerm, "search_terms")):
        register_holder(
            app,
            DataHolder(
                kind,
                partial(_export, model),
                partial(_erase, model),
                order=100,
                key="consent_id",
                tables=(model.__tablename__,),
            ),
        )
    register_holder(
        app,
        DataHolder(
            "visits",
            _export_visits,
            _erase_visits,
            order=200,
            key="consent_id",
            tables=(Visit.__tablename__,),
        ),
    )
