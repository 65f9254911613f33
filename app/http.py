"""What a request may carry before any of it reaches a service or the storage.

Every string that arrives (JSON bodies, path parameters, query strings, form fields) is
checked once for what both databases can hold: PostgreSQL ``text`` cannot hold NUL, and
UTF-8 (SQLite's and PostgreSQL's encoding) cannot hold a lone surrogate, which
``json.loads`` happily builds from a ``"\\ud800"`` escape. The parsers and predicates
are here; ``app.guard`` applies them to every request at the edge.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, BinaryIO, TypeVar

from flask import request
from werkzeug.exceptions import HTTPException

from app.errors import ApiError, bad_request

JSON_TYPES = ("application/json", "text/plain")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# Longer than any key, id or token the service issues (signed tokens stay under 512).
MAX_PATH_VALUE = 512

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
# The only JSON spellings that can produce NUL or a lone surrogate: a "\u0000" escape, a
# high-surrogate escape not followed by a low one, or a low one not preceded by a high one
# (raw NUL bytes are not valid JSON; valid UTF-8 never encodes a surrogate). A cheap scan
# of the raw bytes, with one literal prefix (\u) for the engine to search for; the parsed
# value is walked only on a match, which an escaped backslash ("\\ud800", six storable
# characters) can fake.
_RISKY_ESCAPE = re.compile(
    rb"""\\u(?:
        0000
      | [dD][89abAB][0-9a-fA-F]{2} (?!\\u[dD][c-fC-F])                     # high, no low next
      | (?<!\\u[dD][89abAB][0-9a-fA-F]{2}\\u) [dD][c-fC-F][0-9a-fA-F]{2}   # low, no high before
      | (?<=\\\\u[dD][89abAB][0-9a-fA-F]{2}\\u) [dD][c-fC-F][0-9a-fA-F]{2}  # "\\ud800" text before
    )""",
    re.VERBOSE,
)

F = TypeVar("F", bound=Callable[..., Any])


def read_json_object(max_bytes: int) -> dict[str, Any]:
    """Parse the current request's body as a JSON object of at most ``max_bytes``."""
    return parse_json_body(request.stream, request.mimetype, request.content_length, max_bytes)


def parse_json_body(
    stream: BinaryIO, mimetype: str | None, content_length: int | None, max_bytes: int
) -> dict[str, Any]:
    """Parse a request body as a JSON object of at most ``max_bytes``.

    ``text/plain`` is accepted because browsers send it without a CORS
    preflight (``fetch`` keepalive and ``sendBeacon``). No string anywhere in it (keys
    included) may hold NUL or a lone surrogate.
    """
    if (mimetype or "") not in JSON_TYPES:
        raise ApiError(415, "send the body as application/json or text/plain")
    if content_length is not None and content_length > max_bytes:
        raise ApiError(413, f"request body too large (at most {max_bytes} bytes)")
    raw = _read_body(stream, max_bytes)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request("body is not valid UTF-8 JSON") from exc
    except RecursionError as exc:
        # A few KiB of "[[[[..." exhausts the parser's stack; that is bad input, not a 500.
        raise bad_request("body is nested too deeply") from exc
    if not isinstance(data, dict):
        raise bad_request("body must be a JSON object")
    if b"\\u" in raw and _RISKY_ESCAPE.search(raw) and _json_holds_unstorable(data):
        raise bad_request("body holds NUL or a lone surrogate, which cannot be stored")
    return data


def _read_body(stream: BinaryIO, max_bytes: int) -> bytes:
    try:
        raw = stream.read(max_bytes + 1)
    except HTTPException as exc:
        # werkzeug's ClientDisconnected (fewer bytes than Content-Length) and the like.
        raise ApiError(exc.code or 400, "request body is incomplete or malformed") from exc
    except Exception as exc:  # noqa: BLE001
        # A bad chunk size or a body cut short, in the server's own words: werkzeug
        # raises OSError, gunicorn its http.errors (InvalidChunkSize, NoMoreData, …).
        # Only the client's bytes are read here, so the client sent a broken body.
        raise bad_request("request body is incomplete or malformed") from exc
    if len(raw) > max_bytes:
        raise ApiError(413, f"request body too large (at most {max_bytes} bytes)")
    return raw


def holds_unstorable(text: str) -> bool:
    """Whether ``text`` holds NUL or a lone surrogate, which neither database can store."""
    return _UNSTORABLE.search(text) is not None


def _json_holds_unstorable(data: object) -> bool:
    # Iterative: json.loads already bounds the depth, but a recursive walk would use more
    # stack per level than the parser did.
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def require_str(
    data: dict[str, Any], key: str, *, max_len: int, optional: bool = False
) -> str | None:
    """A string field with no control characters or lone surrogates, at most ``max_len``."""
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
    if _UNSTORABLE.search(value):
        raise bad_request(f"{key} contains a lone surrogate, which cannot be stored")
    return value


def answers_any_input(view: F) -> F:
    """Mark a view that answers every request itself (the email pixels: always 200):
    the guard's string checks (``app.guard.check_request_strings``) skip it."""
    view.heedful_answers_any_input = True  # type: ignore[attr-defined]
    return view
