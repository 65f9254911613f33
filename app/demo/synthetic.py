"""Synthetic visitors for ``heedful demo``; every write goes through the real services:
consent through ``record_consent``/``withdraw_consent``, events through ``collect``."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

from app.clock import utcnow
from app.collection.service import collect
from app.collection.validation import Batch, RawEvent
from app.consent.service import ConsentRequest, record_consent, withdraw_consent
from app.enrichment.context import ClientFacts
from app.enrichment.geo import Location, Network
from app.enrichment.useragent import ClientAgent
from app.models import Site
from app.sites.snapshot import site_snapshot

CONSENT_MIX = (("accept_all", 0.55), ("reject_all", 0.3), ("custom", 0.15))
LANGUAGES = ("en", "de", "fr", "es")

# (browser, major, os, os version, device, weight)
AGENTS = (
    (ClientAgent("Chrome", "130", "Windows", "10", "desktop", False, False), 0.32),
    (ClientAgent("Chrome Mobile", "130", "Android", "14", "mobile", False, False), 0.2),
    (ClientAgent("Mobile Safari", "18", "iOS", "18.1", "mobile", False, False), 0.18),
    (ClientAgent("Safari", "18", "Mac OS X", "10.15", "desktop", False, False), 0.1),
    (ClientAgent("Firefox", "132", "Linux", "", "desktop", False, False), 0.08),
    (ClientAgent("Edge", "130", "Windows", "10", "desktop", False, False), 0.07),
    (ClientAgent("Mobile Safari", "18", "iOS", "18.1", "tablet", False, False), 0.05),
)
PLACES = (
    (Location("DE", "BE", "Berlin"), Network(3320, "Deutsche Telekom AG", "telekom.de"), 0.22),
    (Location("FR", "IDF", "Paris"), Network(3215, "Orange S.A.", "orange.com"), 0.16),
    (Location("GB", "ENG", "London"), Network(2856, "British Telecommunications", "bt.com"), 0.14),
    (Location("US", "CA", "San Francisco"), Network(7922, "Comcast Cable", "comcast.com"), 0.14),
    (Location("NL", "NH", "Amsterdam"), Network(1136, "KPN B.V.", "kpn.com"), 0.1),
    (Location("ES", "MD", "Madrid"), Network(3352, "Telefonica de Espana", "telefonica.es"), 0.1),
    (Location("SE", "AB", "Stockholm"), Network(3301, "Telia Company AB", "telia.com"), 0.08),
    (None, None, 0.06),
)
_PLACE_CHOICES = tuple(((location, network), weight) for location, network, weight in PLACES)
PAGES = ("/demo", "/demo/shoes", "/demo/shoes/trail-runner", "/demo/bags", "/demo/about")
SEARCHES = ("trail shoes", "rain jacket", "gift card", "size guide", "returns", "wool socks")
REFERRERS = (
    (None, 0.4),
    ("https://www.bing.com/search?q={q}", 0.15),
    ("https://duckduckgo.com/?q={q}", 0.1),
    ("https://www.ecosia.org/search?q={q}", 0.05),
    ("https://www.google.com/", 0.2),
    ("https://news.example/article", 0.1),
)


def _pick(rng: random.Random, weighted: tuple[tuple[Any, float], ...]) -> Any:
    values, weights = zip(*weighted, strict=True)
    return rng.choices(values, weights=weights)[0]


def _client(rng: random.Random) -> ClientFacts:
    location, network = _pick(rng, _PLACE_CHOICES)
    return ClientFacts(agent=_pick(rng, AGENTS), location=location, network=network, gpc=False)


def simulate_visitor(site: Site, rng: random.Random, client: ClientFacts) -> tuple[str, str]:
    """Record one visitor's consent, with the country and browser its events will carry;
    returns (consent_id, method)."""
    policy = site.current_policy
    method = _pick(rng, CONSENT_MIX)
    choices: dict[str, bool] = {}
    if method == "custom":
        choices = {key: rng.random() < 0.5 for key in policy.category_keys}
    record, _ = record_consent(
        ConsentRequest(
            site_key=site.key,
            consent_id=None,
            policy_version=policy.version,
            choices=choices,
            method=method,
            lang=rng.choice(LANGUAGES),
            gpc=rng.random() < 0.08,
            country=client.location.country if client.location else None,
            browser_family=client.agent.browser,
        )
    )
    return record.consent_id, method


def _visit_batches(origin: str, rng: random.Random, budget: int) -> list[list[RawEvent]]:
    """One visit as the tracker would send it: per page a view, visible time and clicks."""
    batches: list[list[RawEvent]] = []
    referrer_template = _pick(rng, REFERRERS)
    referrer = (
        referrer_template.format(q=quote_plus(rng.choice(SEARCHES))) if referrer_template else None
    )
    landing = rng.choice(PAGES)
    if rng.random() < 0.15:
        landing += f"?utm_source=newsletter&utm_term={quote_plus(rng.choice(SEARCHES))}"
    paths = [landing] + [rng.choice(PAGES) for _ in range(rng.randrange(0, 4))]
    if rng.random() < 0.25:
        paths.append(f"/demo/search?q={quote_plus(rng.choice(SEARCHES))}")
    used = 0
    for index, path in enumerate(paths):
        url = origin + path
        batch = [RawEvent("pageview", url, referrer=referrer if index == 0 else None, title="Demo")]
        batch.append(RawEvent("engagement", url, engaged_ms=int(rng.lognormvariate(9.6, 0.9))))
        if rng.random() < 0.1:
            batch.append(RawEvent("download", url, target=origin + "/demo/files/price-list.pdf"))
        if rng.random() < 0.07:
            batch.append(RawEvent("outbound", url, target="https://example.org/partner"))
        batches.append(batch)
        used += len(batch)
        if used >= budget:
            break
    return batches


def generate(
    site: Site, events: int, rng: random.Random, progress: Callable[[int], Any] | None = None
) -> dict[str, Any]:
    """Simulate visitors until about ``events`` events were sent; each visitor decides on
    consent first, and the collector drops what that consent does not allow."""
    snapshot = site_snapshot(site.key, cached=False)
    assert snapshot is not None
    origin = f"http://{'localhost' if 'localhost' in site.domains else site.domains[0]}:5000"
    methods: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    withdrawn = visitors = sent = 0
    while sent < events:
        facts = _client(rng)
        consent_id, method = simulate_visitor(site, rng, facts)
        visitors += 1
        methods[method] += 1
        for raw in _visit_batches(origin, rng, events - sent):
            result = collect(snapshot, Batch(site.key, consent_id, tuple(raw)), facts, utcnow())
            totals["accepted"] += result.accepted
            totals["dropped"] += result.dropped
            sent += len(raw)
            if progress is not None:
                progress(len(raw))
        if method != "reject_all" and rng.random() < 0.03:
            withdraw_consent(consent_id)
            withdrawn += 1
    return {
        "site": site.key,
        "visitors": visitors,
        "events": sent,
        "accepted": totals["accepted"],
        "dropped": totals["dropped"],
        "consent": dict(methods),
        "withdrawn": withdrawn,
    }
