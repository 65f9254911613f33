"""BulkInsert's bind tuples: defaults filled in, dates converted once per value; and the
write plans the store writes with it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from app.models.analytics import Event, Visit
from app.storage import BulkInsert, TableWrite, WriteJob, WritePlan
from app.storage.store import RowStore

DIALECT = sqlite.dialect()


def _column(table, name: str) -> int:
    return [c.name for c in table.columns].index(name)


def test_rows_get_their_defaults_and_converted_times_shared_across_tables() -> None:
    events = BulkInsert(Event.__table__, DIALECT)
    visits = BulkInsert(Visit.__table__, DIALECT, if_new=True)
    now = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)
    earlier = now - timedelta(minutes=3)
    row = {"received_at": now, "site_id": 1, "consent_id": "c", "session_id": "s"}
    converted: dict = {}
    first, second, third = events.params(
        [
            {**row, "type": "pageview", "path": "/a"},
            {**row, "type": "pageview", "path": "/b"},
            {**row, "received_at": earlier, "type": "pageview", "path": "/c"},
        ],
        converted,
    )
    (visit,) = visits.params(
        [
            {
                "session_id": "s",
                "site_id": 1,
                "consent_id": "c",
                "started_at": earlier,
                "last_seen_at": now,
            }
        ],
        converted,
    )
    at = _column(Event.__table__, "received_at")
    assert first[at] == second[at] == "2026-11-30 12:00:00.123456"
    assert third[at] == "2026-11-30 11:57:00.123456"  # a different time is not taken for another
    assert visit[_column(Visit.__table__, "started_at")] == third[at]
    assert visit[_column(Visit.__table__, "last_seen_at")] == first[at]
    assert len(converted) == 2  # one conversion per distinct time, whatever the table
    ids = {first[0], second[0], third[0]}
    assert len(ids) == 3 and all(isinstance(i, int) and i > 0 for i in ids)
    assert first[_column(Event.__table__, "path")] == "/a"
    assert first[_column(Event.__table__, "title")] is None


def test_time_zones_are_stored_as_utc() -> None:
    events = BulkInsert(Event.__table__, DIALECT)
    berlin = datetime(2026, 6, 1, 14, 0, tzinfo=UTC).astimezone(ZoneInfo("Europe/Berlin"))
    (row,) = events.params(
        [
            {
                "received_at": berlin,
                "site_id": 1,
                "consent_id": "c",
                "session_id": "s",
                "type": "pageview",
                "path": "/",
            }
        ]
    )
    assert row[_column(Event.__table__, "received_at")] == "2026-06-01 14:00:00.000000"


# --- the write plan: table writes in their modes, a claim, groups of jobs ----------------

_META = sa.MetaData()
ITEMS = sa.Table(
    "items", _META, sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String)
)
COUNTS = sa.Table(
    "counts",
    _META,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("day", sa.Integer, primary_key=True),
    sa.Column("n", sa.Integer),
)
SEEN = sa.Table(
    "seen", _META, sa.Column("id", sa.String, primary_key=True), sa.Column("at", sa.Integer)
)


def test_accumulated_rows_of_one_key_are_merged_and_other_inserts_left_alone() -> None:
    counts = BulkInsert(COUNTS, DIALECT, accumulate="n")
    rows = counts.params(
        [
            {"key": "a", "day": 1, "n": 2},
            {"key": "b", "day": 1, "n": 1},
            {"key": "a", "day": 1, "n": 3},
            {"key": "a", "day": 2, "n": 1},
        ]
    )
    assert sorted(counts.merged(rows)) == [("a", 1, 5), ("a", 2, 1), ("b", 1, 1)]
    items = BulkInsert(ITEMS, DIALECT)
    same = items.params([{"id": 1, "name": "x"}, {"id": 1, "name": "x"}])
    assert items.merged(same) == same


class _OddIdsStoredBefore:
    """A claim: jobs whose claim is an odd number were stored before."""

    def __init__(self, dialect) -> None:
        self.groups = 0

    def claim(self, cursor, jobs: list[WriteJob]) -> list[WriteJob]:
        self.groups += 1
        return [job for job in jobs if job.claim is None or job.claim % 2 == 0]


PLAN = WritePlan(
    (
        TableWrite("items", ITEMS),
        TableWrite("counts", COUNTS, accumulate="n", sort=True),
        TableWrite("seen", SEEN, keep_latest="at", sort=True, every_job=True),
    ),
    claim=_OddIdsStoredBefore,
)
PLAIN = WritePlan((TableWrite("items", ITEMS, if_new=True),))


@pytest.fixture
def file_store(tmp_path) -> Iterator[tuple[sa.Engine, RowStore]]:
    # A file: a failed group drops its connection, which would take a memory database along.
    engine = sa.create_engine(f"sqlite:///{tmp_path}/plan.db")
    _META.create_all(engine)
    yield engine, RowStore(engine)
    engine.dispose()


def _write(store: RowStore, jobs: list[WriteJob]) -> None:
    for job in jobs:
        store.prepare(job)
    store.write_group(jobs)
    assert [job.error for job in jobs] == [None] * len(jobs)


def _table(engine: sa.Engine, table: sa.Table) -> list[tuple]:
    with engine.connect() as conn:
        return sorted(tuple(row) for row in conn.execute(sa.select(table)))


def test_a_plan_writes_what_its_claim_stores_and_every_job_writes_its_every_job_rows(
    file_store,
) -> None:
    engine, store = file_store
    jobs = [
        PLAN.job(
            {
                "items": [{"id": index, "name": f"item {index}"}],
                "counts": [{"key": "k", "day": 1, "n": 1}],
                "seen": [{"id": f"s{index % 2}", "at": index}],
            },
            claim=index,
        )
        for index in range(4)
    ]
    _write(store, jobs)
    assert store.claim_for(PLAN).groups == 1  # once per group, on its cursor
    assert _table(engine, ITEMS) == [(0, "item 0"), (2, "item 2")]
    assert _table(engine, COUNTS) == [("k", 1, 2)]  # merged across the stored jobs
    assert _table(engine, SEEN) == [("s0", 2), ("s1", 3)]  # also the jobs stored before
    _write(store, [PLAN.job({"counts": [{"key": "k", "day": 1, "n": 5}]})])
    assert _table(engine, COUNTS) == [("k", 1, 7)]


def test_jobs_of_different_plans_share_a_group(file_store) -> None:
    engine, store = file_store
    _write(
        store,
        [
            PLAIN.job({"items": [{"id": 1, "name": "first"}]}),
            PLAN.job({"items": [{"id": 2, "name": "claimed"}]}, claim=2),
            PLAIN.job({"items": [{"id": 1, "name": "second"}, {"id": 3, "name": "third"}]}),
        ],
    )
    assert _table(engine, ITEMS) == [(1, "first"), (2, "claimed"), (3, "third")]


def test_a_failing_job_is_retried_alone_and_names_its_statement(file_store) -> None:
    engine, store = file_store
    good = PLAIN.job({"items": [{"id": 1, "name": "good"}]})
    bad = PLAN.job({"items": [{"id": 2, "name": "a"}, {"id": 2, "name": "b"}]})
    for job in (good, bad):
        store.prepare(job)
    store.write_group([good, bad])
    assert good.error is None
    assert isinstance(bad.error, sa.exc.IntegrityError)
    assert "INSERT INTO items" in str(bad.error)
    assert _table(engine, ITEMS) == [(1, "good")]
