"""Cross-process cache invalidation by generation stamps.

Each cached value remembers the stamp of its key's slot as read *before* the
database was queried; a writer sets a fresh random stamp *after* it commits.
A reader whose remembered stamp differs from the current one re-reads, so a
change committed before a request arrives is always seen.

On one host the stamps live in a small memory-mapped file that every worker
maps (reads cost nanoseconds); with ``HEEDFUL_REDIS_URL`` they live in Redis so
several hosts share them. Random stamps (not counters) make concurrent bumps
safe without locks: any bump changes the value any reader saw.

Stamps that cannot be read raise ``StampsUnavailable``: the caller then asks the
database instead of trusting what it cached.
"""

from __future__ import annotations

import mmap
import os
import secrets
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

SLOTS = 1 << 16
_STAMP = struct.Struct("<Q")
# Short, so an unreachable Redis costs a request a quarter of a second at most, once.
REDIS_SOCKET_TIMEOUT = 0.25
# After a failure, Redis is not asked again for this long: readers go to the database.
REDIS_RETRY_AFTER = 1.0


class StampsUnavailable(Exception):
    """The shared stamps cannot be read (or written) right now."""


def slot_of(key: str) -> int:
    return zlib.crc32(key.encode()) % SLOTS


class Generations(Protocol):
    def get(self, key: str) -> int: ...

    def bump_slots(self, slots: Iterable[int]) -> None: ...


class MmapGenerations:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        size = SLOTS * _STAMP.size
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < size:
                os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size, mmap.MAP_SHARED)
        finally:
            os.close(fd)

    def get(self, key: str) -> int:
        return _STAMP.unpack_from(self._map, slot_of(key) * _STAMP.size)[0]

    def bump_slots(self, slots: Iterable[int]) -> None:
        for slot in slots:
            _STAMP.pack_into(self._map, slot * _STAMP.size, secrets.randbits(64))


class RedisGenerations:
    """Stamps in Redis, with short timeouts and a one-second pause after a failure.

    ``on_recover`` runs when Redis answers again after a failure: bumps made while
    this process could not reach Redis may be missing, so its cache is dropped.
    """

    def __init__(self, url: str, namespace: str, on_recover: Callable[[], None]) -> None:
        import redis  # imported here: only multi-host deployments need it
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self._errors = (redis.RedisError, OSError)
        self._redis = redis.Redis.from_url(
            url,
            socket_connect_timeout=REDIS_SOCKET_TIMEOUT,
            socket_timeout=REDIS_SOCKET_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
        )
        self._prefix = f"heedful:{namespace}:gen:"
        self._on_recover = on_recover
        self._down_until = 0.0
        self._failed = False
        self._lock = threading.Lock()

    def _call(self, work: Callable[[], object]) -> object:
        if self._failed and time.monotonic() < self._down_until:
            raise StampsUnavailable("Redis failed less than a second ago")
        try:
            result = work()
        except self._errors as exc:
            with self._lock:
                self._failed = True
                self._down_until = time.monotonic() + REDIS_RETRY_AFTER
            raise StampsUnavailable(str(exc)) from exc
        if self._failed:
            with self._lock:
                recovered, self._failed = self._failed, False
            if recovered:
                self._on_recover()
        return result

    def get(self, key: str) -> int:
        value = self._call(lambda: self._redis.get(self._prefix + str(slot_of(key))))
        return int(value) if value else 0  # type: ignore[call-overload]

    def bump_slots(self, slots: Iterable[int]) -> None:
        stamps = {self._prefix + str(slot): secrets.randbits(63) for slot in set(slots)}
        if stamps:
            self._call(lambda: self._redis.mset(stamps))
