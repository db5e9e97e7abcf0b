"""Rows as Arrow tables typed from the SQLAlchemy schema: the native bulk path into DuckDB."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from hubcensus.db import schema

from hubcensus.dtypes import storage_bytes

DTYPE_COLUMNS = ("model_id", "source", "dtype", "parameters", "bytes")


def to_json(value: Any) -> str | None:
    """A value as canonical JSON text (None stays NULL)."""
    return None if value is None else json.dumps(value, sort_keys=True)


def _arrow_type(column: sa.Column) -> pa.DataType:
    kind = column.type
    if isinstance(kind, sa.ARRAY):
        return pa.list_(pa.string())
    if isinstance(kind, sa.BigInteger):
        return pa.int64()
    if isinstance(kind, sa.Integer):
        return pa.int32()
    if isinstance(kind, sa.Float):
        return pa.float64()
    if isinstance(kind, sa.DateTime):
        return pa.timestamp("us")
    return pa.string()


def arrow_table(table: sa.Table, rows: list[Mapping[str, Any]], columns: Iterable[str]) -> pa.Table:
    """Rows as an Arrow table typed from the SQLAlchemy schema (missing keys become NULL, JSON as text)."""
    names = list(columns)
    fields = [pa.field(name, _arrow_type(table.c[name])) for name in names]
    data = {
        name: [
            to_json(row.get(name)) if isinstance(table.c[name].type, sa.JSON) else row.get(name)
            for row in rows
        ]
        for name in names
    }
    return pa.table(data, schema=pa.schema(fields))


def dtype_rows(model_id: str, source: str, parameters: Mapping[str, int]) -> list[dict[str, Any]]:
    """`model_dtypes` rows of one model's {dtype: storage elements}."""
    return [
        {
            "model_id": model_id,
            "source": source,
            "dtype": dtype,
            "parameters": int(n),
            "bytes": storage_bytes(dtype, int(n)),
        }
        for dtype, n in sorted(parameters.items())
    ]


def stage_models(
    rows: list[Mapping[str, Any]], columns: Iterable[str], source: str
) -> tuple[pa.Table, pa.Table]:
    """Staging tables: `models` columns plus `{source}_parameters` as JSON, and its `model_dtypes` rows."""
    key = f"{source}_parameters"
    stage = arrow_table(schema.models, rows, columns)
    stage = stage.append_column(key, pa.array([to_json(row.get(key)) for row in rows], pa.string()))
    found = [d for row in rows for d in dtype_rows(row["model_id"], source, row.get(key) or {})]
    return stage, arrow_table(schema.model_dtypes, found, DTYPE_COLUMNS)


def rollback(con: Any) -> None:
    """ROLLBACK after an error, quietly: a failed COMMIT (a full disk) has already ended the
    transaction, and the rollback's own error ("no transaction is active") must not mask the first."""
    with suppress(Exception):
        con.execute("ROLLBACK")


@contextmanager
def staged_transaction(con: Any, tables: Mapping[str, pa.Table]) -> Iterator[None]:
    """One transaction with `tables` registered under their names (committed, or rolled back on any
    error; unregistered either way): how every store writes its staged rows."""
    con.execute("BEGIN TRANSACTION")
    try:
        for name, table in tables.items():
            con.register(name, table)
        yield
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise
    finally:
        for name in tables:
            with suppress(Exception):
                con.unregister(name)
