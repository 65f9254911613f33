"""Metric definitions: a day's raw events become visits, and visits become figures.

This is the one place the metrics are defined. The rollups store what ``tally`` computes
for each finished day, and the reports compute the same from raw events for days not yet
rolled up and for filtered views, so both ways always agree.

Definitions (per site and per day in the site's time zone):
- a *visit* is one server-made session's events on that day; a *visitor* a consent id;
- *entry page* is the path of the visit's first page view (of its first event if it has
  none); *exit page* that of its last;
- a *bounce* is a visit with exactly one page view;
- *visit duration* is the time from the visit's first to its last event that day (s);
- *time on page* is the engagement time (``engaged_ms`` of engagement events) on a path,
  divided by that path's page views;
- the visit's source (channel, referrer, search engine, campaign) is read from its entry
  page view, its place, network and device from its first event.
A visit "has" a dimension value when that value describes it: its country, its entry page,
any page it viewed, any link it followed, any term it searched. A row's figures are those
of the visits that have its value, so a filter keeps exactly those visits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.reporting.channels import Source, visit_source

# Visit dimensions: one value per visit. Event dimensions: any number per visit.
VISIT_DIMENSIONS = (
    "entry_page", "exit_page", "channel", "referrer", "search_engine", "campaign",
    "country", "region", "city", "network", "browser", "os", "device",
)  # fmt: skip
EVENT_DIMENSIONS = ("page", "download", "outbound", "search_term")
ALL_DIMENSIONS = VISIT_DIMENSIONS + EVENT_DIMENSIONS
# The event columns read, in this order (see ``app.reporting.raw``).
EVENT_COLUMNS = (
    "received_at", "consent_id", "session_id", "type", "path", "query", "referrer", "target",
    "engaged_ms", "browser", "os", "device", "country", "region", "city", "network_org",
)  # fmt: skip
_FIRST_EVENT_FACTS = {
    "country": 12, "region": 13, "city": 14, "network": 15,
    "browser": 9, "os": 10, "device": 11,
}  # fmt: skip


@dataclass(slots=True)
class Visit:
    session_id: str
    consent_id: str
    first_at: datetime
    last_at: datetime
    pageviews: int = 0
    engaged_ms: int = 0
    # dimension -> value -> how many of the visit's events carry it (page: views)
    values: dict[str, dict[str, int]] = field(default_factory=dict)
    page_engaged_ms: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # event type -> events

    @property
    def bounce(self) -> bool:
        return self.pageviews == 1

    @property
    def duration_s(self) -> int:
        return int((self.last_at - self.first_at).total_seconds())

    def has(self, dimension: str, value: str) -> bool:
        return value in self.values.get(dimension, ())


def build_visits(
    events: Iterable[Sequence[Any]], terms: Iterable[Sequence[Any]], own_domains: tuple[str, ...]
) -> list[Visit]:
    """The visits of one day from its events (``EVENT_COLUMNS`` tuples in arrival order)
    and search terms ((received_at, consent_id, session_id, term) tuples)."""
    visits: dict[str, Visit] = {}
    entries: dict[str, Sequence[Any]] = {}
    firsts: dict[str, Sequence[Any]] = {}
    exits: dict[str, str] = {}
    # Entry pages share their query and referrer across many visits: each pair is read once.
    sources: dict[tuple[str | None, str | None], Source] = {}
    for row in events:
        at, consent_id, session_id, kind, path = row[0], row[1], row[2], row[3], row[4]
        visit = visits.get(session_id)
        if visit is None:
            visit = visits[session_id] = Visit(session_id, consent_id, at, at)
            firsts[session_id] = row
        visit.last_at = at
        visit.counts[kind] = visit.counts.get(kind, 0) + 1
        if kind == "pageview":
            visit.pageviews += 1
            _add(visit, "page", path)
            entries.setdefault(session_id, row)
            exits[session_id] = path
        elif kind == "engagement":
            engaged = row[8] or 0
            visit.engaged_ms += engaged
            visit.page_engaged_ms[path] = visit.page_engaged_ms.get(path, 0) + engaged
        elif kind in ("download", "outbound") and row[7]:
            _add(visit, kind, row[7])
    for session_id, visit in visits.items():
        first = firsts[session_id]
        entry = entries.get(session_id, first)
        _set(visit, "entry_page", entry[4])
        _set(visit, "exit_page", exits.get(session_id, first[4]))
        source = sources.get((entry[5], entry[6]))
        if source is None:
            source = sources[entry[5], entry[6]] = visit_source(entry[5], entry[6], own_domains)
        _set(visit, "channel", source.channel)
        _set(visit, "referrer", source.referrer)
        _set(visit, "search_engine", source.search_engine)
        _set(visit, "campaign", source.campaign)
        for dimension, column in _FIRST_EVENT_FACTS.items():
            _set(visit, dimension, first[column])
    for at, consent_id, session_id, term in terms:
        visit = visits.get(session_id)
        if visit is None:  # its events fell on the day before (a search at midnight)
            visit = visits[session_id] = Visit(session_id, consent_id, at, at)
        _add(visit, "search_term", term)
        visit.counts["search_term"] = visit.counts.get("search_term", 0) + 1
    return list(visits.values())


def _add(visit: Visit, dimension: str, value: str) -> None:
    found = visit.values.setdefault(dimension, {})
    found[value] = found.get(value, 0) + 1


def _set(visit: Visit, dimension: str, value: str | None) -> None:
    if value:
        visit.values[dimension] = {value: 1}


@dataclass(slots=True)
class Tally:
    """Figures of a set of visits; ``consent_ids`` makes visitors exact when merged."""

    consent_ids: set[str] = field(default_factory=set)
    visits: int = 0
    pageviews: int = 0
    bounces: int = 0
    duration_s: int = 0
    engaged_ms: int = 0
    entries: int = 0
    exits: int = 0
    events: int = 0

    @property
    def visitors(self) -> int:
        return len(self.consent_ids)


@dataclass(slots=True)
class DayTally:
    total: Tally = field(default_factory=Tally)
    downloads: int = 0
    outbounds: int = 0
    searches: int = 0
    stored_events: int = 0
    rows: dict[tuple[str, str], Tally] = field(default_factory=dict)


def tally(visits: Iterable[Visit], dimensions: Iterable[str] | None = None) -> DayTally:
    """Totals of ``visits`` and a row per (dimension, value) they have."""
    wanted = tuple(dimensions) if dimensions is not None else ALL_DIMENSIONS
    day = DayTally()
    for visit in visits:
        _count(day.total, visit, visit.pageviews, visit.engaged_ms)
        day.downloads += visit.counts.get("download", 0)
        day.outbounds += visit.counts.get("outbound", 0)
        day.searches += visit.counts.get("search", 0)
        day.stored_events += sum(n for k, n in visit.counts.items() if k != "search_term")
        for dimension in wanted:
            for value, times in visit.values.get(dimension, {}).items():
                row = day.rows.get((dimension, value))
                if row is None:
                    row = day.rows[dimension, value] = Tally()
                if dimension == "page":
                    _count(row, visit, times, visit.page_engaged_ms.get(value, 0))
                else:
                    _count(row, visit, visit.pageviews, visit.engaged_ms)
                if dimension in EVENT_DIMENSIONS:
                    row.events += times
                if dimension == "entry_page":
                    row.entries += 1
                elif dimension == "exit_page":
                    row.exits += 1
    return day


def _count(row: Tally, visit: Visit, pageviews: int, engaged_ms: int) -> None:
    row.consent_ids.add(visit.consent_id)
    row.visits += 1
    row.pageviews += pageviews
    row.bounces += visit.bounce
    row.duration_s += visit.duration_s
    row.engaged_ms += engaged_ms
