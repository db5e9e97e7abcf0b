"""`hubcensus sql`: one read-only statement over the census, as a table, CSV or JSON.

Three locks, each enough on its own for writes: the statement must parse as a single
SELECT (or EXPLAIN of one) per duckdb's own parser; the connection is read-only; and
external access is disabled and the configuration locked, so no table function can read
or write other files (read_csv, COPY, ATTACH, INSTALL/LOAD...).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
from hubcensus.analysis.connect import open_readonly
from rich.table import Table

ALLOWED = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})
OUTPUT_FORMATS = ("table", "csv", "json")


class SqlError(ValueError):
    """A one-line, user-facing problem with the statement."""


@dataclass(frozen=True)
class SqlResult:
    """Column names and rows of one query."""

    columns: list[str]
    rows: list[tuple[Any, ...]]


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split("\n")[0].split())


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


def run_sql(db_path: str | Path, statement: str) -> SqlResult:
    """Check, then run `statement` on a read-only, locked-down connection."""
    check_read_only(statement)
    db = open_readonly(db_path, locked=True)
    try:
        cursor = db.con.execute(statement)
        columns = [d[0] for d in cursor.description or []]
        rows = cursor.fetchall() if columns else []
    except duckdb.Error as exc:
        raise SqlError(_one_line(exc)) from None
    finally:
        db.close()
    return SqlResult(columns=columns, rows=rows)


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


def to_csv(result: SqlResult) -> str:
    """CSV with a header row; NULL as empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow(["" if v is None else _plain(v) for v in row])
    return buffer.getvalue()


def to_json(result: SqlResult) -> str:
    """A JSON array of objects, one per row."""
    records = [dict(zip(result.columns, (_plain(v) for v in row), strict=True)) for row in result.rows]
    return json.dumps(records, indent=1, default=str)


def to_table(result: SqlResult) -> Table:
    """A rich table for the terminal."""
    table = Table(show_lines=False, header_style="bold")
    for column in result.columns:
        table.add_column(column, overflow="fold")
    for row in result.rows:
        table.add_row(*("NULL" if v is None else str(_plain(v)) for v in row))
    table.caption = f"{len(result.rows)} row{'s' if len(result.rows) != 1 else ''}"
    return table
