"""Past traffic stored in bulk (``heedful demo``): consent choices, withdrawals and event
batches with the times they happened, under the same rules as ``collect``.

``collect`` stores one request at a time at the time it arrives; history spans months
and millions of events, so a ``HistoryWriter`` buffers what happened and ``flush`` stores
it in one transaction through the storage's write engine (``submit``). Nothing else
differs: URLs are checked, cleaned and redacted by the same functions (``pages_on_site``,
``batch_rows``), bots are counted and dropped first, each batch is judged by the consent
gate's own rule (``state_allows``) on the record in force when it arrived, and a visit
ends after ``SESSION_GAP`` without events. Consent records are built as the consent
service builds them (``choice_columns``, ``withdrawal_columns``) and inserted with their
historical times: they are append-only, so inserting them is all the service does too.

The writer keeps each consent id's latest record and current visit in memory, so it must
be given everything in time order: what one flush holds may come in any order (it is
sorted), but nothing may be earlier than what an earlier flush stored.
"""

from __future__ import annotations

import secrets
import uuid
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import MetaData, Table

from app.collection.batches import COLLECT, CollectedRows
from app.collection.rows import Row, batch_rows
from app.collection.service import CATEGORY, pages_on_site
from app.collection.urls import PageUrl
from app.collection.validation import Batch, RawEvent
from app.collection.visits import SESSION_GAP
from app.consent.cache import ConsentState
from app.consent.gate import state_allows
from app.consent.policy import policy_version
from app.consent.service import (
    WITHDRAWAL_CARRIES,
    ConsentRequest,
    choice_columns,
    withdrawal_columns,
)
from app.enrichment.context import ClientFacts
from app.extensions import db
from app.models import ConsentRecord
from app.sites.settings import SiteRules
from app.sites.snapshot import SiteSnapshot
from app.storage import TableWrite, WritePlan, ensure_partitions, submit
from app.storage.partitions import month_start, next_month

# Consent records without their id, which the database makes (a sequence on PostgreSQL).
_RECORDS = Table(
    ConsentRecord.__tablename__,
    MetaData(),
    *(column._copy() for column in ConsentRecord.__table__.columns if column.key != "id"),
)
# Records first, then the rows ``collect`` writes, in its plan's modes.
# Distinct batches of page and link URLs whose check is remembered (then forgotten).
CHECKED_URLS = 4096
HISTORY = WritePlan((TableWrite("records", _RECORDS), *COLLECT.writes))


@dataclass(frozen=True, slots=True)
class PastChoice:
    """A visitor's choice on the banner at ``at``; ``request.consent_id`` is not used."""

    at: datetime
    consent_id: str
    request: ConsentRequest


@dataclass(frozen=True, slots=True)
class PastWithdrawal:
    at: datetime
    consent_id: str


@dataclass(frozen=True, slots=True)
class PastBatch:
    """A batch of tracker events that arrived at ``at``."""

    at: datetime
    consent_id: str
    client: ClientFacts
    events: tuple[RawEvent, ...]


Past = PastChoice | PastWithdrawal | PastBatch


@dataclass(slots=True)
class _Latest:
    """A consent id's latest record: as the gate judges it, and the columns a withdrawal
    carries over."""

    state: ConsentState
    carried: dict[str, Any]


@dataclass(slots=True)
class _Visit:
    session_id: str
    started_at: datetime
    last_event_at: datetime

    def row(self, site_id: int, consent_id: str) -> Row:
        return {
            "session_id": self.session_id,
            "site_id": site_id,
            "consent_id": consent_id,
            "started_at": self.started_at,
            "last_seen_at": self.last_event_at,
        }


@dataclass(slots=True)
class _Flush:
    """The rows of one flush."""

    records: list[Row] = field(default_factory=list)
    collected: CollectedRows = field(default_factory=CollectedRows)
    visits: dict[str, tuple[str, _Visit]] = field(default_factory=dict)  # by session id
    totals: Counter[str] = field(default_factory=Counter)


class HistoryWriter:
    """Stores one site's past traffic, a transaction per ``flush``. ``totals`` counts what
    was stored: ``records``, ``withdrawals``, ``accepted`` events, events ``dropped`` for
    lack of consent (``consent``) and from bots (``bot``), and ``visits``."""

    def __init__(self, snapshot: SiteSnapshot) -> None:
        self.snapshot = snapshot
        self.rules = SiteRules.of(snapshot.settings)
        self.policy = policy_version(snapshot.id, snapshot.policy_version)
        self.totals: Counter[str] = Counter()
        self._pending: list[Past] = []
        self._pending_events = 0
        self._stored_until: datetime | None = None
        self._latest: dict[str, _Latest] = {}
        self._visits: dict[str, _Visit] = {}
        # A choice's columns depend on the site's policy and on the choice alone: each
        # distinct one is worked out once (the texts' hash costs the most).
        self._choices: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._checked: dict[tuple[tuple[str, str | None], ...], list[PageUrl]] = {}
        # By id(): the ClientFacts is kept alongside, so its id is not reused meanwhile.
        self._bots: dict[int, tuple[ClientFacts, bool]] = {}

    @property
    def pending_events(self) -> int:
        """Events added since the last flush."""
        return self._pending_events

    def add(self, item: Past) -> None:
        if self._stored_until is not None and item.at < self._stored_until:
            raise ValueError("history must be added in time order across flushes")
        self._pending.append(item)
        if isinstance(item, PastBatch):
            self._pending_events += len(item.events)

    def flush(self, before: datetime | None = None) -> int:
        """Store in one transaction what was added since the last flush, or only what
        happened ``before`` (the rest waits for the next flush); nothing added later may be
        earlier than what is stored. Returns how many events were stored or counted."""
        # Choices and withdrawals before the batches of the same moment: the gate judges a
        # batch by the record in force at its arrival, recorded at or before it.
        self._pending.sort(key=lambda item: (item.at, isinstance(item, PastBatch)))
        cut = len(self._pending)
        if before is not None:
            cut = bisect_left(self._pending, before, key=lambda item: item.at)
        items, kept = self._pending[:cut], self._pending[cut:]
        if not items:
            return 0
        # The in-memory state moves on only once the transaction commits.
        latest, visits = dict(self._latest), dict(self._visits)
        rows = _Flush()
        for item in items:
            if isinstance(item, PastBatch):
                self._batch(item, latest, visits, rows)
            elif isinstance(item, PastChoice):
                self._choice(item, latest, rows)
            else:
                self._withdrawal(item, latest, rows)
        # The monthly partitions of every month from the first item to the last.
        month = month_start(items[0].at)
        while month <= items[-1].at.date():
            ensure_partitions(db.engine, datetime(month.year, month.month, 1, tzinfo=UTC))
            month = next_month(month)
        site_id = self.snapshot.id
        rows.collected.visits = [
            visit.row(site_id, consent_id) for consent_id, visit in rows.visits.values()
        ]
        job = rows.collected.job().rows
        submit(HISTORY.job({"records": rows.records, **job}))
        self.totals.update(rows.totals)
        self._latest, self._visits = latest, visits
        self._stored_until = items[-1].at
        self._pending = kept
        self._bots.clear()
        count = sum(len(item.events) for item in items if isinstance(item, PastBatch))
        self._pending_events -= count
        return count

    def _pages(self, item: PastBatch) -> list[PageUrl]:
        """``pages_on_site`` of the batch, once per distinct list of page and link URLs
        (they recur on every visit): history repeats what collect checks per request."""
        key = tuple((event.url, event.target) for event in item.events)
        pages = self._checked.get(key)
        if pages is None:
            batch = Batch(self.snapshot.key, item.consent_id, item.events)
            pages = pages_on_site(batch, self.snapshot.domains, self.rules)
            if len(self._checked) >= CHECKED_URLS:
                self._checked.clear()
            self._checked[key] = pages
        return pages

    def _automated(self, client: ClientFacts) -> bool:
        # A visitor's batches share one ClientFacts: asked once per flush and visitor.
        found = self._bots.get(id(client))
        if found is None:
            found = self._bots[id(client)] = (client, client.is_automated)
        return found[1]

    def _append(self, consent_id: str, columns: dict[str, Any], seq: int, rows: _Flush) -> Row:
        record = {"record_uid": str(uuid.uuid4()), "consent_id": consent_id, "seq": seq}
        record.update(columns)
        rows.records.append(record)
        return record

    def _choice(self, item: PastChoice, latest: dict[str, _Latest], rows: _Flush) -> None:
        request = item.request
        key = (request.method, tuple(sorted(request.choices.items())), request.lang, request.gpc)
        template = self._choices.get(key)
        if template is None:
            template = self._choices[key] = choice_columns(self.policy, request, item.at)
        columns = dict(template, recorded_at=item.at)
        columns["expires_at"] = item.at + (template["expires_at"] - template["recorded_at"])
        columns["country"], columns["browser_family"] = request.country, request.browser_family
        self._record(item.consent_id, columns, latest, rows)
        rows.totals["records"] += 1

    def _withdrawal(self, item: PastWithdrawal, latest: dict[str, _Latest], rows: _Flush) -> None:
        before = latest.get(item.consent_id)
        if before is None:
            raise ValueError("a withdrawal needs a choice before it")
        if before.state.kind == "withdrawal":
            return  # as the service: a second withdrawal appends nothing
        columns = withdrawal_columns(before.carried, self.policy, item.at)
        self._record(item.consent_id, columns, latest, rows)
        rows.totals["withdrawals"] += 1

    def _record(
        self, consent_id: str, columns: dict[str, Any], latest: dict[str, _Latest], rows: _Flush
    ) -> None:
        before = latest.get(consent_id)
        record = self._append(consent_id, columns, before.state.seq + 1 if before else 1, rows)
        state = ConsentState(
            record_uid=record["record_uid"],
            seq=record["seq"],
            site_id=record["site_id"],
            policy_version=record["policy_version"],
            kind=record["kind"],
            choices=record["choices"],
            recorded_at=record["recorded_at"],
            expires_at=record["expires_at"],
        )
        latest[consent_id] = _Latest(state, {name: record[name] for name in WITHDRAWAL_CARRIES})

    def _batch(
        self,
        item: PastBatch,
        latest: dict[str, _Latest],
        visits: dict[str, _Visit],
        rows: _Flush,
    ) -> None:
        snapshot, consent_id, at = self.snapshot, item.consent_id, item.at
        pages = self._pages(item)
        reason = None
        if self._automated(item.client):
            reason = "bot"
        else:
            found = latest.get(consent_id)
            state = found.state if found is not None else None
            if not state_allows(state, snapshot.policy_version, CATEGORY, at):
                reason = "consent"
        if reason is not None:
            rows.collected.counts[snapshot.id, at.date(), reason] += len(item.events)
            rows.totals[reason] += len(item.events)
            return
        current = visits.get(consent_id)
        visit = visits[consent_id] = _visit_at(current, at)
        if current is None or visit.session_id != current.session_id:
            rows.totals["visits"] += 1
        keys: Row = {"received_at": at, "site_id": snapshot.id, "consent_id": consent_id}
        keys["session_id"] = visit.session_id
        events, terms = batch_rows(
            item.events, pages, keys, item.client, snapshot.domains, self.rules
        )
        rows.collected.events += events
        rows.collected.terms += terms
        rows.visits[visit.session_id] = (consent_id, visit)
        rows.totals["accepted"] += len(item.events)


def _visit_at(current: _Visit | None, at: datetime) -> _Visit:
    """The visit an event at ``at`` belongs to: ``current`` unless ``SESSION_GAP`` passed
    without events (a new visit then, with a random id as ``collect`` makes)."""
    if current is not None and at - current.last_event_at < SESSION_GAP:
        return _Visit(current.session_id, current.started_at, max(current.last_event_at, at))
    return _Visit(secrets.token_hex(12), at, at)
