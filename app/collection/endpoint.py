"""``POST /api/v1/collect``: parse, authorise (CORS), hand to the service, serialise.

Every page view of every consenting visitor comes through here, so the endpoint is a
small WSGI layer in front of Flask rather than a Flask view: it needs only the
application context (configuration, database session), not a request context, URL
matching, cookie session, CSRF, Flask-Limiter's bookkeeping or ``after_request`` hooks,
which together cost more CPU than validating, enriching and storing the batch. Its limits
(per address, then per site) are counted directly in the same storage (``app.ratelimit``).
Other methods on the path (the ``OPTIONS`` preflight, and a 405 for anything else) go on
to Flask.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from http import HTTPStatus
from typing import Any

from flask import Flask
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.http import parse_options_header
from werkzeug.wsgi import get_content_length, get_input_stream

from app.clock import utcnow
from app.collection.service import collect
from app.collection.validation import MAX_BODY_BYTES, parse_batch
from app.enrichment.context import client_facts_of
from app.errors import ApiError, storage_unavailable
from app.extensions import db
from app.http import parse_json_body
from app.ratelimit import rate_guard
from app.sites.origins import cors_headers, require_registered_origin
from app.sites.snapshot import resolve_site
from app.storage.store import WriteTimeout

log = logging.getLogger(__name__)

COLLECT_PATH = "/api/v1/collect"

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(slots=True)
class Answer:
    status: int
    payload: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def answer_collect(environ: dict[str, Any]) -> Answer:
    """Store the batch in a WSGI request to the collect endpoint, or say why not.

    Runs inside an application context. Errors the client caused or must handle become
    their status and ``{"error": …}``; a storage failure becomes 503 with Retry-After,
    since the batch commits once and nothing was half-stored. So does any other failure:
    it is logged, and beacon senders know only 202, 4xx and 503.
    """
    try:
        return _answer(environ)
    except Exception:
        db.session.rollback()
        log.exception("unhandled error on POST %s", COLLECT_PATH)
        error = storage_unavailable()
        return Answer(error.status, error.payload(), error.headers)


def _too_many(wait: int) -> ApiError:
    error = ApiError(429, "too many requests, retry later")
    error.headers["Retry-After"] = str(wait)
    return error


def _answer(environ: dict[str, Any]) -> Answer:
    cors: dict[str, str] = {}
    guard = rate_guard()
    # Counted before the body is read: a flood from one address costs a counter, no parse.
    wait = guard.wait("collect.address", guard.address_key(environ.get("REMOTE_ADDR")))
    if wait is not None:
        error = _too_many(wait)
        return Answer(error.status, error.payload(), error.headers)
    try:
        body = parse_json_body(
            # Bounded by Content-Length (or the server's end of input), as Flask's is.
            get_input_stream(environ),
            _mimetype(environ.get("CONTENT_TYPE")),
            get_content_length(environ),
            MAX_BODY_BYTES,
        )
        batch = parse_batch(body)
        try:
            snapshot = resolve_site(batch.site_key)
            origin = environ.get("HTTP_ORIGIN")
            require_registered_origin(origin, snapshot.domains)
            # From here on every answer, errors included, is readable by the page.
            cors = {**cors_headers(origin), "Vary": "Origin"}
            wait = guard.wait("collect.site", snapshot.key)
            if wait is not None:
                raise _too_many(wait)
            client = client_facts_of(
                environ.get("REMOTE_ADDR"),
                environ.get("HTTP_USER_AGENT"),
                environ.get("HTTP_SEC_GPC"),
            )
            result = collect(snapshot, batch, client, utcnow())
        except (DBAPIError, PoolTimeoutError, WriteTimeout) as exc:
            raise storage_unavailable() from exc
    except ApiError as error:
        db.session.rollback()
        return Answer(error.status, error.payload(), {**error.headers, **cors})
    payload = {"accepted": result.accepted, "dropped": result.dropped}
    return Answer(202, payload, {**cors, "Cache-Control": "no-store"})


@lru_cache(maxsize=64)
def _mimetype(content_type: str | None) -> str:
    # Senders use a handful of spellings ("text/plain;charset=UTF-8", …): parse each once.
    return parse_options_header(content_type)[0].lower()


class CollectEndpoint:
    """WSGI middleware answering ``POST /api/v1/collect`` with ``answer_collect``."""

    def __init__(self, app: Flask, wsgi_app: WSGIApp) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != COLLECT_PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        with self.app.app_context():
            answer = answer_collect(environ)
        body = json.dumps(answer.payload).encode()
        status = HTTPStatus(answer.status)
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("X-Content-Type-Options", "nosniff"),
            *answer.headers.items(),
        ]
        start_response(f"{status.value} {status.phrase}", headers)
        return [body]
