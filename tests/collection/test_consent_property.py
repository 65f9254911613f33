"""Property: over any interleaving of consent changes and events, the stored events are
exactly those whose consent allowed them when they arrived (runs on both backends)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.consent.policy import update_policy
from app.extensions import db
from app.models.analytics import DailyCount, Event
from app.sites.registry import create_site, get_site
from tests.collection.helpers import collect
from tests.conftest import truncate_all

SITES = {"site_a": "a.example", "site_b": "b.example"}
# Consent slots: two visitors of site A and one of site B.
SLOT_SITE = ("site_a", "site_a", "site_b")

slot = st.integers(0, len(SLOT_SITE) - 1)
operation = st.one_of(
    st.tuples(
        st.just("give"),
        slot,
        st.sampled_from(["accept_all", "reject_all", "custom"]),
        st.booleans(),
    ),
    st.tuples(st.just("withdraw"), slot),
    st.tuples(st.just("event"), slot, st.sampled_from(sorted(SITES))),
    st.tuples(st.just("event"), slot, st.sampled_from(sorted(SITES))),
    st.tuples(
        st.just("wait"),
        st.sampled_from([timedelta(seconds=1), timedelta(hours=1), timedelta(days=40)]),
    ),
    st.tuples(st.just("bump"), st.sampled_from(["site_a", "site_b"])),
)


@dataclass
class Known:
    """What the test itself knows about a consent id, from the API's answers."""

    consent_id: str
    withdrawn: bool
    analytics: bool
    expires_at: datetime
    version: int


def _allowed(known: Known | None, slot_site: str, event_site: str, now: datetime, versions):
    return (
        known is not None
        and slot_site == event_site
        and not known.withdrawn
        and known.analytics
        and now < known.expires_at
        and known.version == versions[event_site]
    )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(operation, min_size=1, max_size=25))
def test_stored_events_are_exactly_the_allowed_ones(app, client, operations):
    truncate_all(app)
    with app.app_context():
        for key, domain in SITES.items():
            create_site(key, [domain], key=key)
        # Short lives, so that waiting expires consent within an example.
        for key in SITES:
            update_policy(get_site(key), consent_days=30, refusal_days=60)
        db.session.remove()
    versions = dict.fromkeys(SITES, 2)
    known: list[Known | None] = [None] * len(SLOT_SITE)
    expected: set[str] = set()
    sent = 0
    start = datetime(2026, 6, 1, 9, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as traveller:
        for step, op in enumerate(operations):
            now = datetime.now(UTC)
            if op[0] == "give":
                _, index, method, analytics = op
                site = SLOT_SITE[index]
                body = {
                    "site": site,
                    "policy_version": versions[site],
                    "choices": {"analytics": analytics} if method == "custom" else {},
                    "method": method,
                    "lang": "en",
                }
                if known[index] is not None:
                    body["consent_id"] = known[index].consent_id
                answer = client.post("/api/v1/consent", json=body).get_json()
                known[index] = Known(
                    consent_id=answer["consent_id"],
                    withdrawn=False,
                    analytics=answer["choices"]["analytics"],
                    expires_at=datetime.fromisoformat(answer["expires_at"]),
                    version=answer["policy_version"],
                )
            elif op[0] == "withdraw":
                current = known[op[1]]
                if current is not None:
                    answer = client.post(f"/api/v1/consent/{current.consent_id}/withdraw")
                    assert answer.status_code == 200
                    current.withdrawn = True
            elif op[0] == "wait":
                traveller.shift(op[1])
            elif op[0] == "bump":
                with app.app_context():
                    site = get_site(op[1])
                    update_policy(site, consent_days=30 + versions[op[1]], refusal_days=60)
                    db.session.remove()
                versions[op[1]] += 1
            else:
                _, index, event_site = op
                current = known[index]
                path = f"/e/{step}"
                consent_id = current.consent_id if current else f"never-given-{index}"
                url = f"https://{SITES[event_site]}{path}"
                response = collect(
                    client, consent_id, [{"type": "pageview", "url": url}], site=event_site
                )
                assert response.status_code == 202
                sent += 1
                if _allowed(current, SLOT_SITE[index], event_site, now, versions):
                    expected.add(path)
                    assert response.get_json() == {"accepted": 1, "dropped": 0}
                else:
                    assert response.get_json() == {"accepted": 0, "dropped": 1}
    with app.app_context():
        stored_paths = set(db.session.scalars(select(Event.path)))
        dropped = db.session.scalar(select(func.coalesce(func.sum(DailyCount.count), 0)))
        db.session.remove()
    assert stored_paths == expected
    assert dropped == sent - len(expected)
