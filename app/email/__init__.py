"""Email open tracking: campaigns, consenting recipients, signed pixels and read time."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from app.cli import heedful
    from app.email import admin, pixel, preferences, routes
    from app.email.cli import email_group

    pixel.init_pixels(app)
    for blueprint in (routes.bp, pixel.bp, preferences.bp, admin.bp):
        app.register_blueprint(blueprint)
    if email_group.name not in heedful.commands:
        heedful.add_command(email_group)
