"""Classify an email-open pixel request as a human open, a machine fetch or unknown.

Pure functions: the pixel route passes in what it saw and stores only the verdict,
the reason codes and (when trustworthy) coarse device data - never the user agent.
"""

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

# Scanners and server-side prefetchers fetch the pixel on delivery, seconds after the send;
# a person almost never opens a message that quickly.
MACHINE_OPEN_WINDOW = timedelta(seconds=10)

# The read pixel holds its response open for at most this long, so no hold can exceed it.
READ_TIME_CAP_SECONDS = 20
GLANCE_SECONDS = 2.0
READ_SECONDS = 8.0


class Verdict(StrEnum):
    HUMAN = "human"
    MACHINE = "machine"
    UNKNOWN = "unknown"


class ReadBucket(StrEnum):
    GLANCED = "glanced"
    SKIMMED = "skimmed"
    READ = "read"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True)
class OpenClassification:
    """The outcome of classifying one pixel fetch.

    ``device_data`` is True only when the user agent describes the reader's own device:
    image proxies (Gmail, Yahoo, Apple MPP) hide it, and machine fetches have no reader.
    """

    verdict: Verdict
    reasons: tuple[str, ...]
    device_data: bool


# Apple Mail Privacy Protection fetches every image through Apple's relays with this bare
# token, whether or not the message is ever shown to the reader.
_APPLE_MPP_USER_AGENT = "Mozilla/5.0"
_APPLE_NETWORK = re.compile(r"\bapple\b", re.IGNORECASE)

_SCANNER = re.compile(
    r"barracuda|mimecast|proofpoint|symantec|trend ?micro|forcepoint", re.IGNORECASE
)
# Gmail's delivery-time scanner poses as a 2015 Edge build with a stray trailing token
# (reported in mautic/mautic#10245); no real browser sends this.
_GMAIL_SCANNER_SUFFIX = "Edge/12.246 Mozilla/5.0"

# "(?<!cu)" keeps CUBOT phone models (e.g. "CUBOT_X19") from reading as bots.
_BOT = re.compile(
    r"(?<!cu)bot\b|crawler|spider|headlesschrome|python-requests|python-urllib"
    r"|curl/|wget/|go-http-client|okhttp",
    re.IGNORECASE,
)

# The UA alone identifies Google's proxy: a "Via: 1.1 google" header is not used on its
# own because Google Cloud load balancers add it to every request they forward.
_GOOGLE_PROXY = re.compile(r"googleimageproxy|ggpht\.com", re.IGNORECASE)
_YAHOO_PROXY = re.compile(r"yahoomailproxy", re.IGNORECASE)

_PREFETCH_HEADERS = ("purpose", "sec-purpose", "x-moz")
_X_PURPOSE_MACHINE = frozenset({"preview", "prefetch"})


def _header_tokens(value: str | None) -> set[str]:
    # Sec-Purpose may carry a list such as "prefetch;prerender".
    if not value:
        return set()
    return {token for token in re.split(r"[\s;,]+", value.lower()) if token}


def _has_prefetch_header(headers: Mapping[str, str]) -> bool:
    # Lower-case the names ourselves: callers may pass a plain dict in any case.
    lowered = {name.lower(): value for name, value in headers.items()}
    if any("prefetch" in _header_tokens(lowered.get(name)) for name in _PREFETCH_HEADERS):
        return True
    return bool(_header_tokens(lowered.get("x-purpose")) & _X_PURPOSE_MACHINE)


def _as_utc(moment: datetime) -> datetime:
    # Naive datetimes are taken as UTC so mixed inputs compare instead of raising.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _too_soon(sent_at: datetime | None, opened_at: datetime) -> bool:
    if sent_at is None:
        return False
    # abs(): clock skew between the sender and us can put an instant fetch a little
    # "before" the recorded send time.
    return abs(_as_utc(opened_at) - _as_utc(sent_at)) <= MACHINE_OPEN_WINDOW


def _machine(reasons: list[str]) -> OpenClassification:
    return OpenClassification(Verdict.MACHINE, tuple(dict.fromkeys(reasons)), device_data=False)


def classify_open(
    *,
    method: str,
    user_agent: str | None,
    headers: Mapping[str, str],
    asn_org: str | None,
    sent_at: datetime | None,
    opened_at: datetime,
) -> OpenClassification:
    """Classify one pixel fetch from its method, user agent, headers, network and timing.

    Reasons name the identity of the fetcher first (``apple_mpp``, ``scanner``, ...) and
    then the request signals (``head_request``, ``prefetch``, ``too_soon_after_send``).
    """
    ua = (user_agent or "").strip()
    signals: list[str] = []
    if method.strip().upper() == "HEAD":
        signals.append("head_request")
    if _has_prefetch_header(headers):
        signals.append("prefetch")
    if _too_soon(sent_at, opened_at):
        signals.append("too_soon_after_send")

    if not ua:
        if signals:
            return _machine(signals)
        return OpenClassification(Verdict.UNKNOWN, ("no_user_agent",), device_data=False)

    if ua == _APPLE_MPP_USER_AGENT:
        reasons = ["apple_mpp"]
        if asn_org and _APPLE_NETWORK.search(asn_org):
            reasons.append("apple_network")
        return _machine(reasons + signals)

    if _SCANNER.search(ua) or ua.endswith(_GMAIL_SCANNER_SUFFIX):
        return _machine(["scanner", *signals])
    if _BOT.search(ua):
        return _machine(["bot", *signals])

    if _GOOGLE_PROXY.search(ua):
        # Gmail's proxy fetches on a reader's behalf (a human open) but Gmail also
        # pre-fetches images server-side on delivery with the very same UA. Only a prefetch
        # hint or the delivery-time timing tells them apart, so either of those signals on
        # a Google-proxy request is reported as "gmail_prefetch".
        prefetch = [s if s == "head_request" else "gmail_prefetch" for s in signals]
        if prefetch:
            return _machine(prefetch)
        return OpenClassification(Verdict.HUMAN, ("gmail_proxy",), device_data=False)

    if _YAHOO_PROXY.search(ua):
        if signals:
            return _machine(["yahoo_proxy", *signals])
        return OpenClassification(Verdict.HUMAN, ("yahoo_proxy",), device_data=False)

    if signals:
        return _machine(signals)
    return OpenClassification(Verdict.HUMAN, ("client",), device_data=True)


def read_bucket(held_seconds: float | None, *, proxied: bool) -> ReadBucket:
    """Bucket how long the read pixel was held open: glanced < 2 s <= skimmed < 8 s <= read.

    Pass ``proxied=not classification.device_data``: a proxy holds the connection for its
    own reasons, so the hold time says nothing about the reader.
    """
    if proxied or held_seconds is None:
        return ReadBucket.UNSUPPORTED
    # A negative or non-finite hold is a measurement fault, not a reading speed.
    if not math.isfinite(held_seconds) or held_seconds < 0:
        return ReadBucket.UNSUPPORTED
    held = min(held_seconds, READ_TIME_CAP_SECONDS)
    if held < GLANCE_SECONDS:
        return ReadBucket.GLANCED
    if held < READ_SECONDS:
        return ReadBucket.SKIMMED
    return ReadBucket.READ
