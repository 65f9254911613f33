"""``heedful demo --events N``: realistic traffic through the real services."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from app.extensions import db
from app.models import ConsentRecord
from app.models.analytics import DailyCount, Event, SearchTerm


def test_demo_generates_varied_consent_gated_traffic(app):
    result = app.test_cli_runner().invoke(
        args=["heedful", "demo", "--events", "150", "--seed", "4"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["events"] >= 150
    assert summary["accepted"] > 0 and summary["dropped"] > 0
    assert summary["accepted"] + summary["dropped"] == summary["events"]
    with app.app_context():
        stored = db.session.scalar(select(func.count()).select_from(Event))
        assert stored == summary["accepted"]
        dropped = db.session.scalar(select(func.sum(DailyCount.count)))
        assert dropped == summary["dropped"]
        assert db.session.scalar(select(func.count()).select_from(ConsentRecord)) >= 5
        kinds = set(db.session.scalars(select(Event.type).distinct()))
        assert {"pageview", "engagement"} <= kinds
        assert len(set(db.session.scalars(select(Event.country).distinct()))) >= 3
        assert len(set(db.session.scalars(select(Event.browser).distinct()))) >= 3
        assert len(set(db.session.scalars(select(Event.device).distinct()))) >= 2
        sources = set(db.session.scalars(select(SearchTerm.source).distinct()))
        assert sources & {"site", "referrer", "utm_term"}
        # Every stored event belongs to a consent id whose records granted analytics.
        granted = {
            r.consent_id
            for r in db.session.scalars(select(ConsentRecord))
            if r.choices["analytics"]
        }
        assert set(db.session.scalars(select(Event.consent_id).distinct())) <= granted
        db.session.remove()
