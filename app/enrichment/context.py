"""Reads the request once and hands back only reduced facts about the client."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, request

from app.enrichment.geo import GeoReaders, Location, Network
from app.enrichment.useragent import ClientAgent, forget_user_agents, reduce_user_agent
from app.extensions import on_reset


@dataclass(frozen=True, slots=True)
class ClientFacts:
    """What may be kept about a client. The raw address and user agent are not in here."""

    agent: ClientAgent
    location: Location | None
    network: Network | None
    gpc: bool

    @property
    def is_automated(self) -> bool:
        allow_headless = current_app.config.get("HEEDFUL_ALLOW_HEADLESS", False)
        return self.agent.is_bot or (self.agent.headless and not allow_headless)


def init_app(app: Flask) -> None:
    readers = GeoReaders(
        app.config.get("HEEDFUL_GEOIP_CITY_DB"), app.config.get("HEEDFUL_GEOIP_ASN_DB")
    )
    app.extensions["heedful_geo"] = readers
    # The caches hold addresses and user agents as keys (never written anywhere): a reset
    # forgets them with everything else the process remembers.
    on_reset(app, readers.place.cache_clear)
    on_reset(app, forget_user_agents)


def geo_readers() -> GeoReaders:
    return current_app.extensions["heedful_geo"]


def client_facts(*, with_network: bool = True) -> ClientFacts:
    """Enrich the current request; ``request.remote_addr`` is already proxy-corrected."""
    return client_facts_of(
        request.remote_addr,
        request.headers.get("User-Agent"),
        request.headers.get("Sec-GPC"),
        with_network=with_network,
    )


def client_facts_of(
    remote_addr: str | None,
    user_agent: str | None,
    sec_gpc: str | None,
    *,
    with_network: bool = True,
) -> ClientFacts:
    """Reduce a client's address and headers to the facts that may be kept."""
    location, network = geo_readers().place(remote_addr)
    return ClientFacts(
        agent=reduce_user_agent(user_agent),
        location=location,
        network=network if with_network else None,
        gpc=(sec_gpc or "").strip() == "1",
    )
