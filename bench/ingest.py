"""Ingest speed of ``POST /api/v1/collect`` next to a bare Flask endpoint, same run.

Set-up: gunicorn, 2 workers (gthread, 8 threads each, keep-alive), the real app against
SQLite in WAL mode, durable (each batch's log is synced before its 202), valid consent,
City + ASN databases and enrichment on; the baseline is ``bench.bare_app`` under the same
settings.
Load: a bounded Python generator (processes x keep-alive connections, 127.0.0.1 only):
closed-loop for the maximum rate, then open-loop at half that rate for latency. Both
servers run side by side and their maximum rates are measured in alternating rounds; the
ratio printed is the median of the rounds' ratios, since a shared 2-vCPU host can swing a
single measurement by a quarter.
Rate limits are on, at rates no run reaches, so every batch pays for its checks: the
address in the host's shared counter file, the site from the worker's lease of its limit.
Then ``wrk -t2 -c32`` (Debian's) measures both servers again in alternating rounds: a C
load generator leaves the servers more of the two cores, so its ratio is printed beside
the Python one (``bench.wrk``).
Targets: ingest >= 0.5x the bare endpoint's rate; p99 < 25 ms at half the maximum; peak
RSS per worker < 150 MB. The same ingest figures are printed for PostgreSQL when
``HEEDFUL_BENCH_DATABASE_URL`` (or ``HEEDFUL_TEST_DATABASE_URL``) names a server.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import wrk
from bench.common import postgres_schema

ROOT = Path(__file__).resolve().parent.parent
SITE_KEY = "bench"
DOMAIN = "shop.bench.example"
CONSENTS = 200
CLIENT_PROCESSES = 2
CONNECTIONS_PER_PROCESS = 8
WARM_SECONDS = 8.0  # until every worker has seen every consent id and warmed its caches
MAX_SECONDS = 6.0
ROUNDS = 3
HALF_SECONDS = 6.0
GUNICORN = [
    "--workers",
    "2",
    "--worker-class",
    "gthread",
    "--threads",
    "8",
    "--keep-alive",
    "30",
    "--log-level",
    "warning",
]
UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Safari/605.1.15"
)
CLIENT_IPS = ("81.2.69.160", "203.0.113.25", "198.51.100.7")


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bodies(consent_ids: list[str], count: int = 500) -> list[bytes]:
    rng = random.Random(7)
    bodies = []
    for index in range(count):
        page = f"https://{DOMAIN}/products/{rng.randrange(200)}?utm_source=news&session=x{index}"
        if index % 5 == 0:
            page = f"https://{DOMAIN}/search?q=red+shoes+{rng.randrange(50)}"
        event = {
            "type": "pageview",
            "url": page,
            "title": "Product page",
            "referrer": "https://www.bing.com/search?q=running+shoes",
        }
        batch = {"site": SITE_KEY, "consent_id": rng.choice(consent_ids), "events": [event]}
        bodies.append(json.dumps(batch).encode())
    return bodies


def _client(port: int, bodies: list[bytes], seconds: float, rate: float | None, queue) -> None:
    """One load process: CONNECTIONS_PER_PROCESS threads with keep-alive connections."""
    import threading

    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def run(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine: list[float] = []
        bad = 0
        interval = CONNECTIONS_PER_PROCESS * CLIENT_PROCESSES / rate if rate else 0.0
        next_at = time.perf_counter() + random.random() * interval
        index = offset
        while True:
            if interval:
                delay = next_at - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                next_at += interval
            started = time.perf_counter()
            if started >= stop_at:
                break
            body = bodies[index % len(bodies)]
            index += 1
            headers = {
                "Content-Type": "text/plain;charset=UTF-8",
                "User-Agent": UA,
                "X-Forwarded-For": CLIENT_IPS[index % len(CLIENT_IPS)],
            }
            try:
                conn.request("POST", "/api/v1/collect", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status not in (202, 204):
                    bad += 1
            except (OSError, http.client.HTTPException):
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            mine.append(time.perf_counter() - started)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=run, args=(i * 97,)) for i in range(CONNECTIONS_PER_PROCESS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put((latencies, errors[0]))


def _load(port: int, bodies: list[bytes], seconds: float, rate: float | None = None) -> Load:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    processes = [
        context.Process(target=_client, args=(port, bodies, seconds, rate, queue))
        for _ in range(CLIENT_PROCESSES)
    ]
    started = time.perf_counter()
    for process in processes:
        process.start()
    results = [queue.get(timeout=seconds + 60) for _ in processes]
    for process in processes:
        process.join(timeout=10)
    elapsed = time.perf_counter() - started
    latencies = sorted(x for lats, _ in results for x in lats)
    errors = sum(e for _, e in results)
    if not latencies:
        return Load(0.0, float("inf"), float("inf"), errors)
    return Load(
        rps=len(latencies) / elapsed,
        p50_ms=latencies[len(latencies) // 2] * 1000,
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        errors=errors,
    )


class Gunicorn:
    def __init__(self, target: str, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", *GUNICORN, "-b", f"127.0.0.1:{self.port}", target],
            cwd=ROOT,
            env={**os.environ, **env},
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn {target} did not start")

    def worker_peak_rss_mb(self) -> list[float]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        peaks = []
        for pid in children.read_text().split():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        return peaks

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _prepare(database_url: str, folder: Path) -> tuple[dict[str, str], list[str]]:
    """Migrate an empty database, register the site and record valid consents."""
    from tests.fixtures_geo import build_asn_db, build_city_db

    folder.mkdir(parents=True, exist_ok=True)
    city = build_city_db(folder / "city.mmdb", extra_networks=3000)
    asn = build_asn_db(folder / "asn.mmdb")
    env = {
        "HEEDFUL_ENV": "development",
        "HEEDFUL_SECRET_KEY": secrets.token_urlsafe(32),
        "HEEDFUL_DATABASE_URL": database_url,
        "HEEDFUL_GEOIP_CITY_DB": str(city),
        "HEEDFUL_GEOIP_ASN_DB": str(asn),
        "HEEDFUL_TRUSTED_PROXIES": "1",
        # Limits on, never reached: the checks' cost is measured, not refusals.
        "HEEDFUL_COLLECT_RATE_PER_ADDRESS": "1000000000/minute",
        "HEEDFUL_COLLECT_RATE_PER_SITE": "1000000000/minute",
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        from flask_migrate import upgrade

        from app import create_app
        from app.consent.service import ConsentRequest, record_consent
        from app.extensions import db
        from app.sites.registry import create_site

        app = create_app(instance_path=str(folder / "instance"))
        env["HEEDFUL_BENCH_INSTANCE"] = app.instance_path
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
            create_site("Bench shop", [DOMAIN], key=SITE_KEY)
            consent_ids = []
            for _ in range(CONSENTS):
                record, _site = record_consent(
                    ConsentRequest(SITE_KEY, None, 1, {}, "accept_all", "en")
                )
                consent_ids.append(record.consent_id)
            db.session.remove()
            db.engine.dispose()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return env, consent_ids


def _measure(target: str, env: dict[str, str], bodies: list[bytes]) -> tuple[Load, Load, list]:
    server = Gunicorn(target, env)
    try:
        _load(server.port, bodies, WARM_SECONDS)  # warm-up: imports, caches, connections
        peak = _load(server.port, bodies, MAX_SECONDS)
        half = _load(server.port, bodies, HALF_SECONDS, rate=peak.rps / 2)
        return peak, half, server.worker_peak_rss_mb()
    finally:
        server.stop()


@dataclass
class Rounds:
    """Maximum rates of the bare and the real server, measured in alternating rounds."""

    bare: list[Load]
    real: list[Load]
    wrk_bare: list[wrk.WrkRun] = field(default_factory=list)
    wrk_real: list[wrk.WrkRun] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [r.rps / b.rps if b.rps else 0.0 for b, r in zip(self.bare, self.real, strict=True)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def bare_rps(self) -> float:
        return statistics.median(load.rps for load in self.bare)

    @property
    def real_rps(self) -> float:
        return statistics.median(load.rps for load in self.real)


def _side_by_side(
    env: dict[str, str], bodies: list[bytes]
) -> tuple[Rounds, Load, Load, list[float]]:
    """Bare and real server up at once: warm both, alternate their maximum-rate runs, then
    measure each at half its median maximum. Returns the real server's peak RSS per worker."""
    bare = Gunicorn("bench.bare_app:app", env)
    try:
        real = Gunicorn("wsgi:app", env)
        try:
            for server in (bare, real):
                _load(server.port, bodies, WARM_SECONDS)  # imports, caches, connections
            rounds = Rounds([], [])
            for _ in range(ROUNDS):
                rounds.bare.append(_load(bare.port, bodies, MAX_SECONDS))
                rounds.real.append(_load(real.port, bodies, MAX_SECONDS))
            bare_half = _load(bare.port, bodies, HALF_SECONDS, rate=rounds.bare_rps / 2)
            real_half = _load(real.port, bodies, HALF_SECONDS, rate=rounds.real_rps / 2)
            if wrk.available():
                script = wrk.script_file(bodies, UA, CLIENT_IPS)
                for _ in range(ROUNDS):
                    rounds.wrk_bare.append(wrk.run(bare.port, script, MAX_SECONDS))
                    rounds.wrk_real.append(wrk.run(real.port, script, MAX_SECONDS))
                script.unlink()
            return rounds, bare_half, real_half, real.worker_peak_rss_mb()
        finally:
            real.stop()
    finally:
        bare.stop()


def _postgres_url() -> str | None:
    return os.environ.get("HEEDFUL_BENCH_DATABASE_URL") or os.environ.get(
        "HEEDFUL_TEST_DATABASE_URL"
    )


def main() -> bool:
    with tempfile.TemporaryDirectory(prefix="heedful-bench-") as tmp:
        folder = Path(tmp)
        env, consent_ids = _prepare(f"sqlite:///{folder / 'bench.db'}", folder)
        bodies = _bodies(consent_ids)
        rounds, bare_half, real_half, rss = _side_by_side(env, bodies)
        ratio = rounds.ratio
        each = zip(rounds.bare, rounds.real, rounds.ratios, strict=True)
        for number, (bare, real, round_ratio) in enumerate(each, 1):
            print(
                f"   round {number}: bare Flask 204 endpoint {bare.rps:5.0f} req/s, "
                f"/api/v1/collect (SQLite) {real.rps:5.0f} req/s = {round_ratio:.2f}x, "
                f"p99 {bare.p99_ms:.1f} / {real.p99_ms:.1f} ms"
            )
        errors = sum(load.errors for load in rounds.real)
        print(
            f"   /api/v1/collect (SQLite): median {ratio:.2f}x bare (target >= 0.5x), "
            f"errors {errors}"
        )
        print(
            f"   at half max ({rounds.real_rps / 2:.0f} req/s): p50 {real_half.p50_ms:.1f} ms, "
            f"p99 {real_half.p99_ms:.1f} ms (target < 25 ms; bare at its half: "
            f"p99 {bare_half.p99_ms:.1f} ms)"
        )
        wrk.report(rounds.wrk_bare, rounds.wrk_real, rounds.ratio)
        rss_text = ", ".join(f"{mb:.0f} MB" for mb in rss)
        print(f"   peak RSS per worker with City+ASN DBs loaded: {rss_text} (target < 150 MB)")
        ok = (
            ratio >= 0.5
            and real_half.p99_ms < 25
            and bool(rss)
            and max(rss) < 150
            and errors == 0
            and real_half.errors == 0
        )
        base = _postgres_url()
        if base:
            url, drop = postgres_schema(base, "bench")
            try:
                pg_env, pg_consents = _prepare(url, folder / "pg")
                pg, pg_half, _ = _measure("wsgi:app", pg_env, _bodies(pg_consents))
                print(
                    f"   /api/v1/collect (PostgreSQL): {pg.rps:7.0f} req/s = "
                    f"{pg.rps / rounds.bare_rps:.2f}x the bare median; at half max "
                    f"p99 {pg_half.p99_ms:.1f} ms "
                    f"(errors {pg.errors + pg_half.errors})"
                )
            finally:
                drop()  # type: ignore[operator]
        else:
            print("   PostgreSQL: set HEEDFUL_BENCH_DATABASE_URL to print its figure")
        return ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
