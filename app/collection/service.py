"""Collection: the one service function that stores a batch of events (``collect``).

Order of work: resolve the site, check every URL belongs to it (400 otherwise), count and
drop bots, ask ``consent_allows`` for the batch, then clean, enrich and store the batch in
one transaction. A dropped batch leaves only a per-site, per-day count without identifiers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache, partial, wraps
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from app.collection import search_terms as terms
from app.collection.batches import CollectedRows, submit_once
from app.collection.urls import PageUrl, UrlError, clean_referrer, parse_page_url, url_host
from app.collection.validation import Batch, RawEvent
from app.collection.visits import VisitTracker
from app.consent.gate import consent_allows
from app.enrichment.context import ClientFacts
from app.enrichment.ip import parse_ip
from app.enrichment.redaction import is_clean, redact_text, spells_address
from app.errors import bad_request
from app.extensions import db
from app.sites.origins import host_belongs
from app.sites.settings import SiteRules
from app.sites.snapshot import SiteSnapshot
from app.storage import ensure_partitions

MAX_TITLE_STORED = 300
MAX_REFERRER_STORED = 300  # the column width
MAX_PATH_STORED = MAX_QUERY_STORED = 1024
MAX_TARGET_STORED = 2048
CATEGORY = "analytics"


@dataclass(frozen=True, slots=True)
class CollectResult:
    accepted: int
    dropped: int


def collect(
    snapshot: SiteSnapshot, batch: Batch, client: ClientFacts, now: datetime
) -> CollectResult:
    """Store ``batch`` whole if the consent recorded for it allows analytics; else count it.

    Raises a 400 ``ApiError`` for URLs that are not the site's (nothing is stored then).
    The rows are committed once, by the group writer, before this returns; database errors
    propagate to the caller (the route answers 503).
    """
    rules = SiteRules.of(snapshot.settings)
    pages = [
        _page_url(event.url, snapshot.domains, rules, index)
        for index, event in enumerate(batch.events)
    ]
    for index, event in enumerate(batch.events):
        if event.target is not None:
            _check_web_url(event.target, f"events[{index}].target")
    count = len(batch.events)
    # A retry of a batch stored before (same batch id) stores nothing and answers the same.
    once = partial(submit_once, snapshot.id, batch.batch_id, now)
    if client.is_automated:
        job = CollectedRows(counts=Counter({(snapshot.id, now.date(), "bot"): count}))
        return CollectResult(*once(job, 0, count))
    if not consent_allows(snapshot, batch.consent_id, CATEGORY, now):
        job = CollectedRows(counts=Counter({(snapshot.id, now.date(), "consent"): count}))
        return CollectResult(*once(job, 0, count))

    ensure_partitions(db.engine, now)
    visit = _visits.visit_for(snapshot.id, batch.consent_id, now)
    keys = {"received_at": now, "site_id": snapshot.id, "consent_id": batch.consent_id}
    keys["session_id"] = visit.session_id
    base = _enrichment_columns(client)
    job = CollectedRows()
    (job.visits if visit.moves else job.visits_kept).append(
        visit.row(snapshot.id, batch.consent_id)
    )
    for event, page in zip(batch.events, pages, strict=True):
        path = _cut(page.path, MAX_PATH_STORED, "/") or "/"
        referrer, search = _referrer_facts(event.referrer) if event.referrer else (None, None)
        job.events.append(
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
                "target": _target(event, snapshot.domains, rules),
                "engaged_ms": event.engaged_ms,
            }
        )
        for term, engine in _search_terms(event, page, rules, search):
            job.terms.append(
                {**keys, "term": term.term, "source": term.source, "engine": engine, "path": path}
            )
    accepted, dropped = once(job, count, 0)
    _visits.seen(snapshot.id, batch.consent_id, visit)
    return CollectResult(accepted=accepted, dropped=dropped)


def _check_web_url(url: str, where: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not url_host(url):
        raise bad_request(f"{where} must be an http(s) URL")


def _page_url(url: str, domains: Iterable[str], rules: SiteRules, index: int) -> PageUrl:
    where = f"events[{index}].url"
    try:
        page = _parsed_page_url(url, rules.allowed_params)
    except UrlError as exc:
        if exc.reason == "port":
            raise bad_request(f"{where} is not a valid URL") from exc
        raise bad_request(f"{where} must be an http(s) URL") from exc
    except ValueError as exc:
        raise bad_request(f"{where} must be an http(s) URL") from exc
    if not host_belongs(page.host, domains):
        raise bad_request(f"{where} is not on one of the site's domains")
    return page


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
# in real traffic) are worked out each time, so the two caches stay within a few MB per
# worker whatever is sent.
URL_CACHE_SIZE = 2048
CACHED_URL_LENGTH = 512

_Derived = TypeVar("_Derived")


def _per_distinct_url(derive: Callable[..., _Derived]) -> Callable[..., _Derived]:
    cached = lru_cache(maxsize=URL_CACHE_SIZE)(derive)

    @wraps(derive)
    def lookup(url: str, *args: Any) -> _Derived:
        return cached(url, *args) if len(url) <= CACHED_URL_LENGTH else derive(url, *args)

    lookup.cache_info = cached.cache_info  # type: ignore[attr-defined]
    return lookup


@_per_distinct_url
def _parsed_page_url(url: str, allowed_params: frozenset[str]) -> PageUrl:
    return parse_page_url(url, allowed_params=allowed_params)


@_per_distinct_url
def _referrer_facts(raw: str) -> tuple[str | None, terms.ReferrerSearch | None]:
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


def _enrichment_columns(client: ClientFacts) -> dict[str, Any]:
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


_visits = VisitTracker()
