"""The stamped cache every host shares: values keyed by name, each valid while its
generation stamp is unchanged and it is younger than its trust bound.

Stamps live in the host's mapped file, in Redis, or travel by LISTEN/NOTIFY (see
``generations.py``, ``invalidation.py``, ``listener.py``), so a change committed on one
host is seen at once by every worker of every host. Writers stage the stamp keys of what
they change inside their transaction (``stage_invalidation``) and deliver them after the
commit (``deliver_invalidation``). Sites (``app.sites.snapshot``) and consent records
(``app.consent.cache``) keep their cached answers here.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy import make_url

from app.extensions import db, on_reset
from app.storage.generations import (
    Generations,
    MmapGenerations,
    RedisGenerations,
    StampsUnavailable,
)
from app.storage.invalidation import Invalidator, Staged
from app.storage.listener import NotifiedGenerations

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
    on_reset(app, cache.clear)


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


def stage_invalidation(keys: tuple[str, ...]) -> Staged:
    """Inside the transaction that changes what ``keys`` name (see ``invalidation.py``);
    hand the result to ``deliver_invalidation`` once it has committed."""
    return shared_cache().invalidator.stage(keys)


def deliver_invalidation(staged: Staged) -> None:
    shared_cache().invalidator.deliver(staged)
