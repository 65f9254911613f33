"""Helpers shared by the benchmarks."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, request


def bench_app(database_url: str | None = None, **extra: Any) -> tuple[Flask, str]:
    """The real app on a fresh temporary SQLite database (or ``database_url``)."""
    os.environ.setdefault("HEEDFUL_ENV", "development")
    from app import create_app
    from app.extensions import db

    folder = tempfile.mkdtemp(prefix="heedful-bench-")
    url = database_url or f"sqlite:///{folder}/bench.db"
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench-secret-" + "x" * 32,
            "RATELIMIT_ENABLED": False,
            "WTF_CSRF_ENABLED": False,
            **extra,
        },
        instance_path=folder,
    )
    with app.app_context():
        db.create_all()
    return app, folder


def bare_app() -> Flask:
    """The baseline: Flask parsing the same JSON body and answering 204."""
    bare = Flask("bare")

    @bare.post("/bare")
    def bare_endpoint() -> tuple[str, int]:
        request.get_json(force=True)
        return "", 204

    return bare


def per_call_us(fn: Callable[[], Any], *, repeat: int = 5, number: int = 200) -> float:
    """Median over ``repeat`` rounds of the mean time per call, in microseconds."""
    fn()
    rounds = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            fn()
        rounds.append((time.perf_counter() - started) / number * 1e6)
    return statistics.median(rounds)


def row(label: str, value: str, baseline: str, verdict: str = "") -> None:
    print(f"   {label:<44} {value:>14}   vs {baseline:<28} {verdict}")


def load_average() -> str:
    """How busy the host is, to print beside figures measured on a shared machine."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} {five:.1f} {fifteen:.1f} on {os.cpu_count()} cores"


def postgres_schema(base: str, label: str) -> tuple[str, Callable[[], None]]:
    """A fresh schema on the PostgreSQL server at ``base``: (its URL, a function dropping it)."""
    import secrets

    import sqlalchemy as sa

    schema = f"{label}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    return f"{base}{separator}options=-csearch_path%3D{schema}", drop
