"""`hubcensus sql`: one read-only statement over the census, streamed as CSV or JSON, or a capped table.

Three locks, each enough on its own for writes: the statement must parse as a single
SELECT (or EXPLAIN of one) per duckdb's own parser; the connection is read-only; and
external access is disabled and the configuration locked, so no table function can read
or write other files (read_csv, COPY, ATTACH, INSTALL/LOAD...).

Results stream: rows are fetched `BATCH` at a time from DuckDB's streaming result and written
as they come, so the first rows appear at once and memory stays flat whatever the row count.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import duckdb
from hubcensus.analysis.connect import open_readonly
from hubcensus.db.connection import OLDER_HINT, READ_WAIT, Database
from hubcensus.db.migrations import LATEST_VERSION
from rich.table import Table

ALLOWED = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})
OUTPUT_FORMATS = ("table", "csv", "json")
BATCH = 10_000
"""Rows fetched from DuckDB at a time."""
TABLE_ROWS = 1_000
"""Rows a table shows at most (the rest: a note pointing to --format csv or --limit)."""


class SqlError(ValueError):
    """A one-line, user-facing problem with the statement."""


@dataclass(frozen=True)
class SqlResult:
    """Column names and rows of one query."""

    columns: list[str]
    rows: list[tuple[Any, ...]]


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split("\n")[0].split())


def _user_error(exc: duckdb.Error) -> bool:
    """An error in the statement (not in the file): parser, binder, catalog, conversion..."""
    damaged = (
        duckdb.IOException,
        duckdb.SerializationException,
        duckdb.InternalException,
        duckdb.FatalException,
    )
    return type(exc) is not duckdb.Error and not isinstance(exc, damaged)


def check_read_only(statement: str) -> None:
    """Raise SqlError unless `statement` is exactly one SELECT/EXPLAIN (DESCRIBE, SHOW, SUMMARIZE...)."""
    try:
        parsed = duckdb.extract_statements(statement)
    except duckdb.Error as exc:
        raise SqlError(_one_line(exc)) from None
    if not parsed:
        raise SqlError('empty statement: give one SELECT, e.g. hubcensus sql "SELECT count(*) FROM v_models"')
    if len(parsed) > 1:
        raise SqlError(f"{len(parsed)} statements given: hubcensus sql runs exactly one read-only SELECT")
    kind = parsed[0].type
    if kind not in ALLOWED:
        name = str(kind).rsplit(".", 1)[-1]
        raise SqlError(
            f"refused: {name} statements are not allowed; hubcensus sql only runs read-only SELECT queries"
        )


@dataclass
class QueryStream:
    """A running query: its columns, then its rows batch by batch. Close it (or use `with`)."""

    db: Database
    cursor: Any
    columns: list[str]
    rows: int = 0
    _closed: bool = field(default=False, repr=False)

    def batches(self, size: int = BATCH) -> Iterator[list[tuple[Any, ...]]]:
        """Rows, `size` at a time, as DuckDB produces them."""
        if not self.columns:
            return
        while True:
            try:
                batch = self.cursor.fetchmany(size)
            except duckdb.Error as exc:
                if _user_error(exc):
                    raise SqlError(_one_line(exc)) from None
                raise
            if not batch:
                return
            self.rows += len(batch)
            yield batch

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.db.close()

    def __enter__(self) -> QueryStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_query(db_path: str | Path, statement: str, *, wait: float = READ_WAIT) -> QueryStream:
    """Check `statement`, then start it on a read-only, locked-down connection (rows not fetched yet)."""
    check_read_only(statement)
    db = open_readonly(db_path, locked=True, wait=wait)
    try:
        cursor = db.con.execute(statement)
        columns = [d[0] for d in cursor.description or []]
    except duckdb.Error as exc:
        db.close()
        if _user_error(exc):
            older = isinstance(exc, duckdb.CatalogException) and (db.schema_version or 0) < LATEST_VERSION
            raise SqlError(_one_line(exc) + (f" (this database was {OLDER_HINT})" if older else "")) from None
        raise
    except BaseException:
        db.close()
        raise
    return QueryStream(db=db, cursor=cursor, columns=columns)


def run_sql(db_path: str | Path, statement: str) -> SqlResult:
    """Check, then run `statement` and collect every row (small results; the CLI streams)."""
    with open_query(db_path, statement) as query:
        rows = [row for batch in query.batches() for row in batch]
        return SqlResult(columns=query.columns, rows=rows)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, int | float | str):
        return value
    return _plain(value)


_PLAIN_TYPES = frozenset({"BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                          "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "VARCHAR"})  # fmt: skip
"""Column types whose Python values the csv module writes as they are (NULL as empty)."""


def write_csv(query: QueryStream, out: TextIO) -> int:
    """Stream CSV with a header row (NULL as empty) to `out`; returns the rows written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(query.columns)
    out.flush()
    plain = all(str(d[1]) in _PLAIN_TYPES for d in query.cursor.description or [])
    for batch in query.batches():
        writer.writerows(batch if plain else [[_cell(v) for v in row] for row in batch])
        out.flush()
    return query.rows


def write_json(query: QueryStream, out: TextIO) -> int:
    """Stream a JSON array of objects, one per row, to `out`; returns the rows written."""
    out.write("[")
    first = True
    for batch in query.batches():
        parts = []
        for row in batch:
            record = dict(zip(query.columns, (_plain(v) for v in row), strict=True))
            parts.append(("\n " if first else ",\n ") + json.dumps(record, default=str))
            first = False
        out.write("".join(parts))
        out.flush()
    out.write("\n]\n" if not first else "]\n")
    return query.rows


def table_rows(query: QueryStream, limit: int = TABLE_ROWS) -> tuple[list[tuple[Any, ...]], bool]:
    """At most `limit` rows, and whether the query had more (the rest is never fetched)."""
    rows: list[tuple[Any, ...]] = []
    for batch in query.batches(min(BATCH, limit + 1)):
        rows.extend(batch)
        if len(rows) > limit:
            return rows[:limit], True
    return rows, False


def to_csv(result: SqlResult) -> str:
    """CSV with a header row; NULL as empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow([_cell(v) for v in row])
    return buffer.getvalue()


def to_json(result: SqlResult) -> str:
    """A JSON array of objects, one per row."""
    records = [dict(zip(result.columns, (_plain(v) for v in row), strict=True)) for row in result.rows]
    return json.dumps(records, indent=1, default=str)


def to_table(result: SqlResult, *, more: bool = False, fold: bool = True) -> Table:
    """A rich table; `fold` wraps long cells (a terminal), otherwise cells are never cut or wrapped."""
    table = Table(show_lines=False, header_style="bold")
    for column in result.columns:
        table.add_column(column, overflow="fold" if fold else "ignore", no_wrap=not fold)
    for row in result.rows:
        table.add_row(*("NULL" if v is None else str(_plain(v)) for v in row))
    count = len(result.rows)
    table.caption = f"{count} row{'s' if count != 1 else ''}" + (
        f" shown, more not fetched (the first {count}; use --format csv for all)" if more else ""
    )
    return table
