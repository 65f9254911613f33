"""``heedful demo --events N --days D``: realistic traffic over the past days, stored in
bulk under the collect endpoint's rules."""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from statistics import mean
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.demo.shape import TrafficShape
from app.demo.synthetic import generate
from app.extensions import db
from app.models import ConsentRecord, Site
from app.models.analytics import DailyCount, Event, SearchTerm, Visit
from app.privacy.service import erase_subject, export_subject
from app.sites.registry import create_site
from app.subjects import Subject

ZONE = "America/New_York"
NOW = datetime(2026, 11, 20, 16, 30, tzinfo=UTC)


def test_the_shape_has_a_rhythm_growth_and_a_campaign():
    shape = TrafficShape.of(ZONE, 365, NOW)
    assert len(shape.days) == 365 and shape.days[-1] == NOW.astimezone(ZoneInfo(ZONE)).date()
    weights = dict(zip(shape.days, shape.weights, strict=True))
    plain = [d for d, lift in zip(shape.days, shape.lifts, strict=True) if lift == 1.0][:-1]
    weekdays = [weights[d] for d in plain if d.weekday() < 5]
    weekends = [weights[d] for d in plain if d.weekday() >= 5]
    assert mean(weekdays) > 1.4 * mean(weekends)
    assert mean(shape.weights[-60:-1]) > 1.5 * mean(shape.weights[:60])
    campaign = [i for i, lift in enumerate(shape.lifts) if lift > 1.0]
    assert len(campaign) == 3 and campaign == list(range(campaign[0], campaign[0] + 3))
    targets = shape.cumulative_targets(10_000)
    assert targets[-1] == 10_000 and targets == sorted(targets)
    rng = random.Random(1)
    hours = Counter(shape.moment(rng, 100).astimezone(ZoneInfo(ZONE)).hour for _ in range(5000))
    assert hours[11] > 5 * hours[3]
    assert all(shape.moment(rng, 364) <= NOW for _ in range(500))


@pytest.fixture
def demo_site(app):
    with app.app_context():
        create_site("Demo", ["127.0.0.1", "localhost"], key="demo", timezone=ZONE)
        db.session.remove()


def _run(app, *args: str) -> dict:
    result = app.test_cli_runner().invoke(args=["heedful", "demo", *args])
    assert result.exit_code == 0, result.output
    assert "Simulating" in result.output
    return json.loads(result.output.strip().splitlines()[-1])


def _in_force(records: list[ConsentRecord], at: datetime) -> ConsentRecord | None:
    before = [r for r in records if r.recorded_at <= at]
    return max(before, key=lambda r: r.seq) if before else None


def test_demo_spreads_consented_traffic_over_the_days(app, demo_site, ctx):
    summary = _run(app, "--events", "4000", "--days", "60", "--seed", "11")
    assert summary["days"] == 60 and summary["events"] >= 4000
    assert summary["accepted"] + summary["dropped"] == summary["events"]
    assert db.session.scalar(select(func.count()).select_from(Event)) == summary["accepted"]
    drops = {
        reason: count
        for reason, count in db.session.execute(
            select(DailyCount.reason, func.sum(DailyCount.count)).group_by(DailyCount.reason)
        )
    }
    assert drops == {"bot": summary["dropped_bot"], "consent": summary["dropped_consent"]}
    assert drops["bot"] > 0 and drops["consent"] > 0

    zone = ZoneInfo(ZONE)
    events = db.session.execute(
        select(Event.consent_id, Event.received_at, Event.type, Event.query, Event.session_id)
    ).all()
    local = [e.received_at.astimezone(zone) for e in events]
    now = datetime.now(UTC)
    assert min(e.received_at for e in events) >= now - timedelta(days=61)
    assert max(e.received_at for e in events) <= now
    by_day = Counter(moment.date() for moment in local)
    assert len(by_day) >= 50
    by_hour = Counter(moment.hour for moment in local)
    assert sum(by_hour[h] for h in (10, 11, 12, 13)) > 3 * sum(by_hour[h] for h in (2, 3, 4, 5))
    weekday = mean(n for d, n in by_day.items() if d.weekday() < 5)
    weekend = mean(n for d, n in by_day.items() if d.weekday() >= 5)
    assert weekday > 1.2 * weekend
    # The campaign: its tagged landings fall on three days, which are the busiest.
    campaign = Counter(
        moment.date()
        for moment, e in zip(local, events, strict=True)
        if e.type == "pageview" and e.query and "utm_campaign=winter-sale" in e.query
    )
    peak = [day for day, _ in campaign.most_common(3)]
    assert sum(campaign[d] for d in peak) == sum(campaign.values()) > 20
    assert max(by_day, key=by_day.__getitem__) in peak
    assert {"pageview", "engagement", "download", "outbound", "search"} <= {e.type for e in events}
    sources = set(db.session.scalars(select(SearchTerm.source).distinct()))
    assert sources == {"site", "referrer", "utm_term"}
    for column in (Event.country, Event.city, Event.network_org, Event.browser, Event.os):
        assert len(set(db.session.scalars(select(column).distinct()))) >= 3
    assert len(set(db.session.scalars(select(Event.device).distinct()))) >= 2

    records: defaultdict[str, list[ConsentRecord]] = defaultdict(list)
    for record in db.session.scalars(select(ConsentRecord)):
        records[record.consent_id].append(record)
    methods = Counter(r.method for rs in records.values() for r in rs)
    assert {"accept_all", "reject_all", "custom", "withdraw"} <= set(methods)
    assert methods["withdraw"] == summary["withdrawn"] > 0
    gpc = [r for rs in records.values() for r in rs if r.gpc]
    assert gpc and not any(r.choices.get("marketing") for r in gpc)
    # Invariant 1: every stored event had active consent to analytics when it arrived.
    for event in events:
        record = _in_force(records[event.consent_id], event.received_at)
        assert record is not None and record.kind == "choice"
        assert record.choices["analytics"] and event.received_at < record.expires_at
    withdrawn = {cid for cid, rs in records.items() if any(r.kind == "withdrawal" for r in rs)}
    seen = {e.consent_id for e in events}
    assert withdrawn & seen  # withdrawn visitors were seen before they withdrew
    # Every event lies within its visit, which access and erasure go by.
    visits = {v.session_id: v for v in db.session.scalars(select(Visit))}
    for event in events:
        visit = visits[event.session_id]
        assert visit.consent_id == event.consent_id
        assert visit.started_at <= event.received_at <= visit.last_seen_at
    assert len(visits) == summary["visits"]


def _history(app) -> list[tuple]:
    rows = db.session.execute(
        select(Event.received_at, Event.type, Event.path, Event.query, Event.referrer)
        .add_columns(Event.country, Event.browser, Event.engaged_ms, Event.target)
        .order_by(Event.received_at, Event.id)
    ).all()
    return [tuple(row) for row in rows]


def test_the_seed_makes_the_demo_repeatable(app, demo_site, ctx):
    site = db.session.scalar(select(Site).where(Site.key == "demo"))
    first = generate(site, 600, random.Random(5), days=20, now=NOW)
    history = _history(app)
    records = db.session.scalar(select(func.count()).select_from(ConsentRecord))
    db.session.remove()
    from tests.conftest import truncate_all

    truncate_all(app)
    with app.app_context():
        create_site("Demo", ["127.0.0.1", "localhost"], key="demo", timezone=ZONE)
        site = db.session.scalar(select(Site).where(Site.key == "demo"))
        assert generate(site, 600, random.Random(5), days=20, now=NOW) == first
        assert _history(app) == history
        assert db.session.scalar(select(func.count()).select_from(ConsentRecord)) == records
        assert generate(site, 600, random.Random(6), days=20, now=NOW) != first
        db.session.remove()


def test_access_and_erasure_find_a_demo_visitors_rows(app, demo_site, ctx):
    _run(app, "--events", "500", "--days", "10", "--seed", "2")
    consent_id, count = db.session.execute(
        select(Event.consent_id, func.count())
        .group_by(Event.consent_id)
        .order_by(func.count().desc())
        .limit(1)
    ).one()
    subject = Subject.of_consent(consent_id)
    held = export_subject(subject)
    assert len(held["events"]) == count and held["visits"]
    deleted = erase_subject(subject)
    assert deleted["events"] == count
    left = select(func.count()).select_from(Event).where(Event.consent_id == consent_id)
    assert db.session.scalar(left) == 0
