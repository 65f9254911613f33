"""Location and network lookups from MaxMind-format (.mmdb) databases."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import geoip2.database
import geoip2.errors
import maxminddb


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


def lookup_location(reader: geoip2.database.Reader | None, ip: str | None) -> Location | None:
    """Country (ISO code), first subdivision and city of ``ip``; None when unknown."""
    if reader is None or not ip:
        return None
    try:
        found = reader.city(ip)
    except (geoip2.errors.AddressNotFoundError, ValueError):
        return None
    region = found.subdivisions[0].iso_code if found.subdivisions else None
    return Location(
        country=found.country.iso_code,
        region=region,
        city=found.city.name,
    )


def lookup_network(reader: maxminddb.Reader | None, ip: str | None) -> Network | None:
    """Autonomous system of ``ip``: number, organisation and (where the DB has it) domain."""
    if reader is None or not ip:
        return None
    try:
        record: Any = reader.get(ip)
    except ValueError:
        return None
    if not isinstance(record, dict):
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
        self._city: geoip2.database.Reader | None = None
        self._asn: maxminddb.Reader | None = None
        self._lock = threading.Lock()

    @property
    def city(self) -> geoip2.database.Reader | None:
        if self._city is None and self.city_path:
            with self._lock:
                if self._city is None:
                    self._city = geoip2.database.Reader(self.city_path, mode=maxminddb.MODE_AUTO)
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
