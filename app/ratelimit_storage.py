"""Rate-limit storages for the ``limits`` library, registered by URI scheme.

``heedful-file:///path`` keeps fixed-window counters in one file that every worker process
of a host maps into memory, so a limit holds across the workers instead of multiplying by
their number (``memory://`` counts per process). ``heedful+redis://…`` (and ``+rediss``,
``+redis+unix``) counts in Redis, shared by every host, and falls back to the host's file
while Redis cannot be reached: limits then hold per host, never fail closed, never 500.

The file is a hash table of 24-byte slots (key hash, expiry, count) found by linear
probing, under a thread lock and an ``flock`` on the file. It holds hashes only, never a
key, so no address or account name is written to disk.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import mmap
import os
import struct
import threading
import time
import weakref
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from limits.storage import RedisStorage, Storage

log = logging.getLogger(__name__)

_MAGIC = b"HDRLIM01"
_HEADER = struct.Struct("<8sQ")  # magic, slot count
_HEADER_BYTES = 64
_SLOT = struct.Struct("<Qdq")  # key hash (0 = empty), expiry (epoch seconds), count
_SLOT_BYTES = _SLOT.size
_PROBES = 16
DEFAULT_SLOTS = 1 << 17  # 3 MiB: a minute's worth of 131,072 distinct keys per host


@lru_cache(maxsize=16384)  # the same keys come again and again (a site, an address)
def _key_hash(key: str) -> bytes:
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return digest if digest != bytes(8) else b"\x01" + bytes(7)


class HostFileStorage(Storage):
    """Fixed-window counters shared by the processes of one host through a mapped file."""

    STORAGE_SCHEME = ["heedful-file"]

    def __init__(
        self,
        uri: str | None = None,
        wrap_exceptions: bool = False,
        *,
        slots: int = DEFAULT_SLOTS,
        **options: Any,
    ) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        parsed = urlparse(uri or "")
        if not parsed.path:
            raise ValueError("heedful-file:// needs a path, e.g. heedful-file:///srv/limits.bin")
        self.path = Path(unquote(parsed.path))
        self.slots = int(slots)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._map: mmap.mmap | None = None
        self._retry_at = self._warned_at = float("-inf")
        # Opened lazily (no file at import or construction); a forked child reopens, since
        # an inherited descriptor shares its flock with the parent and would not exclude.
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: (s := ref()) and s._forget())

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return (OSError, ValueError)

    # -- file handling -------------------------------------------------------------------

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._fd = None
        self._map = None
        self._retry_at = self._warned_at = float("-inf")

    def _size(self) -> int:
        return _HEADER_BYTES + (self.slots + _PROBES) * _SLOT_BYTES

    def _open(self) -> mmap.mmap:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                size = self._size()
                header = os.pread(fd, _HEADER.size, 0)
                if os.fstat(fd).st_size != size or header != _HEADER.pack(_MAGIC, self.slots):
                    # New, or laid out for another slot count: start empty. Allocated up
                    # front, so a full disk later can never fault a write into the map.
                    os.ftruncate(fd, 0)
                    os.posix_fallocate(fd, 0, size)
                    os.pwrite(fd, _HEADER.pack(_MAGIC, self.slots), 0)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            self._map = mmap.mmap(fd, self._size())
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self._map

    def _offset(self, hashed: bytes) -> int:
        return _HEADER_BYTES + int.from_bytes(hashed, "little") % self.slots * _SLOT_BYTES

    def _find(self, table: mmap.mmap, start: int, hashed: bytes) -> int | None:
        window = table[start : start + _PROBES * _SLOT_BYTES]
        at = window.find(hashed)
        while at != -1:
            if at % _SLOT_BYTES == 0:
                return start + at
            at = window.find(hashed, at + 1)
        return None

    def _table(self) -> mmap.mmap | None:
        """The mapped table, or None while the file cannot be used (a read-only or full
        instance folder): then nothing is counted and every request goes through. Said
        once a minute, tried again every 5 s, never raised into a request."""
        if self._map is not None:
            return self._map
        now = time.monotonic()
        if now < self._retry_at:
            return None
        try:
            return self._open()
        except OSError as exc:
            self._retry_at = now + 5
            if now - self._warned_at >= 60:
                self._warned_at = now
                log.error("rate-limit file %s unusable (%s): limits are off", self.path, exc)
            return None

    def _locked(self, fn: Any, key: str, *args: Any) -> Any:
        hashed = _key_hash(key)
        with self._lock:
            table = self._table()
            if table is None:
                return None
            assert self._fd is not None
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                return fn(table, self._offset(hashed), hashed, *args)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    # -- the Storage API -----------------------------------------------------------------

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        count = self._locked(self._incr, key, float(expiry), int(amount))
        return 0 if count is None else int(count)

    def _incr(self, table: mmap.mmap, start: int, hashed: bytes, expiry: float, amount: int) -> int:
        now = time.time()
        at = self._find(table, start, hashed)
        if at is not None:
            _, expires, count = _SLOT.unpack_from(table, at)
            if expires > now:
                count += amount
                _SLOT.pack_into(table, at, int.from_bytes(hashed, "little"), expires, count)
                return count
        else:
            at = self._free_slot(table, start, now)
        _SLOT.pack_into(table, at, int.from_bytes(hashed, "little"), now + expiry, amount)
        return amount

    def _free_slot(self, table: mmap.mmap, start: int, now: float) -> int:
        """An empty or expired slot; when all are live, the one with the smallest count,
        so a flood of new keys evicts its own kind and not a busy site's counter."""
        victim, victim_count = start, None
        for at in range(start, start + _PROBES * _SLOT_BYTES, _SLOT_BYTES):
            hashed, expires, count = _SLOT.unpack_from(table, at)
            if hashed == 0 or expires <= now:
                return at
            if victim_count is None or count < victim_count:
                victim, victim_count = at, count
        return victim

    def _live(self, table: mmap.mmap, start: int, hashed: bytes) -> tuple[float, int] | None:
        at = self._find(table, start, hashed)
        if at is None:
            return None
        _, expires, count = _SLOT.unpack_from(table, at)
        return (expires, count) if expires > time.time() else None

    def get(self, key: str) -> int:
        live = self._locked(self._live, key)
        return live[1] if live else 0

    def get_expiry(self, key: str) -> float:
        live = self._locked(self._live, key)
        return live[0] if live else time.time()

    def _clear(self, table: mmap.mmap, start: int, hashed: bytes) -> None:
        at = self._find(table, start, hashed)
        if at is not None:
            _SLOT.pack_into(table, at, 0, 0.0, 0)

    def clear(self, key: str) -> None:
        self._locked(self._clear, key)

    def check(self) -> bool:
        with self._lock:
            return self._table() is not None

    def reset(self) -> int | None:
        with self._lock:
            table = self._table()
            if table is None:
                return 0
            assert self._fd is not None
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                now, live = time.time(), 0
                for at in range(_HEADER_BYTES, len(table), _SLOT_BYTES):
                    hashed, expires, _ = _SLOT.unpack_from(table, at)
                    live += bool(hashed and expires > now)
                table[_HEADER_BYTES:] = bytes(len(table) - _HEADER_BYTES)
                return live
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)


class FailoverRedisStorage(Storage):
    """Redis shared by every host; the host's file while Redis cannot be reached.

    Limits fail *open to the host*: a Redis outage must not refuse consent records,
    withdrawals or collection (a withdrawal has to work whatever else is down), so the
    counters carry on per host rather than blocking everyone or answering 500. Redis is
    tried again ``retry_seconds`` after a failure, so an outage costs one short timeout
    per interval and worker, not one per request.
    """

    STORAGE_SCHEME = ["heedful+redis", "heedful+rediss", "heedful+redis+unix"]

    def __init__(
        self,
        uri: str,
        wrap_exceptions: bool = False,
        *,
        fallback_path: str,
        retry_seconds: float = 5.0,
        socket_timeout: float = 0.25,
        key_prefix: str = RedisStorage.PREFIX,
        **options: Any,
    ) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        self.primary = RedisStorage(
            uri.removeprefix("heedful+"),
            key_prefix=key_prefix,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            **options,
        )
        self.fallback = HostFileStorage("heedful-file://" + str(Path(fallback_path).resolve()))
        self.retry_seconds = float(retry_seconds)
        self._down_until = 0.0

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return (OSError, ValueError)

    def _call(self, name: str, *args: Any) -> Any:
        if time.monotonic() >= self._down_until:
            try:
                return getattr(self.primary, name)(*args)
            except Exception as exc:  # redis errors, timeouts, refused connections
                self._down_until = time.monotonic() + self.retry_seconds
                log.warning(
                    "rate-limit Redis unreachable (%s); counting on this host for %.0f s",
                    type(exc).__name__,
                    self.retry_seconds,
                )
        return getattr(self.fallback, name)(*args)

    @property
    def using_fallback(self) -> bool:
        return time.monotonic() < self._down_until

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return int(self._call("incr", key, expiry, amount))

    def get(self, key: str) -> int:
        return int(self._call("get", key))

    def get_expiry(self, key: str) -> float:
        return float(self._call("get_expiry", key))

    def clear(self, key: str) -> None:
        self._call("clear", key)

    def check(self) -> bool:
        return bool(self._call("check"))

    def reset(self) -> int | None:
        return self._call("reset")
