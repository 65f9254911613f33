"""Writing consent records: every change appends a record, nothing is edited."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from app.clock import utcnow
from app.consent.cache import consent_stamp_keys, consent_state_of, latest_consent_record
from app.consent.gate import consent_status
from app.consent.policy import policy_version, resolve_language, texts_hash
from app.database import commit_retrying
from app.errors import ApiError, bad_request
from app.extensions import db
from app.models import ConsentRecord, PolicyVersion, Site
from app.sites.snapshot import SiteSnapshot, site_snapshot
from app.storage.cache import deliver_invalidation, stage_invalidation
from app.storage.invalidation import Staged

METHODS = ("accept_all", "reject_all", "custom")
WRITE_ATTEMPTS = 20


@dataclass(frozen=True)
class ConsentRequest:
    site_key: str
    consent_id: str | None
    policy_version: int
    choices: dict[str, bool]
    method: str
    lang: str | None
    gpc: bool = False
    country: str | None = None
    browser_family: str | None = None


def new_consent_id() -> str:
    """192 random bits, URL-safe."""
    return secrets.token_urlsafe(24)


def _effective_choices(
    request: ConsentRequest, keys: list[str], required: set[str]
) -> dict[str, bool]:
    unknown = set(request.choices) - set(keys)
    if unknown:
        raise bad_request(f"unknown categories: {', '.join(sorted(unknown))}")
    if request.method == "accept_all":
        choices = dict.fromkeys(keys, True)
    elif request.method == "reject_all":
        choices = {key: key in required for key in keys}
    else:
        choices = {key: key in required or request.choices.get(key) is True for key in keys}
    if request.gpc and "marketing" in choices:
        # Global Privacy Control is an opt-out of sale/sharing: marketing stays off.
        choices["marketing"] = False
    return choices


def _lock_history(consent_id: str) -> None:
    """Serialise the writers of one consent id on PostgreSQL until the transaction ends.

    Without it, many simultaneous writers keep taking each other's ``seq`` and run out of
    retries. SQLite has a single writer lock, so retries there stay short.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(func.pg_advisory_xact_lock(func.hashtext(consent_id))))


def _busy() -> ApiError:
    error = ApiError(503, "consent store is busy, try again")
    error.headers["Retry-After"] = "1"
    return error


def _append(record: ConsentRecord, *, unless_withdrawn: bool = False) -> ConsentRecord:
    """Insert ``record`` as the next in its consent id's history, retrying on races.

    With ``unless_withdrawn``, a history that already ends in a withdrawal is left as it
    is and that withdrawal returned: a retried withdrawal appends nothing.
    """
    staged: list[Staged] = []

    def write() -> ConsentRecord:
        staged.clear()
        _lock_history(record.consent_id)
        latest = latest_consent_record(record.consent_id)
        if unless_withdrawn and latest is not None and latest.kind == "withdrawal":
            return latest
        record.seq = (latest.seq if latest is not None else 0) + 1
        db.session.add(record)
        # In the same transaction: the change and the news of it commit together.
        staged.append(stage_invalidation(consent_stamp_keys(record.consent_id)))
        return record

    written = commit_retrying(write, attempts=WRITE_ATTEMPTS, busy=_busy)
    for invalidation in staged:
        deliver_invalidation(invalidation)
    return written


def _expiry(
    site_choices: dict[str, bool], required: set[str], policy: PolicyVersion, now: datetime
) -> datetime:
    granted_optional = any(v for k, v in site_choices.items() if k not in required)
    days = policy.consent_days if granted_optional else policy.refusal_days
    return now + timedelta(days=days)


def record_consent(
    request: ConsentRequest, snapshot: SiteSnapshot | None = None
) -> tuple[ConsentRecord, SiteSnapshot]:
    """Append the visitor's choice; a new consent id is minted when none (or a foreign or
    unknown one) is given. ``snapshot`` is the site as the caller already found it: only
    the policy's texts are read besides (for the hash of what was shown)."""
    site = snapshot or site_snapshot(request.site_key)
    if site is None:
        raise ApiError(404, "unknown site")
    policy = policy_version(site.id, site.policy_version)
    if request.policy_version != policy.version:
        raise ApiError(
            409,
            "the policy changed; fetch it again and ask the visitor anew",
            policy_version=policy.version,
        )
    if request.method not in METHODS:
        raise bad_request(f"method must be one of {', '.join(METHODS)}")
    choices = _effective_choices(request, policy.category_keys, policy.required_keys)
    consent_id = request.consent_id
    if consent_id is not None:
        owner = db.session.scalar(
            select(ConsentRecord.site_id).where(ConsentRecord.consent_id == consent_id).limit(1)
        )
        if owner != site.id:
            consent_id = None  # ids are server-made; a client cannot choose one
    record = ConsentRecord(
        record_uid=str(uuid.uuid4()),
        consent_id=consent_id or new_consent_id(),
        **choice_columns(policy, request, utcnow(), choices),
    )
    return _append(record), site


def choice_columns(
    policy: PolicyVersion,
    request: ConsentRequest,
    now: datetime,
    choices: dict[str, bool] | None = None,
) -> dict[str, Any]:
    """The columns of a choice record for ``request`` made at ``now`` under ``policy``,
    besides its ids and ``seq``: the service and the bulk history writer
    (``app/collection/history.py``) build records alike. ``choices`` are the effective
    ones, when the caller already worked them out."""
    if choices is None:
        choices = _effective_choices(request, policy.category_keys, policy.required_keys)
    lang = resolve_language(policy, request.lang)
    return {
        "site_id": policy.site_id,
        "policy_version": policy.version,
        "kind": "choice",
        "choices": choices,
        "method": request.method,
        "lang": lang,
        "texts_hash": texts_hash(policy, lang),
        "gpc": request.gpc,
        "country": request.country,
        "browser_family": request.browser_family,
        "recorded_at": now,
        "expires_at": _expiry(choices, policy.required_keys, policy, now),
    }


def latest_with_site(consent_id: str) -> tuple[ConsentRecord, Site]:
    """The latest record of ``consent_id`` and its site; 404 for an unknown id."""
    record = latest_consent_record(consent_id)
    if record is None:
        raise ApiError(404, "unknown consent id")
    site = db.session.get(Site, record.site_id)
    assert site is not None
    return record, site


def record_status(record: ConsentRecord, site: Site, at: datetime | None = None) -> str:
    """Status of ``record``, which the caller has already loaded as the latest."""
    return consent_status(consent_state_of(record), site.current_policy.version, at or utcnow())


def withdraw_consent(consent_id: str) -> tuple[ConsentRecord, Site]:
    """Append a withdrawal: every optional category off, from now on. An id already
    withdrawn keeps its withdrawal, which is returned (a retry appends nothing)."""
    latest, site = latest_with_site(consent_id)
    carried = {name: getattr(latest, name) for name in WITHDRAWAL_CARRIES}
    record = ConsentRecord(
        record_uid=str(uuid.uuid4()),
        consent_id=consent_id,
        **withdrawal_columns(carried, site.current_policy, utcnow()),
    )
    return _append(record, unless_withdrawn=True), site


# What a withdrawal keeps of the record it follows.
WITHDRAWAL_CARRIES = (
    "site_id",
    "policy_version",
    "choices",
    "lang",
    "texts_hash",
    "gpc",
    "country",
    "browser_family",
)


def withdrawal_columns(
    latest: dict[str, Any], policy: PolicyVersion, now: datetime
) -> dict[str, Any]:
    """The columns of a withdrawal made at ``now`` after the record whose
    ``WITHDRAWAL_CARRIES`` columns are ``latest`` (``policy`` is the site's current one),
    besides its ids and ``seq``: every optional category off."""
    choices = {key: key in policy.required_keys for key in latest["choices"]}
    return {
        **latest,
        "kind": "withdrawal",
        "choices": choices,
        "method": "withdraw",
        "recorded_at": now,
        "expires_at": now + timedelta(days=policy.refusal_days),
    }
