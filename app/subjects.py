"""Every domain that holds data keyed to a consent id registers how to export and erase it.

Access and erasure requests then cover all of it without knowing each table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app


@dataclass(frozen=True)
class DataHolder:
    kind: str
    export: Callable[[str], list[dict[str, Any]]]
    # Deletes with bulk statements and returns the row count; must not commit.
    erase: Callable[[str], int]
    # Lower runs first at erasure; the consent records go last.
    order: int = 100


def register_holder(app: Flask, holder: DataHolder) -> None:
    holders: list[DataHolder] = app.extensions.setdefault("heedful_data_holders", [])
    if any(h.kind == holder.kind for h in holders):
        raise ValueError(f"a data holder named {holder.kind!r} is already registered")
    holders.append(holder)
    holders.sort(key=lambda h: h.order)


def data_holders() -> list[DataHolder]:
    return list(current_app.extensions.get("heedful_data_holders", []))
