"""Storage: the write engine (group commit, bulk inserts and upserts, partitions) and the
stamped cache that every host shares. Collection, rollups and retention write through it.

Its face for writing: a domain declares a ``WritePlan`` of ``TableWrite``s (and a claim if
some jobs may have been stored before), then hands ``submit`` one ``WriteJob`` per
request; ``submit`` returns once the job is committed and durable. ``BulkInsert`` is the
prepared insert or upsert behind it. Monthly partitions: ``ensure_partitions``,
``list_partitions``, ``drop_months_before``.
"""

from __future__ import annotations

from flask import Flask

from app.storage import partitions, writer
from app.storage.bulk import BulkInsert
from app.storage.partitions import drop_months_before, ensure_partitions, list_partitions
from app.storage.plan import Claim, TableWrite, WriteJob, WritePlan
from app.storage.store import WriteTimeout
from app.storage.writer import GroupWriter, group_writer, submit

__all__ = [
    "BulkInsert",
    "Claim",
    "GroupWriter",
    "TableWrite",
    "WriteJob",
    "WritePlan",
    "WriteTimeout",
    "drop_months_before",
    "ensure_partitions",
    "group_writer",
    "init_app",
    "list_partitions",
    "submit",
]


def init_app(app: Flask) -> None:
    """Give ``app`` its process-wide write state: the group writer (made on first use) and
    the months whose partitions exist, each forgotten on ``reset_process_state``."""
    writer.init_app(app)
    partitions.init_app(app)
