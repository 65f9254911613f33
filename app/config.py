"""Configuration read from the environment (see CONTRACT.md, "Configuration")."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class ConfigError(RuntimeError):
    """Raised at start-up when the environment cannot run the service safely."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def load_config(
    instance_path: str, env: Mapping[str, str] | None = None, *, secret_key: str | None = None
) -> dict[str, Any]:
    """Build the Flask config mapping from ``env`` (``os.environ`` by default).

    ``secret_key`` is one the caller supplies directly (the factory's overrides).
    """
    env = os.environ if env is None else env
    heedful_env = env.get("HEEDFUL_ENV", "production")
    secret = secret_key or env.get("HEEDFUL_SECRET_KEY")
    if not secret:
        if heedful_env != "development":
            raise ConfigError(
                "HEEDFUL_SECRET_KEY is not set. It signs sessions, tokens and receipts, so "
                "Heedful will not start without it. Set it to a long random string, e.g. "
                "`export HEEDFUL_SECRET_KEY=\"$(python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')\"`, or set HEEDFUL_ENV=development "
                "for a local demo."
            )
        secret = "development-only-secret-do-not-deploy"
    default_db = "sqlite:///" + str(Path(instance_path) / "heedful.db")
    database_url = env.get("HEEDFUL_DATABASE_URL") or default_db
    trusted = _int(env, "HEEDFUL_TRUSTED_PROXIES", 0)
    if trusted < 0:
        raise ConfigError("HEEDFUL_TRUSTED_PROXIES cannot be negative")
    read_holds = _int(env, "HEEDFUL_READ_HOLD_MAX", 500)
    if read_holds < 0:
        raise ConfigError("HEEDFUL_READ_HOLD_MAX cannot be negative (0 switches holding off)")
    read_tick = _float(env, "HEEDFUL_READ_TICK_SECONDS", 0.5)
    if not read_tick > 0:
        raise ConfigError("HEEDFUL_READ_TICK_SECONDS must be more than 0")
    return {
        "HEEDFUL_ENV": heedful_env,
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(database_url),
        "HEEDFUL_GEOIP_CITY_DB": env.get("HEEDFUL_GEOIP_CITY_DB") or None,
        "HEEDFUL_GEOIP_ASN_DB": env.get("HEEDFUL_GEOIP_ASN_DB") or None,
        "HEEDFUL_REDIS_URL": env.get("HEEDFUL_REDIS_URL") or None,
        "HEEDFUL_TRUSTED_PROXIES": trusted,
        "HEEDFUL_PUBLIC_URL": env.get("HEEDFUL_PUBLIC_URL") or None,
        # Read-time pixels held open at once per worker, and the seconds between frames.
        "HEEDFUL_READ_HOLD_MAX": read_holds,
        "HEEDFUL_READ_TICK_SECONDS": read_tick,
        "HEEDFUL_CONTROLLER": env.get("HEEDFUL_CONTROLLER", "Heedful demo controller"),
        # Test-only switch: real-browser tests run headless Chromium, which bot
        # heuristics would otherwise hide the banner from and drop as a bot.
        "HEEDFUL_ALLOW_HEADLESS": env.get("HEEDFUL_ALLOW_HEADLESS") == "1",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": heedful_env == "production",
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": 3600,
        **rate_limits(env, instance_path),
        "MAX_CONTENT_LENGTH": 1024 * 1024,
    }


# Rate limits (limits' notation, ";" between several): settable in the environment too.
RATE_DEFAULTS = {
    "HEEDFUL_LOGIN_RATE": "20/minute",  # password checks per address
    "HEEDFUL_LOGIN_ACCOUNT_RATE": "10/minute;50/hour",  # per account, from any address
    "HEEDFUL_CONSENT_RATE": "120/minute",  # consent records per address
    "HEEDFUL_CONSENT_RATE_PER_ID": "30/minute",  # changes to one consent id
    "HEEDFUL_POLICY_RATE": "600/minute",
    "HEEDFUL_STATUS_RATE": "300/minute",
    "HEEDFUL_WITHDRAW_RATE": "60/minute",
    "HEEDFUL_WITHDRAW_RATE_PER_ID": "10/minute",
    "HEEDFUL_DATA_RATE": "60/minute",  # self-service access and erasure, per address
    "HEEDFUL_COLLECT_RATE_PER_ADDRESS": "600/minute",
    "HEEDFUL_COLLECT_RATE_PER_SITE": "120000/minute",
    "HEEDFUL_PIXEL_RATE_PER_ADDRESS": "600/minute",
    "HEEDFUL_PIXEL_RATE_PER_SITE": "60000/minute",
}


def rate_limits(env: Mapping[str, str], instance_path: str) -> dict[str, Any]:
    """Limit settings; counters shared by a host's workers, or by every host via Redis."""
    from limits import parse_many

    from app.ratelimit import storage_uri

    settings: dict[str, Any] = {}
    for name, default in RATE_DEFAULTS.items():
        value = env.get(name) or default
        try:
            parse_many(value)
        except ValueError as exc:
            raise ConfigError(f"{name} must read like '600/minute', got {value!r}") from exc
        settings[name] = value
    repeat = _int(env, "HEEDFUL_OPEN_REPEAT_MINUTES", 30)
    if repeat < 0:
        raise ConfigError("HEEDFUL_OPEN_REPEAT_MINUTES cannot be negative (0 counts every open)")
    uri, options = storage_uri(instance_path, env.get("HEEDFUL_REDIS_URL") or None)
    return {
        **settings,
        # Repeated opens of one pixel count once per recipient, campaign and verdict.
        "HEEDFUL_OPEN_REPEAT_MINUTES": repeat,
        "RATELIMIT_STORAGE_URI": uri,
        "RATELIMIT_STORAGE_OPTIONS": options,
        # Our 429 handler writes Retry-After; Flask-Limiter's would put one on every 2xx.
        "RATELIMIT_HEADERS_ENABLED": False,
        # Belt and braces: a storage error lets the request through, logged, never a 500.
        "RATELIMIT_SWALLOW_ERRORS": True,
    }


def engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # check_same_thread off: the threaded dev and test servers share a pool.
        return {"connect_args": {"check_same_thread": False, "timeout": 30}}
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20}
