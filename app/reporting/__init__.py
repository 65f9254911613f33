"""Reports: figures built from what the domains below collected (for now, email)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from app.reporting import admin, routes

    for blueprint in (routes.bp, admin.bp):
        app.register_blueprint(blueprint)
