"""Reports: figures built from what the domains below collected, read from the rollups
(``rollup``) where they are final and from raw events where not (``ranges``)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from app.reporting import admin, privacy, routes

    for blueprint in (routes.bp, admin.bp):
        app.register_blueprint(blueprint)
    privacy.register(app)
