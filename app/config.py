"""Configuration read from the environment (see CONTRACT.md, "Configuration")."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
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
    timeouts = database_timeouts(env)
    return {
        "HEEDFUL_ENV": heedful_env,
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(database_url, timeouts),
        "HEEDFUL_DB_TIMEOUTS": timeouts,
        "HEEDFUL_GEOIP_CITY_DB": env.get("HEEDFUL_GEOIP_CITY_DB")
        or bundled_geoip(instance_path, "country"),
        "HEEDFUL_GEOIP_ASN_DB": env.get("HEEDFUL_GEOIP_ASN_DB")
        or bundled_geoip(instance_path, "asn"),
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


# `heedful geoip update` (app/geoip_update.py) installs the free databases here, one file
# per kind; the settings point at them by default once they exist.
GEOIP_DIR = "geoip"


def bundled_geoip(instance_path: str, kind: str) -> str | None:
    """``instance/geoip/{kind}.mmdb`` when it has been installed, else None."""
    path = Path(instance_path) / GEOIP_DIR / f"{kind}.mmdb"
    return str(path) if path.is_file() else None


@dataclass(frozen=True)
class DatabaseTimeouts:
    """Every bound on waiting for the database, in seconds, in one place (README, "Timeouts").

    A request must end, with 503 and Retry-After if need be, while the database is slow,
    locked, gone or frozen: each wait below is bounded, and no request thread can be held
    for much longer than ``request``. The values are those of a deployment: a healthy
    statement takes milliseconds, so a few seconds means something is wrong.
    """

    statement: float = 5.0  # PostgreSQL statement_timeout; HEEDFUL_DB_STATEMENT_TIMEOUT
    connect: int = 3  # libpq connect_timeout (whole seconds; libpq takes at least 2)
    lock: float = 2.0  # PostgreSQL lock_timeout: a row or table lock held by another
    idle_in_transaction: float = 10.0  # a session left in a transaction is ended
    keepalive_idle: int = 5  # TCP keepalives: a vanished peer is noticed after
    keepalive_interval: int = 2  # idle + interval * count = 11 s without traffic
    keepalive_count: int = 3
    pool: float = 3.0  # waiting for a free connection of the engine's pool
    ping: float = 2.0  # the pool's check of an idle connection (SELECT 1) before use
    sqlite_busy: float = 5.0  # SQLite's busy timeout: waiting for another writer

    @property
    def round_trip(self) -> float:
        """Client side: the longest one exchange with PostgreSQL may take before the
        connection is dropped. The server's own timeouts cannot fire while the server, or
        the path to it, is frozen; and the kernel still acknowledges what is sent to a
        stopped process, so neither ``tcp_user_timeout`` nor keepalives fire either."""
        return self.statement + 2.0

    @property
    def tcp_user_timeout(self) -> float:
        """Data sent but not acknowledged for this long: the peer is gone."""
        return self.round_trip

    @property
    def write_wait(self) -> float:
        """How long a batch waits for its group's commit before the request answers 503."""
        return self.round_trip + 1.0

    @property
    def write_stalled(self) -> float:
        """A group commit running this long means the store does not answer: new batches
        are refused at once (503) instead of queueing behind it and holding a thread."""
        return 2.0

    @property
    def request(self) -> float:
        """About the longest a request waits for storage: a pooled connection, a dead one
        found out, a new one tried."""
        return self.pool + self.round_trip + self.connect

    def server_options(self) -> str:
        """libpq ``options``: the server-side timeouts, set when a connection starts."""
        settings = {
            "statement_timeout": self.statement,
            "lock_timeout": self.lock,
            "idle_in_transaction_session_timeout": self.idle_in_transaction,
        }
        return " ".join(f"-c {name}={round(value * 1000)}" for name, value in settings.items())


# A command-line job (a migration's index build, a rollup rebuild, a purge) may run one
# statement for minutes, and holds no request thread while it does.
COMMAND_STATEMENT_TIMEOUT = 3600.0
COMMANDS = frozenset({"heedful", "flask"})


def database_timeouts(
    env: Mapping[str, str] | None = None, *, command: bool | None = None
) -> DatabaseTimeouts:
    """The timeouts for this process: a server's, or (``command``; by default, when the
    process is ``heedful`` or ``flask``) a command-line job's, whose statements may run
    for up to an hour unless ``HEEDFUL_DB_STATEMENT_TIMEOUT`` says otherwise."""
    env = os.environ if env is None else env
    if command is None:
        # ``flask run`` serves requests: a server's timeouts.
        command = bool(sys.argv) and Path(sys.argv[0]).name in COMMANDS and "run" not in sys.argv
    default = COMMAND_STATEMENT_TIMEOUT if command else DatabaseTimeouts.statement
    statement = _float(env, "HEEDFUL_DB_STATEMENT_TIMEOUT", default)
    if not statement > 0:
        raise ConfigError("HEEDFUL_DB_STATEMENT_TIMEOUT must be more than 0 (seconds)")
    if command:
        # A job may also think between statements of one transaction (an export, a demo).
        return DatabaseTimeouts(statement=statement, idle_in_transaction=COMMAND_STATEMENT_TIMEOUT)
    return DatabaseTimeouts(statement=statement)


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


def engine_options(url: str, timeouts: DatabaseTimeouts | None = None) -> dict[str, Any]:
    timeouts = timeouts or database_timeouts()
    if url.startswith("sqlite"):
        # check_same_thread off: the threaded dev and test servers share a pool.
        return {
            "connect_args": {"check_same_thread": False, "timeout": timeouts.sqlite_busy},
            "pool_timeout": timeouts.pool,
        }
    # The server-side timeouts travel as libpq ``options``, which ``app.database`` adds to
    # any the URL names (a URL's own ``options`` would be replaced by connect_args').
    return {
        "pool_pre_ping": True,
        "pool_size": 10,
        "max_overflow": 20,
        "pool_timeout": timeouts.pool,
        "connect_args": {
            "connect_timeout": timeouts.connect,
            "keepalives": 1,
            "keepalives_idle": timeouts.keepalive_idle,
            "keepalives_interval": timeouts.keepalive_interval,
            "keepalives_count": timeouts.keepalive_count,
            "tcp_user_timeout": round(timeouts.tcp_user_timeout * 1000),
        },
    }
