"""Access and erasure for a data subject, across every domain's registered holders."""

from __future__ import annotations

from typing import Any

from app.consent.cache import consent_stamp_keys
from app.extensions import db, reset_process_state
from app.storage.cache import deliver_invalidation, stage_invalidation
from app.subjects import Subject, holders_for


def export_subject(subject: Subject) -> dict[str, list[dict[str, Any]]]:
    """Every row held for ``subject``, by holder kind; only the holders its keys apply to."""
    return {
        holder.kind: [row for key in subject.keys(holder.key) for row in holder.export(key)]
        for holder in holders_for(subject)
    }


def erase_subject(subject: Subject) -> dict[str, int]:
    """Delete everything held for ``subject`` in one transaction; row counts by kind."""
    deleted = {
        holder.kind: sum(holder.erase(key) for key in subject.keys(holder.key))
        for holder in holders_for(subject)
    }
    # Staged in the same transaction, so no host can miss the erasure (see invalidation.py).
    staged = stage_invalidation(
        tuple(key for consent_id in subject.consent_ids for key in consent_stamp_keys(consent_id))
    )
    db.session.commit()
    deliver_invalidation(staged)
    # This worker forgets what it remembered of the rows gone (its visits, for one).
    reset_process_state()
    return deleted
