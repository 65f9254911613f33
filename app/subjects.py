"""Every domain that holds data about a person registers how to export and erase it.

A person (a data subject) is known by keys of two kinds: the consent ids their browsers
were given, and the keyed hashes of their email addresses (``app.identity.email_hmac``).
Each holder says which kind of key its rows are found by, so an access or erasure request
runs only the holders that apply to the keys it has, without knowing any table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from flask import Flask, current_app

KeyKind = Literal["consent_id", "recipient_key"]


@dataclass(frozen=True)
class Subject:
    """The keys one access or erasure request covers."""

    consent_ids: tuple[str, ...] = ()
    recipient_keys: tuple[str, ...] = ()

    @classmethod
    def of_consent(cls, consent_id: str) -> Subject:
        return cls(consent_ids=(consent_id,))

    @classmethod
    def of_recipient(cls, recipient_key: str) -> Subject:
        return cls(recipient_keys=(recipient_key,))

    def keys(self, kind: KeyKind) -> tuple[str, ...]:
        return self.consent_ids if kind == "consent_id" else self.recipient_keys


@dataclass(frozen=True)
class DataHolder:
    kind: str
    export: Callable[[str], list[dict[str, Any]]]
    # Deletes with bulk statements and returns the row count; must not commit.
    erase: Callable[[str], int]
    # Lower runs first at erasure; the consent records go last.
    order: int = 100
    # What ``export`` and ``erase`` are called with: one key of this kind at a time.
    key: KeyKind = "consent_id"
    # The tables whose rows it exports and erases (tests/test_data_holders.py checks that
    # every table holding a subject's key is covered by one holder).
    tables: tuple[str, ...] = ()


def register_holder(app: Flask, holder: DataHolder) -> None:
    holders: list[DataHolder] = app.extensions.setdefault("heedful_data_holders", [])
    if any(h.kind == holder.kind for h in holders):
        raise ValueError(f"a data holder named {holder.kind!r} is already registered")
    holders.append(holder)
    holders.sort(key=lambda h: h.order)


def data_holders() -> list[DataHolder]:
    return list(current_app.extensions.get("heedful_data_holders", []))


def holders_for(subject: Subject) -> list[DataHolder]:
    """The holders with rows that ``subject``'s keys can find, in erasure order."""
    return [holder for holder in data_holders() if subject.keys(holder.key)]
