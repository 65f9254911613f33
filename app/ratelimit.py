"""Rate limits: one storage and one key scheme for Flask-Limiter and the WSGI layers.

Flask routes are limited by ``flask_limiter`` decorators; the collect endpoint (through
``app.guard.check_rate``, as it skips Flask's request machinery) and the pixels (which
must answer the same whatever happens) ask the ``RateGuard`` here, which counts in the
very storage Flask-Limiter uses (``limiter.storage``) with the keys it would build:
``LIMITER/[prefix/]key/scope/…``. ``app.guard.init_app`` sets it up.

Keys never hold an address, an email or a consent id: each is a keyed BLAKE2b hash
(salted from ``SECRET_KEY``), and an IPv6 address counts by its /64, the block one
subscriber gets. Storage trouble fails open (see ``app.ratelimit_storage``), logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import math
import threading
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_limiter.errors import RateLimitExceeded
from limits import RateLimitItem, RateLimitItemPerMinute, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

import app.ratelimit_storage  # noqa: F401  (registers the heedful storage schemes)
from app.extensions import RATE_GUARD

log = logging.getLogger(__name__)

# Config key of each WSGI-side rule -> the scope its counters are kept under.
WSGI_RULES = {
    "HEEDFUL_COLLECT_RATE_PER_ADDRESS": "collect.address",
    "HEEDFUL_COLLECT_RATE_PER_SITE": "collect.site",
    "HEEDFUL_PIXEL_RATE_PER_ADDRESS": "pixel.address",
    "HEEDFUL_PIXEL_RATE_PER_SITE": "pixel.site",
    "HEEDFUL_CONSENT_RATE_PER_ID": "consent.id",
    "HEEDFUL_WITHDRAW_RATE_PER_ID": "withdraw.id",
}
OPEN_REPEAT_SCOPE = "pixel.open"
LEASE_FRACTION = 200
LEASED = frozenset({"collect.site", "pixel.site"})
MAX_LEASES = 10_000
# An address's first 1/LOCAL_FRACTION of its limit in each window is counted in this
# process alone; only past that does it touch the shared count (a file under a lock, or
# Redis), adding what it counted. Ordinary visitors never get that far, so collect and
# the pixels pay a dict update instead of a shared-lock round per request (under load
# that round cost a third of bench ingest). The price: an address may exceed its limit
# by at most 1/LOCAL_FRACTION of it per other worker. Limits below 2 * LOCAL_FRACTION
# are counted exactly.
LOCAL_FRACTION = 20


def storage_uri(instance_path: str, redis_url: str | None) -> tuple[str, dict[str, Any]]:
    """The default ``RATELIMIT_STORAGE_URI`` and ``RATELIMIT_STORAGE_OPTIONS``."""
    from pathlib import Path

    host_file = str(Path(instance_path).resolve() / "ratelimit.bin")
    if redis_url and redis_url.startswith(("redis://", "rediss://", "redis+unix://")):
        return "heedful+" + redis_url, {"fallback_path": host_file}
    if redis_url:
        return redis_url, {}  # another scheme limits knows (valkey://…): used as given
    return "heedful-file://" + quote(host_file), {}


class RateGuard:
    """Counts requests against the configured rules; answers how long to wait, if at all."""

    def __init__(self, storage: Storage, config: Any) -> None:
        self.storage = storage
        self.strategy = FixedWindowRateLimiter(storage)
        self.enabled = bool(config.get("RATELIMIT_ENABLED", True))
        prefix = config.get("RATELIMIT_KEY_PREFIX") or ""
        self._prefix: tuple[str, ...] = (prefix,) if prefix else ()
        self._salt = hashlib.blake2b(
            str(config["SECRET_KEY"]).encode(), digest_size=32, person=b"heedful-limits"
        ).digest()
        self.rules: dict[str, Sequence[RateLimitItem]] = {
            scope: parse_many(str(config[name])) for name, scope in WSGI_RULES.items()
        }
        minutes = int(config["HEEDFUL_OPEN_REPEAT_MINUTES"])
        self.open_window = RateLimitItemPerMinute(1, minutes) if minutes > 0 else None
        self.address_key = lru_cache(maxsize=8192)(self._address_key)
        self._keys = lru_cache(maxsize=8192)(self._storage_keys)
        self._last_error = 0.0
        self._lease_lock = threading.Lock()
        self._leases: dict[str, list[float]] = {}
        self._local: dict[str, list[int]] = {}  # key -> [window, requests counted here]

    def hashed(self, kind: str, value: str) -> str:
        digest = hashlib.blake2b(
            value.encode("utf-8", "surrogatepass"), key=self._salt, digest_size=12
        ).hexdigest()
        return kind + digest

    def _address_key(self, address: str | None) -> str:
        address = address or "unknown"
        if ":" in address:
            with contextlib.suppress(ValueError):
                address = str(ipaddress.ip_network(f"{address}/64", strict=False))
        return self.hashed("a", address)

    def wait(self, scope: str, key: str) -> int | None:
        """Count one request under the rule of ``scope`` for ``key``: None when it may go
        ahead, else the seconds until the window that refused it resets."""
        if not self.enabled:
            return None
        try:
            for item, storage_key, lease in self._keys(scope, key):
                wait = self._take(item, storage_key, lease)
                if wait is not None:
                    return wait
        except Exception:
            self._log_failure()
        return None

    def _take(self, item: RateLimitItem, storage_key: str, lease: int) -> int | None:
        """FixedWindowRateLimiter.hit (with its key built once), except that for a site's
        limit this process takes a lease of 1/200 of it from the shared count and spends
        it locally: a busy site costs the shared storage one update per lease, not per
        request. Leases never outlive their window, so no window admits more than the
        limit; unspent ones only admit a little less (at most a lease per process).
        Per-address keys are not leased (each address is a key of its own, rarely hot):
        each process counts an address's first requests itself (``_count_locally``)."""
        if lease <= 1:
            amount = self._count_locally(item, storage_key)
            if amount == 0:
                return None
            if self.storage.incr(storage_key, item.get_expiry(), amount) <= item.amount:
                return None
            return self._until_reset(storage_key)
        now = time.time()
        with self._lease_lock:
            held = self._leases.get(storage_key)
            if held is not None and held[0] > 0 and held[1] > now:
                held[0] -= 1
                return None
        count = self.storage.incr(storage_key, item.get_expiry(), lease)
        granted = min(lease, item.amount - (count - lease))
        if granted <= 0:
            return self._until_reset(storage_key)
        expires = self.storage.get_expiry(storage_key)
        with self._lease_lock:
            if len(self._leases) >= MAX_LEASES:
                self._leases.clear()  # dropping leases only ever admits less
            self._leases[storage_key] = [granted - 1, expires]
        return None

    def _count_locally(self, item: RateLimitItem, storage_key: str) -> int:
        """How many requests to add to the shared count now: 0 while this process's count
        of the window is within its allowance, then all it counted, then 1 per request."""
        allowance = item.amount // LOCAL_FRACTION
        if allowance < 2:
            return 1
        expiry = item.get_expiry()
        window = int(time.time() // expiry)
        with self._lease_lock:
            entry = self._local.get(storage_key)
            if entry is None or entry[0] != window:
                if len(self._local) >= MAX_LEASES:
                    self._local = {k: v for k, v in self._local.items() if v[0] == window}
                    if len(self._local) >= MAX_LEASES:
                        self._local.clear()
                entry = self._local[storage_key] = [window, 0]
            entry[1] += 1
            if entry[1] < allowance:
                return 0
            return allowance if entry[1] == allowance else 1

    def _until_reset(self, storage_key: str) -> int:
        return max(1, math.ceil(self.storage.get_expiry(storage_key) - time.time()))

    def _storage_keys(self, scope: str, key: str) -> tuple[tuple[RateLimitItem, str, int], ...]:
        args = (*self._prefix, key, scope)
        return tuple(
            (item, item.key_for(*args), item.amount // LEASE_FRACTION if scope in LEASED else 1)
            for item in self.rules[scope]
        )

    def first_in_window(self, key: str) -> bool:
        """True for the first pixel open of ``key`` within the repeat window; applies
        whether or not rate limiting is enabled (it is a counting rule)."""
        if self.open_window is None:
            return True
        try:
            return self.strategy.hit(self.open_window, *self._prefix, key, OPEN_REPEAT_SCOPE)
        except Exception:
            self._log_failure()
            return True

    def forget_open(self, key: str) -> None:
        """Undo ``first_in_window`` when the open could not be stored after all."""
        if self.open_window is None:
            return
        try:
            self.strategy.clear(self.open_window, *self._prefix, key, OPEN_REPEAT_SCOPE)
        except Exception:
            self._log_failure()

    def reset(self) -> None:
        with self._lease_lock:
            self._leases.clear()
            self._local.clear()
        self.storage.reset()

    def _log_failure(self) -> None:
        now = time.monotonic()
        if now - self._last_error >= 60:
            self._last_error = now
            log.exception("rate-limit storage failed; letting requests through (fail open)")


def init_app(app: Flask) -> None:
    """After ``limiter.init_app``: share its storage, or (limits off) build the same one."""
    from app.extensions import limiter

    config = app.config
    if config.get("RATELIMIT_ENABLED", True):
        storage = limiter.storage
    else:
        storage = storage_from_string(
            config["RATELIMIT_STORAGE_URI"], **config.get("RATELIMIT_STORAGE_OPTIONS", {})
        )
    app.extensions[RATE_GUARD] = RateGuard(storage, config)  # type: ignore[arg-type]
    app.register_error_handler(RateLimitExceeded, _too_many_requests)


def rate_guard() -> RateGuard:
    return current_app.extensions[RATE_GUARD]


def too_many_payload(message: str = "too many requests, retry later") -> dict[str, str]:
    return {"error": message}


def _too_many_requests(error: RateLimitExceeded) -> Any:
    """429 with Retry-After (Flask-Limiter's own headers are off: it would put a
    Retry-After on every limited answer, 201s included)."""
    from app.extensions import db, limiter

    db.session.rollback()
    current = limiter.current_limit
    wait = max(1, math.ceil(current.window.reset_time - time.time())) if current else 60
    if request.path.startswith("/api/"):
        response = jsonify(too_many_payload(f"too many requests ({error.description})"))
        response.status_code = 429
    else:
        body = render_template("error.html", status=429, error=error)
        response = Response(body, status=429, mimetype="text/html")
    response.headers["Retry-After"] = str(wait)
    return response
