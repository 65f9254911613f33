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

import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench import wrk
from bench.collect_load import (
    CLIENT_IPS,
    GUNICORN,
    UA,
    WARM_SECONDS,
    Gunicorn,
    Load,
    collect_bodies,
    load,
    postgres_url,
    prepare_database,
)
from bench.common import postgres_schema

__all__ = ["GUNICORN", "main"]  # the deployment docs test checks GUNICORN against the README

MAX_SECONDS = 6.0
ROUNDS = 3
HALF_SECONDS = 6.0


def _measure(target: str, env: dict[str, str], bodies: list[bytes]) -> tuple[Load, Load, list]:
    server = Gunicorn(target, env)
    try:
        load(server.port, bodies, WARM_SECONDS)  # warm-up: imports, caches, connections
        peak = load(server.port, bodies, MAX_SECONDS)
        half = load(server.port, bodies, HALF_SECONDS, rate=peak.rps / 2)
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
                load(server.port, bodies, WARM_SECONDS)  # imports, caches, connections
            rounds = Rounds([], [])
            for _ in range(ROUNDS):
                rounds.bare.append(load(bare.port, bodies, MAX_SECONDS))
                rounds.real.append(load(real.port, bodies, MAX_SECONDS))
            bare_half = load(bare.port, bodies, HALF_SECONDS, rate=rounds.bare_rps / 2)
            real_half = load(real.port, bodies, HALF_SECONDS, rate=rounds.real_rps / 2)
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


def main() -> bool:
    with tempfile.TemporaryDirectory(prefix="heedful-bench-") as tmp:
        folder = Path(tmp)
        env, consent_ids = prepare_database(f"sqlite:///{folder / 'bench.db'}", folder)
        bodies = collect_bodies(consent_ids)
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
        base = postgres_url()
        if base:
            url, drop = postgres_schema(base, "bench")
            try:
                pg_env, pg_consents = prepare_database(url, folder / "pg")
                pg, pg_half, _ = _measure("wsgi:app", pg_env, collect_bodies(pg_consents))
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
