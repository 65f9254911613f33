"""The site registry: create, find and require sites, and normalise their domains.

A site is born with the default consent policy (``default_policy.py``) as version 1;
later versions are the consent layer's (``app.consent.policy``).
"""

from __future__ import annotations

import copy
import re
import secrets

from sqlalchemy import select

from app.audit import record_change
from app.errors import ApiError
from app.extensions import db
from app.models import PolicyVersion, Site
from app.sites.default_policy import (
    DEFAULT_CATEGORIES,
    DEFAULT_CONSENT_DAYS,
    DEFAULT_REFUSAL_DAYS,
    DEFAULT_TEXTS,
)
from app.sites.settings import DEFAULT_K, DEFAULT_TIMEZONE, check_k, check_timezone
from app.sites.snapshot import site_stamp_keys
from app.storage.cache import deliver_invalidation, stage_invalidation

DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9-]{1,63}$")


class PolicyError(ValueError):
    """A site or policy definition that cannot be accepted."""


def normalise_domain(domain: str) -> str:
    cleaned = domain.strip().lower().rstrip(".")
    if cleaned.startswith(("http://", "https://")) or "/" in cleaned or not DOMAIN.match(cleaned):
        raise PolicyError(f"not a domain name: {domain!r} (give a bare host like example.com)")
    return cleaned


def new_site_key() -> str:
    return "site_" + secrets.token_urlsafe(12)


def create_site(
    name: str,
    domains: list[str],
    *,
    key: str | None = None,
    timezone: str = DEFAULT_TIMEZONE,
    k: int = DEFAULT_K,
    actor: str = "system",
) -> Site:
    """Register a site with the default policy as version 1, and audit it."""
    name = name.strip()
    if not name:
        raise PolicyError("a site needs a name")
    if not domains:
        raise PolicyError("a site needs at least one domain")
    try:
        timezone, k = check_timezone(timezone), check_k(k)
    except ValueError as exc:
        raise PolicyError(str(exc)) from exc
    site = Site(
        key=key or new_site_key(),
        name=name[:200],
        domains=sorted({normalise_domain(d) for d in domains}),
        settings={},
        timezone=timezone,
        k=k,
    )
    site.policies.append(
        PolicyVersion(
            version=1,
            categories=copy.deepcopy(DEFAULT_CATEGORIES),
            texts=copy.deepcopy(DEFAULT_TEXTS),
            consent_days=DEFAULT_CONSENT_DAYS,
            refusal_days=DEFAULT_REFUSAL_DAYS,
        )
    )
    db.session.add(site)
    record_change(
        "site.create",
        actor=actor,
        target=f"site:{site.key}",
        details={"timezone": timezone, "k": k},
    )
    staged = stage_invalidation(site_stamp_keys(site.key))
    db.session.commit()
    deliver_invalidation(staged)
    return site


def get_site(site_key: str) -> Site | None:
    return db.session.scalar(select(Site).where(Site.key == site_key))


def require_site(site_key: str) -> Site:
    """The site with ``site_key``, or a 404 ``ApiError``."""
    site = get_site(site_key)
    if site is None:
        raise ApiError(404, "unknown site")
    return site
