"""Request-body parsing shared by the public JSON endpoints."""

from __future__ import annotations

import json
import re
from typing import Any, BinaryIO

from flask import request

from app.errors import ApiError, bad_request

JSON_TYPES = ("application/json", "text/plain")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def read_json_object(max_bytes: int) -> dict[str, Any]:
    """Parse the current request's body as a JSON object of at most ``max_bytes``."""
    return parse_json_body(request.stream, request.mimetype, request.content_length, max_bytes)


def parse_json_body(
    stream: BinaryIO, mimetype: str | None, content_length: int | None, max_bytes: int
) -> dict[str, Any]:
    """Parse a request body as a JSON object of at most ``max_bytes``.

    ``text/plain`` is accepted because browsers send it without a CORS
    preflight (``fetch`` keepalive and ``sendBeacon``).
    """
    if (mimetype or "") not in JSON_TYPES:
        raise ApiError(415, "send the body as application/json or text/plain")
    if content_length is not None and content_length > max_bytes:
        raise ApiError(413, f"request body too large (at most {max_bytes} bytes)")
    raw = stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise ApiError(413, f"request body too large (at most {max_bytes} bytes)")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request("body is not valid UTF-8 JSON") from exc
    except RecursionError as exc:
        # A few KiB of "[[[[..." exhausts the parser's stack; that is bad input, not a 500.
        raise bad_request("body is nested too deeply") from exc
    if not isinstance(data, dict):
        raise bad_request("body must be a JSON object")
    return data


def require_str(
    data: dict[str, Any], key: str, *, max_len: int, optional: bool = False
) -> str | None:
    """A string field with no control characters, at most ``max_len`` long."""
    value = data.get(key)
    if value is None:
        if optional:
            return None
        raise bad_request(f"{key} is required")
    if not isinstance(value, str):
        raise bad_request(f"{key} must be a string")
    if len(value) > max_len:
        raise bad_request(f"{key} is longer than {max_len} characters")
    if _CONTROL_CHARACTERS.search(value):
        raise bad_request(f"{key} contains control characters")
    return value
