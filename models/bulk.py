"""Bulk writes: plain tuples bound once and inserted with one driver ``executemany``.

A page's transaction holds SQLite's writer lock, so rows are made ready before it
(:func:`row_binder`) and inserted without SQLAlchemy's per-row work (:func:`bulk_insert`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Dialect, Insert, Table, bindparam, insert
from sqlmodel import Session

from core.errors import StoreError


def row_binder(
    dialect: Dialect, table: Table, columns: Sequence[str]
) -> Callable[[Sequence[Any]], list[Any]]:
    """A function turning one row (values in ``columns`` order) into the driver's values.

    Each value goes through its column type's own bind processor, so what is stored is
    exactly what a Core ``insert`` would store. Binding needs no connection: rows can be
    made ready before the write transaction and inserted with ``bound=True``.
    """
    return _row_binder(dialect, table, tuple(columns))


@functools.lru_cache(maxsize=64)
def _row_binder(
    dialect: Dialect, table: Table, columns: tuple[str, ...]
) -> Callable[[Sequence[Any]], list[Any]]:
    active = [
        (i, proc, proc(None) is None)  # keeps None as None: not called for one (dates, flags)
        for i, name in enumerate(columns)
        if (proc := _processor(dialect, table, name))
    ]

    def bind(row: Sequence[Any]) -> list[Any]:
        values = list(row)
        for index, process, keeps_none in active:
            value = values[index]
            if value is not None or not keeps_none:
                values[index] = process(value)
        return values

    return bind


def _processor(dialect: Dialect, table: Table, name: str) -> Callable[[Any], Any] | None:
    processor: Callable[[Any], Any] | None = (
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
    )
    return processor


def bulk_insert(
    session: Session,
    table: Table,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    constants: Mapping[str, Any] | None = None,
    bound: bool = False,
    statement: Insert | None = None,
) -> int:
    """INSERT plain tuples (values in ``columns`` order) with one driver ``executemany``;
    the rows the database reports written.

    Values are bound as :func:`row_binder` binds them (``bound``: the rows are its
    output already); skipped are the per-row dictionaries and parameter construction
    that make Core inserts cost tens of microseconds a row. ``constants`` (column ->
    value) are the same for every row: processed once. ``statement`` is the dialect's
    ``insert(table)`` with its ``ON CONFLICT`` clause (no bound values of its own);
    its VALUES are the columns'.
    """
    connection = session.connection()
    dialect = connection.dialect
    fixed = dict(constants or {})
    for column in table.c:  # the columns' own defaults, as a Core insert applies them
        if column.default is not None and column.name not in fixed and column.name not in columns:
            if not column.default.is_scalar:  # pragma: no cover - Vahti's defaults are values
                raise StoreError(f"bulk insert into {table.name}: {column.name} needs a value")
            fixed[column.name] = column.default.arg  # type: ignore[attr-defined]
    names = [*columns, *fixed]
    quote = dialect.identifier_preparer.quote
    order: Sequence[str] = names
    if statement is None and dialect.paramstyle == "qmark":  # SQLite: our order, not the table's
        targets = ", ".join(quote(name) for name in names)  # names from the table's metadata
        marks = ", ".join("?" for _ in names)
        sql = f"INSERT INTO {quote(table.name)} ({targets}) VALUES ({marks})"  # noqa: S608
    else:
        sql, order = _compiled_insert(dialect, table, statement, tuple(names))
    tail = tuple(
        proc(value) if (proc := _processor(dialect, table, name)) else value
        for name, value in fixed.items()
    )
    bind = None if bound else row_binder(dialect, table, columns)
    where = [names.index(name) for name in order]
    plain = where == list(range(len(names)))
    prepared: list[Any] = []
    for row in rows:
        values = list(row) if bind is None else bind(row)
        values.extend(tail)
        if not dialect.positional:
            prepared.append(dict(zip(names, values, strict=True)))
        else:
            prepared.append(tuple(values) if plain else tuple(values[i] for i in where))
    if not prepared:
        return 0
    result = connection.exec_driver_sql(sql, prepared)
    return int(result.rowcount)


_compiled: dict[tuple[object, ...], tuple[str, list[str]]] = {}


def _compiled_insert(
    dialect: Dialect, table: Table, statement: Insert | None, names: tuple[str, ...]
) -> tuple[str, list[str]]:
    """The INSERT's SQL for ``names`` and its parameters' order, compiled once per shape.

    Callers build their ``ON CONFLICT`` statement anew on each call; its cache key (the
    statement's structure, as SQLAlchemy's own statement cache keys it) costs a fraction
    of compiling it.
    """
    base = insert(table) if statement is None else statement
    cache_key = base._generate_cache_key()  # noqa: SLF001 - SQLAlchemy's statement cache key
    key = None if cache_key is None else (dialect, cache_key.key, names)
    found = _compiled.get(key) if key is not None else None
    if found is not None:
        return found
    compiled = base.values({name: bindparam(name) for name in names}).compile(dialect=dialect)
    order = list(names)
    if dialect.positional:
        order = list(compiled.positiontup or ())
        if sorted(order) != sorted(names):  # pragma: no cover - a statement with binds
            raise StoreError(f"bulk insert into {table.name}: unexpected parameters")
    found = (str(compiled), order)
    if key is not None:
        if len(_compiled) > 256:  # a handful of shapes in practice; never unbounded
            _compiled.clear()
        _compiled[key] = found
    return found


def insert_dicts(session: Session, statement: Insert, rows: Sequence[Mapping[str, Any]]) -> int:
    """``statement`` (the dialect's INSERT ... ON CONFLICT) for rows with the same keys, by
    :func:`bulk_insert`: one driver executemany. A page's transaction holds SQLite's writer
    lock, and Core's executemany costs tens of microseconds a row. Rows written."""
    if not rows:
        return 0
    columns = list(rows[0])
    values = [[row[name] for name in columns] for row in rows]
    return bulk_insert(session, statement.table, columns, values, statement=statement)  # type: ignore[arg-type]
