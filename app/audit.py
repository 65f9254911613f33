"""The audit log's one way in: ``record_change`` appends an entry to the caller's
transaction, so the change and its record commit together or not at all.

Any layer may record (sites, consent policies, accounts, tokens, erasures); reading,
paging and ``heedful audit verify`` sit on top (``verify_chain`` is the check). Entries
name ids and kinds ("user:3", "site:demo"), never addresses or other personal values:
the log is kept for as long as the install, and erasure does not reach it.

Each entry's hash covers its own fields and the previous entry's hash, and ``seq`` is
unique, so two concurrent writers cannot fork the chain: the later commit fails and is
retried by its caller like any other conflict. On PostgreSQL a transaction-scoped
advisory lock makes writers take turns instead.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, text

from app.clock import utcnow
from app.extensions import db
from app.models import AuditEntry

GENESIS = "0" * 64
# pg_advisory_xact_lock key: the bytes "heedaudt" as a (positive) 64-bit integer.
_PG_LOCK = 0x68656564_61756474
ACTOR = re.compile(r"system|cli|(?:user|token):[0-9]{1,18}")


def record_change(
    action: str,
    *,
    actor: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Add an audit entry to the current transaction (the caller commits)."""
    if not ACTOR.fullmatch(actor):
        raise ValueError(f"an audit actor is system, cli, user:ID or token:ID, not {actor!r}")
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
    last = db.session.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    seq, prev_hash = (last.seq + 1, last.hash) if last else (1, GENESIS)
    entry = AuditEntry(
        seq=seq,
        at=at or utcnow(),
        actor=actor,
        action=action,
        target=target,
        details=details or {},
        prev_hash=prev_hash,
    )
    entry.hash = entry_hash(entry)
    db.session.add(entry)
    return entry


def entry_hash(entry: AuditEntry) -> str:
    """SHA-256 over the previous hash and the entry's fields, in a canonical JSON form."""
    fields = {
        "seq": entry.seq,
        "at": entry.at.isoformat(timespec="microseconds"),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "details": entry.details,
    }
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((entry.prev_hash + canonical).encode()).hexdigest()


def verify_chain(entries: Iterable[AuditEntry] | None = None) -> list[str]:
    """Every break in the chain (a gap, a changed entry, a wrong link); empty when whole."""
    if entries is None:
        entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq))
    problems: list[str] = []
    expected_seq, prev_hash = 1, GENESIS
    for entry in entries:
        if entry.seq != expected_seq:
            problems.append(f"entry {expected_seq} is missing (next is {entry.seq})")
        if entry.prev_hash != prev_hash:
            problems.append(f"entry {entry.seq} does not link to the entry before it")
        if entry.hash != entry_hash(entry):
            problems.append(f"entry {entry.seq} was changed after it was written")
        expected_seq, prev_hash = entry.seq + 1, entry.hash
    return problems
