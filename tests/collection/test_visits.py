"""Visits: the 30-minute rule across workers, and access and erasure through visit rows.

Each worker remembers visits in its own ``VisitTracker``; two trackers over one database
stand in for two workers here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from app.collection.visits import SESSION_GAP, VISITS, VisitTracker
from app.extensions import db
from app.models.analytics import VISIT_TOUCH, Event, SearchTerm, Visit
from app.sites.registry import create_site
from tests.collection.helpers import PAGE, collect, pageview, stored
from tests.conftest import SITE_KEY, give_consent, truncate_all

START = datetime(2026, 6, 1, 9, tzinfo=UTC)


@pytest.fixture
def workers(app, monkeypatch):
    """Two workers' trackers; ``use(n)`` makes the next requests worker n's."""
    trackers = (VisitTracker(), VisitTracker())

    def use(number: int) -> None:
        monkeypatch.setitem(app.extensions, VISITS, trackers[number])

    use(0)
    return use


def visits(app) -> list[Visit]:
    with app.app_context():
        rows = db.session.scalars(select(Visit).order_by(Visit.started_at)).all()
        db.session.expunge_all()
        return list(rows)


def test_a_visit_row_is_written_when_the_visit_starts_and_touched_sparingly(
    app, client, site, workers
):
    with time_machine.travel(START, tick=False) as traveller:
        consent_id = give_consent(client, site)["consent_id"]
        collect(client, consent_id)
        (visit,) = visits(app)
        assert (visit.consent_id, visit.started_at, visit.last_seen_at) == (
            consent_id,
            START,
            START,
        )
        traveller.shift(VISIT_TOUCH - timedelta(seconds=1))
        collect(client, consent_id)
        assert visits(app)[0].last_seen_at == START  # not rewritten yet
        traveller.shift(timedelta(seconds=1))
        collect(client, consent_id)
    (visit,) = visits(app)
    assert visit.last_seen_at == START + VISIT_TOUCH
    assert {event.session_id for event in stored(app)["events"]} == {visit.session_id}


def test_another_worker_continues_a_visit_whose_row_lags(app, client, site, workers):
    with time_machine.travel(START, tick=False) as traveller:
        consent_id = give_consent(client, site)["consent_id"]
        collect(client, consent_id)
        traveller.shift(timedelta(seconds=59))
        collect(client, consent_id)  # the row still says START
        traveller.shift(SESSION_GAP - timedelta(seconds=1))
        workers(1)
        collect(client, consent_id)  # 30:58 after the row's time, 29:59 after the event
        traveller.shift(SESSION_GAP)
        workers(0)
        collect(client, consent_id)  # 30:00 idle: a new visit
    sessions = [event.session_id for event in stored(app)["events"]]
    assert sessions[0] == sessions[1] == sessions[2] != sessions[3]
    assert len(visits(app)) == 2


def test_a_visit_idle_past_the_lag_window_is_over(app, client, site, workers):
    with time_machine.travel(START, tick=False) as traveller:
        consent_id = give_consent(client, site)["consent_id"]
        collect(client, consent_id)
        traveller.shift(SESSION_GAP + timedelta(seconds=30))
        workers(1)
        collect(client, consent_id)
    first, second = (event.session_id for event in stored(app)["events"])
    assert first != second


def test_a_row_removed_under_a_running_visit_is_restored_by_its_next_event(
    app, client, site, workers
):
    # An erasure racing a request that had already passed the consent check.
    consent_id = give_consent(client, site)["consent_id"]
    collect(client, consent_id, [pageview(PAGE + "?q=boots")])
    with app.app_context():
        db.session.execute(delete(Visit))
        db.session.commit()
    collect(client, consent_id)
    assert len(visits(app)) == 1
    data = client.get(f"/api/v1/consent/{consent_id}/data").get_json()["data"]
    assert len(data["events"]) == 2 and len(data["search_terms"]) == 1


def test_erasure_takes_every_visit_and_nothing_of_another_consent_id(app, client, site, workers):
    with time_machine.travel(START, tick=False) as traveller:
        mine = give_consent(client, site)["consent_id"]
        other = give_consent(client, site)["consent_id"]
        for step in range(6):
            workers(step % 2)
            collect(client, mine, [pageview(PAGE + f"?q=mine{step}")])
            collect(client, other, [pageview(PAGE + f"?q=other{step}")])
            traveller.shift(timedelta(minutes=40) if step == 2 else timedelta(minutes=9))
    data = client.get(f"/api/v1/consent/{mine}/data").get_json()["data"]
    assert [term["term"] for term in data["search_terms"]] == [f"mine{n}" for n in range(6)]
    assert len(data["events"]) == 6 and len(data["visits"]) == 2
    deleted = client.delete(f"/api/v1/consent/{mine}/data").get_json()["deleted"]
    assert (deleted["events"], deleted["search_terms"], deleted["visits"]) == (6, 6, 2)
    left = stored(app)
    assert {row.consent_id for row in left["events"] + left["terms"]} == {other}
    assert len(left["events"]) == 6 and len(left["terms"]) == 6
    assert {visit.consent_id for visit in visits(app)} == {other}


WAITS = [
    timedelta(0),
    timedelta(seconds=1),
    VISIT_TOUCH - timedelta(seconds=1),
    VISIT_TOUCH + timedelta(seconds=1),
    SESSION_GAP - timedelta(seconds=1),
    SESSION_GAP,
    SESSION_GAP + timedelta(seconds=30),
    SESSION_GAP + VISIT_TOUCH,
    timedelta(hours=5),
]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 1), st.sampled_from(WAITS)),
        min_size=1,
        max_size=20,
    )
)
def test_visits_follow_the_thirty_minute_rule_and_access_finds_every_row(
    app, client, workers, steps
):
    """Any interleaving of two visitors' events on two workers, with waits around the
    30-minute gap and the touch interval: a new visit starts exactly when a visitor was
    idle 30 minutes, access returns exactly the visitor's rows, and erasure removes them
    and nothing else."""
    truncate_all(app)
    with app.app_context():
        create_site("Example", ["example.com"], key=SITE_KEY)
        db.session.remove()
    for number in (0, 1):
        workers(number)
        app.extensions[VISITS].clear()
    last_seen: list[datetime | None] = [None, None]
    with time_machine.travel(START, tick=False) as traveller:
        consent_ids = [give_consent(client, SITE_KEY)["consent_id"] for _ in range(2)]
        expected_new: dict[str, list[bool]] = {consent_id: [] for consent_id in consent_ids}
        for visitor, worker, wait in steps:
            traveller.shift(wait)
            now = datetime.now(UTC)
            previous = last_seen[visitor]
            expected_new[consent_ids[visitor]].append(
                previous is None or now - previous >= SESSION_GAP
            )
            last_seen[visitor] = now
            workers(worker)
            assert collect(client, consent_ids[visitor]).status_code == 202
    events = stored(app)["events"]
    for consent_id, new_visits in expected_new.items():
        sessions = [event.session_id for event in events if event.consent_id == consent_id]
        starts = [
            index == 0 or sessions[index - 1] != sessions[index] for index in range(len(sessions))
        ]
        assert starts == new_visits
        data = client.get(f"/api/v1/consent/{consent_id}/data").get_json()["data"]
        assert len(data["events"]) == len(new_visits)
    erased, kept = consent_ids
    deleted = client.delete(f"/api/v1/consent/{erased}/data").get_json()["deleted"]
    assert deleted["events"] == len(expected_new[erased])
    with app.app_context():
        left = db.session.scalars(select(Event.consent_id)).all()
        assert set(left) <= {kept} and len(left) == len(expected_new[kept])
        assert db.session.scalars(select(Visit.consent_id).distinct()).all() in ([], [kept])
        assert db.session.scalars(select(SearchTerm.consent_id)).all() == []
        db.session.remove()
