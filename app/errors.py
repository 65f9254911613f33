"""Error handling: JSON under /api, HTML elsewhere, and a rollback on every failure."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from app.extensions import db

log = logging.getLogger(__name__)


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


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/static/")


def _json_error(status: int, message: str, **extra: Any) -> Response:
    response = jsonify(ApiError(status, message, **extra).payload())
    response.status_code = status
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError) -> Response:
        db.session.rollback()
        response = _json_error(error.status, error.message, **error.extra)
        response.headers.update(error.headers)
        return response

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> Any:
        db.session.rollback()
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

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Any:
        # The one place a failed request's transaction is thrown away.
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        if _wants_json():
            return _json_error(500, "internal error")
        return render_template("error.html", status=500, error=None), 500
