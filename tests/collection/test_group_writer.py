"""The group writer: concurrent batches share a commit, yet each is stored whole or not."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.collection.writer import GroupWriter, WriteJob
from app.extensions import db
from app.models import Site
from app.models.analytics import DailyCount, Event
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


@pytest.mark.parametrize("jobs", [1, 3])
def test_an_unreachable_store_fails_every_job(app, tmp_path, jobs):
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{tmp_path}/no/such/dir.db")
    writer = GroupWriter(engine)
    with pytest.raises(sa.exc.OperationalError):
        writer.submit(WriteJob(events=[event_row(1, "/x")]))
    engine.dispose()
