"""``POST /api/v1/collect``: parse, authorise (CORS), hand to the service, serialise.

Every page view of every consenting visitor comes through here, so the endpoint is a
small WSGI layer in front of Flask rather than a Flask view: it needs only the
application context (configuration, database session), not a request context, URL
matching, cookie session, CSRF, Flask-Limiter's bookkeeping or ``after_request`` hooks,
which together cost more CPU than validating, enriching and storing the batch. It is the
one request Flask does not answer, so it runs the edge checks of ``app.guard`` itself, in
the guard's order (``_answer``): the same functions Flask's hooks call, the same limits
counted in the same storage, the same body parser and security headers. Other methods on
the path (the ``OPTIONS`` preflight, and a 405 for anything else) go on to Flask.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from flask import Flask
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.clock import utcnow
from app.collection.service import collect
from app.collection.validation import MAX_BODY_BYTES, parse_batch
from app.enrichment.context import client_facts_of
from app.errors import ApiError, storage_unavailable
from app.extensions import db
from app.guard import address_key, check_rate, read_json_body, security_headers
from app.sites.origins import cors_headers, require_registered_origin
from app.sites.snapshot import resolve_site
from app.storage import WriteTimeout

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


def _answer(environ: dict[str, Any]) -> Answer:
    # The guard's steps (app.guard) in its order, as Flask's hooks run them for the rest:
    # 1. path strings: none to check, CollectEndpoint answers only the one fixed path;
    # 2. rate limits: per address here, per site below once the site is known;
    # 3. body: JSON or text/plain, at most MAX_BODY_BYTES, an object of storable strings;
    # 4. security headers: CollectEndpoint.__call__.
    try:
        # Counted before the body is read: a flood from one address costs a counter, no parse.
        check_rate("collect.address", address_key(environ))
        body = read_json_body(environ, MAX_BODY_BYTES)
    except ApiError as error:
        return Answer(error.status, error.payload(), error.headers)
    cors: dict[str, str] = {}
    try:
        batch = parse_batch(body)
        try:
            snapshot = resolve_site(batch.site_key)
            origin = environ.get("HTTP_ORIGIN")
            require_registered_origin(origin, snapshot.domains)
            # From here on every answer, errors included, is readable by the page.
            cors = {**cors_headers(origin), "Vary": "Origin"}
            check_rate("collect.site", snapshot.key)  # 2., per site
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
            *security_headers("json", secure=environ.get("wsgi.url_scheme") == "https"),
            *answer.headers.items(),
        ]
        start_response(f"{status.value} {status.phrase}", headers)
        return [body]
