"""Collection: the one service function that stores a batch of events (``collect``).

Order of work: check every URL belongs to the site (400 otherwise), count and drop bots,
ask ``consent_allows`` for the batch, assign the visit, then build the rows (cleaned and
enriched, in ``rows``) and store them with the visit in one transaction. A dropped batch
leaves only a per-site, per-day count without identifiers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from urllib.parse import urlsplit

from app.collection.batches import CollectedRows, submit_once
from app.collection.rows import Row, batch_rows, parsed_page_url
from app.collection.urls import PageUrl, UrlError, url_host
from app.collection.validation import Batch
from app.collection.visits import VisitState, visit_tracker
from app.consent.gate import consent_allows
from app.enrichment.context import ClientFacts
from app.errors import bad_request
from app.extensions import db
from app.sites.origins import host_belongs
from app.sites.settings import SiteRules
from app.sites.snapshot import SiteSnapshot
from app.storage import ensure_partitions

CATEGORY = "analytics"


@dataclass(frozen=True, slots=True)
class CollectResult:
    accepted: int
    dropped: int


# ``submit(job, accepted, dropped)``: the batch's one submission, answering its counts.
Submit = Callable[[CollectedRows, int, int], tuple[int, int]]


def collect(
    snapshot: SiteSnapshot, batch: Batch, client: ClientFacts, now: datetime
) -> CollectResult:
    """Store ``batch`` whole if the consent recorded for it allows analytics; else count it.

    Raises a 400 ``ApiError`` for URLs that are not the site's (nothing is stored then).
    The rows are committed once, by the group writer, before this returns; database errors
    propagate to the caller (the route answers 503).
    """
    rules = SiteRules.of(snapshot.settings)
    pages = pages_on_site(batch, snapshot.domains, rules)
    count = len(batch.events)
    # A retry of a batch stored before (same batch id) stores nothing and answers the same.
    submit: Submit = partial(submit_once, snapshot.id, batch.batch_id, now)
    if client.is_automated:
        return _drop(submit, snapshot.id, now.date(), "bot", count)
    if not consent_allows(snapshot, batch.consent_id, CATEGORY, now):
        return _drop(submit, snapshot.id, now.date(), "consent", count)

    ensure_partitions(db.engine, now)
    visits = visit_tracker()
    visit = visits.visit_for(snapshot.id, batch.consent_id, now)
    keys: Row = {"received_at": now, "site_id": snapshot.id, "consent_id": batch.consent_id}
    keys["session_id"] = visit.session_id
    events, terms = batch_rows(batch.events, pages, keys, client, snapshot.domains, rules)
    job = _rows_job(visit, snapshot.id, batch.consent_id, events, terms)
    accepted, dropped = submit(job, count, 0)
    visits.seen(snapshot.id, batch.consent_id, visit)
    return CollectResult(accepted=accepted, dropped=dropped)


def pages_on_site(batch: Batch, domains: Iterable[str], rules: SiteRules) -> list[PageUrl]:
    """Each event's page URL, parsed; a 400 for the first page URL not on one of the site's
    domains, then for the first link target that is not a web URL."""
    pages = [
        _page_url(event.url, domains, rules, index) for index, event in enumerate(batch.events)
    ]
    for index, event in enumerate(batch.events):
        if event.target is not None:
            _check_web_url(event.target, f"events[{index}].target")
    return pages


def _check_web_url(url: str, where: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not url_host(url):
        raise bad_request(f"{where} must be an http(s) URL")


def _page_url(url: str, domains: Iterable[str], rules: SiteRules, index: int) -> PageUrl:
    where = f"events[{index}].url"
    try:
        page = parsed_page_url(url, rules.allowed_params)
    except UrlError as exc:
        if exc.reason == "port":
            raise bad_request(f"{where} is not a valid URL") from exc
        raise bad_request(f"{where} must be an http(s) URL") from exc
    except ValueError as exc:
        raise bad_request(f"{where} must be an http(s) URL") from exc
    if not host_belongs(page.host, domains):
        raise bad_request(f"{where} is not on one of the site's domains")
    return page


def _drop(submit: Submit, site_id: int, day: date, reason: str, count: int) -> CollectResult:
    """Store only the day's count of the batch's events dropped for ``reason``."""
    return CollectResult(*submit(_count_job(site_id, day, reason, count), 0, count))


# The write jobs, built in one place each: the count of a dropped batch, and the rows of
# a stored one with its visit's row.
def _count_job(site_id: int, day: date, reason: str, count: int) -> CollectedRows:
    return CollectedRows(counts=Counter({(site_id, day, reason): count}))


def _rows_job(
    visit: VisitState, site_id: int, consent_id: str, events: list[Row], terms: list[Row]
) -> CollectedRows:
    job = CollectedRows(events=events, terms=terms)
    (job.visits if visit.moves else job.visits_kept).append(visit.row(site_id, consent_id))
    return job
