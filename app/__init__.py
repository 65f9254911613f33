"""Heedful: consent-first website analytics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import engine_options, load_config
from app.sessions import LazyCookieSessionInterface


def create_app(overrides: dict[str, Any] | None = None, instance_path: str | None = None) -> Flask:
    """Application factory: configuration from the environment, then ``overrides``."""
    app = Flask(
        __name__, static_folder=None, instance_path=instance_path, instance_relative_config=True
    )
    app.config.update(
        load_config(app.instance_path, secret_key=(overrides or {}).get("SECRET_KEY"))
    )
    if overrides:
        app.config.update(overrides)
    if overrides and "SQLALCHEMY_ENGINE_OPTIONS" not in overrides:
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(
            app.config["SQLALCHEMY_DATABASE_URI"]
        )
    app.session_interface = LazyCookieSessionInterface()
    from app import (  # noqa: F401  (models register tables)
        cli,
        errors,
        extensions,
        guard,
        models,
        storage,
    )
    from app.database import init_app as init_database

    extensions.db.init_app(app)
    extensions.migrate.init_app(app, extensions.db, directory=str(_root() / "migrations"))
    extensions.login_manager.init_app(app)
    extensions.csrf.init_app(app)
    extensions.limiter.init_app(app)
    guard.init_app(app)
    init_database(app)
    errors.init_app(app)

    from app import consent
    from app.accounts import auth
    from app.enrichment import context
    from app.storage import cache

    auth.init_app(app)
    cache.init_app(app)
    storage.init_app(app)
    context.init_app(app)
    consent.init_app(app)
    _register_blueprints(app)
    _init_domains(app)
    cli.init_app(app)
    trusted = app.config["HEEDFUL_TRUSTED_PROXIES"]
    if trusted:
        # Outermost, so every layer inside (the collect endpoint too) sees the client's
        # address rather than the proxy's.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted, x_proto=trusted)  # type: ignore[method-assign]
    return app


def _root() -> Path:
    return Path(__file__).resolve().parent.parent


def _register_blueprints(app: Flask) -> None:
    from app import assets, extensions, openapi, page_assets
    from app.admin.routes import bp as admin_bp
    from app.consent.routes import bp as consent_bp
    from app.demo.routes import bp as demo_bp
    from app.privacy.routes import bp as privacy_bp
    from app.sites.origins import apply_cors

    # The public JSON APIs authenticate nothing by cookie (a consent id is a bearer
    # secret), so cross-site request forgery has nothing to ride on there.
    extensions.csrf.exempt(consent_bp)
    extensions.csrf.exempt(privacy_bp)
    # page_assets: the pages' own CSS and JS, which the CSP's ban on inline code moved
    # into files.
    for blueprint in (
        assets.bp,
        page_assets.bp,
        openapi.bp,
        admin_bp,
        consent_bp,
        demo_bp,
        privacy_bp,
    ):
        app.register_blueprint(blueprint)
    app.after_request(apply_cors)


def _init_domains(app: Flask) -> None:
    """Each domain above consent registers its routes, holders and state itself."""
    from app import collection, email, reporting

    collection.init_app(app)
    email.init_app(app)
    reporting.init_app(app)


def main() -> None:
    """Console-script entry point: ``heedful ...`` (the commands live in ``app.cli``)."""
    import sys

    import click

    from app.cli import heedful
    from app.config import ConfigError

    try:
        app = create_app()
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    with app.app_context():
        heedful.main(prog_name="heedful")
