"""Email open tracking: campaigns, consenting recipients, signed pixels and read time."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from app.email import admin, pixel, preferences, privacy, routes

    pixel.init_pixels(app)
    for blueprint in (routes.bp, pixel.bp, preferences.bp, admin.bp):
        app.register_blueprint(blueprint)
    privacy.register(app)
