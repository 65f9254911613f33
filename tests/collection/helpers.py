"""Helpers shared by the collection tests."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.clock import utcnow
from app.extensions import db
from app.models.analytics import DailyCount, Event, SearchTerm
from tests.conftest import SITE_KEY, SITE_ORIGIN

CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36"
)
PAGE = SITE_ORIGIN + "/shop"


def event_row(site_id: int, path: str) -> dict[str, Any]:
    """A minimal page-view row as the service hands it to the group writer."""
    return {
        "received_at": utcnow(),
        "site_id": site_id,
        "consent_id": "c" * 20,
        "session_id": "s" * 24,
        "type": "pageview",
        "path": path,
    }


def pageview(url: str = PAGE, **extra: Any) -> dict[str, Any]:
    return {"type": "pageview", "url": url, **extra}


def collect(
    client: FlaskClient,
    consent_id: str,
    events: list[dict[str, Any]] | None = None,
    *,
    site: str = SITE_KEY,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
):
    body = {"site": site, "consent_id": consent_id, "events": events or [pageview()]}
    return client.post(
        "/api/v1/collect",
        data=json.dumps(body),
        content_type="text/plain;charset=UTF-8",
        headers={"User-Agent": CHROME_UA, **(headers or {})},
        **kwargs,
    )


def stored(app: Flask) -> dict[str, Any]:
    """Everything the pipeline wrote: events, search terms and drop counts."""
    with app.app_context():
        result = {
            "events": db.session.scalars(select(Event).order_by(Event.received_at)).all(),
            "terms": db.session.scalars(select(SearchTerm)).all(),
            "drops": {
                (row.reason): row.count for row in db.session.scalars(select(DailyCount)).all()
            },
            "event_count": db.session.scalar(select(func.count()).select_from(Event)),
        }
        db.session.expunge_all()
        return result
