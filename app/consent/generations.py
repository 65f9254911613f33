"""Cross-process cache invalidation by generation stamps.

Each cached value remembers the stamp of its key's slot as read *before* the
database was queried; a writer sets a fresh random stamp *after* it commits.
A reader whose remembered stamp differs from the current one re-reads, so a
change committed before a request arrives is always seen.

On one host the stamps live in a small memory-mapped file that every worker
maps (reads cost nanoseconds); with ``HEEDFUL_REDIS_URL`` they live in Redis so
several hosts share them. Random stamps (not counters) make concurrent bumps
safe without locks: any bump changes the value any reader saw.
"""

from __future__ import annotations

import mmap
import os
import secrets
import struct
import zlib
from pathlib import Path
from typing import Protocol

SLOTS = 1 << 16
_STAMP = struct.Struct("<Q")


def slot_of(key: str) -> int:
    return zlib.crc32(key.encode()) % SLOTS


class Generations(Protocol):
    def get(self, key: str) -> int: ...

    def bump(self, key: str) -> None: ...


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

    def bump(self, key: str) -> None:
        _STAMP.pack_into(self._map, slot_of(key) * _STAMP.size, secrets.randbits(64))


class RedisGenerations:
    def __init__(self, url: str, namespace: str) -> None:
        import redis  # imported here: only multi-host deployments need it

        self._redis = redis.Redis.from_url(url)
        self._prefix = f"heedful:{namespace}:gen:"

    def get(self, key: str) -> int:
        value = self._redis.get(self._prefix + str(slot_of(key)))
        return int(value) if value else 0

    def bump(self, key: str) -> None:
        self._redis.set(self._prefix + str(slot_of(key)), secrets.randbits(63))
