"""Flask's cookie session, minus the work for requests that carry no session cookie.

Beacons, pixels and public API calls never have one; building the signing serializer for
each of them was a measurable share of the collector's time.
"""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


class LazyCookieSessionInterface(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)
