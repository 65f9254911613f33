"""A prepared multi-row INSERT: the SQL and the bind processors are worked out once per
table and dialect, so storing a group of events is one ``executemany`` with no statement
compilation or cache-key work per request (that was the largest cost of collection)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect


class BulkInsert:
    """``accumulate`` names a column to add to on a primary-key clash (an upsert counter);
    SQLite and PostgreSQL spell ``ON CONFLICT … excluded`` the same way."""

    def __init__(self, table: Table, dialect: Dialect, *, accumulate: str | None = None) -> None:
        columns = list(table.columns)
        quote = dialect.identifier_preparer.quote
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.sql = (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(c.name) for c in columns)}) "
            f"VALUES ({', '.join([mark] * len(columns))})"
        )
        if accumulate is not None:
            keys = ", ".join(quote(c.name) for c in table.primary_key.columns)
            target = quote(accumulate)
            self.sql += (
                f" ON CONFLICT ({keys}) DO UPDATE SET "
                f"{target} = {quote(table.name)}.{target} + excluded.{target}"
            )
        self._keys = [c.key for c in columns]
        self._defaults: dict[str, Callable[[], Any]] = {}
        for column in columns:
            default = column.default
            if default is not None and default.is_scalar:
                self._defaults[column.key] = lambda value=default.arg: value
            elif default is not None and default.is_callable:
                self._defaults[column.key] = lambda fn=default.arg: fn(None)
        self._processors = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns]

    def _row(self, values: dict[str, Any]) -> tuple[Any, ...]:
        out = []
        for key, processor in zip(self._keys, self._processors, strict=True):
            if key in values:
                value = values[key]
            elif key in self._defaults:
                value = self._defaults[key]()
            else:
                value = None
            out.append(processor(value) if processor is not None else value)
        return tuple(out)

    def execute(self, cursor: Any, rows: Iterable[dict[str, Any]]) -> None:
        """Insert ``rows`` with one ``executemany`` on a DBAPI cursor."""
        params = [self._row(row) for row in rows]
        if params:
            cursor.executemany(self.sql, params)
