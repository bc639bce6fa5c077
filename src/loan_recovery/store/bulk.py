"""Column-wise bulk writes: many rows in one statement, converted one column at a time.

SQLAlchemy's ``execute(insert(table), list_of_dicts)`` converts every value of every row
through the type system, which costs more than the database's own work for 100,000
loans. Here each column's values go through that column's bind processor once per
column (a constant, such as a batch's timestamp, once in all), and the rows reach the
driver as tuples: ``COPY`` on PostgreSQL, ``executemany`` elsewhere. The SQL text is built
from the :class:`~sqlalchemy.Table`, so names stay quoted by the dialect's rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


@dataclass(frozen=True, slots=True)
class Same:
    """One value for every row of a bulk write (converted once)."""

    value: Any


Column = Sequence[Any] | Same


def _converted(
    connection: sa.Connection, table: sa.Table, columns: Mapping[str, Column]
) -> tuple[list[str], list[Sequence[Any]], int]:
    """Column names, their values converted for the driver, and the row count."""
    lengths = {len(values) for values in columns.values() if not isinstance(values, Same)}
    if len(lengths) > 1:
        raise ValueError(f"bulk columns differ in length: {sorted(lengths)}.")
    rows = lengths.pop() if lengths else 0
    dialect = connection.dialect
    names: list[str] = []
    converted: list[Sequence[Any]] = []
    for name, values in columns.items():
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if isinstance(values, Same):
            value = processor(values.value) if processor is not None else values.value
            converted.append([value] * rows)
        elif processor is not None:
            converted.append([processor(value) for value in values])
        else:
            converted.append(values)
        names.append(name)
    return names, converted, rows


def _placeholder(connection: sa.Connection) -> str:
    style = connection.dialect.paramstyle
    if style not in _PLACEHOLDERS:  # pragma: no cover - sqlite and psycopg are covered
        raise NotImplementedError(f"bulk writes do not support paramstyle {style!r}.")
    return _PLACEHOLDERS[style]


def _quote(connection: sa.Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote(name)


def bulk_insert(connection: sa.Connection, table: sa.Table, columns: Mapping[str, Column]) -> int:
    """Insert the rows given column by column; returns how many were written."""
    names, converted, rows = _converted(connection, table, columns)
    if rows == 0:
        return 0
    quoted_table = _quote(connection, table.name)
    quoted = ", ".join(_quote(connection, name) for name in names)
    values = zip(*converted, strict=True)
    if connection.dialect.name == "postgresql":
        driver_connection: Any = connection.connection.driver_connection
        with (
            driver_connection.cursor() as cursor,
            cursor.copy(f"COPY {quoted_table} ({quoted}) FROM STDIN") as copy,
        ):
            for row in values:
                copy.write_row(row)
        return rows
    marks = ", ".join([_placeholder(connection)] * len(names))
    sql = f"INSERT INTO {quoted_table} ({quoted}) VALUES ({marks})"
    connection.exec_driver_sql(sql, list(values))
    return rows


def bulk_update(
    connection: sa.Connection, table: sa.Table, *, key: str, columns: Mapping[str, Column]
) -> int:
    """Set ``columns`` on the rows whose ``key`` column equals the ``key`` values given.

    ``columns`` must include ``key`` (the rows' keys); returns how many rows were given.
    """
    names, converted, rows = _converted(connection, table, columns)
    if rows == 0:
        return 0
    mark = _placeholder(connection)
    position = names.index(key)
    settings = ", ".join(f"{_quote(connection, name)} = {mark}" for name in names if name != key)
    sql = (
        f"UPDATE {_quote(connection, table.name)} SET {settings} "
        f"WHERE {_quote(connection, key)} = {mark}"
    )
    others = [values for index, values in enumerate(converted) if index != position]
    parameters = list(zip(*others, converted[position], strict=True))
    connection.exec_driver_sql(sql, parameters)
    return rows
