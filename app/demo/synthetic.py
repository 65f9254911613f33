"""Synthetic visitors for ``heedful demo``: a past of consent choices and visits, stored
through collection's history writer (``app/collection/history.py``), which applies the
same rules as the collect endpoint and writes in bulk with the historical times.

Visitors come day by day (``shape.TrafficShape``). Each decides on the banner first
(accept, reject or a custom choice; some send Global Privacy Control), then browses a few
pages: a view on arrival, an engagement ping with the time on the page when leaving, now
and then a download, an outbound click or a site search. Some come back on later days,
some withdraw their consent, and a few are bots. Events are sent whatever the consent:
the writer drops and counts what the consent in force does not allow.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any
from urllib.parse import quote_plus

from app.clock import utcnow
from app.collection.history import HistoryWriter, PastBatch, PastChoice, PastWithdrawal
from app.collection.validation import RawEvent
from app.consent.service import ConsentRequest, new_consent_id
from app.demo import traffic
from app.demo.shape import TrafficShape
from app.enrichment.context import ClientFacts
from app.models import Site
from app.sites.snapshot import SiteSnapshot, site_snapshot

# Events per transaction: large enough that commits cost little, small enough to keep
# the rows of one flush within a few hundred MB.
CHUNK_EVENTS = 20_000
BOT_SHARE = 0.04
GPC_SHARE = 0.1
RETURN_SHARE = 0.3
WITHDRAW_SHARE = 0.04


class _Weighted:
    """Draws from weighted values with one bisection (``rng.choices`` rebuilds its table
    on every call)."""

    def __init__(self, weighted: tuple[tuple[Any, float], ...]) -> None:
        self.values = [value for value, _ in weighted]
        self.cumulative = list(accumulate(weight for _, weight in weighted))

    def pick(self, rng: random.Random) -> Any:
        return self.values[bisect_left(self.cumulative, rng.random() * self.cumulative[-1])]


AGENTS = _Weighted(traffic.AGENTS)
PLACES = _Weighted(traffic.PLACES)
BOTS = _Weighted(tuple((agent, 1.0) for agent in traffic.BOT_AGENTS))
METHODS = _Weighted(traffic.CONSENT_MIX)
PAGES = _Weighted(traffic.PAGES)
REFERRERS = _Weighted(traffic.REFERRERS)
CAMPAIGNS = _Weighted(traffic.CAMPAIGNS)


@dataclass(frozen=True, slots=True)
class Visitor:
    consent_id: str
    client: ClientFacts


class DemoTraffic:
    """One run of the demo: visitors day by day, handed to a ``HistoryWriter``."""

    def __init__(self, snapshot: SiteSnapshot, rng: random.Random, shape: TrafficShape) -> None:
        self.snapshot, self.rng, self.shape = snapshot, rng, shape
        host = "localhost" if "localhost" in snapshot.domains else snapshot.domains[0]
        self.origin = f"http://{host}:5000"
        self.writer = HistoryWriter(snapshot)
        self.sent = 0
        self.budget = 0
        self.summary: Counter[str] = Counter()
        self.methods: Counter[str] = Counter()
        # What comes back on a later day: return visits and withdrawals, by day index.
        self.later: defaultdict[int, list[tuple[str, Visitor]]] = defaultdict(list)

    def run(self, events: int, progress: Callable[[int], Any] | None) -> None:
        self.budget = events
        targets = self.shape.cumulative_targets(events)
        for index in range(len(self.shape.days)):
            for kind, visitor in self.later.pop(index, []):
                if kind == "withdraw":
                    at = self.shape.moment(self.rng, index)
                    self.writer.add(PastWithdrawal(at, visitor.consent_id))
                elif self.sent < events:
                    self.visit(visitor, self.shape.moment(self.rng, index), index)
            while self.sent < min(targets[index], events):
                self.new_visitor(index)
            if self.writer.pending_events >= CHUNK_EVENTS:
                # Stored up to a minute before the next day: its first visitors may have
                # made their choice just before it began.
                self._flush(progress, self.shape.day_start(index + 1) - timedelta(minutes=1))
        self._flush(progress, None)

    def _flush(self, progress: Callable[[int], Any] | None, before: datetime | None) -> None:
        stored = self.writer.flush(before)
        if progress is not None and stored:
            progress(stored)

    def new_visitor(self, index: int) -> None:
        rng = self.rng
        arrival = self.shape.moment(rng, index)
        if rng.random() < BOT_SHARE:
            bot = ClientFacts(agent=BOTS.pick(rng), location=None, network=None, gpc=False)
            self.summary["bots"] += 1
            self.visit(Visitor(new_consent_id(), bot), arrival, index, pages=rng.randint(3, 8))
            return
        location, network = PLACES.pick(rng)
        gpc = rng.random() < GPC_SHARE
        client = ClientFacts(agent=AGENTS.pick(rng), location=location, network=network, gpc=gpc)
        visitor = Visitor(new_consent_id(), client)
        method = METHODS.pick(rng)
        choices: dict[str, bool] = {}
        if method == "custom":
            choices = {key: rng.random() < 0.5 for key in self.snapshot.category_keys}
            choices |= dict.fromkeys(self.snapshot.required_keys, True)
        request = ConsentRequest(
            site_key=self.snapshot.key,
            consent_id=None,
            policy_version=self.snapshot.policy_version,
            choices=choices,
            method=method,
            lang=rng.choice(traffic.LANGUAGES),
            gpc=gpc,
            country=location.country if location else None,
            browser_family=client.agent.browser,
        )
        decided = arrival - timedelta(seconds=rng.uniform(2, 20))
        self.writer.add(PastChoice(decided, visitor.consent_id, request))
        self.methods[method] += 1
        self.summary["visitors"] += 1
        self.summary["gpc"] += gpc
        ended = self.visit(visitor, arrival, index)
        days = len(self.shape.days)
        if rng.random() < RETURN_SHARE:
            for _ in range(rng.randint(1, 3)):
                later = index + 1 + int(rng.expovariate(1 / 6))
                if later < days:
                    self.later[later].append(("visit", visitor))
        if method != "reject_all" and rng.random() < WITHDRAW_SHARE:
            self.summary["withdrawn"] += 1
            if rng.random() < 0.5:  # before leaving: the rest of the visit is not collected
                moment = arrival + (ended - arrival) * rng.random()
                self.writer.add(PastWithdrawal(moment, visitor.consent_id))
            elif index + 1 < days:
                self.later[min(index + 1 + int(rng.expovariate(1 / 5)), days - 1)].append(
                    ("withdraw", visitor)
                )

    def visit(self, visitor: Visitor, at: datetime, index: int, pages: int = 0) -> datetime:
        """One visit from ``at``: per page a view on arrival, and on leaving an engagement
        ping with any clicks; returns when it ended."""
        rng, origin = self.rng, self.origin
        referrer, landing = self._entry(index)
        count = pages or 1 + min(int(rng.expovariate(0.9)), 7)
        for number in range(count):
            if number == 0:
                path, title = landing
            else:
                path, title = PAGES.pick(rng)
            if rng.random() < 0.08:
                term = rng.choice(traffic.SEARCHES)
                path, title = f"/demo/search?q={quote_plus(term)}", "Search"
            url = origin + path
            self._send(visitor, at, [RawEvent("pageview", url, referrer, title)])
            referrer = None
            engaged = int(rng.lognormvariate(10.2, 0.9))
            leaving = [RawEvent("engagement", url, engaged_ms=engaged)]
            if rng.random() < 0.06:
                target = origin + rng.choice(traffic.DOWNLOADS)
                leaving.append(RawEvent("download", url, target=target))
            if rng.random() < 0.05:
                leaving.append(RawEvent("outbound", url, target=rng.choice(traffic.OUTBOUND)))
            if rng.random() < 0.05:
                term = rng.choice(traffic.SEARCHES)
                leaving.append(RawEvent("search", url, query=term))
            at += timedelta(milliseconds=engaged)
            if not self._send(visitor, at, leaving):
                break
            at += timedelta(seconds=rng.uniform(1, 8))
        return at

    def _entry(self, index: int) -> tuple[str | None, tuple[str, str]]:
        """The referrer and landing page of a visit starting on day ``index``."""
        rng = self.rng
        lift = self.shape.lifts[index]
        landing = PAGES.pick(rng)
        if lift > 1.0 and rng.random() < (lift - 1.0) / lift:
            tags, referrer = CAMPAIGNS.pick(rng)
            path = f"/demo/shoes/trail-runner?{tags}&utm_campaign=winter-sale"
            return referrer, (path, "Trail Runner")
        if rng.random() < 0.04:  # paid search, with the keyword
            term = quote_plus(rng.choice(traffic.SEARCHES))
            tags = f"utm_source=bing&utm_medium=cpc&utm_campaign=brand&utm_term={term}"
            return "https://www.bing.com/", (f"{landing[0]}?{tags}", landing[1])
        template = REFERRERS.pick(rng)
        if template is None:
            return None, landing
        return template.format(q=quote_plus(rng.choice(traffic.SEARCHES))), landing

    def _send(self, visitor: Visitor, at: datetime, events: list[RawEvent]) -> bool:
        """Hand one batch to the writer; False once the period or the budget is used up."""
        if at > self.shape.now or self.sent >= self.budget:
            return False
        if len(events) > self.budget - self.sent:
            events = events[: self.budget - self.sent]
        self.writer.add(PastBatch(at, visitor.consent_id, visitor.client, tuple(events)))
        self.sent += len(events)
        return True


def generate(
    site: Site,
    events: int,
    rng: random.Random,
    progress: Callable[[int], Any] | None = None,
    *,
    days: int = 30,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Simulate about ``events`` events from visitors over the ``days`` days up to ``now``;
    returns what was sent, stored and dropped."""
    snapshot = site_snapshot(site.key, cached=False)
    assert snapshot is not None
    shape = TrafficShape.of(snapshot.timezone, days, now or utcnow())
    demo = DemoTraffic(snapshot, rng, shape)
    demo.run(events, progress)
    totals = demo.writer.totals
    return {
        "site": site.key,
        "days": days,
        "visitors": demo.summary["visitors"],
        "bots": demo.summary["bots"],
        "visits": totals["visits"],
        "events": demo.sent,
        "accepted": totals["accepted"],
        "dropped": totals["bot"] + totals["consent"],
        "dropped_bot": totals["bot"],
        "dropped_consent": totals["consent"],
        "consent": dict(demo.methods),
        "gpc": demo.summary["gpc"],
        "withdrawn": totals["withdrawals"],
    }
