"""Search-term extraction and normalisation; redaction is the shared enrichment step."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from app.collection.urls import url_host
from app.enrichment.redaction import is_clean, redact, redact_text
from app.sites.origins import host_belongs

MAX_TERM_LENGTH = 200
# Bounds the per-character and regex work spent on hostile input; far above any real query.
_MAX_INPUT_LENGTH = 2000

TermSource = Literal["site", "utm_term", "referrer"]


@dataclass(frozen=True, slots=True)
class SearchTerm:
    """A normalised, redacted search term and where it was found."""

    term: str
    source: TermSource


@dataclass(frozen=True, slots=True)
class _Engine:
    name: str
    domains: tuple[str, ...]  # matched as host suffixes
    brand: str | None  # matched as brand.<tld>, e.g. yandex.ru or yandex.com.tr
    paths: frozenset[str]  # without trailing slash; "" is the root
    params: tuple[str, ...]


_ENGINES: tuple[_Engine, ...] = (
    _Engine("Bing", ("bing.com",), None, frozenset({"/search"}), ("q",)),
    _Engine("Yahoo", ("search.yahoo.com",), None, frozenset({"/search"}), ("p",)),
    _Engine("Yandex", ("ya.ru",), "yandex", frozenset({"/search"}), ("text",)),
    _Engine("Baidu", ("baidu.com",), None, frozenset({"/s"}), ("wd", "word")),
    _Engine("Ecosia", ("ecosia.org",), None, frozenset({"/search"}), ("q",)),
    _Engine("Qwant", ("qwant.com",), None, frozenset({""}), ("q",)),
    _Engine("DuckDuckGo", ("duckduckgo.com",), None, frozenset({"", "/html", "/lite"}), ("q",)),
    # Google no longer sends the query, but naming the engine still attributes the visit.
    _Engine("Google", (), "google", frozenset(), ()),
)


def normalise_term(raw: str) -> str | None:
    """NFKC-normalise, casefold, strip control characters, collapse whitespace and redact.

    The result is at most MAX_TERM_LENGTH characters; None when nothing remains.
    """
    truncated = len(raw) > _MAX_INPUT_LENGTH
    text = raw[:_MAX_INPUT_LENGTH]
    # Invisible format characters (zero-width space, bidi marks) are dropped before matching
    # so they cannot be used to slip an email or number past redaction.
    text = "".join(
        " " if char.isspace() else char
        for char in text
        if char.isspace() or unicodedata.category(char)[0] != "C"
    )
    # Casefolding can produce decomposed sequences; the second NFKC makes the result stable.
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    text = " ".join(text.split())
    if truncated:
        # The cut may have split an email or number so redaction would miss it: drop that word.
        text = text.rpartition(" ")[0]
    # Redact before capping, since the cap could likewise split personal data; the
    # decoded form counts too ("bob%40example.org" is an email).
    text = redact_text(text)
    capped = text[:MAX_TERM_LENGTH]
    for _ in range(3):
        # The cap can also make a new token ("1.2.3.456" cut to an address).
        if is_clean(capped):
            break
        capped = redact(capped)[:MAX_TERM_LENGTH]
    else:
        capped = capped.rpartition(" ")[0]
    return capped.strip() or None


def terms_from_page_url(url: str, search_params: Iterable[str]) -> list[SearchTerm]:
    """Site-search term (first non-empty configured parameter) and ``utm_term`` of a page URL."""
    try:
        query = urlsplit(url.strip()).query
    except ValueError:
        return []
    return terms_from_query(parse_qsl(query), search_params)


def terms_from_query(
    params: Iterable[tuple[str, str]], search_params: Iterable[str]
) -> list[SearchTerm]:
    """Like ``terms_from_page_url``, from a page's already parsed query parameters."""
    wanted = {name.casefold() for name in search_params}
    site: str | None = None
    utm: str | None = None
    for name, value in params:
        key = name.casefold()
        if site is None and key in wanted:
            site = normalise_term(value)
        if utm is None and key == "utm_term":
            utm = normalise_term(value)
    terms: list[SearchTerm] = []
    if site is not None:
        terms.append(SearchTerm(site, "site"))
    if utm is not None:
        terms.append(SearchTerm(utm, "utm_term"))
    return terms


def search_engine(referrer: str | None) -> str | None:
    """Name of the search engine ``referrer`` points at, or None."""
    host = url_host(referrer) if referrer else None
    engine = _engine_for_host(host) if host else None
    return engine.name if engine else None


@dataclass(frozen=True, slots=True)
class ReferrerSearch:
    """The query a search-engine referrer still carries: engine, parameter and term."""

    engine: str
    param: str
    term: SearchTerm


def referrer_search(referrer: str | None) -> ReferrerSearch | None:
    """The engine, parameter and normalised term of a search-engine referrer, or None."""
    if not referrer:
        return None
    try:
        parts = urlsplit(referrer.strip())
    except ValueError:
        return None
    host = url_host(referrer)
    if parts.scheme not in ("http", "https") or host is None:
        return None
    engine = _engine_for_host(host)
    if engine is None:
        return None
    # Yahoo appends ";_ylt=..." tracking segments to its result path.
    path = parts.path.split(";", 1)[0].rstrip("/")
    if path not in engine.paths:
        return None
    for name, value in parse_qsl(parts.query):
        if name in engine.params and (term := normalise_term(value)):
            return ReferrerSearch(engine.name, name, SearchTerm(term, "referrer"))
    return None


def _engine_for_host(host: str) -> _Engine | None:
    for engine in _ENGINES:
        if host_belongs(host, engine.domains):
            return engine
        if engine.brand and _is_brand_host(host, engine.brand):
            return engine
    return None


def _is_brand_host(host: str, brand: str) -> bool:
    """True for ``brand.<tld>``, ``brand.com.<cc>`` or ``brand.co.<cc>``, optionally www/m."""
    labels = host.split(".")
    if brand not in labels:
        return False
    index = labels.index(brand)
    # Other subdomains (mail.google.com, docs.google.com) are products, not search.
    if labels[:index] not in ([], ["www"], ["m"]):
        return False
    suffix = labels[index + 1 :]
    return len(suffix) == 1 or (len(suffix) == 2 and suffix[0] in ("com", "co"))
