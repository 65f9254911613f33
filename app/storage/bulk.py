"""A prepared multi-row INSERT: the SQL and the bind processors are worked out once per
table and dialect, so storing a group of events needs no statement compilation or
cache-key work per request (that was the largest cost of collection).

Rows become bind tuples in the caller's thread (``params``); ``execute`` then sends them as
multi-row ``VALUES`` lists. One statement per chunk instead of one step per row matters
under load: the DBAPI releases and retakes the GIL around every step, and each retake can
wait a whole switch interval while other request threads run, all while the writer holds
the database's write lock.
"""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect

# Bind parameters per statement: SQLite before 3.32 allowed 999, PostgreSQL allows 65535.
_MAX_PARAMS = {"sqlite": 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999}
_DEFAULT_MAX_PARAMS = 65_535


class BulkInsert:
    """On a primary-key clash, ``accumulate`` names a column to add to (an upsert counter),
    ``keep_latest`` one to raise to the new value, left alone when that is not later, and
    ``if_new`` keeps the stored row as it is (without a write or, on PostgreSQL, a row
    lock). SQLite and PostgreSQL spell ``ON CONFLICT … excluded`` the same way."""

    def __init__(
        self,
        table: Table,
        dialect: Dialect,
        *,
        accumulate: str | None = None,
        keep_latest: str | None = None,
        if_new: bool = False,
    ) -> None:
        columns = list(table.columns)
        quote = dialect.identifier_preparer.quote
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        names = ", ".join(quote(c.name) for c in columns)
        self._head = f"INSERT INTO {quote(table.name)} ({names}) VALUES "
        self._row_marks = f"({', '.join([mark] * len(columns))})"
        self._tail = ""
        keys = ", ".join(quote(c.name) for c in table.primary_key.columns)
        stored = quote(table.name)
        if accumulate is not None:
            target = quote(accumulate)
            self._tail = (
                f" ON CONFLICT ({keys}) DO UPDATE SET "
                f"{target} = {stored}.{target} + excluded.{target}"
            )
        elif keep_latest is not None:
            target = quote(keep_latest)
            self._tail = (
                f" ON CONFLICT ({keys}) DO UPDATE SET {target} = excluded.{target}"
                f" WHERE excluded.{target} > {stored}.{target}"
            )
        elif if_new:
            self._tail = f" ON CONFLICT ({keys}) DO NOTHING"
        self.sql = self._statement(1)
        max_params = _MAX_PARAMS.get(dialect.name, _DEFAULT_MAX_PARAMS)
        # An upsert may not name the same key twice in one statement: one row each. (DO
        # NOTHING may: a repeated key is skipped like a stored one.)
        upsert = accumulate is not None or keep_latest is not None
        self._chunk = 1 if upsert else max(1, max_params // len(columns))
        self._statements: dict[int, str] = {1: self.sql}
        self._keys = [c.key for c in columns]
        key_positions = [i for i, c in enumerate(columns) if c.primary_key]
        self._key_of = operator.itemgetter(*key_positions) if key_positions else None
        self._accumulated = self._keys.index(accumulate) if accumulate is not None else None
        # Only a few columns have a default or a bind processor: rows are read in one pass,
        # then just those slots are filled in or converted.
        self._defaults: list[tuple[int, str, Callable[[], Any]]] = []
        for index, column in enumerate(columns):
            default = column.default
            if default is not None and default.is_scalar:
                self._defaults.append((index, column.key, lambda value=default.arg: value))
            elif default is not None and default.is_callable:
                self._defaults.append((index, column.key, lambda fn=default.arg: fn(None)))
        processors = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
        # A column's type class names its conversion, so tables can share converted values.
        self._processors = [
            (i, type(columns[i].type), p) for i, p in enumerate(processors) if p is not None
        ]

    def _statement(self, rows: int) -> str:
        return self._head + ", ".join([self._row_marks] * rows) + self._tail

    def params(
        self, rows: Iterable[dict[str, Any]], converted: dict[tuple[type, Any], Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """Bind tuples for ``rows``: defaults filled in, values through the type processors.

        ``converted`` memoises conversions by (column type, value) and may be shared by the
        inserts of one job: its rows share their arrival time, and equal values of a type
        convert alike (the processors here are dates and times)."""
        memo: dict[tuple[type, Any], Any] = {} if converted is None else converted
        return [self._row(row, memo) for row in rows]

    def _row(self, values: dict[str, Any], converted: dict[tuple[type, Any], Any]) -> tuple:
        out = [values.get(key) for key in self._keys]
        for index, key, default in self._defaults:
            if key not in values:
                out[index] = default()
        for index, kind, processor in self._processors:
            value = out[index]
            try:
                out[index] = converted[kind, value]
            except KeyError:
                out[index] = converted[kind, value] = processor(value)
            except TypeError:  # an unhashable value: converted each time
                out[index] = processor(value)
        return tuple(out)

    def merged(self, params: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """For an ``accumulate`` upsert, the bind tuples of one key as one, their values
        added (an upsert may not name a key twice in one statement, and one write per key
        is cheaper); other inserts get ``params`` as they are."""
        at, key_of = self._accumulated, self._key_of
        if at is None or key_of is None:
            return list(params)
        totals: dict[Any, list[Any]] = {}
        for row in params:
            found = totals.get(key_of(row))
            if found is None:
                totals[key_of(row)] = [row, row[at]]
            else:
                found[1] += row[at]
        return [row[:at] + (total,) + row[at + 1 :] for row, total in totals.values()]

    def execute(self, cursor: Any, params: Sequence[tuple[Any, ...]]) -> None:
        """Insert bind tuples from ``params`` on a DBAPI cursor, a chunk per statement."""
        if self._chunk == 1:
            if params:
                cursor.executemany(self.sql, params)
            return
        for start in range(0, len(params), self._chunk):
            chunk = params[start : start + self._chunk]
            sql = self._statements.get(len(chunk))
            if sql is None:
                sql = self._statements[len(chunk)] = self._statement(len(chunk))
            cursor.execute(sql, [value for row in chunk for value in row])
