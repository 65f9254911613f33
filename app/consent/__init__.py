"""Consent: the policy a site shows, the records of each choice, and the gates."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from app.consent.privacy import register

    register(app)
