"""The security headers each kind of answer carries (``app.guard`` sets them on all).

Pages get a strict Content-Security-Policy: scripts and styles only from this origin and
never inline, no framing (``frame-ancestors 'none'`` and, for old browsers,
``X-Frame-Options: DENY``), forms posting only here. JSON answers get a policy that lets
them render nothing. The banner's files and the email pixels are embedded by other sites
and mail clients, so they get only ``nosniff`` (a CSP on them would protect nothing and
framing rules would only get in the way); so does the collect endpoint's answer, which
other sites' pages read. HSTS is sent on https requests only, as seen through
``HEEDFUL_TRUSTED_PROXIES`` (ProxyFix sets the scheme from ``X-Forwarded-Proto``).
"""

from __future__ import annotations

import base64
import hashlib

from app.assets import asset_bytes

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
# An API answer is data: if a browser is ever made to render one, it may load nothing.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# One year: once a browser has seen it, it uses only https for this host.
HSTS = "max-age=31536000; includeSubDomains"
REFERRER_POLICY = "same-origin"
# Served to other sites' pages and to mail clients: nosniff only.
EMBEDDED_BLUEPRINTS = frozenset({"assets", "email_pixel"})
# /demo is a customer page: the banner inserts its own <style> element, allowed by hash.
DEMO_ENDPOINT = "demo.demo_page"


def banner_style_hash() -> str:
    """The CSP hash source of the ``<style>`` text heedful.js inserts (its minified CSS)."""
    digest = hashlib.sha256(asset_bytes("heedful.css").minified).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def demo_policy() -> str:
    return PAGE_POLICY.replace("style-src 'self'", f"style-src 'self' {banner_style_hash()}")
