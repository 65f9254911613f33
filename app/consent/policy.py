"""Sites and their versioned consent policies."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from typing import Any

from sqlalchemy import select

from app.audit import record_change
from app.errors import ApiError
from app.extensions import db
from app.models import PolicyVersion, Site
from app.sites.default_policy import (
    DEFAULT_LANGUAGE,
    MAX_CONSENT_DAYS,
)
from app.sites.registry import PolicyError
from app.sites.settings import SiteRules
from app.sites.snapshot import site_stamp_keys
from app.storage.cache import deliver_invalidation, stage_invalidation

CATEGORY_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def validate_policy(
    categories: list[dict[str, Any]],
    texts: dict[str, dict[str, Any]],
    consent_days: int,
    refusal_days: int,
) -> None:
    keys = [c.get("key") for c in categories]
    if any(not isinstance(k, str) or not CATEGORY_KEY.match(k) for k in keys):
        raise PolicyError("category keys are lowercase letters, digits and _ (max 32)")
    if len(set(keys)) != len(keys):
        raise PolicyError("category keys must be unique")
    if "necessary" not in keys or "analytics" not in keys:
        raise PolicyError("a policy always has the necessary and analytics categories")
    if not next(c for c in categories if c["key"] == "necessary").get("required"):
        raise PolicyError("the necessary category is always required")
    if DEFAULT_LANGUAGE not in texts:
        raise PolicyError("a policy needs English texts, the fallback language")
    for lang, lang_texts in texts.items():
        # 16 characters: the width of consent_records.lang, where the tag is stored.
        if len(lang) > 16 or not LANGUAGE_TAG.match(lang):
            raise PolicyError(f"not a language tag: {lang!r}")
        labels = lang_texts.get("categories", {})
        missing = [k for k in keys if k not in labels and lang == DEFAULT_LANGUAGE]
        if missing:
            raise PolicyError(f"English texts lack labels for: {', '.join(missing)}")
    if not 1 <= consent_days <= MAX_CONSENT_DAYS:
        raise PolicyError(f"consent_days must be between 1 and {MAX_CONSENT_DAYS}")
    if not 1 <= refusal_days <= MAX_CONSENT_DAYS:
        raise PolicyError(f"refusal_days must be between 1 and {MAX_CONSENT_DAYS}")


def update_policy(
    site: Site,
    *,
    categories: list[dict[str, Any]] | None = None,
    texts: dict[str, dict[str, Any]] | None = None,
    consent_days: int | None = None,
    refusal_days: int | None = None,
    actor: str = "system",
) -> PolicyVersion:
    """Add a new policy version when anything changed, and audit it; returns the current
    version."""
    current = site.current_policy
    candidate = {
        "categories": categories if categories is not None else current.categories,
        "texts": texts if texts is not None else current.texts,
        "consent_days": consent_days if consent_days is not None else current.consent_days,
        "refusal_days": refusal_days if refusal_days is not None else current.refusal_days,
    }
    validate_policy(**candidate)
    unchanged = all(getattr(current, field) == value for field, value in candidate.items())
    if unchanged:
        return current
    policy = PolicyVersion(version=current.version + 1, **copy.deepcopy(candidate))
    site.policies.append(policy)
    changed = sorted(
        field for field, value in candidate.items() if getattr(current, field) != value
    )
    record_change(
        "policy.update",
        actor=actor,
        target=f"site:{site.key}",
        details={"version": policy.version, "changed": changed},
    )
    staged = stage_invalidation(site_stamp_keys(site.key))
    db.session.commit()
    deliver_invalidation(staged)
    return policy


def policy_version(site_id: int, version: int) -> PolicyVersion:
    """One version of a site's policy (the texts a record's hash is taken over)."""
    policy = db.session.scalar(
        select(PolicyVersion).where(
            PolicyVersion.site_id == site_id, PolicyVersion.version == version
        )
    )
    if policy is None:
        raise ApiError(404, "unknown policy version")
    return policy


def resolve_language(policy: PolicyVersion, requested: str | None) -> str:
    """The language to show: exact tag, then its primary subtag, then English."""
    if requested:
        tag = requested.strip().replace("_", "-")
        for candidate in (tag, tag.lower(), tag.split("-")[0].lower()):
            if candidate in policy.texts:
                return candidate
    return DEFAULT_LANGUAGE


def texts_for(policy: PolicyVersion, lang: str) -> dict[str, Any]:
    """The texts in ``lang``, with English filling any gap."""
    merged = copy.deepcopy(policy.texts[DEFAULT_LANGUAGE])
    chosen = policy.texts.get(lang, {})
    for key, value in chosen.items():
        if key == "categories":
            for cat, cat_texts in value.items():
                merged["categories"].setdefault(cat, {}).update(cat_texts)
        else:
            merged[key] = value
    return merged


def texts_hash(policy: PolicyVersion, lang: str) -> str:
    """SHA-256 of exactly what the visitor was shown: categories and texts in ``lang``."""
    shown = {"categories": policy.categories, "texts": texts_for(policy, lang)}
    canonical = json.dumps(shown, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def policy_payload(site: Site, policy: PolicyVersion, lang: str) -> dict[str, Any]:
    texts = texts_for(policy, lang)
    labels = texts.pop("categories", {})
    return {
        "site": site.key,
        "policy_version": policy.version,
        "lang": lang,
        "languages": sorted(policy.texts),
        "categories": [
            {
                "key": c["key"],
                "required": bool(c.get("required")),
                "label": labels.get(c["key"], {}).get("label", c["key"]),
                "description": labels.get(c["key"], {}).get("description", ""),
            }
            for c in policy.categories
        ],
        "texts": texts,
        "texts_hash": texts_hash(policy, lang),
        "consent_days": policy.consent_days,
        "refusal_days": policy.refusal_days,
        "tracker": {
            "download_extensions": list(SiteRules.of(site.settings).download_extensions),
        },
    }
