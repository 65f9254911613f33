"""Error handling: JSON under /api, HTML elsewhere, and a rollback on every failure.

A storage failure (the database or Redis down, a pool or statement timeout, a full disk)
is the service's fault and passes: it answers 503 with ``Retry-After`` on every endpoint.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from app.extensions import db

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = "5"
# DBAPIError covers OperationalError (connection refused or lost, statement and lock
# timeouts, "database or disk is full"), InterfaceError and the rest of the driver's errors.
STORAGE_FAILURES: tuple[type[Exception], ...] = (
    DBAPIError,
    PoolTimeoutError,
    RedisConnectionError,
    RedisTimeoutError,
)


class ApiError(Exception):
    """An error the client caused or must handle; rendered as ``{"error": message}``."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra
        self.headers: dict[str, str] = {}

    def payload(self) -> dict[str, Any]:
        """The JSON body every API error answers with."""
        return {"error": self.message, **self.extra}


def bad_request(message: str, **extra: Any) -> ApiError:
    return ApiError(400, message, **extra)


def storage_unavailable() -> ApiError:
    """503 with Retry-After: nothing was stored, and the same request may be sent again."""
    error = ApiError(503, "storage is unavailable, retry later")
    error.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return error


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/static/")


def _json_error(status: int, message: str, **extra: Any) -> Response:
    response = jsonify(ApiError(status, message, **extra).payload())
    response.status_code = status
    return response


def discard_transaction() -> None:
    """Roll the request's transaction back, even when the storage has gone away."""
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 (the connection may have died with the storage)
        log.warning("rollback failed; discarding the session", exc_info=True)
        db.session.remove()


def _drop_retry_after(response: Response) -> Response:
    # Flask-Limiter's headers put Retry-After on every answer of a limited route; on a
    # success (a 201 consent) it would tell a client to wait for nothing.
    if response.status_code < 400:
        response.headers.pop("Retry-After", None)
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError) -> Response:
        discard_transaction()
        response = _json_error(error.status, error.message, **error.extra)
        response.headers.update(error.headers)
        return response

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> Any:
        discard_transaction()
        status = error.code or 500
        if _wants_json():
            message = error.description or error.name
            if status == 413:
                message = "request body too large"
            response = _json_error(status, message)
            if status == 405 and error.get_response().headers.get("Allow"):
                response.headers["Allow"] = error.get_response().headers["Allow"]
            return response
        return render_template("error.html", status=status, error=error), status

    def handle_storage_failure(error: Exception) -> Any:
        discard_transaction()
        log.warning(
            "storage unavailable on %s %s: %s", request.method, request.path, error, exc_info=True
        )
        if _wants_json():
            unavailable = storage_unavailable()
            response = _json_error(unavailable.status, unavailable.message)
        else:
            page = render_template("error.html", status=503, error=ServiceUnavailable())
            response = app.make_response((page, 503))
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
        return response

    for failure in STORAGE_FAILURES:
        app.register_error_handler(failure, handle_storage_failure)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Any:
        discard_transaction()
        log.exception("unhandled error on %s %s", request.method, request.path)
        if _wants_json():
            return _json_error(500, "internal error")
        return render_template("error.html", status=500, error=None), 500

    # Flask runs after_request functions last-registered first: at the front of the list,
    # this one runs after every other (Flask-Limiter's header injection included).
    app.after_request_funcs.setdefault(None, []).insert(0, _drop_retry_after)
