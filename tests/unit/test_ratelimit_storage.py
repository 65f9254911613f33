"""The rate-limit storages: a host's shared counter file, and Redis with that file behind it."""

from __future__ import annotations

import multiprocessing
import os
import secrets
import socket
import time
from pathlib import Path

import pytest
import time_machine
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from app.ratelimit_storage import FailoverRedisStorage, HostFileStorage

REDIS_URL = os.environ.get("HEEDFUL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def file_storage(tmp_path: Path, **options) -> HostFileStorage:
    storage = storage_from_string(f"heedful-file://{tmp_path / 'limits.bin'}", **options)
    assert isinstance(storage, HostFileStorage)
    return storage


def test_counts_expire_and_clear(tmp_path: Path) -> None:
    storage = file_storage(tmp_path)
    assert storage.get("k") == 0
    assert [storage.incr("k", 60) for _ in range(3)] == [1, 2, 3]
    assert storage.get("k") == 3 and storage.get("other") == 0
    assert time.time() + 55 < storage.get_expiry("k") <= time.time() + 60
    with time_machine.travel(time.time() + 61, tick=False):
        assert storage.get("k") == 0
        assert storage.incr("k", 60) == 1  # a new window
    storage.clear("k")
    assert storage.get("k") == 0
    storage.incr("a", 60)
    storage.incr("b", 60)
    assert storage.reset() == 2
    assert storage.get("a") == storage.get("b") == 0


def test_the_file_holds_hashes_only(tmp_path: Path) -> None:
    storage = file_storage(tmp_path)
    storage.incr("LIMITER/203.0.113.77/jane@example.com/admin.login/20/1/minute", 60)
    raw = (tmp_path / "limits.bin").read_bytes()
    assert b"203.0.113.77" not in raw and b"jane" not in raw and b"LIMITER" not in raw


def test_a_full_neighbourhood_evicts_the_smallest_count(tmp_path: Path) -> None:
    # 1 slot (+16 probes): every key lands in the same 17 slots.
    storage = file_storage(tmp_path, slots=1)
    for _ in range(100):
        storage.incr("busy-site", 60)
    for index in range(200):
        storage.incr(f"sprayed-{index}", 60)
    assert storage.get("busy-site") == 100


def _hammer(path: str, rounds: int) -> None:
    storage = HostFileStorage(f"heedful-file://{path}")
    for _ in range(rounds):
        storage.incr("shared", 60)


def test_counts_are_exact_across_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "limits.bin")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_hammer, args=(path, 500)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert HostFileStorage(f"heedful-file://{path}").get("shared") == 2000


def test_a_forked_child_locks_on_its_own_descriptor(tmp_path: Path) -> None:
    # gunicorn --preload forks after the parent may have opened the file: the children
    # must not share the parent's flock, or their updates would race.
    storage = file_storage(tmp_path)
    storage.incr("shared", 60)
    context = multiprocessing.get_context("fork")

    def child() -> None:
        for _ in range(500):
            storage.incr("shared", 60)

    workers = [context.Process(target=child) for _ in range(3)]
    for worker in workers:
        worker.start()
    for _ in range(500):
        storage.incr("shared", 60)
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert storage.get("shared") == 2001


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_redis_falls_back_to_the_host_file(tmp_path: Path) -> None:
    storage = storage_from_string(
        f"heedful+redis://127.0.0.1:{_closed_port()}/0",
        fallback_path=str(tmp_path / "limits.bin"),
    )
    assert isinstance(storage, FailoverRedisStorage)
    limiter = FixedWindowRateLimiter(storage)
    item = parse("3/minute")
    started = time.monotonic()
    allowed = [limiter.hit(item, "addr") for _ in range(5)]
    assert allowed == [True, True, True, False, False]  # still limited, on this host
    assert storage.using_fallback
    assert time.monotonic() - started < 2  # one short timeout, not one per call
    # Another worker of the host sees the same counts.
    assert (
        HostFileStorage(f"heedful-file://{tmp_path / 'limits.bin'}").get(item.key_for("addr")) == 5
    )


def _redis_or_skip() -> None:
    import redis

    try:
        redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS_URL}")


def test_redis_counts_are_shared_by_hosts(tmp_path: Path) -> None:
    _redis_or_skip()
    prefix = f"heedful-test-{secrets.token_hex(4)}"
    hosts = [
        storage_from_string(
            "heedful+" + REDIS_URL,
            fallback_path=str(tmp_path / f"host{index}.bin"),
            key_prefix=prefix,
        )
        for index in range(2)
    ]
    limiters = [FixedWindowRateLimiter(host) for host in hosts]
    item = parse("10/minute")
    allowed = [limiters[index % 2].hit(item, "addr") for index in range(16)]
    assert allowed.count(True) == 10
    assert not any(host.using_fallback for host in hosts)
    hosts[0].reset()


def test_an_unusable_file_counts_nothing_and_never_raises(tmp_path: Path, caplog) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the instance folder should be")
    storage = HostFileStorage(f"heedful-file://{blocker}/limits.bin")
    limiter = FixedWindowRateLimiter(storage)
    item = parse("2/minute")
    assert all(limiter.hit(item, "addr") for _ in range(5))  # limits off, requests go on
    assert storage.get("x") == 0 and not storage.check() and storage.reset() == 0
    errors = [record for record in caplog.records if "unusable" in record.getMessage()]
    assert len(errors) == 1  # said once, not once a request
