"""What a write job writes: a plan of named table writes, each in one write mode, and an
optional claim that decides which jobs of a group are stored.

Storage knows tables and write modes, not what the rows mean: the domain that writes
(collection today; rollups and retention later) declares its ``WritePlan`` once, in its
own code, and hands ``submit`` jobs that carry rows per named table write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Table
from sqlalchemy.engine import Dialect


@dataclass(frozen=True, slots=True)
class TableWrite:
    """One table write of a plan, in the modes of ``BulkInsert``: a plain insert, or on a
    primary-key clash ``if_new`` (keep the stored row), ``keep_latest`` (raise that column
    to a later value) or ``accumulate`` (add to that column; the group's rows are merged by
    key first, so each key is written once per group).

    ``sort`` sorts the group's rows before writing, so concurrent PostgreSQL writers lock
    them in the same order and cannot deadlock. ``every_job`` writes the rows of every job,
    also of those the plan's claim says were stored before."""

    name: str
    table: Table
    if_new: bool = False
    keep_latest: str | None = None
    accumulate: str | None = None
    sort: bool = False
    every_job: bool = False


class Claim(Protocol):
    """Run on the group's cursor before its writes, in the same transaction."""

    def claim(self, cursor: Any, jobs: list[WriteJob]) -> list[WriteJob]:
        """The jobs of ``jobs`` whose rows are to be stored."""
        ...


@dataclass(frozen=True, eq=False)
class WritePlan:
    """The table writes of one kind of job, written in this order. ``claim`` makes the
    plan's claim for a dialect (once per writing process)."""

    writes: tuple[TableWrite, ...]
    claim: Callable[[Dialect], Claim] | None = None

    def job(self, rows: dict[str, list[dict[str, Any]]], claim: Any = None) -> WriteJob:
        """A job of this plan: column dicts per table write name (names left out write
        nothing), and what the plan's claim needs to know about it."""
        return WriteJob(self, rows, claim)


@dataclass(eq=False, slots=True)
class WriteJob:
    """One caller's rows, stored whole or not at all. ``params`` holds the rows as bind
    tuples, one list per table write of the plan, made before the write turn."""

    plan: WritePlan
    rows: dict[str, list[dict[str, Any]]]
    claim: Any = None
    params: list[list[tuple[Any, ...]]] = field(default_factory=list)
    error: BaseException | None = None
