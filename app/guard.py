"""The guard: the edge checks a request passes before any domain code sees it.

One named step, in this order:

1. **path strings**: a path parameter no key, id or token can be (NUL, a lone surrogate,
   over ``MAX_PATH_VALUE`` characters) names nothing: 404. A query value or form field
   that cannot be stored is input: 400 (``check_path_strings``, ``check_input_strings``);
2. **rate limits**: Flask routes by their Flask-Limiter decorators, the WSGI front door by
   ``check_rate``; both count in the same storage under the same keys (``app.ratelimit``);
3. **body**: at most a given size, a JSON object of storable strings (``read_json_body``
   over the environ; a Flask view reads its own with ``app.http.read_json_object``, the
   same parser; Flask also caps every body at ``MAX_CONTENT_LENGTH``);
4. **answer headers**: ``security_headers(kind)``, the security headers of a page, a JSON
   answer (the collect answer is one) or an embedded file.

Every request goes through Flask, with one exception: ``POST /api/v1/collect`` is
answered by ``app.collection.endpoint.CollectEndpoint``, a small WSGI layer in front of
Flask. Every page view of every consenting visitor comes through it, and Flask's
per-request machinery (URL matching, cookie session, CSRF, Flask-Limiter's bookkeeping,
the hooks) costs more CPU than storing the batch: ``bench ingest`` must stay at 0.5x a
bare Flask endpoint or better. It gets none of Flask's hooks, so it calls the functions
here itself, in order, at its top; Flask requests reach the same functions through the
hooks ``init_app`` registers. Its path is fixed (it answers only that exact path), so
it has no path parameter to check; its query string is not read.

This module sits beside ``app.http``, ``app.ratelimit`` and ``app.security_headers`` and
uses them; they never import it.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Literal

from flask import Flask, Response, current_app, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, HTTPException, NotFound
from werkzeug.http import parse_options_header
from werkzeug.wsgi import get_content_length, get_input_stream

from app import ratelimit
from app.errors import ApiError
from app.http import FORM_TYPES, MAX_PATH_VALUE, holds_unstorable, parse_json_body
from app.ratelimit import rate_guard, too_many_payload
from app.security_headers import (
    API_POLICY,
    DEMO_ENDPOINT,
    EMBEDDED_BLUEPRINTS,
    HSTS,
    PAGE_POLICY,
    REFERRER_POLICY,
    demo_policy,
)

AnswerKind = Literal["page", "demo", "json", "embedded"]
Headers = list[tuple[str, str]]

NOSNIFF = ("X-Content-Type-Options", "nosniff")
_FRAMED_NOWHERE = (("Referrer-Policy", REFERRER_POLICY), ("X-Frame-Options", "DENY"))


# --- 1. path strings ---------------------------------------------------------------------


def check_path_strings(values: Iterable[object]) -> None:
    """404 for a path parameter that no key, id or token the service issues can be."""
    for value in values:
        if isinstance(value, str) and (len(value) > MAX_PATH_VALUE or holds_unstorable(value)):
            raise NotFound()


def check_input_strings(values: MultiDict[str, str], what: str) -> None:
    """400 for a query value or form field (``what``) that cannot be stored."""
    if any(
        holds_unstorable(key) or holds_unstorable(value) for key, value in values.items(multi=True)
    ):
        raise BadRequest(description=f"a {what} holds NUL or a lone surrogate")


def check_request_strings() -> None:
    """``before_request`` hook: step 1 for a Flask request (its URL already matched).

    Skipped for views that answer every request themselves (``app.http.answers_any_input``).
    """
    endpoint = request.endpoint
    view = current_app.view_functions.get(endpoint) if endpoint else None
    if getattr(view, "heedful_answers_any_input", False):
        return
    check_path_strings((request.view_args or {}).values())
    check_input_strings(request.args, "query parameter")
    if request.mimetype in FORM_TYPES:
        check_input_strings(_parsed_form(), "form field")


def _parsed_form() -> MultiDict[str, str]:
    try:
        return request.form
    except HTTPException:
        raise
    except Exception as exc:  # noqa: BLE001 (as in app.http: the server's own errors)
        raise BadRequest("request body is incomplete or malformed") from exc


# --- 2. rate limits ----------------------------------------------------------------------


def address_key(environ: dict[str, Any]) -> str:
    """The rate-limit key of the client's address (a keyed hash; IPv6 by its /64)."""
    return rate_guard().address_key(environ.get("REMOTE_ADDR"))


def check_rate(scope: str, key: str) -> None:
    """Count one request under ``scope`` for ``key``; 429 with Retry-After past the limit."""
    wait = rate_guard().wait(scope, key)
    if wait is not None:
        error = ApiError(429, too_many_payload()["error"])
        error.headers["Retry-After"] = str(wait)
        raise error


# --- 3. body -----------------------------------------------------------------------------


def read_json_body(environ: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """The request body as a JSON object of at most ``max_bytes`` (415, 413 or 400 if not)."""
    return parse_json_body(
        # Bounded by Content-Length (or the server's end of input), as Flask's is.
        get_input_stream(environ),
        _mimetype(environ.get("CONTENT_TYPE")),
        get_content_length(environ),
        max_bytes,
    )


@lru_cache(maxsize=64)
def _mimetype(content_type: str | None) -> str:
    # Senders use a handful of spellings ("text/plain;charset=UTF-8", …): parse each once.
    return parse_options_header(content_type)[0].lower()


# --- 4. answer headers -------------------------------------------------------------------


def security_headers(kind: AnswerKind, *, secure: bool = False) -> Headers:
    """The security headers of an answer of ``kind``; ``secure`` for an https request.

    Pages get the strict policy (the demo page allows the banner's style by its hash),
    JSON answers (the collect front door's too) a policy that lets them render nothing,
    and files embedded by other sites and mail clients only ``nosniff``.
    """
    headers = [NOSNIFF]
    if secure:
        headers.append(("Strict-Transport-Security", HSTS))
    if kind == "embedded":
        return headers
    headers.extend(_FRAMED_NOWHERE)
    if kind == "json":
        policy = API_POLICY
    elif kind == "demo":
        policy = demo_policy()
    else:
        policy = PAGE_POLICY
    headers.append(("Content-Security-Policy", policy))
    return headers


def answer_kind(response: Response) -> AnswerKind:
    """The kind of answer a Flask response to the current request is."""
    if request.blueprint in EMBEDDED_BLUEPRINTS:
        return "embedded"
    if response.mimetype != "text/html":
        return "json"
    return "demo" if request.endpoint == DEMO_ENDPOINT else "page"


def add_security_headers(response: Response) -> Response:
    """``after_request`` hook: step 4 for a Flask answer; headers a view set stay."""
    headers = response.headers
    for name, value in security_headers(answer_kind(response), secure=request.is_secure):
        headers.setdefault(name, value)
    return response


def init_app(app: Flask) -> None:
    """The guard for Flask requests; after ``limiter.init_app`` (it shares its storage)."""
    ratelimit.init_app(app)
    # First of all before_request functions: CSRF protection reads the form too, and a
    # broken body must become a 400 here rather than an exception there.
    app.before_request_funcs.setdefault(None, []).insert(0, check_request_strings)
    app.after_request(add_security_headers)
