"""Location, network and proxy handling with real .mmdb fixtures; partitions on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine

from app import create_app
from app.enrichment.geo import GeoReaders, lookup_location, lookup_network
from app.extensions import db, reset_process_state
from app.models.analytics import PARTITIONED_TABLES, Visit
from app.storage import drop_months_before, ensure_partitions, list_partitions
from app.storage.partitions import partition_name
from tests.collection.helpers import collect, stored
from tests.conftest import BACKEND, give_consent, test_config
from tests.fixtures_geo import build_asn_db, build_city_db


@pytest.fixture(scope="module")
def geo_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("geo")
    return build_city_db(folder / "city.mmdb"), build_asn_db(folder / "asn.mmdb")


def _app_with(app, database_url, geo_files, proxies: int):
    city, asn = geo_files
    config = test_config(
        database_url,
        HEEDFUL_GEOIP_CITY_DB=str(city),
        HEEDFUL_GEOIP_ASN_DB=str(asn),
        HEEDFUL_TRUSTED_PROXIES=proxies,
    )
    # Same instance folder as the main app, so both see the same consent-cache stamps.
    return create_app(config, instance_path=app.instance_path)


def test_location_and_network_come_from_the_trusted_proxy_hop(app, database_url, geo_files, site):
    proxied = _app_with(app, database_url, geo_files, proxies=1)
    client = proxied.test_client()
    consent_id = give_consent(client, site)["consent_id"]
    response = collect(client, consent_id, headers={"X-Forwarded-For": "81.2.69.160"})
    assert response.status_code == 202
    (event,) = stored(app)["events"]
    assert (event.country, event.region, event.city) == ("GB", "ENG", "London")
    assert (event.asn, event.network_org, event.network_domain) == (
        64500,
        "Example Telecom",
        "telecom.example",
    )


def test_ipv6_clients_are_located(app, database_url, geo_files, site):
    direct = _app_with(app, database_url, geo_files, proxies=0)
    client = direct.test_client()
    consent_id = give_consent(client, site)["consent_id"]
    collect(client, consent_id, environ_base={"REMOTE_ADDR": "2001:db8:1::42"})
    (event,) = stored(app)["events"]
    assert (event.country, event.city, event.asn) == ("SE", "Stockholm", 64502)


def test_forwarded_headers_are_ignored_without_trusted_proxies(app, database_url, geo_files, site):
    direct = _app_with(app, database_url, geo_files, proxies=0)
    client = direct.test_client()
    consent_id = give_consent(client, site)["consent_id"]
    collect(
        client,
        consent_id,
        headers={"X-Forwarded-For": "81.2.69.160"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    (event,) = stored(app)["events"]
    assert (event.country, event.network_org) == ("DE", "Berlin Fibre GmbH")


def test_unknown_addresses_have_no_location(app, database_url, geo_files, site):
    direct = _app_with(app, database_url, geo_files, proxies=0)
    client = direct.test_client()
    consent_id = give_consent(client, site)["consent_id"]
    collect(client, consent_id, environ_base={"REMOTE_ADDR": "192.0.2.1"})
    (event,) = stored(app)["events"]
    assert (event.country, event.city, event.asn) == (None, None, None)


def _partition_of_rows(table: str) -> set[str]:
    with db.engine.connect() as conn:
        return {
            row[0]
            for row in conn.execute(
                sa.text(f"SELECT DISTINCT tableoid::regclass::text FROM {table}")
            )
        }


@pytest.mark.skipif(BACKEND != "postgresql", reason="declarative partitioning is PostgreSQL's")
def test_events_land_in_monthly_partitions_that_retention_can_drop(app, client, site):
    with time_machine.travel(datetime(2026, 3, 15, 12, tzinfo=UTC), tick=False):
        consent_id = give_consent(client, site)["consent_id"]
        collect(client, consent_id, [{"type": "pageview", "url": "https://example.com/?q=tea"}])
    with time_machine.travel(datetime(2026, 4, 2, 12, tzinfo=UTC), tick=False):
        collect(client, consent_id)
    with app.app_context():
        with db.engine.connect() as conn:
            kind = conn.execute(
                sa.text("SELECT relkind FROM pg_class WHERE oid = 'events'::regclass")
            ).scalar()
        assert kind == "p"  # a partitioned table
        assert {"events_2026_03", "events_2026_04"} <= set(list_partitions(db.engine, "events"))
        assert _partition_of_rows("events") == {"events_2026_03", "events_2026_04"}
        assert _partition_of_rows("search_terms") == {"search_terms_2026_03"}
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Visit)) == 2
        dropped = drop_months_before(db.engine, date(2026, 4, 1))
        assert "events_2026_03" in dropped and "search_terms_2026_03" in dropped
        assert _partition_of_rows("events") == {"events_2026_04"}
        # The March visit went with its rows; April's stays.
        (left,) = db.session.scalars(sa.select(Visit.started_at)).all()
        assert left == datetime(2026, 4, 2, 12, tzinfo=UTC)
        db.session.remove()


@pytest.mark.skipif(BACKEND != "postgresql", reason="declarative partitioning is PostgreSQL's")
def test_the_months_made_sure_of_are_the_apps_and_forgotten_on_reset(app):
    at = datetime(2031, 5, 3, tzinfo=UTC)
    made = {
        partition_name(table, month)
        for table in PARTITIONED_TABLES
        for month in (date(2031, 5, 1), date(2031, 6, 1))
    }
    with app.app_context():
        try:
            ensure_partitions(db.engine, at)
            assert "events_2031_05" in list_partitions(db.engine, "events")
            with db.engine.begin() as conn:
                conn.execute(sa.text("DROP TABLE events_2031_05"))
            ensure_partitions(db.engine, at)  # remembered: not looked at again
            assert "events_2031_05" not in list_partitions(db.engine, "events")
            reset_process_state(app)
            ensure_partitions(db.engine, at)
            assert "events_2031_05" in list_partitions(db.engine, "events")
        finally:
            with db.engine.begin() as conn:
                for name in made:
                    conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite has no partitions")
def test_partition_helpers_are_no_ops_on_sqlite(app):
    with app.app_context():
        assert list_partitions(db.engine, "events") == []
        assert drop_months_before(db.engine, date(2030, 1, 1)) == []


def test_each_address_is_looked_up_once_and_forgotten_when_the_readers_close(geo_files):
    city, asn = geo_files
    readers = GeoReaders(str(city), str(asn))
    london = readers.place("81.2.69.160")
    assert london == (
        lookup_location(readers.city, "81.2.69.160"),
        lookup_network(readers.asn, "81.2.69.160"),
    )
    assert london[0].city == "London" and london[1].asn == 64500
    # The IPv4-mapped spelling is the same client; a host name or junk is no address at all.
    assert readers.place("::ffff:81.2.69.160") == london
    assert readers.place("not-an-address") == (None, None)
    assert readers.place("81.2.69.160") is london  # from the cache: no second lookup
    assert readers.place.cache_info().currsize == 3
    readers.close()
    assert readers.place.cache_info().currsize == 0
    assert readers.place("81.2.69.160") == london  # reopened on demand
