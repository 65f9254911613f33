"""Synthetic visitors for ``heedful demo``; every write goes through the real services."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from app.consent.service import ConsentRequest, record_consent, withdraw_consent
from app.models import Site

CONSENT_MIX = (("accept_all", 0.55), ("reject_all", 0.3), ("custom", 0.15))
BROWSERS = ("Chrome", "Firefox", "Safari", "Edge", "Samsung Internet")
COUNTRIES = ("DE", "FR", "ES", "GB", "US", "NL", "IT", "SE", "PL", None)
LANGUAGES = ("en", "de", "fr", "es")


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    names, weights = zip(*weighted, strict=True)
    return rng.choices(names, weights=weights)[0]


def simulate_visitor(site: Site, rng: random.Random) -> tuple[str, str]:
    """Record one visitor's consent; returns (consent_id, method)."""
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
            country=rng.choice(COUNTRIES),
            browser_family=rng.choice(BROWSERS),
        )
    )
    return record.consent_id, method


def generate(
    site: Site, visitors: int, rng: random.Random, progress: Callable[[int], Any] | None = None
) -> dict[str, Any]:
    methods: Counter[str] = Counter()
    withdrawn = 0
    for _ in range(visitors):
        consent_id, method = simulate_visitor(site, rng)
        methods[method] += 1
        if method != "reject_all" and rng.random() < 0.03:
            withdraw_consent(consent_id)
            withdrawn += 1
        if progress is not None:
            progress(1)
    return {
        "site": site.key,
        "visitors": visitors,
        "consent": dict(methods),
        "withdrawn": withdrawn,
    }
