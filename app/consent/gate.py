"""Every may-I decision about a visitor's data is made here, and only here.

``consent_allows`` answers for the web (collection asks it for every batch);
``email_tracking_allows`` for email. Each looks up the one latest record in force and
judges it at the time given.

Email consent records carry no expiry (``app/models/email.py``): a choice holds until the
recipient's next one.
"""

from __future__ import annotations

from datetime import datetime

from app.clock import utcnow
from app.consent.cache import (
    ConsentState,
    latest_consent,
    latest_email_consent,
    load_consent_state,
)
from app.sites.snapshot import SiteSnapshot, site_snapshot


def consent_status(state: ConsentState, current_version: int, at: datetime) -> str:
    """``active``, ``expired``, ``withdrawn`` or ``stale`` for ``state`` at ``at``."""
    if state.kind == "withdrawal":
        return "withdrawn"
    if at >= state.expires_at:
        return "expired"
    if state.policy_version != current_version:
        return "stale"
    return "active"


def consent_allows(
    site: str | SiteSnapshot,
    consent_id: str | None,
    category: str,
    at: datetime | None = None,
    *,
    cached: bool = True,
) -> bool:
    """True when ``consent_id``'s record on ``site`` in force at ``at`` is active and grants
    ``category``. ``at`` defaults to now; this is the one check every collector makes."""
    if not consent_id:
        return False
    at = at or utcnow()
    snapshot = site if isinstance(site, SiteSnapshot) else site_snapshot(site, cached=cached)
    if snapshot is None:
        return False
    state = latest_consent(snapshot.id, consent_id, cached=cached)
    if state is not None and at < state.recorded_at:
        state = load_consent_state(snapshot.id, consent_id, as_of=at)
    return state_allows(state, snapshot.policy_version, category, at)


def state_allows(
    state: ConsentState | None, current_version: int, category: str, at: datetime
) -> bool:
    """The decision of ``consent_allows`` on the record in force at ``at``, once found:
    active under the site's ``current_version`` and granting ``category``. The bulk
    history writer (``app/collection/history.py``) keeps its records in memory and asks
    this directly."""
    if state is None:
        return False
    if consent_status(state, current_version, at) != "active":
        return False
    return state.choices.get(category) is True


def email_tracking_allows(recipient_id: int, at: datetime | None = None) -> bool:
    """True when the recipient's email-consent record in force at ``at`` (the latest one
    recorded at or before it; ``at`` defaults to now) grants email_tracking."""
    record = latest_email_consent(recipient_id, as_of=at or utcnow())
    return record is not None and record.email_tracking
