"""A batch sent with a batch id is stored once, however often it is retried.

The tracker retries a batch after a 503, a 429 or a network error, including when the
first copy was stored and only the answer was lost. The server claims (site, batch id) in
the transaction that stores the batch: a retry answers the first answer's counts and
stores nothing new, also when two workers receive it at once.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from app.clock import utcnow
from app.collection import batches as batch_module
from app.collection.batches import COLLECT, BatchClaim, BatchLedger, CollectedRows
from app.extensions import db
from app.models import Site
from app.models.analytics import CollectBatch, Event, SearchTerm, Visit
from app.storage import BulkInsert, GroupWriter, WriteJob, group_writer
from tests.collection.helpers import CHROME_UA, PAGE, event_row, pageview, stored
from tests.conftest import SITE_KEY, give_consent


def batch_id() -> str:
    return secrets.token_urlsafe(16)  # 128 bits, 22 characters, as the tracker's


def post(client, consent_id: str, batch: object, events: list | None = None, **extra):
    body = {"site": SITE_KEY, "consent_id": consent_id, "events": events or [pageview()]}
    if batch is not None:
        body["batch"] = batch
    return client.post(
        "/api/v1/collect",
        data=json.dumps(body),
        content_type="text/plain;charset=UTF-8",
        headers={"User-Agent": CHROME_UA},
        **extra,
    )


def counts(app) -> dict[str, int]:
    with app.app_context():
        found = {
            "events": db.session.scalar(select(func.count()).select_from(Event)),
            "terms": db.session.scalar(select(func.count()).select_from(SearchTerm)),
            "batches": db.session.scalar(select(func.count()).select_from(CollectBatch)),
        }
        db.session.remove()
    return found


@pytest.fixture
def granted(client, site) -> str:
    return give_consent(client, site)["consent_id"]


def test_a_retried_batch_is_stored_once_with_the_same_answer(app, client, granted):
    batch = batch_id()
    events = [pageview(PAGE + "?q=boots"), pageview(PAGE + "/2")]
    first = post(client, granted, batch, events)
    assert first.status_code == 202
    assert first.get_json() == {"accepted": 2, "dropped": 0}
    for _ in range(3):
        again = post(client, granted, batch, events)
        assert again.status_code == 202
        assert again.get_json() == first.get_json()
    assert counts(app) == {"events": 2, "terms": 1, "batches": 1}
    # Another batch id is another batch, even with the same events.
    assert post(client, granted, batch_id(), events).get_json() == first.get_json()
    assert counts(app) == {"events": 4, "terms": 2, "batches": 2}


def test_the_batch_row_holds_nothing_about_the_visitor(app, client, granted):
    batch = batch_id()
    post(client, granted, batch)
    with app.app_context():
        (row,) = db.session.scalars(select(CollectBatch))
        values = {c.name: getattr(row, c.key) for c in CollectBatch.__table__.columns}
        db.session.remove()
    assert set(values) == {"site_id", "batch", "received_at", "accepted", "dropped"}
    assert values["batch"] == batch and (values["accepted"], values["dropped"]) == (1, 0)
    assert granted not in {str(v) for v in values.values()}


def test_a_retry_after_withdrawal_answers_the_first_answer_and_stores_nothing(app, client, granted):
    batch = batch_id()
    assert post(client, granted, batch).get_json() == {"accepted": 1, "dropped": 0}
    assert client.post(f"/api/v1/consent/{granted}/withdraw").status_code == 200
    assert post(client, granted, batch).get_json() == {"accepted": 1, "dropped": 0}
    # A new batch after withdrawal is dropped as ever.
    assert post(client, granted, batch_id()).get_json() == {"accepted": 0, "dropped": 1}
    result = stored(app)
    assert result["event_count"] == 1 and result["drops"] == {"consent": 1}


def test_a_retried_dropped_batch_is_counted_once(app, client, site):
    refused = give_consent(client, site, method="reject_all")["consent_id"]
    batch = batch_id()
    for _ in range(3):
        assert post(client, refused, batch, [pageview(), pageview()]).get_json() == {
            "accepted": 0,
            "dropped": 2,
        }
    assert stored(app)["drops"] == {"consent": 2}


def test_batches_without_an_id_are_stored_each_time(app, client, granted):
    for _ in range(2):
        assert post(client, granted, None).get_json() == {"accepted": 1, "dropped": 0}
    assert counts(app) == {"events": 2, "terms": 0, "batches": 0}


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "short",
        "a" * 15,
        "a" * 65,
        "a" * 20 + "+/",
        "a" * 20 + "=",
        "a" * 20 + " ",
        "a" * 20 + "\n",
        "a" * 20 + "é",
        "a" * 20 + "\ud800",
        "a" * 20 + "\x00",
        12345678901234567890,
        ["a" * 22],
        {"id": "a" * 22},
        True,
    ],
)
def test_an_invalid_batch_id_is_refused_and_nothing_is_stored(app, client, granted, bad):
    response = post(client, granted, bad)
    assert response.status_code == 400
    # NUL and lone surrogates are refused for the whole body, at the edge (app/http.py).
    unstorable = isinstance(bad, str) and any(c == "\x00" or "\ud800" <= c <= "\udfff" for c in bad)
    expected = "NUL or a lone surrogate" if unstorable else "batch"
    assert expected in response.get_json()["error"]
    assert counts(app) == {"events": 0, "terms": 0, "batches": 0}
    assert stored(app)["drops"] == {}


def test_batch_ids_at_the_bounds_are_accepted(app, client, granted):
    for batch in ("a" * 16, "Z9_-" * 16):
        assert post(client, granted, batch).status_code == 202
    assert counts(app)["batches"] == 2


def test_copies_in_one_group_are_stored_once(app, site):
    """Concurrent requests in one worker share a commit: a retry may ride in the same group
    as its first copy."""
    with app.app_context():
        site_id = db.session.scalar(select(Site.id))
        writer = GroupWriter(db.engine)
        same = batch_id()
        jobs = [
            CollectedRows(
                events=[event_row(site_id, f"/copy/{i}")],
            ).job(BatchClaim(site_id, same, utcnow(), 1, 0))
            for i in range(3)
        ]
        for job in jobs:
            writer.store.prepare(job)
        writer.store.write_group(jobs)
        assert all(job.error is None for job in jobs)
        assert [job.claim.first for job in jobs] == [(1, 0)] * 3
        assert list(db.session.scalars(select(Event.path))) == ["/copy/0"]
        db.session.remove()


def test_concurrent_copies_on_two_workers_are_stored_once(app, site):
    """Worker A has claimed the batch and not committed yet when worker B gets the retry:
    B waits for A's transaction, then answers A's counts and stores nothing."""
    with app.app_context():
        site_id = db.session.scalar(select(Site.id))
        other_engine = sa.create_engine(db.engine.url, **_engine_options(db.engine))
        same = batch_id()
        job_a = CollectedRows(
            events=[event_row(site_id, "/a")],
        ).job(BatchClaim(site_id, same, utcnow(), 1, 0))
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            assert BatchLedger(db.engine.dialect).claim(cursor, [job_a]) == [job_a]
            events = BulkInsert(Event.__table__, db.engine.dialect)
            events.execute(cursor, events.params(job_a.rows["events"]))
            job_b = CollectedRows(
                events=[event_row(site_id, "/b")],
            ).job(BatchClaim(site_id, same, utcnow(), 7, 0))
            errors: list[BaseException] = []

            def worker_b() -> None:
                try:
                    GroupWriter(other_engine).submit(job_b)
                except BaseException as exc:  # reported below
                    errors.append(exc)

            thread = threading.Thread(target=worker_b)
            thread.start()
            time.sleep(0.5)
            assert thread.is_alive(), "B did not wait for A's transaction"
            raw.commit()
            thread.join(timeout=30)
        finally:
            raw.close()
        assert not thread.is_alive() and errors == []
        assert job_b.claim.first == (1, 0)
        assert list(db.session.scalars(select(Event.path))) == ["/a"]
        db.session.remove()
        other_engine.dispose()


def test_a_rolled_back_first_copy_leaves_the_retry_free_to_store(app, site):
    with app.app_context():
        site_id = db.session.scalar(select(Site.id))
        same = batch_id()
        bad = CollectedRows(
            events=[event_row(site_id, "/ok"), event_row(999_999, "/no-such-site")],
        ).job(BatchClaim(site_id, same, utcnow(), 2, 0))
        writer = GroupWriter(db.engine)
        with pytest.raises(sa.exc.IntegrityError):
            writer.submit(bad)
        retry = CollectedRows(
            events=[event_row(site_id, "/ok")],
        ).job(BatchClaim(site_id, same, utcnow(), 1, 0))
        writer.submit(retry)
        assert retry.claim.first == (1, 0)
        assert list(db.session.scalars(select(Event.path))) == ["/ok"]
        db.session.remove()


def test_a_duplicate_keeps_its_visit_current(app, client, granted):
    """A retry stores no events, but its visit row is still written: access and erasure
    find a visit's later rows within its span."""
    batch = batch_id()
    post(client, granted, batch)
    with app.app_context():
        db.session.execute(sa.delete(Visit))
        db.session.commit()
    post(client, granted, batch)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Visit)) == 1
        db.session.remove()
    assert counts(app)["events"] == 1


def test_old_batch_rows_are_swept_a_bounded_number_at_a_time(app, client, granted, monkeypatch):
    monkeypatch.setattr(batch_module, "SWEEP_ROWS", 2)
    old = [batch_id() for _ in range(3)]
    recent = batch_id()
    for batch in old:
        post(client, granted, batch)
    with app.app_context():
        db.session.execute(
            sa.update(CollectBatch).values(
                received_at=utcnow() - batch_module.KEEP_FOR - timedelta(minutes=1)
            )
        )
        db.session.commit()
    monkeypatch.setattr(batch_module, "SWEEP_SECONDS", 3600.0)
    with app.app_context():
        group_writer().store.claim_for(COLLECT)._swept_at = batch_module.SWEEP_DUE
    post(client, granted, recent)
    assert counts(app)["batches"] == 2  # two of the three old rows, and the new one
    post(client, granted, batch_id())  # a full sweep is followed by another at once
    with app.app_context():
        assert recent in set(db.session.scalars(select(CollectBatch.batch)))
        db.session.remove()
    assert counts(app)["batches"] == 2


def _engine_options(engine: sa.Engine) -> dict:
    if engine.dialect.name == "sqlite":
        return {"connect_args": {"check_same_thread": False, "timeout": 30}}
    return {}


def test_a_group_of_retries_gets_each_first_answer(app, site):
    with app.app_context():
        site_id = db.session.scalar(select(Site.id))
        writer = GroupWriter(db.engine)
        first, second, fresh = batch_id(), batch_id(), batch_id()

        def job(batch: str, path: str, answer: tuple[int, int]) -> WriteJob:
            made = CollectedRows(
                events=[event_row(site_id, path)],
            ).job(BatchClaim(site_id, batch, utcnow(), *answer))
            writer.store.prepare(made)
            return made

        writer.store.write_group([job(first, "/1", (1, 0)), job(second, "/2", (0, 1))])
        again = [job(second, "/2b", (1, 0)), job(fresh, "/3", (1, 0)), job(first, "/1b", (0, 1))]
        writer.store.write_group(again)
        assert [j.claim.first for j in again] == [(0, 1), (1, 0), (1, 0)]
        assert sorted(db.session.scalars(select(Event.path))) == ["/1", "/2", "/3"]
        db.session.remove()
