"""``consent_allows``: the single place that decides whether consent allows a use.

Lookups of a site's current policy and of a consent id's latest record are
cached per process and validated against generation stamps (see
``generations.py``), so a withdrawal or a policy bump is seen at once by every
worker. An answer that allows something is trusted for ``ACTIVE_TRUST_SECONDS`` at
most (a backstop), and not at all while the stamps cannot be read.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy import make_url, select

from app.clock import utcnow
from app.consent.generations import (
    Generations,
    MmapGenerations,
    RedisGenerations,
    StampsUnavailable,
)
from app.consent.invalidation import Invalidator, Staged
from app.consent.listener import NotifiedGenerations
from app.extensions import db
from app.models import ConsentRecord, PolicyVersion, Site

MAX_ENTRIES = 100_000
# How long a worker may act on a cached answer that allows something (an active consent,
# a site's current policy) without asking the database again, whatever the stamps say.
# It is the backstop, not the mechanism: a change's stamps reach every host through the
# outbox (which any host's deliverer takes to Redis within about half a second, see
# invalidation.py), LISTEN/NOTIFY, or the host's mapped file. Only a process that dies
# between its commit and its bump of the mapped file can lose one, and then collection
# stops within this bound. Each consent id costs one indexed read per worker per bound,
# so it is kept well above the gap between one visitor's events.
ACTIVE_TRUST_SECONDS = 10.0
# Answers that allow nothing (withdrawn, unknown) only ever err on the side of not
# collecting, so they may stay longer.
MAX_ENTRY_AGE_SECONDS = 60.0


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


@dataclass(frozen=True, slots=True)
class ConsentState:
    record_uid: str
    seq: int
    site_id: int
    policy_version: int
    kind: str
    choices: dict[str, bool]
    recorded_at: datetime
    expires_at: datetime


def consent_status(state: ConsentState, current_version: int, at: datetime) -> str:
    """``active``, ``expired``, ``withdrawn`` or ``stale`` for ``state`` at ``at``."""
    if state.kind == "withdrawal":
        return "withdrawn"
    if at >= state.expires_at:
        return "expired"
    if state.policy_version != current_version:
        return "stale"
    return "active"


class _Cache:
    def __init__(self) -> None:
        self.generations: Generations
        self.invalidator: Invalidator
        self.clock: Callable[[], float] = time.monotonic
        self._entries: OrderedDict[str, tuple[int, float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._started = False

    def get(
        self,
        key: str,
        load: Callable[[], Any],
        *,
        stamp_key: str | None = None,
        trust: Callable[[Any], float] | None = None,
    ) -> Any:
        """The cached value of ``key`` while its stamp is unchanged and it is younger than
        ``trust(value)`` seconds (60 by default); else ``load()``. Stamps that cannot be
        read mean the database is asked and nothing is kept."""
        if not self._started:
            self._start()
        try:
            stamp = self.generations.get(stamp_key or key)
        except StampsUnavailable:
            return load()
        now = self.clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == stamp and now < entry[1]:
                self._entries.move_to_end(key)
                return entry[2]
        value = load()
        expires = now + (trust(value) if trust is not None else MAX_ENTRY_AGE_SECONDS)
        with self._lock:
            self._entries[key] = (stamp, expires, value)
            self._entries.move_to_end(key)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)
        return value

    def _start(self) -> None:
        # First use, not import or app creation: CLI commands start no threads.
        self._started = True
        deliverer = self.invalidator.deliverer
        if deliverer is not None:
            deliverer.start()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def stop(self) -> None:
        """End this process's listener and deliverer threads (tests, app disposal)."""
        for worker in (self.generations, self.invalidator.deliverer):
            stop = getattr(worker, "stop", None)
            if stop is not None:
                stop()
        self._started = False


def init_app(app: Flask) -> None:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    namespace = hashlib.sha256(url.encode()).hexdigest()[:12]
    redis_url = app.config.get("HEEDFUL_REDIS_URL")
    cache = _Cache()
    if redis_url:
        cache.generations = RedisGenerations(redis_url, namespace, on_recover=cache.clear)
        mode = "outbox"
    else:
        local = MmapGenerations(Path(app.instance_path) / f"consent-gen-{namespace}.bin")
        if url.startswith("postgresql"):
            _require_psycopg(url)
            cache.generations = NotifiedGenerations(
                local, connect=lambda: _listening_connection(app), on_reset=cache.clear
            )
            mode = "notify"
        else:
            cache.generations, mode = local, "local"
    cache.invalidator = Invalidator(app, cache.generations, mode)
    app.extensions["heedful_consent_cache"] = cache


def _require_psycopg(url: str) -> None:
    """Refuse at start-up a set-up whose hosts could not hear each other's changes."""
    if make_url(url).get_driver_name() != "psycopg":
        raise RuntimeError(
            "PostgreSQL without HEEDFUL_REDIS_URL: hosts share consent changes by "
            "LISTEN/NOTIFY, which needs the psycopg 3 driver; use a postgresql+psycopg:// "
            "URL, or set HEEDFUL_REDIS_URL"
        )


def _listening_connection(app: Flask) -> Any:
    """A psycopg connection of its own, made as the app's engine makes them."""
    import psycopg

    with app.app_context():
        engine = db.engine
    args, params = engine.dialect.create_connect_args(engine.url)
    params.update(app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}).get("connect_args", {}))
    params.setdefault("connect_timeout", 5)
    return psycopg.connect(*args, **params, autocommit=True)


def shared_cache() -> _Cache:
    return current_app.extensions["heedful_consent_cache"]


def _site_key(site_key: str) -> str:
    return "site:" + site_key


def _consent_key(consent_id: str) -> str:
    return "consent:" + consent_id


def site_stamp_keys(site_key: str) -> tuple[str, ...]:
    return (_site_key(site_key), "sites")


def consent_stamp_keys(consent_id: str) -> tuple[str, ...]:
    return (_consent_key(consent_id),)


def stage_invalidation(keys: tuple[str, ...]) -> Staged:
    """Inside the transaction that changes what ``keys`` name (see ``invalidation.py``);
    hand the result to ``deliver_invalidation`` once it has committed."""
    return shared_cache().invalidator.stage(keys)


def deliver_invalidation(staged: Staged) -> None:
    shared_cache().invalidator.deliver(staged)


def invalidate_site(site_key: str) -> None:
    """Call after committing a change to a site or its policy that staged nothing."""
    shared_cache().invalidator.after_commit(site_stamp_keys(site_key))


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


def _consent_trust(state: ConsentState | None) -> float:
    allows = state is not None and state.kind == "choice"
    return ACTIVE_TRUST_SECONDS if allows else MAX_ENTRY_AGE_SECONDS


def load_consent_state(
    site_id: int, consent_id: str, as_of: datetime | None = None
) -> ConsentState | None:
    query = (
        select(ConsentRecord)
        .where(ConsentRecord.site_id == site_id, ConsentRecord.consent_id == consent_id)
        .order_by(ConsentRecord.seq.desc())
        .limit(1)
    )
    if as_of is not None:
        query = query.where(ConsentRecord.recorded_at <= as_of)
    record = db.session.scalar(query)
    return None if record is None else consent_state_of(record)


def consent_state_of(record: ConsentRecord) -> ConsentState:
    return ConsentState(
        record_uid=record.record_uid,
        seq=record.seq,
        site_id=record.site_id,
        policy_version=record.policy_version,
        kind=record.kind,
        choices=dict(record.choices),
        recorded_at=record.recorded_at,
        expires_at=record.expires_at,
    )


def latest_consent(site_id: int, consent_id: str, *, cached: bool = True) -> ConsentState | None:
    if not cached:
        return load_consent_state(site_id, consent_id)
    return shared_cache().get(
        f"{site_id}:{consent_id}",
        lambda: load_consent_state(site_id, consent_id),
        stamp_key=_consent_key(consent_id),
        trust=_consent_trust,
    )


def consent_allows(
    site: str | SiteSnapshot,
    consent_id: str | None,
    category: str,
    at: datetime | None = None,
    *,
    cached: bool = True,
) -> bool:
    """True when ``consent_id``'s record on ``site`` in force at ``at`` is active and grants
    ``category``. ``at`` defaults to now; this is the one check every collector makes."""
    if not consent_id:
        return False
    at = at or utcnow()
    snapshot = site if isinstance(site, SiteSnapshot) else site_snapshot(site, cached=cached)
    if snapshot is None:
        return False
    state = latest_consent(snapshot.id, consent_id, cached=cached)
    if state is not None and at < state.recorded_at:
        state = load_consent_state(snapshot.id, consent_id, as_of=at)
    if state is None:
        return False
    if consent_status(state, snapshot.policy_version, at) != "active":
        return False
    return state.choices.get(category) is True
