"""A prepared multi-row INSERT: the SQL and the bind processors are worked out once per
table and dialect, so storing a group of events is one ``executemany`` with no statement
compilation or cache-key work per request (that was the largest cost of collection)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection, Dialect


class BulkInsert:
    def __init__(self, table: Table, dialect: Dialect) -> None:
        self.table = table
        columns = list(table.columns)
        quote = dialect.identifier_preparer.quote
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.sql = (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(c.name) for c in columns)}) "
            f"VALUES ({', '.join([mark] * len(columns))})"
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

    def parameters(self, rows: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [self._row(row) for row in rows]

    def execute(self, conn: Connection, rows: Iterable[dict[str, Any]]) -> None:
        params = self.parameters(rows)
        if params:
            conn.exec_driver_sql(self.sql, params)

    def execute_raw(self, cursor: Any, rows: Iterable[dict[str, Any]]) -> None:
        """The same on a DBAPI cursor, for the writer's own long-lived connection."""
        params = self.parameters(rows)
        if params:
            cursor.executemany(self.sql, params)
