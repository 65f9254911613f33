"""``consent_allows``: per category and status, invalidated at once, across processes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient

from app.consent.gate import consent_allows
from app.consent.policy import update_policy
from app.extensions import db
from app.sites.registry import create_site, get_site
from app.storage.cache import ACTIVE_TRUST_SECONDS, shared_cache
from tests.conftest import BACKEND, SITE_KEY, give_consent
from tests.helpers import extra_app

START = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)
CACHED = [pytest.param(True, id="cached"), pytest.param(False, id="uncached")]


def _allows(
    app: Flask,
    consent_id: str | None,
    category: str,
    at=None,
    *,
    cached=True,
    site_key: str = SITE_KEY,
) -> bool:
    with app.app_context():
        try:
            return consent_allows(site_key, consent_id, category, at, cached=cached)
        finally:
            db.session.remove()


@pytest.mark.parametrize("cached", CACHED)
def test_accept_allows_every_category(app: Flask, client: FlaskClient, site: str, cached: bool):
    consent_id = give_consent(client)["consent_id"]
    for category in ("necessary", "analytics", "marketing", "preferences"):
        assert _allows(app, consent_id, category, cached=cached)
    assert not _allows(app, consent_id, "email_tracking", cached=cached)  # not in the policy


@pytest.mark.parametrize("cached", CACHED)
def test_reject_allows_only_necessary(app: Flask, client: FlaskClient, site: str, cached: bool):
    consent_id = give_consent(client, method="reject_all")["consent_id"]
    assert _allows(app, consent_id, "necessary", cached=cached)
    for category in ("analytics", "marketing", "preferences"):
        assert not _allows(app, consent_id, category, cached=cached)


@pytest.mark.parametrize("cached", CACHED)
def test_custom_allows_exactly_the_selection(
    app: Flask, client: FlaskClient, site: str, cached: bool
) -> None:
    consent_id = give_consent(client, method="custom", choices={"analytics": True})["consent_id"]
    assert _allows(app, consent_id, "analytics", cached=cached)
    assert not _allows(app, consent_id, "marketing", cached=cached)
    assert not _allows(app, consent_id, "preferences", cached=cached)


@pytest.mark.parametrize("cached", CACHED)
def test_gpc_consent_never_allows_marketing(
    app: Flask, client: FlaskClient, site: str, cached: bool
) -> None:
    consent_id = give_consent(client, headers={"Sec-GPC": "1"})["consent_id"]
    assert _allows(app, consent_id, "analytics", cached=cached)
    assert not _allows(app, consent_id, "marketing", cached=cached)


@pytest.mark.parametrize("cached", CACHED)
def test_no_consent_allows_nothing(app: Flask, site: str, cached: bool) -> None:
    for consent_id in (None, "", "unknown-id"):
        assert not _allows(app, consent_id, "necessary", cached=cached)
        assert not _allows(app, consent_id, "analytics", cached=cached)


@pytest.mark.parametrize("cached", CACHED)
def test_unknown_site_allows_nothing(app: Flask, client: FlaskClient, site: str, cached: bool):
    consent_id = give_consent(client)["consent_id"]
    assert not _allows(app, consent_id, "analytics", cached=cached, site_key="nosuchsite")


@pytest.mark.parametrize("cached", CACHED)
def test_consent_id_of_another_site_is_never_allowed(
    app: Flask, client: FlaskClient, site: str, cached: bool
) -> None:
    with app.app_context():
        create_site("Other", ["other.org"], key="othersite")
        db.session.remove()
    consent_id = give_consent(client)["consent_id"]
    assert _allows(app, consent_id, "analytics", cached=cached)
    assert not _allows(app, consent_id, "analytics", cached=cached, site_key="othersite")
    assert not _allows(app, consent_id, "necessary", cached=cached, site_key="othersite")


@pytest.mark.parametrize("cached", CACHED)
def test_withdraw_right_after_a_cached_allow(
    app: Flask, client: FlaskClient, site: str, cached: bool
) -> None:
    consent_id = give_consent(client)["consent_id"]
    assert _allows(app, consent_id, "analytics", cached=cached)
    assert _allows(app, consent_id, "analytics", cached=cached)  # served from the cache
    assert client.post(f"/api/v1/consent/{consent_id}/withdraw").status_code == 200
    assert not _allows(app, consent_id, "analytics", cached=cached)
    assert not _allows(app, consent_id, "necessary", cached=cached)


@pytest.mark.parametrize("cached", CACHED)
def test_change_to_reject_is_seen_at_once(
    app: Flask, client: FlaskClient, site: str, cached: bool
) -> None:
    consent_id = give_consent(client)["consent_id"]
    assert _allows(app, consent_id, "marketing", cached=cached)
    give_consent(client, method="reject_all", consent_id=consent_id)
    assert not _allows(app, consent_id, "marketing", cached=cached)
    give_consent(client, method="custom", choices={"marketing": True}, consent_id=consent_id)
    assert _allows(app, consent_id, "marketing", cached=cached)


@pytest.mark.parametrize("cached", CACHED)
def test_erasure_is_seen_at_once(app: Flask, client: FlaskClient, site: str, cached: bool):
    consent_id = give_consent(client)["consent_id"]
    assert _allows(app, consent_id, "analytics", cached=cached)
    assert client.delete(f"/api/v1/consent/{consent_id}/data").status_code == 200
    assert not _allows(app, consent_id, "analytics", cached=cached)


@pytest.mark.parametrize("cached", CACHED)
def test_policy_bump_stops_allowing_at_once(
    app: Flask, client: FlaskClient, site: str, cached: bool
) -> None:
    consent_id = give_consent(client)["consent_id"]
    assert _allows(app, consent_id, "analytics", cached=cached)
    with app.app_context():
        update_policy(get_site(SITE_KEY), consent_days=30)
        db.session.remove()
    assert not _allows(app, consent_id, "analytics", cached=cached)  # stale
    give_consent(client, consent_id=consent_id, policy_version=2)
    assert _allows(app, consent_id, "analytics", cached=cached)


@pytest.mark.parametrize("cached", CACHED)
def test_expiry_and_time_travel(app: Flask, client: FlaskClient, site: str, cached: bool):
    with time_machine.travel(START, tick=False) as clock:
        consent_id = give_consent(client)["consent_id"]
        clock.move_to(START + timedelta(days=10))
        client.post(f"/api/v1/consent/{consent_id}/withdraw")
        clock.move_to(START + timedelta(days=20))
        # Asked about a moment: the record in force then decides.
        assert not _allows(
            app, consent_id, "analytics", START - timedelta(seconds=1), cached=cached
        )
        assert _allows(app, consent_id, "analytics", START, cached=cached)
        assert _allows(app, consent_id, "analytics", START + timedelta(days=5), cached=cached)
        assert not _allows(app, consent_id, "analytics", START + timedelta(days=10), cached=cached)
        assert not _allows(app, consent_id, "analytics", cached=cached)

        other = give_consent(client)["consent_id"]
        clock.move_to(START + timedelta(days=20 + 182) - timedelta(seconds=1))
        assert _allows(app, other, "analytics", cached=cached)
        clock.move_to(START + timedelta(days=20 + 182))
        assert not _allows(app, other, "analytics", cached=cached)


def test_cached_and_uncached_agree(app: Flask, client: FlaskClient, site: str) -> None:
    ids = [
        give_consent(client)["consent_id"],
        give_consent(client, method="reject_all")["consent_id"],
        give_consent(client, method="custom", choices={"preferences": True})["consent_id"],
        give_consent(client, headers={"Sec-GPC": "1"})["consent_id"],
    ]
    client.post(f"/api/v1/consent/{ids[0]}/withdraw")
    for consent_id in [*ids, "unknown"]:
        for category in ("necessary", "analytics", "marketing", "preferences", "other"):
            assert _allows(app, consent_id, category) == _allows(
                app, consent_id, category, cached=False
            ), (consent_id, category)


def test_accepts_a_site_snapshot(app: Flask, client: FlaskClient, site: str) -> None:
    from app.sites.snapshot import site_snapshot

    consent_id = give_consent(client)["consent_id"]
    with app.app_context():
        snapshot = site_snapshot(SITE_KEY)
        assert snapshot is not None
        assert consent_allows(snapshot, consent_id, "analytics")
        db.session.remove()


def test_withdrawal_in_one_process_is_seen_at_once_by_another(
    app: Flask, database_url: str, site: str, tmp_path: Path
) -> None:
    """Two app instances (two workers) on one database and one instance folder."""
    instance = tmp_path / "shared-instance"
    with extra_app(database_url, instance) as app_a, extra_app(database_url, instance) as app_b:
        client_a, client_b = app_a.test_client(), app_b.test_client()
        consent_id = give_consent(client_a)["consent_id"]
        assert _allows(app_a, consent_id, "analytics")  # primes A's cache
        with app_a.app_context():
            assert any(consent_id in key for key in shared_cache()._entries)
        assert _allows(app_b, consent_id, "analytics")

        assert client_b.post(f"/api/v1/consent/{consent_id}/withdraw").status_code == 200
        assert not _allows(app_a, consent_id, "analytics")

        # And back: a new consent through A is seen by B (whose cache held the withdrawal).
        give_consent(client_a, consent_id=consent_id)
        assert _allows(app_b, consent_id, "analytics")

        # A policy bump through B makes A's cached consent stale at once.
        with app_b.app_context():
            update_policy(get_site(SITE_KEY), consent_days=60)
            db.session.remove()
        assert not _allows(app_a, consent_id, "analytics")


def test_instances_with_separate_instance_folders_do_not_share_stamps(
    app: Flask, database_url: str, site: str, tmp_path: Path
) -> None:
    """The negative side on SQLite (one host): the cache really is a cache, so sharing
    the stamp file is what makes the cross-process test above pass. An answer that allows
    something is still trusted for ACTIVE_TRUST_SECONDS at most."""
    if BACKEND != "sqlite":
        pytest.skip("on PostgreSQL the hosts share stamps by LISTEN/NOTIFY, whatever the folder")
    with (
        extra_app(database_url, tmp_path / "a") as app_a,
        extra_app(database_url, tmp_path / "b") as app_b,
    ):
        now = [1000.0]
        with app_a.app_context():
            shared_cache().clock = lambda: now[0]
        consent_id = give_consent(app_a.test_client())["consent_id"]
        assert _allows(app_a, consent_id, "analytics")
        app_b.test_client().post(f"/api/v1/consent/{consent_id}/withdraw")
        assert _allows(app_a, consent_id, "analytics")  # cached, and not yet too old
        assert not _allows(app_a, consent_id, "analytics", cached=False)
        now[0] += ACTIVE_TRUST_SECONDS
        assert not _allows(app_a, consent_id, "analytics")  # too old to act on: re-read
