"""Unbound extensions; ``create_app`` binds them with ``init_app``."""

from collections.abc import Callable

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    # Named constraints keep Alembic migrations portable between SQLite and PostgreSQL.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()


# Where app.ratelimit keeps the app's rate guard (it imports this module, not the reverse).
RATE_GUARD = "heedful_rate_guard"


def _address_key() -> str:
    # The client address (proxy-corrected), hashed by the app's rate guard.
    return current_app.extensions[RATE_GUARD].address_key(request.remote_addr)


# Keyed by a hash of the client address; storage and limits: app.ratelimit, app.config.
limiter = Limiter(key_func=_address_key, default_limits=[])


@limiter.request_filter
def _limits_off_in_this_app() -> bool:
    # One Limiter serves every app of a process (the tests build many), and its own
    # `enabled` flag is whichever app came last: each app's setting is honoured here.
    return not current_app.config.get("RATELIMIT_ENABLED", True)


# Process-wide state (caches, trackers, registries) is owned by the app in
# ``app.extensions``, never by a module global, and each owner registers how to forget
# it. Erasure, purge and the tests call ``reset_process_state`` so that no worker keeps
# remembering rows that are gone.
RESETS = "heedful_resets"


def on_reset(app: Flask, forget: Callable[[], None]) -> None:
    """Register ``forget`` to run whenever ``reset_process_state`` is called for ``app``."""
    app.extensions.setdefault(RESETS, []).append(forget)


def reset_process_state(app: Flask | None = None) -> None:
    """Forget every cached or remembered thing that this process holds for ``app``."""
    target = app if app is not None else current_app
    for forget in target.extensions.get(RESETS, []):
        forget()
