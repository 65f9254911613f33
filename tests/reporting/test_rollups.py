"""Rollup upkeep: a rebuild equals the upkeep, visitors are exact over any range, days are
the site's days, per-dimension sketches agree with exact counts, the CLI, and erasure."""

from __future__ import annotations

import json
import random
from bisect import bisect_left
from datetime import date, timedelta
from typing import Any

import time_machine
from flask import Flask
from sqlalchemy import delete, select

from app.extensions import db
from app.models.reporting import (
    DailyDimension,
    DailyTotal,
    MonthlyDimension,
    RollupWatermark,
    VisitorDay,
    VisitorDayCount,
)
from app.privacy.service import erase_subject, export_subject
from app.reporting import rollup, service
from app.reporting.facts import build_visits
from app.reporting.params import DateRange
from app.reporting.ranges import range_figures
from app.sites.registry import create_site
from app.subjects import Subject
from tests.reporting.helpers import DAY, at, days, event, query, snapshot, store

ROLLUP_TABLES = (DailyTotal, DailyDimension, MonthlyDimension, VisitorDay, VisitorDayCount)
PAGES = ("/", "/pricing", "/blog/a", "/blog/b", "/docs", "/signup")
REFERRERS = (None, "https://www.google.com", "https://t.co", "https://news.example.net")


def _traffic(rng: random.Random, first: date, count_days: int, people: int) -> list[dict[str, Any]]:
    """Visits of ``people`` consent ids over the days, some crossing midnight."""
    rows = []
    for n, day in enumerate(days(first, count_days)):
        for person in rng.sample(range(people), k=people // 2):
            start = at(day, 0) + timedelta(minutes=rng.randrange(0, 24 * 60 - 1))
            session = f"s{n}-{person}"
            for step in range(rng.randint(1, 4)):
                when = start + timedelta(seconds=40 * step)
                path = rng.choice(PAGES)
                referrer = rng.choice(REFERRERS) if step == 0 else None
                rows.append(event(when, f"c{person}", session, path=path, referrer=referrer))
                if rng.random() < 0.3:
                    rows.append(
                        event(when, f"c{person}", session, "engagement", path, engaged_ms=5000)
                    )
    return rows


def _rollup_state() -> dict[str, list[tuple]]:
    state = {}
    for model in ROLLUP_TABLES:
        columns = list(model.__table__.columns)
        state[model.__tablename__] = sorted(
            tuple(row) for row in db.session.execute(select(*columns)).all()
        )
    return state


def test_rebuild_equals_incremental_upkeep(app: Flask, site: str):
    rng = random.Random(18)
    with app.app_context():
        site_id = snapshot(site).id
    # Four days across the end of February, so a month is finished on the way.
    first = date(2026, 2, 26)
    rows = sorted(_traffic(rng, first, 4, 40), key=lambda r: r["received_at"])
    # Events arrive hour by hour; the timer runs 10 s after each hour, while the events of
    # the last few seconds are still being committed (they are stored after the run).
    clock = at(first, 0)
    end = at(first + timedelta(days=4), 1)
    arrival = [r["received_at"] for r in rows]
    done = runs = 0
    while clock < end:
        clock += timedelta(hours=1)
        committed = bisect_left(arrival, clock - timedelta(seconds=5))
        in_flight = bisect_left(arrival, clock)
        store(app, site_id, rows[done:committed])
        with app.app_context():
            rollup.bring_up_to_date(clock + timedelta(seconds=10))
        store(app, site_id, rows[committed:in_flight])
        done = in_flight
        runs += 1
    with app.app_context():
        rollup.bring_up_to_date(end + timedelta(minutes=1))
        incremental = _rollup_state()
        for model in ROLLUP_TABLES:
            db.session.execute(delete(model))
        db.session.commit()
        rollup.rebuild(rollup.rebuild_plan(now=end + timedelta(minutes=1)), end)
        rebuilt = _rollup_state()
    assert runs > 90
    assert incremental["rollup_daily_totals"], "nothing was rolled up"
    assert {row[2] for row in incremental["rollup_monthly_dimensions"]} == {date(2026, 2, 1)}
    assert rebuilt == incremental


def test_long_ranges_read_whole_months_and_stay_exact(app: Flask, site: str):
    with app.app_context():
        site_id = snapshot(site).id
    visits = [
        ("a", date(2026, 1, 15)),
        ("a", date(2026, 2, 10)),
        ("b", date(2026, 2, 20)),
        ("a", date(2026, 3, 5)),
        ("b", date(2026, 4, 1)),
    ]
    store(app, site_id, [event(at(d, 9), who, f"{who}{d}", path="/p") for who, d in visits])
    with time_machine.travel(at(date(2026, 4, 1), 12), tick=False), app.app_context():
        found = snapshot(site)
        rollup.bring_up_to_date()
        months = db.session.scalars(select(MonthlyDimension.month).distinct()).all()
        assert sorted(months) == [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
        for first, last, expected in (
            (date(2026, 1, 1), date(2026, 3, 31), 2),
            (date(2026, 1, 10), date(2026, 3, 10), 2),
            (date(2026, 1, 1), date(2026, 1, 31), 1),
            (date(2025, 12, 1), date(2026, 4, 30), 2),
        ):
            (row,) = service.breakdown(found, query(first, last), "page")["rows"]
            assert row["visitors"] == expected, (first, last)
            assert service.overview(found, query(first, last))["visitors"] == expected
        (row,) = service.breakdown(found, query(date(2026, 1, 1), date(2026, 4, 1)), "page")["rows"]
        assert (row["visits"], row["pageviews"]) == (5, 5)


def test_visitors_are_exact_over_any_range(app: Flask, site: str):
    with app.app_context():
        site_id = snapshot(site).id
    rows = [
        event(at(DAY, 9), "both", "v1", path="/a"),
        event(at(DAY + timedelta(days=1), 9), "both", "v2", path="/a"),
        event(at(DAY + timedelta(days=1), 10), "once", "v3", path="/a"),
        event(at(DAY + timedelta(days=5), 10), "both", "v4", path="/a"),
    ]
    store(app, site_id, rows)
    with time_machine.travel(at(DAY + timedelta(days=5), 12), tick=False), app.app_context():
        found = snapshot(site)

        def visitors(first: date, last: date) -> int:
            return range_figures(found, DateRange(first, last), ()).visitors

        def page_visitors(first: date, last: date) -> int:
            rows = service.breakdown(found, query(first, last), "page")["rows"]
            return rows[0]["visitors"]

        def check() -> None:
            assert visitors(DAY, DAY + timedelta(days=1)) == 2
            assert visitors(DAY + timedelta(days=1), DAY + timedelta(days=1)) == 2
            assert visitors(DAY, DAY + timedelta(days=5)) == 2  # today read raw
            assert visitors(DAY + timedelta(days=2), DAY + timedelta(days=5)) == 1
            assert visitors(DAY - timedelta(days=30), DAY + timedelta(days=30)) == 2
            assert page_visitors(DAY, DAY + timedelta(days=5)) == 2
            overview = service.overview(found, query(DAY, DAY + timedelta(days=1)))
            assert (overview["visitors"], overview["visits"]) == (2, 3)

        check()  # from raw events
        rollup.bring_up_to_date()
        assert rollup.final_through(found) == DAY + timedelta(days=4)
        check()  # from the rollups, today raw
        # A late day rolled up again out of order keeps the previous-day links right.
        rollup.recompute_day(found, DAY)
        check()


def test_days_are_the_site_time_zone_days(app: Flask):
    with app.app_context():
        site = create_site("Berlin", ["example.de"], key="berlin", timezone="Europe/Berlin")
        site_id = site.id
        db.session.remove()
    # 23:30 UTC is 00:30 the next day in Berlin (UTC+1 in March before DST).
    store(app, site_id, [event(at(DAY, 23, 30), "late", "l1", path="/night")])
    with time_machine.travel(at(DAY + timedelta(days=3), 12), tick=False), app.app_context():
        found = snapshot("berlin")
        for _ in range(2):  # raw, then rolled up
            assert service.overview(found, query(DAY))["visitors"] == 0
            assert service.overview(found, query(DAY + timedelta(days=1)))["visitors"] == 1
            series = service.timeseries(
                found, query(DAY, DAY + timedelta(days=1)), "pageviews", "hour"
            )
            assert [p for p in series["points"] if p["value"]] == [
                {"t": (DAY + timedelta(days=1)).isoformat() + "T00:00", "value": 1}
            ]
            rollup.bring_up_to_date()
        assert db.session.scalar(select(DailyTotal.day)) == DAY + timedelta(days=1)


def test_a_day_is_final_only_after_it_ends_in_the_site_zone(app: Flask, site: str):
    with app.app_context():
        site_id = snapshot(site).id
    store(app, site_id, [event(at(DAY, 23, 59, 50), "x", "x1")])
    with app.app_context():
        found = snapshot(site)
        rollup.bring_up_to_date(at(DAY, 23, 59, 55))
        assert rollup.final_through(found) == DAY - timedelta(days=1)
        # A commit still in flight at midnight lands after the run: the next run has it.
        store(app, site_id, [event(at(DAY, 23, 59, 54), "y", "y1")])
        rollup.bring_up_to_date(at(DAY + timedelta(days=1), 0, 1))
        assert rollup.final_through(found) == DAY
        assert db.session.get(DailyTotal, (site_id, DAY)).visitors == 2


def test_dimension_sketches_agree_with_exact_counts(app: Flask, site: str):
    rng = random.Random(7)
    with app.app_context():
        site_id = snapshot(site).id
    rows = _traffic(rng, DAY, 10, 2000)
    store(app, site_id, rows)
    with time_machine.travel(at(DAY + timedelta(days=11), 12), tick=False), app.app_context():
        found = snapshot(site)
        rollup.bring_up_to_date()
        report = service.breakdown(found, query(DAY, DAY + timedelta(days=9), limit=100), "page")
        exact: dict[str, set[str]] = {}
        for row in rows:
            exact.setdefault(row["path"], set()).add(row["consent_id"])
        for shown in report["rows"]:
            truth = len(exact[shown["value"]])
            assert abs(shown["visitors"] - truth) <= 0.05 * truth, (shown, truth)
        assert {row["value"] for row in report["rows"]} == set(PAGES)


def test_rollup_and_rebuild_through_the_cli(app: Flask, site: str):
    with app.app_context():
        site_id = snapshot(site).id
    store(app, site_id, [event(at(DAY, 9), "c", "s", path="/a")])
    runner = app.test_cli_runner()
    with time_machine.travel(at(DAY + timedelta(days=2), 12), tick=False):
        result = runner.invoke(args=["heedful", "rollup"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["days"] == {site: 3}
        again = runner.invoke(args=["heedful", "rollup"])
        assert json.loads(again.output)["days"] == {site: 1}  # only today
        rebuilt = runner.invoke(
            args=["heedful", "rollup", "--rebuild", "--site", site, "--since", DAY.isoformat()]
        )
        assert rebuilt.exit_code == 0, rebuilt.output
        assert "Rebuilding rollups" in rebuilt.output
        assert json.loads(rebuilt.output.splitlines()[-1]) == {"rebuilt_days": 3, "sites": 1}
        unknown = runner.invoke(args=["heedful", "rollup", "--rebuild", "--site", "nope"])
        assert unknown.exit_code != 0 and "unknown site" in unknown.output
    with app.app_context():
        assert db.session.get(DailyTotal, (site_id, DAY)).pageviews == 1
        assert db.session.get(RollupWatermark, site_id) is not None


def test_erasure_removes_visitor_days(app: Flask, site: str):
    with app.app_context():
        site_id = snapshot(site).id
    store(
        app,
        site_id,
        [event(at(d, 9), "gone", f"g{n}") for n, d in enumerate(days(DAY, 3))]
        + [event(at(DAY, 9), "kept", "k1")],
    )
    with app.app_context():
        rollup.bring_up_to_date(at(DAY + timedelta(days=3), 12))
        exported = export_subject(Subject.of_consent("gone"))
        assert [row["day"] for row in exported["visitor_days"]] == [
            d.isoformat() for d in days(DAY, 3)
        ]
        assert erase_subject(Subject.of_consent("gone"))["visitor_days"] == 3
        left = db.session.scalars(select(VisitorDay.consent_id)).all()
        assert left == ["kept"]


def test_visits_of_a_day_are_built_in_arrival_order():
    rows = [
        (
            at(DAY, 9),
            "c",
            "s",
            "pageview",
            "/a",
            None,
            None,
            None,
            None,
            "Chrome",
            None,
            None,
            "DE",
            None,
            None,
            None,
        ),
        (
            at(DAY, 9, 1),
            "c",
            "s",
            "pageview",
            "/b",
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            "FR",
            None,
            None,
            None,
        ),
    ]
    (visit,) = build_visits(rows, [], ("example.com",))
    assert (visit.values["entry_page"], visit.values["exit_page"]) == ({"/a": 1}, {"/b": 1})
    assert visit.values["country"] == {"DE": 1}
    assert visit.duration_s == 60 and not visit.bounce
