"""The group writer: concurrent batches share a commit, yet each is stored whole or not."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.collection.writer import GroupWriter, WriteJob
from app.extensions import db
from app.models import Site
from app.models.analytics import DailyCount, Event, Visit
from tests.collection.helpers import event_row


def test_a_failing_batch_does_not_take_its_group_down(app, site):
    with app.app_context():
        site_id = db.session.scalar(select(Site.id))
        writer = GroupWriter(db.engine)
        good = [
            WriteJob(events=[event_row(site_id, f"/ok/{i}"), event_row(site_id, f"/ok/{i}b")])
            for i in range(20)
        ]
        no_such_site = 999_999
        bad = WriteJob(events=[event_row(site_id, "/bad/1"), event_row(no_such_site, "/bad/2")])
        errors: dict[int, BaseException] = {}

        def submit(index: int, job: WriteJob) -> None:
            try:
                writer.submit(job)
            except Exception as exc:
                errors[index] = exc

        threads = [threading.Thread(target=submit, args=(i, j)) for i, j in enumerate([*good, bad])]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert set(errors) == {len(good)}
        assert isinstance(errors[len(good)], IntegrityError)
        paths = set(db.session.scalars(select(Event.path)))
        assert paths == {f"/ok/{i}" for i in range(20)} | {f"/ok/{i}b" for i in range(20)}


def test_counts_from_many_jobs_add_up(app, site):
    with app.app_context():
        site_id = db.session.scalar(select(Site.id))
        writer = GroupWriter(db.engine)
        day = date(2026, 11, 28)
        threads = [
            threading.Thread(
                target=writer.submit,
                args=(WriteJob(counts=Counter({(site_id, day, "consent"): 2})),),
            )
            for _ in range(10)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        total = db.session.scalar(select(func.sum(DailyCount.count)))
        assert total == 20
        db.session.remove()


def test_visit_rows_only_move_forward_and_are_inserted_once(app, site):
    with app.app_context():
        site_id = db.session.scalar(select(Site.id))
        writer = GroupWriter(db.engine)
        start = datetime(2026, 11, 28, 9, tzinfo=UTC)

        def visit(last_seen: datetime, started: datetime = start) -> dict:
            return {
                "session_id": "v" * 24,
                "site_id": site_id,
                "consent_id": "c" * 20,
                "started_at": started,
                "last_seen_at": last_seen,
            }

        later, earlier = start + timedelta(minutes=5), start + timedelta(minutes=2)
        # Two workers' writes arriving out of order, and a worker that keeps the row as is.
        writer.submit(WriteJob(visits=[visit(start)]))
        writer.submit(WriteJob(visits=[visit(later)]))
        writer.submit(WriteJob(visits=[visit(earlier)]))
        writer.submit(WriteJob(visits_kept=[visit(earlier, started=earlier)]))
        (row,) = db.session.execute(select(Visit.started_at, Visit.last_seen_at)).all()
        assert tuple(row) == (start, later)
        db.session.remove()


@pytest.mark.parametrize("jobs", [1, 3])
def test_an_unreachable_store_fails_every_job(app, tmp_path, jobs):
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{tmp_path}/no/such/dir.db")
    writer = GroupWriter(engine)
    with pytest.raises(sa.exc.OperationalError):
        writer.submit(WriteJob(events=[event_row(1, "/x")]))
    engine.dispose()
