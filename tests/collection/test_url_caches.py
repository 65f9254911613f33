"""The collected rows' per-process URL caches: same answers as without them, bounded."""

from __future__ import annotations

import pytest

from app.collection import rows
from app.collection.urls import UrlError, parse_page_url

ALLOWED = frozenset({"q"})


def test_a_cached_page_url_is_the_parsed_one_and_long_urls_are_not_kept() -> None:
    short = "https://shop.example/Shoes?q=Red&session=abc#top"
    assert rows.parsed_page_url(short, ALLOWED) == parse_page_url(short, allowed_params=ALLOWED)
    assert rows.parsed_page_url(short, ALLOWED) is rows.parsed_page_url(short, ALLOWED)
    kept = rows.parsed_page_url.cache_info().currsize
    long = "https://shop.example/" + "a" * rows.CACHED_URL_LENGTH
    assert rows.parsed_page_url(long, ALLOWED).path == "/" + "a" * rows.CACHED_URL_LENGTH
    assert rows.parsed_page_url.cache_info().currsize == kept


def test_refused_urls_are_refused_every_time() -> None:
    for _ in range(2):
        with pytest.raises(UrlError):
            rows.parsed_page_url("javascript:alert(1)", ALLOWED)


def test_a_cached_referrer_keeps_only_host_and_the_engines_redacted_query() -> None:
    referrer = "https://www.bing.com/search?q=Mail+me+at+jane%40example.com&form=QBLH"
    stored, search = rows.referrer_facts(referrer)
    assert search is not None and search.engine == "Bing"
    assert "jane" not in stored and "form" not in stored
    assert rows.referrer_facts(referrer) == (stored, search)
