"""consent_allows (cached and uncached) and POST /api/v1/consent, next to a bare endpoint."""

from __future__ import annotations

import json

from bench.common import bare_app, bench_app, per_call_us, row


def main() -> bool:
    from app.consent.gate import consent_allows
    from app.sites.registry import create_site

    app, _ = bench_app()
    with app.app_context():
        create_site("Bench", ["bench.example"], key="bench")
    client = app.test_client()
    body = {"site": "bench", "policy_version": 1, "choices": {}, "method": "accept_all"}
    consent_id = client.post("/api/v1/consent", json=body).get_json()["consent_id"]

    bare = bare_app().test_client()
    payload = json.dumps(body)
    bare_us = per_call_us(lambda: bare.post("/bare", data=payload, content_type="application/json"))
    with app.app_context():
        cached_us = per_call_us(
            lambda: consent_allows("bench", consent_id, "analytics"), number=5000
        )
        uncached_us = per_call_us(
            lambda: consent_allows("bench", consent_id, "analytics", cached=False), number=300
        )
        assert consent_allows("bench", consent_id, "analytics")
    post_us = per_call_us(
        lambda: client.post("/api/v1/consent", data=payload, content_type="application/json"),
        number=100,
    )
    baseline = f"bare Flask POST {bare_us:.0f} µs"
    cached_ok = cached_us < bare_us
    row(
        "consent_allows, cached",
        f"{cached_us:.1f} µs",
        baseline,
        f"{cached_us / bare_us:.3f}× bare ({'met' if cached_ok else 'MISSED'}: < 1×)",
    )
    row(
        "consent_allows, uncached",
        f"{uncached_us:.0f} µs",
        baseline,
        f"{uncached_us / bare_us:.2f}×",
    )
    row(
        "POST /api/v1/consent (SQLite, durable)",
        f"{post_us:.0f} µs",
        baseline,
        f"{post_us / bare_us:.2f}×",
    )
    return cached_ok
