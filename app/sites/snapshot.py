"""A site and its current policy as one immutable snapshot, cached on every worker and
invalidated on every host when the site or its policy changes (``app.storage.cache``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app.errors import bad_request
from app.extensions import db
from app.models import PolicyVersion, Site
from app.storage.cache import (
    ACTIVE_TRUST_SECONDS,
    MAX_ENTRY_AGE_SECONDS,
    shared_cache,
)


@dataclass(frozen=True, slots=True)
class SiteSnapshot:
    id: int
    key: str
    name: str
    domains: tuple[str, ...]
    settings: dict[str, Any]
    policy_version: int
    category_keys: tuple[str, ...]
    required_keys: frozenset[str]
    consent_days: int
    refusal_days: int
    timezone: str = "UTC"
    k: int = 10


def _site_key(site_key: str) -> str:
    return "site:" + site_key


def site_stamp_keys(site_key: str) -> tuple[str, ...]:
    return (_site_key(site_key), "sites")


def load_site_snapshot(site_key: str) -> SiteSnapshot | None:
    site = db.session.scalar(select(Site).where(Site.key == site_key))
    if site is None:
        return None
    policy = db.session.scalar(
        select(PolicyVersion)
        .where(PolicyVersion.site_id == site.id)
        .order_by(PolicyVersion.version.desc())
        .limit(1)
    )
    if policy is None:
        return None
    return SiteSnapshot(
        id=site.id,
        key=site.key,
        name=site.name,
        domains=tuple(site.domains or ()),
        settings=dict(site.settings or {}),
        policy_version=policy.version,
        category_keys=tuple(policy.category_keys),
        required_keys=frozenset(policy.required_keys),
        consent_days=policy.consent_days,
        refusal_days=policy.refusal_days,
        timezone=site.timezone,
        k=site.k,
    )


def site_snapshot(site_key: str, *, cached: bool = True) -> SiteSnapshot | None:
    """The site and its current policy version, or None for an unknown key."""
    if not cached:
        return load_site_snapshot(site_key)
    return shared_cache().get(
        _site_key(site_key), lambda: load_site_snapshot(site_key), trust=_site_trust
    )


def _site_trust(snapshot: SiteSnapshot | None) -> float:
    # The snapshot decides which records are stale, so it is an "allows" answer too.
    return MAX_ENTRY_AGE_SECONDS if snapshot is None else ACTIVE_TRUST_SECONDS


def resolve_site(site_key: str) -> SiteSnapshot:
    """The snapshot of ``site_key``, or a 400 ``ApiError`` for an unknown site."""
    snapshot = site_snapshot(site_key)
    if snapshot is None:
        raise bad_request("unknown site")
    return snapshot
