"""The app served by gunicorn (gthread, as in production) in its own process, a steady load
of collect and consent requests with a banner probe beside it, and what they recorded."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from app.models import ConsentRecord
from app.models.analytics import Event
from tests.conftest import SITE_KEY, SITE_ORIGIN

ROOT = Path(__file__).resolve().parents[2]
BANNER = "/static/consent-banner/heedful.js"
EVENTS_PER_BATCH = 3
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(
    port: int, method: str, path: str, body: Any = None, timeout: float = 30.0
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"User-Agent": UA, "Origin": SITE_ORIGIN}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


class AppServer:
    """``gunicorn -k gthread``: one worker of ``threads`` threads (16, as in the deployment
    the issue measured) on a free port."""

    def __init__(self, database_url: str, instance: Path, threads: int = 16) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "HEEDFUL_ENV": "development",
            "HEEDFUL_FAULT_DATABASE_URL": database_url,
            "HEEDFUL_FAULT_INSTANCE": str(instance),
            "PYTHONPATH": str(ROOT),
        }
        command = [
            sys.executable, "-m", "gunicorn", "-k", "gthread", "--workers", "1",
            "--threads", str(threads), "--bind", f"127.0.0.1:{self.port}",
            "--timeout", "120", "--log-level", "warning", "tests.faults.serve:create()",
        ]  # fmt: skip
        self.log = instance / "gunicorn.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        self._wait_ready()
        self.workers = self.worker_pids()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("gunicorn exited:\n" + self.log.read_text())
            try:
                if request(self.port, "GET", BANNER, timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("gunicorn did not answer:\n" + self.log.read_text())

    def log_tail(self, lines: int = 60) -> str:
        """The end of the server's log: what a failed promise needs beside its figures."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def worker_pids(self) -> set[int]:
        pids = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                pids.add(int(stat.parent.name))
        return pids

    def close(self) -> None:
        self.process.send_signal(signal.SIGQUIT)  # quick shutdown: the load is over
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass(frozen=True)
class Record:
    kind: str  # collect | consent | banner
    started: float
    ended: float
    status: int | None  # None: no answer (connection error or client timeout)
    retry_after: str | None
    key: str = ""  # the batch key or the consent id

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass
class Load:
    """``collectors`` clients sending batches, ``consenters`` recording consents, and a
    banner probe, each in a loop until ``stop``."""

    port: int
    consent_id: str
    tag: str
    collectors: int = 10
    consenters: int = 2
    records: list[Record] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _numbers: itertools.count = field(default_factory=itertools.count)

    def __enter__(self) -> Load:
        loops = [self._collect] * self.collectors + [self._consent] * self.consenters
        for loop in [*loops, self._banner]:
            thread = threading.Thread(target=self._run, args=(loop,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _run(self, loop: Any) -> None:
        while not self._stop.is_set():
            loop()

    def _call(self, kind: str, method: str, path: str, body: Any, key: str = "") -> int | None:
        started = time.monotonic()
        status, retry_after, data = None, None, b""
        try:
            status, headers, data = request(self.port, method, path, body)
            retry_after = headers.get("Retry-After")
        except (OSError, http.client.HTTPException):
            pass
        if kind == "consent" and status == 201:
            key = json.loads(data)["consent_id"]  # the id the server made, to look up later
        self.records.append(Record(kind, started, time.monotonic(), status, retry_after, key))
        return status

    def _collect(self) -> None:
        key = f"{self.tag}{next(self._numbers)}"
        events = [
            {"type": "pageview", "url": f"{SITE_ORIGIN}/fault/{key}/{i}"}
            for i in range(EVENTS_PER_BATCH)
        ]
        body = {"site": SITE_KEY, "consent_id": self.consent_id, "events": events}
        status = self._call("collect", "POST", "/api/v1/collect", body, key)
        # A beacon backs off on 503 (the tracker waits Retry-After); not so long here.
        time.sleep(0.01 if status == 202 else 0.1)

    def _consent(self) -> None:
        body = {"site": SITE_KEY, "policy_version": 1, "choices": {}, "method": "accept_all",
                "lang": "en"}  # fmt: skip
        status = self._call("consent", "POST", "/api/v1/consent", body)
        time.sleep(0.05 if status == 201 else 0.2)

    def _banner(self) -> None:
        self._call("banner", "GET", BANNER, None)
        time.sleep(0.2)

    def of(self, kind: str, since: float = 0.0, until: float = float("inf")) -> list[Record]:
        return [r for r in self.records if r.kind == kind and since <= r.started < until]

    def first_success_after(self, moment: float, timeout: float) -> float | None:
        """Seconds from ``moment`` until a batch started after it was acknowledged."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = [r.ended for r in self.of("collect", since=moment) if r.status == 202]
            if done:
                return min(done) - moment
            time.sleep(0.05)
        return None


def stored_batches(engine: Engine, tag: str) -> Counter[str]:
    """Events stored per batch key (``/fault/KEY/i``) of the keys a load tagged ``tag``."""
    with engine.connect() as connection:
        paths = connection.scalars(select(Event.path).where(Event.path.like(f"/fault/{tag}%")))
        return Counter(path.split("/")[2] for path in paths)


def stored_consents(engine: Engine, ids: set[str]) -> set[str]:
    with engine.connect() as connection:
        rows = connection.scalars(
            select(ConsentRecord.consent_id)
            .where(ConsentRecord.consent_id.in_(ids))
            .group_by(ConsentRecord.consent_id)
            .having(func.count() >= 1)
        )
        return set(rows)


def check_promises(
    load: Load,
    engine: Engine,
    *,
    fault_at: float,
    restored_at: float,
    bound: float,
    refuses_all: bool = True,
) -> dict[str, Any]:
    """What every fault test asserts once the load has stopped; returns the figures.
    ``refuses_all``: no batch sent between ``fault_at`` and ``restored_at`` can be stored
    (a stopped or frozen server; not a full disk, where a small write may still fit)."""
    collects, consents, banners = load.of("collect"), load.of("consent"), load.of("banner")
    unanswered = [r for r in collects + consents + banners if r.status is None]
    assert not unanswered, f"{len(unanswered)} requests got no answer (hung or reset)"
    statuses = Counter(r.status for r in collects)
    assert set(statuses) <= {202, 503}, statuses
    assert all(r.retry_after for r in collects if r.status == 503), "503 without Retry-After"
    slowest = max(r.seconds for r in collects + consents)
    assert slowest <= bound, f"a request took {slowest:.1f} s, over the {bound:.1f} s bound"
    consent_statuses = Counter(r.status for r in consents)
    assert set(consent_statuses) <= {201, 503}, consent_statuses
    assert all(r.retry_after for r in consents if r.status == 503), "503 without Retry-After"
    assert not [r for r in consents if r.status == 201 and r.retry_after], "201 with Retry-After"
    outage = load.of("collect", since=fault_at, until=restored_at)
    refused = [r for r in outage if r.status == 503]
    assert refused, "no collect request was refused while the store was gone"
    if refuses_all:
        assert not [r for r in outage if r.status == 202 and r.ended < restored_at]
    assert all(r.status == 200 for r in banners), Counter(r.status for r in banners)
    during = [r.seconds for r in banners if fault_at <= r.started < restored_at]
    assert during, "no banner request during the outage"
    # Well under the client deadline (7 s) a thread held by the database would show.
    assert max(during) < 3.0, f"the banner took {max(during):.2f} s while the store was gone"

    stored = stored_batches(engine, load.tag)
    partial = {key: n for key, n in stored.items() if n != EVENTS_PER_BATCH}
    assert not partial, f"batches stored in part: {partial}"
    acknowledged = {r.key for r in collects if r.status == 202}
    lost = acknowledged - set(stored)
    assert not lost, f"{len(lost)} acknowledged batches are not stored"
    assert set(stored) <= {r.key for r in collects}
    recorded = {r.key for r in consents if r.status == 201}
    assert stored_consents(engine, recorded) == recorded, "an acknowledged consent was lost"
    refused_keys = {r.key for r in collects if r.status == 503}
    return {
        "first_503_s": round(min(r.ended for r in refused) - fault_at, 2),
        "slowest_request_s": round(slowest, 2),
        "outage_collect_p50_s": round(sorted(r.seconds for r in outage)[len(outage) // 2], 3),
        "banner_during_outage_max_s": round(max(during), 3),
        "banner_requests_during_outage": len(during),
        "collect_202": statuses[202],
        "collect_503": statuses[503],
        "events_acknowledged": len(acknowledged) * EVENTS_PER_BATCH,
        "events_stored": sum(stored.values()),
        "batches_stored_after_503": len(refused_keys & set(stored)),
        "consents_201": len(recorded),
        "consents_503": sum(1 for r in consents if r.status == 503),
    }
