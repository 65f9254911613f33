"""The bulk history writer stores past traffic under the collect endpoint's own rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.clock import utcnow
from app.collection.history import HistoryWriter, PastBatch, PastChoice, PastWithdrawal
from app.collection.service import collect
from app.collection.validation import Batch, RawEvent
from app.consent.service import ConsentRequest, new_consent_id, record_consent
from app.enrichment.context import ClientFacts
from app.enrichment.geo import Location, Network
from app.enrichment.useragent import ClientAgent
from app.extensions import db
from app.models import ConsentRecord
from app.models.analytics import DailyCount, Event, SearchTerm, Visit
from app.sites.snapshot import site_snapshot
from tests.conftest import SITE_KEY, SITE_ORIGIN

HUMAN = ClientFacts(
    agent=ClientAgent("Firefox", "132", "Linux", "", "desktop", False, False),
    location=Location("DE", "BE", "Berlin"),
    network=Network(3320, "Deutsche Telekom AG", "telekom.de"),
    gpc=False,
)
BOT = ClientFacts(
    agent=ClientAgent("Googlebot", "2", "Other", "", "bot", True, False),
    location=None,
    network=None,
    gpc=False,
)
EVENTS = (
    RawEvent(
        "pageview",
        SITE_ORIGIN + "/shop/item-12345678?q=Wool+Socks&utm_source=news&secret=1#top",
        referrer="https://www.bing.com/search?q=trail+shoes&form=x",
        title="Call 0171 2345678 for  help",
    ),
    RawEvent("engagement", SITE_ORIGIN + "/shop", engaged_ms=4200),
    RawEvent("download", SITE_ORIGIN + "/shop", target=SITE_ORIGIN + "/files/list.pdf?x=1"),
    RawEvent("outbound", SITE_ORIGIN + "/shop", target="https://partner.example/?ref=me"),
    RawEvent("search", SITE_ORIGIN + "/shop", query="Rain Jacket"),
)


def _request(method: str = "accept_all", **choices: bool) -> ConsentRequest:
    return ConsentRequest(SITE_KEY, None, 1, choices, method, "en")


def _writer() -> HistoryWriter:
    snapshot = site_snapshot(SITE_KEY, cached=False)
    assert snapshot is not None
    return HistoryWriter(snapshot)


def _columns(row: Event | SearchTerm) -> dict[str, object]:
    skip = {"id", "received_at", "consent_id", "session_id"}
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in skip}


def test_rows_are_those_collect_stores_for_the_same_batch(app, site, ctx):
    record, snapshot = record_consent(_request())
    now = utcnow()
    collect(snapshot, Batch(SITE_KEY, record.consent_id, EVENTS), HUMAN, now)
    writer = _writer()
    past = new_consent_id()
    writer.add(PastChoice(now - timedelta(days=40, seconds=5), past, _request()))
    writer.add(PastBatch(now - timedelta(days=40), past, HUMAN, EVENTS))
    assert writer.flush() == len(EVENTS)
    for model in (Event, SearchTerm):
        rows = db.session.scalars(select(model).order_by(model.received_at, model.id)).all()
        historic = [_columns(row) for row in rows if row.consent_id == past]
        collected = [_columns(row) for row in rows if row.consent_id == record.consent_id]
        assert historic == collected and len(historic) >= 2
    stored = db.session.scalars(select(ConsentRecord).where(ConsentRecord.consent_id == past))
    (choice,) = stored.all()
    assert choice.recorded_at == now - timedelta(days=40, seconds=5)
    assert choice.texts_hash == record.texts_hash and choice.choices == record.choices
    assert choice.expires_at - choice.recorded_at == record.expires_at - record.recorded_at


def test_consent_in_force_at_arrival_decides_and_visits_end_after_a_gap(app, site, ctx):
    start = utcnow() - timedelta(days=3)
    page = (RawEvent("pageview", SITE_ORIGIN + "/"),)
    writer = _writer()
    yes, no, custom = new_consent_id(), new_consent_id(), new_consent_id()
    writer.add(PastChoice(start, yes, _request()))
    writer.add(PastChoice(start, no, _request("reject_all")))
    writer.add(PastChoice(start, custom, _request("custom", marketing=True)))
    for minutes in (0, 10, 41):  # 41: more than 30 minutes after the last event
        writer.add(PastBatch(start + timedelta(minutes=minutes), yes, HUMAN, page))
    writer.add(PastBatch(start, no, HUMAN, page))
    writer.add(PastBatch(start, custom, HUMAN, page))
    writer.add(PastBatch(start, new_consent_id(), BOT, page))  # bots first, whatever else
    writer.flush()
    # Given in any order within a flush: the withdrawal sorts before the later batch.
    writer.add(PastBatch(start + timedelta(hours=2), yes, HUMAN, page))
    writer.add(PastWithdrawal(start + timedelta(hours=1), yes))
    writer.add(PastWithdrawal(start + timedelta(hours=1, minutes=1), yes))  # appends nothing
    writer.flush()
    with pytest.raises(ValueError, match="time order"):
        writer.add(PastBatch(start, yes, HUMAN, page))

    assert writer.totals["accepted"] == 3 and writer.totals["visits"] == 2
    assert writer.totals["consent"] == 3 and writer.totals["bot"] == 1
    assert writer.totals["withdrawals"] == 1
    assert set(db.session.scalars(select(Event.consent_id))) == {yes}
    visits = db.session.scalars(select(Visit).order_by(Visit.started_at)).all()
    assert [(v.started_at - start, v.last_seen_at - start) for v in visits] == [
        (timedelta(0), timedelta(minutes=10)),
        (timedelta(minutes=41), timedelta(minutes=41)),
    ]
    counts = {(c.day, c.reason): c.count for c in db.session.scalars(select(DailyCount))}
    day = start.date()
    assert counts[day, "bot"] == 1
    assert sum(n for (_, reason), n in counts.items() if reason == "consent") == 3
    seqs = db.session.scalars(
        select(ConsentRecord.seq).where(ConsentRecord.consent_id == yes).order_by(ConsentRecord.seq)
    )
    assert list(seqs) == [1, 2]


def test_a_flush_can_stop_before_a_moment(app, site, ctx):
    start = utcnow() - timedelta(days=1)
    writer = _writer()
    visitor = new_consent_id()
    writer.add(PastChoice(start, visitor, _request()))
    for minutes in (1, 2, 3):
        page = (RawEvent("pageview", SITE_ORIGIN + f"/{minutes}"),)
        writer.add(PastBatch(start + timedelta(minutes=minutes), visitor, HUMAN, page))
    assert writer.flush(start + timedelta(minutes=2)) == 1
    assert writer.pending_events == 2
    assert writer.flush() == 2
    assert writer.totals["accepted"] == 3 and writer.totals["visits"] == 1
