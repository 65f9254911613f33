"""Rows: the event and search-term rows of a consented batch, cleaned and enriched.

Nothing is stored as sent. Paths, queries, titles, referrers and link targets are cut to
their columns at a part boundary, redacted, and dropped where they name a bare IP address;
the client's browser, place and network are added as coarse facts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache, wraps
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from app.collection import search_terms as terms
from app.collection.urls import PageUrl, clean_referrer, parse_page_url, url_host
from app.collection.validation import RawEvent
from app.enrichment.context import ClientFacts
from app.enrichment.ip import parse_ip
from app.enrichment.redaction import is_clean, redact_text, spells_address
from app.sites.origins import host_belongs
from app.sites.settings import SiteRules

MAX_TITLE_STORED = 300
MAX_REFERRER_STORED = 300  # the column width
MAX_PATH_STORED = MAX_QUERY_STORED = 1024
MAX_TARGET_STORED = 2048

Row = dict[str, Any]


def batch_rows(
    events: Sequence[RawEvent],
    pages: Sequence[PageUrl],
    keys: Row,
    client: ClientFacts,
    domains: Iterable[str],
    rules: SiteRules,
) -> tuple[list[Row], list[Row]]:
    """The event rows and search-term rows of ``events`` (whose parsed ``pages`` are given),
    each starting with the columns of ``keys`` (time, site, consent id, visit)."""
    base = _enrichment_columns(client)
    event_rows: list[Row] = []
    term_rows: list[Row] = []
    for event, page in zip(events, pages, strict=True):
        path = _cut(page.path, MAX_PATH_STORED, "/") or "/"
        referrer, search = referrer_facts(event.referrer) if event.referrer else (None, None)
        event_rows.append(
            {
                **keys,
                **base,
                "type": event.type,
                # A bare IP address as host says nothing the site's own domains do not.
                "host": _stored_host(page.host),
                "path": path,
                "query": _cut(page.query, MAX_QUERY_STORED, "&") or None,
                "title": _title(event.title) if event.title is not None else None,
                "referrer": referrer,
                "target": _target(event, domains, rules),
                "engaged_ms": event.engaged_ms,
            }
        )
        for term, engine in _search_terms(event, page, rules, search):
            term_rows.append(
                {**keys, "term": term.term, "source": term.source, "engine": engine, "path": path}
            )
    return event_rows, term_rows


def _is_ip_literal(host: str | None) -> bool:
    return bool(host) and parse_ip(host.strip("[]")) is not None


def _stored_host(host: str) -> str | None:
    # A bare IP address as host says nothing the site's own domains do not; nor does a
    # name that spells one ("10.0.0.1.nip.io").
    return None if _is_ip_literal(host) or spells_address(host) else host


def _cut(text: str, limit: int, separators: str) -> str:
    """``text`` within ``limit``, cut after its last whole part: a part cut through could
    read as a new token ("1.2.3.456" as an address)."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    end = max(head.rfind(separator) for separator in separators)
    return head[:end] if end > 0 else ""


def _without_ip_host(url: str) -> str:
    """``url`` relative to its host when that host is a bare IP address."""
    parts = urlsplit(url)
    if not _is_ip_literal(parts.hostname):
        return url
    return parts.path + ("?" + parts.query if parts.query else "")


# Pages, referrers and their searches recur across visitors and within each visit: each
# distinct one is worked out once per process. Longer URLs than CACHED_URL_LENGTH (rare
# in real traffic) are worked out each time, so the caches stay within a few MB per
# worker whatever is sent. They hold no identifiers, but they are process state: the app
# clears them with the rest (``clear_url_caches``, registered by ``init_app``).
URL_CACHE_SIZE = 2048
CACHED_URL_LENGTH = 512

_Derived = TypeVar("_Derived")


def _per_distinct_url(derive: Callable[..., _Derived]) -> Callable[..., _Derived]:
    cached = lru_cache(maxsize=URL_CACHE_SIZE)(derive)

    @wraps(derive)
    def lookup(url: str, *args: Any) -> _Derived:
        return cached(url, *args) if len(url) <= CACHED_URL_LENGTH else derive(url, *args)

    lookup.cache_info = cached.cache_info  # type: ignore[attr-defined]
    lookup.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return lookup


@_per_distinct_url
def parsed_page_url(url: str, allowed_params: frozenset[str]) -> PageUrl:
    """``parse_page_url`` of ``url``, once per distinct URL (it raises ``UrlError`` each
    time for a URL it refuses)."""
    return parse_page_url(url, allowed_params=allowed_params)


@_per_distinct_url
def referrer_facts(raw: str) -> tuple[str | None, terms.ReferrerSearch | None]:
    """The referrer as stored, and the search it carries from a search engine."""
    found = terms.referrer_search(raw)
    return _referrer(raw, found), found


def _referrer(raw: str | None, found: terms.ReferrerSearch | None) -> str | None:
    cleaned = clean_referrer(raw)
    # A referrer on a bare IP address can point at a person's own machine or network.
    if cleaned is None or _stored_host(url_host(cleaned) or "") is None:
        return None
    if found is not None:
        # The engine's query parameter survives, holding the normalised, redacted term.
        with_search = f"{cleaned}/?{urlencode({found.param: found.term.term})}"
        if len(with_search) <= MAX_REFERRER_STORED:
            return with_search
    return cleaned[:MAX_REFERRER_STORED]


def _target(event: RawEvent, domains: Iterable[str], rules: SiteRules) -> str | None:
    if event.target is None:
        return None
    host = url_host(event.target)
    own = host is not None and host_belongs(host, domains)
    if _is_ip_literal(host) and not own:
        return None
    # Foreign links keep only campaign tags: their queries are not ours to allow.
    return _cleaned_target(event.target, rules.allowed_params if own else frozenset())


@_per_distinct_url
def _cleaned_target(target: str, allowed_params: frozenset[str]) -> str | None:
    """A download or outbound link cleaned and redacted like a page URL."""
    try:
        page = parse_page_url(target, allowed_params=allowed_params)
    except ValueError:
        return None
    if not _is_ip_literal(page.host) and spells_address(page.host):
        return None
    # An own-site link on a bare IP (a site registered on an address) is kept relative.
    # Placeholders can be longer than what they replace ("%5Bnumber%5D" for six digits).
    return _cut(_without_ip_host(page.url), MAX_TARGET_STORED, "/?&") or None


# Titles recur like URLs (every view of a page sends its title): each distinct one is
# redacted once per process, in a cache bounded the same way.
@_per_distinct_url
def _title(raw: str) -> str | None:
    title = redact_text(" ".join(raw.split()))
    if len(title) > MAX_TITLE_STORED:
        title = title[:MAX_TITLE_STORED]
        if not is_clean(title):
            # The cut made a new token ("1.2.3.456" into an address): drop that word.
            title = title.rpartition(" ")[0]
    return title or None


def clear_url_caches() -> None:
    """Forget every page, referrer, link target and title worked out so far."""
    for cache in (parsed_page_url, referrer_facts, _cleaned_target, _title):
        cache.cache_clear()  # type: ignore[attr-defined]


def _search_terms(
    event: RawEvent, page: PageUrl, rules: SiteRules, from_referrer: terms.ReferrerSearch | None
) -> list[tuple[terms.SearchTerm, str | None]]:
    if event.type == "search":
        term = terms.normalise_term(event.query or "")
        return [(terms.SearchTerm(term, "site"), None)] if term else []
    if event.type != "pageview":
        return []
    # The search parameters are on the allow-list, so the cleaned query still has them.
    found: list[tuple[terms.SearchTerm, str | None]] = [
        (term, None) for term in terms.terms_from_query(page.params, rules.search_params)
    ]
    if from_referrer is not None:
        found.append((from_referrer.term, from_referrer.engine))
    return found


def _enrichment_columns(client: ClientFacts) -> Row:
    agent, location, network = client.agent, client.location, client.network
    return {
        "browser": agent.browser,
        "browser_version": agent.browser_version or None,
        "os": agent.os,
        "os_version": agent.os_version or None,
        "device": agent.device,
        "country": location.country if location else None,
        "region": (location.region or None) if location else None,
        "city": location.city if location else None,
        "asn": network.asn if network else None,
        "network_org": network.organisation if network else None,
        "network_domain": network.domain if network else None,
    }
