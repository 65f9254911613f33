"""Collection: tracker events in, cleaned and consent-checked rows out."""

from __future__ import annotations

from flask import Flask, request


def init_app(app: Flask) -> None:
    from app.collection import routes
    from app.collection.endpoint import CollectEndpoint
    from app.collection.privacy import register
    from app.collection.rows import clear_url_caches
    from app.collection.visits import VISITS, VisitTracker
    from app.extensions import csrf, limiter, on_reset

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
    # The visits this process has seen, and the pages, referrers and titles it has worked
    # out: forgotten on reset, so that no worker remembers visits an erasure deleted.
    visits = app.extensions[VISITS] = VisitTracker()
    on_reset(app, visits.clear)
    on_reset(app, clear_url_caches)
