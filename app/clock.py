"""The one source of "now", so tests can freeze it with time-machine."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
