"""Small but real MaxMind-format databases built with ``mmdb-writer`` for tests and bench.

Both are IPv6 databases with IPv4 mapped in (``ipv4_compatible=True``), like GeoLite2.
"""

from __future__ import annotations

from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet

# Documentation and test ranges, so no real person's address appears in the fixtures.
CITY_NETWORKS = {
    "81.2.69.0/24": ("GB", "ENG", "London"),
    "203.0.113.0/24": ("DE", "BE", "Berlin"),
    "198.51.100.0/24": ("FR", "IDF", "Paris"),
    "2001:db8:1::/48": ("SE", "AB", "Stockholm"),
}
ASN_NETWORKS = {
    "81.2.69.0/24": (64500, "Example Telecom", "telecom.example"),
    "203.0.113.0/24": (64501, "Berlin Fibre GmbH", "fibre.example"),
    "2001:db8:1::/48": (64502, "Nordic Net AB", "nordic.example"),
}


def city_record(country: str, region: str, city: str) -> dict:
    return {
        "country": {"iso_code": country, "names": {"en": country}},
        "subdivisions": [{"iso_code": region, "names": {"en": region}}],
        "city": {"names": {"en": city}},
    }


def build_city_db(path: Path, extra_networks: int = 0) -> Path:
    """A City database; ``extra_networks`` adds filler /24s to make it realistically large."""
    writer = MMDBWriter(ip_version=6, database_type="GeoLite2-City", ipv4_compatible=True)
    for network, fields in CITY_NETWORKS.items():
        writer.insert_network(IPSet([network]), city_record(*fields))
    for index in range(extra_networks):
        # 10.0.0.0/8 and 100.64.0.0/10 filler: private space, one /24 per entry.
        a, b = divmod(index, 256)
        network = f"10.{a % 256}.{b}.0/24" if a < 256 else f"100.{64 + (a // 256) % 64}.{b}.0/24"
        writer.insert_network(IPSet([network]), city_record("NL", "NH", f"Town {index}"))
    writer.to_db_file(str(path))
    return path


def build_asn_db(path: Path) -> Path:
    writer = MMDBWriter(ip_version=6, database_type="GeoLite2-ASN", ipv4_compatible=True)
    for network, (asn, org, domain) in ASN_NETWORKS.items():
        writer.insert_network(
            IPSet([network]),
            {
                "autonomous_system_number": asn,
                "autonomous_system_organization": org,
                "domain": domain,
            },
        )
    writer.to_db_file(str(path))
    return path


# The free country databases `heedful geoip update` installs (ip-location-db) hold one flat
# field per network; GeoLite2-Country holds the City layout without subdivisions or city.
COUNTRY_NETWORKS = {
    "81.2.69.0/24": "GB",
    "203.0.113.0/24": "DE",
    "2001:db8:1::/48": "SE",
}


def build_country_db(path: Path, layout: str = "ip-location-db") -> Path:
    """A country-only database, in the ``ip-location-db`` or the ``geolite2`` layout."""
    database_type = "country" if layout == "ip-location-db" else "GeoLite2-Country"
    writer = MMDBWriter(ip_version=6, database_type=database_type, ipv4_compatible=True)
    for network, country in COUNTRY_NETWORKS.items():
        if layout == "ip-location-db":
            record: dict = {"country_code": country}
        else:
            record = {"country": {"iso_code": country, "names": {"en": country}}}
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(str(path))
    return path
