"""CORS for the public endpoints, limited to each site's registered domains.

Flask-CORS takes a static origin list; ours depends on which site a request
names, so the check is done here per request.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from flask import Response, current_app, g, request
from sqlalchemy import select

from app.errors import ApiError
from app.extensions import db
from app.models import Site
from app.storage.cache import shared_cache

ALLOWED_METHODS = "GET, POST, DELETE, OPTIONS"
ALLOWED_HEADERS = "Content-Type"
MAX_AGE = "600"


def origin_host(origin: str | None) -> str | None:
    if not origin or origin == "null":
        return None
    try:
        return urlsplit(origin).hostname
    except ValueError:
        return None


def _all_domains() -> frozenset[str]:
    def load() -> frozenset[str]:
        rows = db.session.scalars(select(Site.domains)).all()
        return frozenset(d for domains in rows for d in (domains or ()))

    return shared_cache().get("all-domains", load, stamp_key="sites")


def check_origin(domains: Iterable[str]) -> None:
    """Raise 403 when the request carries an ``Origin`` the site has not registered.

    Requests without ``Origin`` (servers, curl) are not browsers and need no CORS. A
    request that passes gets its CORS headers from ``apply_cors`` on whatever response it
    ends with, errors raised later (409 stale policy, 503 busy) included; otherwise the
    browser would hide those from the banner.
    """
    origin = request.headers.get("Origin")
    require_registered_origin(origin, domains)
    g.heedful_cors_checked = True
    g.heedful_cors_origin = origin


def require_registered_origin(origin: str | None, domains: Iterable[str]) -> None:
    """Raise 403 unless ``origin`` is absent or on one of ``domains``."""
    if origin is not None:
        host = origin_host(origin)
        if host is None or not host_belongs(host, domains):
            raise ApiError(403, "this origin is not registered for the site")


def cors_headers(origin: str | None) -> dict[str, str]:
    """The headers that let a checked ``origin`` read the response."""
    if not origin:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "false"}


def allow_origin(response: Response, origin: str | None) -> Response:
    response.headers.update(cors_headers(origin))
    response.vary.add("Origin")
    return response


def preflight() -> Response:
    """Answer an OPTIONS preflight for any origin registered by some site."""
    origin = request.headers.get("Origin")
    host = origin_host(origin)
    response = current_app.response_class(status=204)
    if host is not None and host_belongs(host, _all_domains()):
        response.headers["Access-Control-Allow-Origin"] = origin or ""
        response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = MAX_AGE
    response.vary.add("Origin")
    return response


def apply_cors(response: Response) -> Response:
    """``after_request`` hook: the CORS headers of a request that passed ``check_origin``."""
    if g.get("heedful_cors_checked"):
        allow_origin(response, g.get("heedful_cors_origin"))
    return response


def host_belongs(host: str, domains: Iterable[str]) -> bool:
    """True when ``host`` is one of ``domains`` or a subdomain of one; ports are ignored."""
    bare = _strip_port(host)
    if not bare:
        return False
    for domain in domains:
        registered = _strip_port(domain).lstrip(".")
        # The dot before the suffix is what keeps "badexample.com" out of "example.com".
        if registered and (bare == registered or bare.endswith("." + registered)):
            return True
    return False


def _strip_port(value: str) -> str:
    """Lowercased host of a ``host[:port]`` string, tolerating bracketed IPv6 literals."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        value = value[1:end] if end != -1 else value[1:]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    return value.rstrip(".")
