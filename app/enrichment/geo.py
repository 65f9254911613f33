"""Location and network lookups from MaxMind-format (.mmdb) databases."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Any

import maxminddb

from app.enrichment.ip import parse_ip

# Addresses looked up lately, per process. A visitor sends a burst of events from one
# address: it is parsed and looked up once per burst. The addresses stay in this memory
# only (bounded, dropped with the readers) and never reach the database.
PLACE_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Location:
    country: str | None
    region: str | None
    city: str | None


@dataclass(frozen=True, slots=True)
class Network:
    asn: int | None
    organisation: str | None
    domain: str | None


def _record(reader: maxminddb.Reader | None, ip: str | None) -> dict[str, Any] | None:
    if reader is None or not ip:
        return None
    try:
        record = reader.get(ip)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def lookup_location(reader: maxminddb.Reader | None, ip: str | None) -> Location | None:
    """Country (ISO code), first subdivision and English city name of ``ip``; None when
    unknown. Reads the GeoIP2/GeoLite2 City record layout (DB-IP's City Lite shares it), and
    country-only databases: GeoLite2-Country, or the flat ``{"country_code": …}`` records of
    the free ip-location-db files that ``heedful geoip update`` installs. Region and city
    are then unknown (None)."""
    record = _record(reader, ip)
    if record is None:
        return None
    country = (record.get("country") or record.get("registered_country") or {}).get(
        "iso_code"
    ) or record.get("country_code")
    if not isinstance(country, str):
        country = None
    subdivisions = record.get("subdivisions") or [{}]
    city_names = (record.get("city") or {}).get("names") or {}
    return Location(
        country=country,
        region=subdivisions[0].get("iso_code"),
        city=city_names.get("en"),
    )


def lookup_network(reader: maxminddb.Reader | None, ip: str | None) -> Network | None:
    """Autonomous system of ``ip``: number, organisation and (where the DB has it) domain."""
    record = _record(reader, ip)
    if record is None:
        return None
    asn = record.get("autonomous_system_number") or record.get("asn")
    organisation = record.get("autonomous_system_organization") or record.get("as_name")
    domain = record.get("domain") or record.get("as_domain")
    if isinstance(asn, str) and asn.upper().startswith("AS"):
        asn = asn[2:]
    try:
        asn_number = int(asn) if asn is not None else None
    except (TypeError, ValueError):
        asn_number = None
    return Network(asn=asn_number, organisation=organisation, domain=domain)


class GeoReaders:
    """Opens the configured databases lazily, once per process (never at import)."""

    def __init__(self, city_path: str | None, asn_path: str | None) -> None:
        self.city_path = city_path
        self.asn_path = asn_path
        self._city: maxminddb.Reader | None = None
        self._asn: maxminddb.Reader | None = None
        self._lock = threading.Lock()
        self.place = functools.lru_cache(maxsize=PLACE_CACHE_SIZE)(self._place)

    def _place(self, address: str | None) -> tuple[Location | None, Network | None]:
        """Location and network of a client address (any spelling ``parse_ip`` accepts)."""
        ip = parse_ip(address)
        return lookup_location(self.city, ip), lookup_network(self.asn, ip)

    # maxminddb is the reader under geoip2; its plain dicts cost a fraction of geoip2's model
    # objects, and collection looks a location up for every request.
    @property
    def city(self) -> maxminddb.Reader | None:
        if self._city is None and self.city_path:
            with self._lock:
                if self._city is None:
                    self._city = maxminddb.open_database(self.city_path, maxminddb.MODE_AUTO)
        return self._city

    @property
    def asn(self) -> maxminddb.Reader | None:
        if self._asn is None and self.asn_path:
            with self._lock:
                if self._asn is None:
                    self._asn = maxminddb.open_database(self.asn_path, maxminddb.MODE_AUTO)
        return self._asn

    def close(self) -> None:
        for reader in (self._city, self._asn):
            if reader is not None:
                reader.close()
        self._city = self._asn = None
        self.place.cache_clear()
