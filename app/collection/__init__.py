"""Collection: tracker events in, cleaned and consent-checked rows out."""

from __future__ import annotations

from flask import Flask, request


def init_app(app: Flask) -> None:
    from app.collection import routes
    from app.collection.endpoint import CollectEndpoint
    from app.collection.privacy import register
    from app.extensions import csrf, limiter

    # Beacons carry no cookies (CSRF cannot apply). The endpoint counts its own limits per
    # address and per site in the shared storage (app.ratelimit); Flask-Limiter is skipped.
    csrf.exempt(routes.bp)
    limiter.exempt(routes.bp)
    # A request filter short-circuits the limiter before it resolves any limit.
    limiter.request_filter(lambda: request.blueprint == routes.bp.name)
    app.register_blueprint(routes.bp)
    app.wsgi_app = CollectEndpoint(app, app.wsgi_app)  # type: ignore[method-assign]
    from app.collection import demo_files

    app.register_blueprint(demo_files.bp)
    register(app)
