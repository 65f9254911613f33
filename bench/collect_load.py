"""The collect endpoint under load, shared by the benches that measure it (``bench.ingest``,
``bench.reporting``): the gunicorn settings the README documents, a database migrated and
given a site with valid consents, and a bounded Python load generator.

The load generator runs processes x keep-alive connections against 127.0.0.1 only,
closed-loop for the maximum rate or open-loop at a given rate for latency.
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
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
SITE_KEY = "bench"
DOMAIN = "shop.bench.example"
CONSENTS = 200
CLIENT_PROCESSES = 2
CONNECTIONS_PER_PROCESS = 8
WARM_SECONDS = 8.0  # until every worker has seen every consent id and warmed its caches
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def collect_bodies(consent_ids: list[str], count: int = 500) -> list[bytes]:
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


def load(port: int, bodies: list[bytes], seconds: float, rate: float | None = None) -> Load:
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
        self.port = free_port()
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


def prepare_database(database_url: str, folder: Path) -> tuple[dict[str, str], list[str]]:
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
    from flask_migrate import upgrade

    from app.consent.service import ConsentRequest, record_consent
    from app.extensions import db
    from app.sites.registry import create_site

    env["HEEDFUL_BENCH_INSTANCE"] = str(folder / "instance")
    app = app_in(env)
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
    return env, consent_ids


def app_in(env: dict[str, str]) -> Flask:
    """The real app configured from ``env`` (as ``prepare_database`` returns it), made
    without leaving ``env`` in this process's environment for the benches after."""
    from app import create_app

    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        return create_app(instance_path=env["HEEDFUL_BENCH_INSTANCE"])
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def postgres_url() -> str | None:
    return os.environ.get("HEEDFUL_BENCH_DATABASE_URL") or os.environ.get(
        "HEEDFUL_TEST_DATABASE_URL"
    )
