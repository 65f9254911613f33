"""Visits: which visit an event belongs to, and the visit row written with it.

A visit ends after ``SESSION_GAP`` without events. Each process remembers the visits it
has seen, so most requests need no query; what another worker stored since is found in
the ``visits`` table. Every stored batch carries its visit's row, which is inserted if it
is missing and otherwise leaves the table alone unless ``last_seen_at`` moves on: a worker
moves it once the value it last wrote or read is ``VISIT_TOUCH`` old. So the stored value
lags the visit's latest event by less than that, and access and erasure, which look for a
visit's rows within its span, find them all.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Row, select

from app.extensions import db
from app.models.analytics import VISIT_TOUCH, Event, Visit

SESSION_GAP = timedelta(minutes=30)
# The app's tracker, in ``app.extensions``: made, and cleared on reset, by ``init_app``.
VISITS = "heedful_visits"


@dataclass(frozen=True, slots=True)
class VisitState:
    """A visit as one process knows it."""

    session_id: str
    started_at: datetime
    last_event_at: datetime  # the latest event this process knows of
    stored_until: datetime  # a ``last_seen_at`` known to be stored (the row's is no earlier)
    moves: bool  # whether this event's write moves ``last_seen_at`` on to ``stored_until``

    def row(self, site_id: int, consent_id: str) -> dict[str, Any]:
        """The visit row to store with an event. Written even when ``last_seen_at`` stays
        (if missing only): it restores the row if an erasure removed it meanwhile."""
        return {
            "session_id": self.session_id,
            "site_id": site_id,
            "consent_id": consent_id,
            "started_at": self.started_at,
            "last_seen_at": self.stored_until,
        }


class VisitTracker:
    """The visits this process has seen, by site and consent id, newest last."""

    def __init__(self, size: int = 100_000) -> None:
        self._entries: OrderedDict[tuple[int, str], VisitState] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def visit_for(self, site_id: int, consent_id: str, now: datetime) -> VisitState:
        """The visit an event arriving at ``now`` belongs to, as it will be once the event
        is stored; call ``seen`` with it after the commit."""
        with self._lock:
            known = self._entries.get((site_id, consent_id))
        if known is not None and now - known.last_event_at < SESSION_GAP:
            moves = now - known.stored_until >= VISIT_TOUCH
            stored = now if moves else known.stored_until
            latest = max(known.last_event_at, now)
            return VisitState(known.session_id, known.started_at, latest, stored, moves)
        ongoing = _ongoing_visit(site_id, consent_id, now)
        if ongoing is not None:
            return VisitState(ongoing.session_id, ongoing.started_at, now, now, True)
        # A new visit gets a random id: nothing about the address or browser goes in.
        return VisitState(secrets.token_hex(12), now, now, now, True)

    def seen(self, site_id: int, consent_id: str, state: VisitState) -> None:
        with self._lock:
            self._entries[(site_id, consent_id)] = state
            self._entries.move_to_end((site_id, consent_id))
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def visit_tracker() -> VisitTracker:
    """The current app's tracker: the visits this process has seen for it."""
    return current_app.extensions[VISITS]


def _ongoing_visit(site_id: int, consent_id: str, now: datetime) -> Row[Any] | None:
    """The consent id's stored visit that an event at ``now`` continues, if any."""
    latest = db.session.execute(
        select(Visit.session_id, Visit.started_at, Visit.last_seen_at)
        .where(Visit.consent_id == consent_id, Visit.site_id == site_id)
        .order_by(Visit.started_at.desc())
        .limit(1)
    ).first()
    if latest is None:
        return None
    gap = now - latest.last_seen_at
    if gap < SESSION_GAP:
        return latest
    if gap >= SESSION_GAP + VISIT_TOUCH:
        return None
    # The stored value may lag the latest event by up to VISIT_TOUCH: look for an event
    # of the visit in that last stretch (a short range of the site's arrival index).
    recent = db.session.execute(
        select(Event.id)
        .where(
            Event.site_id == site_id,
            Event.received_at > now - SESSION_GAP,
            Event.received_at < latest.last_seen_at + VISIT_TOUCH,
            Event.session_id == latest.session_id,
        )
        .limit(1)
    ).first()
    return latest if recent is not None else None
