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
