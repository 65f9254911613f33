"""Pure enrichment functions that run before anything is persisted.

The raw IP address and the full user-agent string enter here and only reduced
values (a /24 or /48 prefix, browser family and major version, country, ...)
leave; free text a page sends (paths, queries, titles, links) leaves redacted
(``redaction``). Nothing upstream of these functions writes to the database.
"""

from app.enrichment.geo import GeoReaders, Location, Network, lookup_location, lookup_network
from app.enrichment.ip import truncate_ip
from app.enrichment.useragent import ClientAgent, reduce_user_agent

__all__ = [
    "ClientAgent",
    "GeoReaders",
    "Location",
    "Network",
    "lookup_location",
    "lookup_network",
    "reduce_user_agent",
    "truncate_ip",
]
