"""The group writer: concurrent batches share a commit, yet each is stored whole or not."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.collection.batches import CollectedRows
from app.extensions import db, reset_process_state
from app.models import Site
from app.models.analytics import DailyCount, Event, Visit
from app.storage import GroupWriter, WriteJob, WriteTimeout, group_writer, submit
from tests.collection.helpers import event_row


def test_a_failing_batch_does_not_take_its_group_down(app, site):
    with app.app_context():
        site_id = db.session.scalar(select(Site.id))
        writer = GroupWriter(db.engine)
        good = [
            CollectedRows(
                events=[event_row(site_id, f"/ok/{i}"), event_row(site_id, f"/ok/{i}b")]
            ).job()
            for i in range(20)
        ]
        no_such_site = 999_999
        bad = CollectedRows(
            events=[event_row(site_id, "/bad/1"), event_row(no_such_site, "/bad/2")]
        ).job()
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
                args=(CollectedRows(counts=Counter({(site_id, day, "consent"): 2})).job(),),
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
        writer.submit(CollectedRows(visits=[visit(start)]).job())
        writer.submit(CollectedRows(visits=[visit(later)]).job())
        writer.submit(CollectedRows(visits=[visit(earlier)]).job())
        writer.submit(CollectedRows(visits_kept=[visit(earlier, started=earlier)]).job())
        (row,) = db.session.execute(select(Visit.started_at, Visit.last_seen_at)).all()
        assert tuple(row) == (start, later)
        db.session.remove()


@pytest.mark.parametrize("jobs", [1, 3])
def test_an_unreachable_store_fails_every_job(app, tmp_path, jobs):
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{tmp_path}/no/such/dir.db")
    writer = GroupWriter(engine)
    with pytest.raises(sa.exc.OperationalError):
        writer.submit(CollectedRows(events=[event_row(1, "/x")]).job())
    engine.dispose()


class _SlowStore:
    """Holds the writer's write turn and its group write until released."""

    def __init__(self, writer: GroupWriter) -> None:
        self.turn_open = threading.Event()
        self.write_open = threading.Event()
        self.writing = threading.Event()
        real_turn, real_write = writer.store.write_turn, writer.store.write_group

        @contextlib.contextmanager
        def write_turn():
            self.turn_open.wait(10)
            with real_turn():
                yield

        def write_group(jobs):
            self.writing.set()
            self.write_open.wait(10)
            real_write(jobs)

        writer.store.write_turn = write_turn
        writer.store.write_group = write_group


def _submit_in_thread(writer: GroupWriter, job: WriteJob, outcome: dict) -> threading.Thread:
    def run() -> None:
        try:
            writer.submit(job)
            outcome[id(job)] = "stored"
        except WriteTimeout:
            outcome[id(job)] = "timeout"

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _wait_queued(writer: GroupWriter, count: int) -> None:
    for _ in range(1000):
        if len(writer._queue) >= count:
            return
        time.sleep(0.005)
    raise AssertionError("the jobs did not queue")


def test_a_stalled_group_frees_its_waiters_and_refuses_new_batches(app, site):
    with app.app_context():
        site_id = db.session.scalar(select(Site.id))
        writer = GroupWriter(db.engine, SimpleNamespace(write_wait=30.0, write_stalled=0.3))
        slow = _SlowStore(writer)
        slow.turn_open.set()
        outcome: dict = {}
        lead = CollectedRows(events=[event_row(site_id, "/lead")]).job()
        leader = _submit_in_thread(writer, lead, outcome)
        assert slow.writing.wait(10)
        queued = CollectedRows(events=[event_row(site_id, "/queued")]).job()
        follower = _submit_in_thread(writer, queued, outcome)
        follower.join(10)  # gives up once the group has stalled, long before write_wait
        assert outcome[id(queued)] == "timeout"
        with pytest.raises(WriteTimeout):  # refused at once while the group is stalled
            writer.submit(CollectedRows(events=[event_row(site_id, "/refused")]).job())
        slow.write_open.set()
        leader.join(10)
        assert outcome[id(lead)] == "stored"
        # Withdrawn before a leader took them: certainly not stored.
        assert set(db.session.scalars(select(Event.path))) == {"/lead"}
        writer.submit(CollectedRows(events=[event_row(site_id, "/after")]).job())  # and it recovers
        assert set(db.session.scalars(select(Event.path))) == {"/lead", "/after"}
        db.session.remove()


def test_a_batch_that_timed_out_inside_a_group_is_stored_whole_or_not_at_all(app, site):
    """The one case where 503 does not mean "not stored": the batch was in a group being
    committed when its wait ran out. It is then stored whole (a retry carries its batch id)."""
    with app.app_context():
        site_id = db.session.scalar(select(Site.id))
        writer = GroupWriter(db.engine, SimpleNamespace(write_wait=1.0, write_stalled=30.0))
        slow = _SlowStore(writer)
        outcome: dict = {}
        lead = CollectedRows(events=[event_row(site_id, "/lead")]).job()
        leader = _submit_in_thread(writer, lead, outcome)
        _wait_queued(writer, 1)
        member = CollectedRows(events=[event_row(site_id, f"/member/{i}") for i in range(3)]).job()
        follower = _submit_in_thread(writer, member, outcome)
        _wait_queued(writer, 2)
        slow.turn_open.set()  # the leader takes both into its group
        assert slow.writing.wait(10)
        follower.join(10)
        assert outcome[id(member)] == "timeout"
        slow.write_open.set()
        leader.join(10)
        assert outcome[id(lead)] == "stored"
        paths = set(db.session.scalars(select(Event.path)))
        assert paths == {"/lead", "/member/0", "/member/1", "/member/2"}
        db.session.remove()


def test_a_group_the_store_failed_is_not_retried_job_by_job(app, site):
    """A store that is gone, full or too slow fails the whole group at once: retried one by
    one, each job would wait out its own timeout."""
    import sqlalchemy as sa

    with app.app_context():
        writer = GroupWriter(db.engine)
        calls: list[int] = []

        def failing(jobs):
            calls.append(len(jobs))
            raise sa.exc.OperationalError("INSERT", None, Exception("database or disk is full"))

        writer.store._write = failing
        jobs = [CollectedRows(events=[event_row(1, f"/{i}")]).job() for i in range(3)]
        writer.store.write_group(jobs)
        assert calls == [3]
        assert all(isinstance(job.error, sa.exc.OperationalError) for job in jobs)


def test_the_app_owns_its_writer_and_a_reset_makes_it_reconnect(app, site):
    with app.app_context():
        site_id = db.session.scalar(select(Site.id))
        writer = group_writer()
        assert group_writer() is writer
        submit(CollectedRows(events=[event_row(site_id, "/before")]).job())
        connection = writer.store._raw
        assert connection is not None
        reset_process_state(app)
        submit(CollectedRows(events=[event_row(site_id, "/after")]).job())
        assert group_writer() is writer
        assert writer.store._raw is not None and writer.store._raw is not connection
        assert set(db.session.scalars(select(Event.path))) == {"/before", "/after"}
        db.session.remove()
