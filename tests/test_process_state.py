"""Process-wide state belongs to the app and is forgotten by ``reset_process_state``:
after a reset (an erasure, a purge, the tests) no worker remembers a visit, a consent
answer, a URL, an address or a user agent it saw before."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from app.collection import rows
from app.collection.visits import VISITS
from app.enrichment.useragent import _reduce_cached
from app.extensions import RESETS, reset_process_state
from app.storage.cache import shared_cache
from tests.collection.helpers import collect, pageview
from tests.conftest import give_consent


def _remembered(app: Flask) -> dict[str, int]:
    url_caches = (rows.parsed_page_url, rows.referrer_facts)
    return {
        "visits": len(app.extensions[VISITS]._entries),
        "urls": sum(cache.cache_info().currsize for cache in url_caches),
        "user agents": _reduce_cached.cache_info().currsize,
        "places": app.extensions["heedful_geo"].place.cache_info().currsize,
        "consent answers": len(shared_cache()._entries),
    }


def test_a_reset_forgets_everything_the_process_remembered(
    app: Flask, client: FlaskClient, site: str
) -> None:
    consent_id = give_consent(client)["consent_id"]
    page = pageview(referrer="https://www.bing.com/search?q=tea")
    assert collect(client, consent_id, [page]).status_code == 202
    with app.app_context():
        before = _remembered(app)
        assert all(before.values()), before
        reset_process_state()
        assert _remembered(app) == dict.fromkeys(before, 0)


def test_every_owner_registers_how_to_forget(app: Flask) -> None:
    owners = {getattr(forget, "__qualname__", repr(forget)) for forget in app.extensions[RESETS]}
    # The visit tracker, the URL caches, the writer and partitions, the stamped cache and
    # the enrichment caches: each domain registers its own from its init_app.
    assert len(app.extensions[RESETS]) >= 6, owners
