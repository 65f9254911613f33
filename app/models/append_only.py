"""Append-only tables: the ORM refuses updates and deletes, and a database trigger refuses
``UPDATE`` too, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy import DDL, event


class AppendOnlyError(RuntimeError):
    """A code path tried to change an append-only record in place."""


_PG_FUNCTION = DDL(
    "CREATE OR REPLACE FUNCTION heedful_refuse_update() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'consent records are append-only'; END $$ LANGUAGE plpgsql"
)


def make_append_only(model: Any, *, what: str, erased_by: str) -> None:
    """Guard ``model``; the triggers match the ones its migration creates (``create_all``
    builds the test schemas, so both paths must agree)."""
    table = model.__table__
    name = f"{table.name}_append_only"
    sqlite_trigger = DDL(
        f"CREATE TRIGGER {name} BEFORE UPDATE ON {table.name} "
        "BEGIN SELECT RAISE(ABORT, 'consent records are append-only'); END"
    )
    pg_trigger = DDL(
        f"CREATE TRIGGER {name} BEFORE UPDATE ON {table.name} "
        "FOR EACH ROW EXECUTE FUNCTION heedful_refuse_update()"
    )
    event.listen(table, "after_create", sqlite_trigger.execute_if(dialect="sqlite"))
    event.listen(table, "after_create", _PG_FUNCTION.execute_if(dialect="postgresql"))
    event.listen(table, "after_create", pg_trigger.execute_if(dialect="postgresql"))

    def refuse_update(mapper: Any, connection: Any, target: Any) -> None:
        raise AppendOnlyError(f"{what} are append-only; add a new record instead")

    def refuse_delete(mapper: Any, connection: Any, target: Any) -> None:
        raise AppendOnlyError(f"{what} are only removed by {erased_by}")

    event.listen(model, "before_update", refuse_update)
    event.listen(model, "before_delete", refuse_delete)
