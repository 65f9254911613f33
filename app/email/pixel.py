"""The public pixels: ``/api/v1/e/{token}.gif`` (opens) and ``/api/v1/e/{token}/read.gif``.

The open pixel's response is one constant: the same bytes and headers whether or not
anything is recorded, so a response says nothing about the token or the recipient. The
read pixel streams an animated GIF one frame per tick, for at most 20 s, and times how
long the client keeps reading; holds are capped per process (see docs/email-read-time.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, current_app, request

from app.email.classify import READ_TIME_CAP_SECONDS
from app.email.tracking import ReadPlan, plan_read, record_open, record_read
from app.extensions import csrf, db, limiter
from app.http import answers_any_input
from app.ratelimit import rate_guard

log = logging.getLogger(__name__)

bp = Blueprint("email_pixel", __name__, url_prefix="/api/v1/e")

# A 1x1 transparent GIF89a, split so the read pixel can stream it as frames.
GIF_HEADER = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00"
_IMAGE = b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00"
STILL_FRAME = b"!\xf9\x04\x01\x00\x00\x00\x00" + _IMAGE
# Graphic-control extension with a 0.5 s delay: clients keep the image "loading".
TICK_FRAME = b"!\xf9\x04\x01\x32\x00\x00\x00" + _IMAGE
GIF_TRAILER = b";"
PIXEL_GIF = GIF_HEADER + STILL_FRAME + GIF_TRAILER  # 43 bytes

PIXEL_HEADERS: tuple[tuple[str, str], ...] = (
    ("Cache-Control", "no-store, max-age=0"),
    ("Pragma", "no-cache"),
    ("Expires", "0"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Resource-Policy", "cross-origin"),
)

# Seams for tests, which drive the hold with a fake clock instead of waiting.
_monotonic = time.monotonic


def _sleep(seconds: float) -> None:
    # Looked up at call time: gevent patches time.sleep after this module may be imported
    # (gunicorn --preload), and a captured original would block the whole worker.
    time.sleep(seconds)


def pixel_response() -> Response:
    """The one response every open-pixel request gets."""
    response = Response(PIXEL_GIF, status=200, mimetype="image/gif")
    response.headers.extend(PIXEL_HEADERS)
    return response


class HoldSlots:
    """A per-process cap on read pixels held open at once (non-blocking)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._semaphore = threading.BoundedSemaphore(limit) if limit > 0 else None
        self._lock = threading.Lock()
        self.in_use = 0
        self.refused = 0
        self._last_warning = 0.0

    def acquire(self) -> bool:
        if self._semaphore is None or not self._semaphore.acquire(blocking=False):
            self._note_refusal()
            return False
        with self._lock:
            self.in_use += 1
        return True

    def release(self) -> None:
        with self._lock:
            self.in_use -= 1
        assert self._semaphore is not None
        self._semaphore.release()

    def _note_refusal(self) -> None:
        with self._lock:
            self.refused += 1
            now = time.monotonic()
            if now - self._last_warning < 60:
                return
            self._last_warning = now
        log.warning(
            "read-time holds are full (%d); answering without timing (%d refused so far)",
            self.limit,
            self.refused,
        )


def init_pixels(app: Flask) -> None:
    app.extensions["heedful_read_holds"] = HoldSlots(int(app.config["HEEDFUL_READ_HOLD_MAX"]))


def hold_slots() -> HoldSlots:
    return current_app.extensions["heedful_read_holds"]


@bp.route("/<token>.gif", methods=["GET"])
@answers_any_input
@limiter.exempt
@csrf.exempt
def open_pixel(token: str) -> Response:
    # The session and current_user are never touched: no Vary or Set-Cookie can differ.
    # Over its limit an address gets the same answer, only nothing is recorded: the
    # contract promises one response whatever happens, so no 429 here.
    if _address_allowed():
        record_open(token)
    return pixel_response()


def _address_allowed() -> bool:
    guard = rate_guard()
    return guard.wait("pixel.address", guard.address_key(request.remote_addr)) is None


class HeldGif:
    """The streamed body of a held read pixel; releases its slot exactly once.

    The server calls ``close()`` when the response ends or the client goes away, even if
    it never started iterating; a resumed generator means the previous chunk was written,
    so the last resume is the last moment the reader was known to be there.
    """

    def __init__(self, app: Flask, plan: ReadPlan, slots: HoldSlots, tick: float) -> None:
        self._app = app
        self._plan = plan
        self._slots = slots
        self._tick = tick
        self._started: float | None = None
        self._last_seen = 0.0
        self._finished = False
        self._frames = self._generate()

    def __iter__(self) -> Iterator[bytes]:
        return self._frames

    def _generate(self) -> Iterator[bytes]:
        self._started = self._last_seen = _monotonic()
        try:
            yield GIF_HEADER + TICK_FRAME
            while _monotonic() - self._started < READ_TIME_CAP_SECONDS:
                _sleep(self._tick)
                yield TICK_FRAME
                self._last_seen = _monotonic()
            yield GIF_TRAILER
        finally:
            self._finish()

    def close(self) -> None:
        self._frames.close()
        self._finish()

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self._slots.release()
        if self._started is None:
            return  # nothing was ever sent: there is no hold to time
        with self._app.app_context():
            record_read(self._plan.target, self._last_seen - self._started, proxied=False)
            db.session.remove()


def _read_response(body: HeldGif | bytes) -> Response:
    response = Response(body, status=200, mimetype="image/gif")
    response.headers.extend(PIXEL_HEADERS)
    # Proxies such as nginx must pass the frames on as they come.
    response.headers["X-Accel-Buffering"] = "no"
    return response


@bp.route("/<token>/read.gif", methods=["GET"])
@answers_any_input
@limiter.exempt
@csrf.exempt
def read_pixel(token: str) -> Response:
    plan = plan_read(token) if _address_allowed() else None
    # Free the pooled connection before a hold: hundreds of readers must not pin the pool.
    db.session.remove()
    if plan is None:
        return _read_response(PIXEL_GIF)
    slots = hold_slots()
    if not plan.hold or not slots.acquire():
        # A proxy's fetch, or every hold in use: answer at once, the read counted unsupported.
        record_read(plan.target, None, proxied=True)
        db.session.remove()
        return _read_response(PIXEL_GIF)
    tick = float(current_app.config["HEEDFUL_READ_TICK_SECONDS"])
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return _read_response(HeldGif(app, plan, slots, tick))
