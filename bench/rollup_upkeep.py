"""What rollup upkeep costs the collect endpoint: ``bench.ingest``'s load against the real
app, in alternating rounds with and without the rollup timer running beside the server.

The timer is one long-lived process calling ``heedful rollup``'s upkeep
(``bring_up_to_date``) every ``UPKEEP_INTERVAL_S`` seconds against the database the load
writes: twelve times the documented cadence (cron, every minute), and without a process
start per run, so the figure is the rollup work's own cost. Every upkeep run recomputes
today wholly, so it reads all of today's events, the ones the load keeps adding included.
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from bench.collect_load import WARM_SECONDS, Gunicorn, Load, app_in, load

UPKEEP_INTERVAL_S = 5.0
ROUND_SECONDS = 10.0  # two upkeep runs or more fall in each round with the timer
ROUNDS = 4
TARGET_RATIO = 0.9  # the timer may cost the endpoint 10 % of its throughput at most


def upkeep_timer(env: dict[str, str], active: Any, idle: Any, stop: Any, runs: Any) -> None:
    """The timer process: while ``active`` is set, run the upkeep every UPKEEP_INTERVAL_S
    seconds; ``idle`` is set between runs; each run's duration goes to ``runs``."""
    from app.reporting.rollup import bring_up_to_date

    app = app_in(env)
    with app.app_context():
        bring_up_to_date()  # imports and connections, before any round is measured
    idle.set()
    while not stop.is_set():
        if not active.wait(timeout=0.2):
            continue
        idle.clear()
        started = time.perf_counter()
        with app.app_context():
            bring_up_to_date()
        elapsed = time.perf_counter() - started
        runs.put(elapsed)
        idle.set()
        stop.wait(timeout=max(0.0, UPKEEP_INTERVAL_S - elapsed))


@dataclass
class UpkeepRounds:
    """Maximum rates of the collect endpoint without and with the timer, alternating."""

    without: list[Load] = field(default_factory=list)
    with_timer: list[Load] = field(default_factory=list)
    upkeep_runs_s: list[float] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        pairs = zip(self.without, self.with_timer, strict=True)
        return [w.rps / b.rps if b.rps else 0.0 for b, w in pairs]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def errors(self) -> int:
        return sum(run.errors for run in (*self.without, *self.with_timer))


def collect_with_upkeep(env: dict[str, str], bodies: list[bytes]) -> UpkeepRounds:
    """One gunicorn serving the real app; ROUNDS pairs of maximum-rate runs, the first of
    each pair without the timer and the second with it."""
    context = multiprocessing.get_context("spawn")  # the timer makes its own app
    active, idle, stop = context.Event(), context.Event(), context.Event()
    runs = context.Queue()
    timer = context.Process(target=upkeep_timer, args=(env, active, idle, stop, runs))
    server = Gunicorn("wsgi:app", env)
    rounds = UpkeepRounds()
    try:
        timer.start()
        load(server.port, bodies, WARM_SECONDS)  # imports, caches, connections
        if not idle.wait(timeout=300):
            raise RuntimeError("the rollup timer did not start")
        for _ in range(ROUNDS):
            rounds.without.append(load(server.port, bodies, ROUND_SECONDS))
            active.set()
            rounds.with_timer.append(load(server.port, bodies, ROUND_SECONDS))
            active.clear()
            idle.wait(timeout=300)  # a run still going would fall in the next round
            time.sleep(0.2)
        while not runs.empty():
            rounds.upkeep_runs_s.append(runs.get())
    finally:
        stop.set()
        active.set()
        timer.join(timeout=60)
        if timer.is_alive():
            timer.kill()
        server.stop()
    return rounds


def report(rounds: UpkeepRounds, label: str) -> bool:
    """Print the rounds and the median ratio; whether the target is met."""
    from bench.common import row

    for number, (alone, timed, ratio) in enumerate(
        zip(rounds.without, rounds.with_timer, rounds.ratios, strict=True), 1
    ):
        print(
            f"   round {number}: collect {alone.rps:5.0f} req/s alone, "
            f"{timed.rps:5.0f} req/s with the timer = {ratio:.2f}x"
        )
    upkeep = rounds.upkeep_runs_s
    if upkeep:
        print(
            f"   upkeep runs every {UPKEEP_INTERVAL_S:.0f} s: {len(upkeep)} runs, "
            f"median {statistics.median(upkeep):.2f} s, longest {max(upkeep):.2f} s"
        )
    ok = rounds.ratio >= TARGET_RATIO and rounds.errors == 0 and bool(upkeep)
    row(
        f"collect with rollup timer ({label})",
        f"{rounds.ratio:.2f}x",
        f"without it (target >= {TARGET_RATIO})",
        f"{'met' if ok else 'MISSED'}, errors {rounds.errors}",
    )
    return ok
