"""Bulk reads straight from the driver's cursor: a compiled SELECT, fetched in batches, rows as the driver gives them.

For reads of hundreds of thousands of rows (a run's lists, a judgment pool), SQLAlchemy's per-row result processing
costs more than the database. Values come back as the driver returns them: JSON columns as text on SQLite and as
decoded objects on PostgreSQL, so callers accept both.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select

BATCH = 20_000


def raw_rows(conn: Connection, stmt: Select, batch: int = BATCH) -> Iterator[tuple[Any, ...]]:
    """Every row of `stmt` as a plain tuple, fetched `batch` rows at a time through the connection's DBAPI cursor."""
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.params
    args: Any = tuple(params[name] for name in compiled.positiontup or ()) if compiled.positional else params
    return _rows_of(_batches(conn, str(compiled), args, batch))


def raw_sql_rows(conn: Connection, sql: str, params: Sequence[Any], batch: int = BATCH) -> Iterator[tuple[Any, ...]]:
    """Every row of a hand-written SELECT with `?` placeholders (and no other `?` or `%`), through the driver's cursor:
    for a statement of thousands of parameters, which SQLAlchemy would take longer to compile than to run."""
    return _rows_of(raw_sql_batches(conn, sql, params, batch))


def raw_sql_batches(conn: Connection, sql: str, params: Sequence[Any], batch: int = BATCH
                    ) -> Generator[list[tuple[Any, ...]], None, None]:
    """`raw_sql_rows` as the driver's batches (lists of up to `batch` rows): for a caller that loops over hundreds of
    thousands of rows, one generator step per batch instead of per row."""
    style = conn.dialect.paramstyle
    if style in ("format", "pyformat"):
        sql = sql.replace("?", "%s")
    elif style != "qmark":
        raise ValueError(f"raw_sql_rows: paramstyle {style!r} is not supported")
    return _batches(conn, sql, tuple(params), batch)


def _rows_of(batches: Generator[list[tuple[Any, ...]], None, None]) -> Iterator[tuple[Any, ...]]:
    """The rows of batches, one by one; closing this closes the batches' read (its cursor) at once."""
    try:
        for rows in batches:
            yield from rows
    finally:
        batches.close()


def _batches(conn: Connection, sql: str, args: Any, batch: int) -> Generator[list[tuple[Any, ...]], None, None]:
    """The rows of one statement on the connection's DBAPI cursor in lists of `batch` (the cursor closed after)."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, args)
        while rows := cursor.fetchmany(batch):
            yield rows
    finally:
        if not (conn.invalidated or conn.closed):  # else the connection was closed first (a Ctrl-C invalidated it while
            cursor.close()  # this read was left unfinished) and its cursors went with it: closing one would raise
