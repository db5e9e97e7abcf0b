"""Writes: bulk upserts through DuckDB's native Arrow path, the run ledger, crawl state, errors.

Every function that stores a page also stores the crawl cursor in the same
transaction, so a run killed at any instant resumes with nothing lost or doubled.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from db import schema
from db.connection import Database, utcnow
from db.dtypes import storage_bytes

LISTING_COLUMNS: tuple[str, ...] = (
    "model_id", "author", "created_at", "last_modified", "sha", "library_name", "pipeline_tag", "tags",
    "gated", "downloads", "downloads_all_time", "likes", "base_models", "base_relation", "model_type",
    "architecture", "config_quant_method", "hub_total_params", "hub_params_sum", "gguf_total",
    "gguf_architecture", "gguf_context_length", "weight_files", "quant_config",
)  # fmt: skip
"""Columns the listing owns: always overwritten by a newer listing row."""

ESTIMATE_COLUMNS: tuple[str, ...] = (
    "weights_source", "dominant_dtype", "quant_method", "effective_params", "weight_bytes", "bits_per_param",
)  # fmt: skip
"""Best-known weight columns: the listing's estimate, kept exact once headers of the same sha were read."""

HEADER_COLUMNS: tuple[str, ...] = (
    "weights_source", "dominant_dtype", "quant_method", "effective_params", "weight_bytes", "overhead_bytes",
    "file_bytes", "bits_per_param", "flags", "quant_evidence", "profile",
)  # fmt: skip
"""Columns the deep (header) pass sets."""


@dataclass(frozen=True)
class PageResult:
    """What one stored listing page changed."""

    seen: int
    new: int
    updated: int


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
    """Rows as an Arrow table typed from the SQLAlchemy schema (missing keys become NULL)."""
    names = list(columns)
    fields = [pa.field(name, _arrow_type(table.c[name])) for name in names]
    data = {
        name: [
            _json(row.get(name)) if isinstance(table.c[name].type, sa.JSON) else row.get(name) for row in rows
        ]
        for name in names
    }
    return pa.table(data, schema=pa.schema(fields))


def _dtype_rows(model_id: str, source: str, parameters: Mapping[str, int]) -> list[dict[str, Any]]:
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


def _stage_models(
    rows: list[Mapping[str, Any]], columns: Iterable[str], source: str
) -> tuple[pa.Table, pa.Table]:
    """Staging tables: `models` columns plus `{source}_parameters` as JSON, and its `model_dtypes` rows."""
    key = f"{source}_parameters"
    stage = arrow_table(schema.models, rows, columns)
    stage = stage.append_column(key, pa.array([_json(row.get(key)) for row in rows], pa.string()))
    dtype_rows = [d for row in rows for d in _dtype_rows(row["model_id"], source, row.get(key) or {})]
    dtypes = arrow_table(
        schema.model_dtypes, dtype_rows, ("model_id", "source", "dtype", "parameters", "bytes")
    )
    return stage, dtypes


def store_listing_page(
    db: Database,
    rows: list[Mapping[str, Any]],
    *,
    run_id: int,
    seen_at: datetime,
    state: Mapping[str, str] | None = None,
) -> PageResult:
    """Upsert one listing page (and the crawl state that follows it) in one transaction.

    `rows` carry the LISTING_COLUMNS and ESTIMATE_COLUMNS of `models` plus
    `hub_parameters` ({dtype: storage elements}). Idempotent: storing the same
    page again changes nothing. New shas become `model_versions` rows; changed
    popularity becomes a `model_stats` snapshot.
    """
    unique = list({row["model_id"]: row for row in rows}.values())
    model_cols = (*LISTING_COLUMNS, *ESTIMATE_COLUMNS)
    stage, stage_dtypes = _stage_models(unique, model_cols, "hub")
    con = db.con
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("stage_models", stage)
        con.register("stage_dtypes", stage_dtypes)
        new, updated = con.execute(
            """
            SELECT count(*) FILTER (WHERE m.model_id IS NULL),
                   count(*) FILTER (WHERE m.model_id IS NOT NULL AND m.sha IS DISTINCT FROM s.sha)
            FROM stage_models s LEFT JOIN models m USING (model_id)
            """
        ).fetchone()
        con.execute(
            """
            CREATE OR REPLACE TEMP VIEW stage_stats AS
            SELECT s.model_id, s.downloads, s.downloads_all_time, s.likes
            FROM stage_models s LEFT JOIN models m USING (model_id)
            WHERE m.model_id IS NULL OR m.downloads IS DISTINCT FROM s.downloads OR m.likes IS DISTINCT FROM s.likes
               OR m.downloads_all_time IS DISTINCT FROM s.downloads_all_time
            """
        )
        # One snapshot per model and observation time: the last value seen in the run wins.
        con.execute(
            "DELETE FROM model_stats WHERE observed_at = ? AND model_id IN (SELECT model_id FROM stage_stats)",
            [seen_at],
        )
        con.execute(
            """
            INSERT INTO model_stats (model_id, observed_at, run_id, downloads, downloads_all_time, likes)
            SELECT model_id, ?, ?, downloads, downloads_all_time, likes FROM stage_stats
            """,
            [seen_at, run_id],
        )
        con.execute(
            """
            INSERT INTO model_versions (model_id, sha, last_modified, first_seen, run_id, hub_total_params,
                                        hub_parameters, dominant_dtype, quant_method, effective_params, weight_bytes)
            SELECT model_id, sha, last_modified, ?, ?, hub_total_params, hub_parameters::JSON,
                   dominant_dtype, quant_method, effective_params, weight_bytes
            FROM stage_models s WHERE sha IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM model_versions v WHERE v.model_id = s.model_id AND v.sha = s.sha)
            """,
            [seen_at, run_id],
        )
        con.execute(
            "DELETE FROM model_dtypes WHERE source = 'hub' AND model_id IN (SELECT model_id FROM stage_models)"
        )
        con.execute("INSERT INTO model_dtypes SELECT * FROM stage_dtypes")
        listing_set = ", ".join(f"{c} = s.{c}" for c in LISTING_COLUMNS[1:])
        estimate_set = ", ".join(
            f"{c} = CASE WHEN models.deep_sha IS NOT DISTINCT FROM s.sha THEN models.{c} ELSE s.{c} END"
            for c in ESTIMATE_COLUMNS
        )
        cols = ", ".join(model_cols)
        values = ", ".join(f"s.{c}" for c in model_cols)
        con.execute(
            f"""
            MERGE INTO models USING stage_models s ON models.model_id = s.model_id
            WHEN MATCHED THEN UPDATE SET {listing_set}, {estimate_set},
                last_seen = ?, last_run_id = ?, deleted_at = NULL
            WHEN NOT MATCHED THEN INSERT ({cols}, first_seen, last_seen, last_run_id)
                VALUES ({values}, ?, ?, ?)
            """,
            [seen_at, run_id, seen_at, seen_at, run_id],
        )
        if state:
            _put_state(con, state)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("stage_models")
        con.unregister("stage_dtypes")
    return PageResult(seen=len(unique), new=int(new), updated=int(updated))


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def _put_state(con: Any, state: Mapping[str, str]) -> None:
    now = utcnow()
    for key, value in state.items():
        con.execute(
            "INSERT INTO crawl_state VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            [key, value, now],
        )


def set_state(db: Database, state: Mapping[str, str | None]) -> None:
    """Set (or with None, delete) crawl_state keys atomically."""
    con = db.con
    con.execute("BEGIN TRANSACTION")
    try:
        _put_state(con, {k: v for k, v in state.items() if v is not None})
        for key in [k for k, v in state.items() if v is None]:
            con.execute("DELETE FROM crawl_state WHERE key = ?", [key])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def get_state(db: Database, key: str) -> str | None:
    """One crawl_state value, or None."""
    row = db.con.execute("SELECT value FROM crawl_state WHERE key = ?", [key]).fetchone()
    return None if row is None else row[0]


def start_run(db: Database, *, mode: str, endpoint: str, version: str) -> int:
    """Open a run in the ledger; runs left 'running' by a dead process become 'interrupted'."""
    con = db.con
    con.execute(
        "UPDATE crawl_runs SET status = 'interrupted', message = coalesce(message, 'process ended without closing the run') "
        "WHERE status = 'running'"
    )
    run_id = con.execute("SELECT coalesce(max(run_id), 0) + 1 FROM crawl_runs").fetchone()[0]
    con.execute(
        "INSERT INTO crawl_runs (run_id, mode, endpoint, started_at, status, version) VALUES (?, ?, ?, ?, 'running', ?)",
        [run_id, mode, endpoint, utcnow(), version],
    )
    return int(run_id)


RUN_COUNTERS = (
    "pages", "models_seen", "models_new", "models_updated", "models_deleted", "headers_fetched",
    "requests_api", "requests_resolvers", "rate_limited", "retries", "errors",
)  # fmt: skip


def update_run(db: Database, run_id: int, counters: Mapping[str, Any]) -> None:
    """Write progress counters (and optionally watermark/message) of a running run."""
    allowed = {*RUN_COUNTERS, "watermark", "message"}
    values = {k: v for k, v in counters.items() if k in allowed}
    if values:
        with db.engine.begin() as conn:
            conn.execute(
                sa.update(schema.crawl_runs).where(schema.crawl_runs.c.run_id == run_id).values(**values)
            )


def finish_run(
    db: Database, run_id: int, *, status: str, counters: Mapping[str, Any], message: str | None = None
) -> None:
    """Close a run: final counters, status (ok|failed|interrupted) and end time."""
    update_run(db, run_id, {**counters, "message": message})
    db.con.execute(
        "UPDATE crawl_runs SET status = ?, finished_at = ? WHERE run_id = ?", [status, utcnow(), run_id]
    )


def record_error(
    db: Database,
    run_id: int,
    *,
    model_id: str | None,
    target: str,
    kind: str,
    message: str,
    status: int | None = None,
) -> None:
    """Remember one failure (one line) in `fetch_errors`."""
    line = " ".join(message.split())[:500]
    db.con.execute(
        "INSERT INTO fetch_errors SELECT ?, coalesce(max(seq), 0) + 1, ?, ?, ?, ?, ?, ? FROM fetch_errors WHERE run_id = ?",
        [run_id, model_id, target, kind, status, line, utcnow(), run_id],
    )


def mark_deleted(db: Database, *, run_id: int, walk_started_at: datetime, author: str | None = None) -> int:
    """After a completed full walk: models not seen since it started are gone from the Hub.

    With `author`, the walk covered only that user's or organisation's models, and so does this.
    """
    where = "deleted_at IS NULL AND last_seen < ?" + (" AND author = ?" if author else "")
    params: list[Any] = [walk_started_at, *([author] if author else [])]
    con = db.con
    (count,) = con.execute(f"SELECT count(*) FROM models WHERE {where}", params).fetchone()
    con.execute(
        f"UPDATE models SET deleted_at = ?, last_run_id = ? WHERE {where}", [utcnow(), run_id, *params]
    )
    return int(count)


FILE_COLUMNS = (
    "model_id",
    "sha",
    "path",
    "component",
    "size_bytes",
    "header_bytes",
    "tensor_count",
    "metadata_format",
)
FILE_DTYPE_COLUMNS = ("model_id", "sha", "path", "dtype", "tensors", "parameters", "bytes")


def store_headers(
    db: Database,
    models: list[Mapping[str, Any]],
    files: list[Mapping[str, Any]],
    file_dtypes: list[Mapping[str, Any]],
) -> None:
    """Store the header-derived figures of several models in one transaction.

    `models`: dicts with `model_id`, `sha`, the HEADER_COLUMNS and
    `header_parameters` ({dtype: storage elements}); `files` and `file_dtypes`:
    rows of `safetensors_files` / `file_dtypes`. A model whose sha moved on
    since (a newer listing) keeps its files as history but not the figures.
    """
    if not models:
        return
    now = utcnow()
    model_cols = ("model_id", "sha", *HEADER_COLUMNS)
    stage, stage_dtypes = _stage_models(list(models), model_cols, "header")
    stage_files = arrow_table(schema.safetensors_files, list(files), FILE_COLUMNS)
    stage_file_dtypes = arrow_table(schema.file_dtypes, list(file_dtypes), FILE_DTYPE_COLUMNS)
    con = db.con
    staged = {"stage_h_models": stage, "stage_h_dtypes": stage_dtypes, "stage_h_files": stage_files,
              "stage_h_file_dtypes": stage_file_dtypes}  # fmt: skip
    con.execute("BEGIN TRANSACTION")
    try:
        for name, table in staged.items():
            con.register(name, table)
        con.execute(
            "DELETE FROM safetensors_files WHERE (model_id, sha) IN (SELECT model_id, sha FROM stage_h_models)"
        )
        con.execute(
            "DELETE FROM file_dtypes WHERE (model_id, sha) IN (SELECT model_id, sha FROM stage_h_models)"
        )
        con.execute(
            f"INSERT INTO safetensors_files ({', '.join(FILE_COLUMNS)}, fetched_at) "
            f"SELECT {', '.join(FILE_COLUMNS)}, ? FROM stage_h_files",
            [now],
        )
        con.execute(
            f"INSERT INTO file_dtypes ({', '.join(FILE_DTYPE_COLUMNS)}) SELECT * FROM stage_h_file_dtypes"
        )
        current = "SELECT s.model_id FROM stage_h_models s JOIN models m ON m.model_id = s.model_id AND m.sha = s.sha"
        con.execute(f"DELETE FROM model_dtypes WHERE source = 'header' AND model_id IN ({current})")
        con.execute(f"INSERT INTO model_dtypes SELECT * FROM stage_h_dtypes WHERE model_id IN ({current})")
        header_set = ", ".join(f"{c} = s.{c}" for c in HEADER_COLUMNS)
        con.execute(
            f"UPDATE models SET {header_set}, deep_sha = s.sha, deep_at = ? "
            "FROM stage_h_models s WHERE models.model_id = s.model_id AND models.sha = s.sha",
            [now],
        )
        con.execute(
            """
            UPDATE model_versions SET header_parameters = s.header_parameters::JSON, dominant_dtype = s.dominant_dtype,
                quant_method = s.quant_method, effective_params = s.effective_params, weight_bytes = s.weight_bytes
            FROM stage_h_models s WHERE model_versions.model_id = s.model_id AND model_versions.sha = s.sha
            """
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        for name in staged:
            con.unregister(name)


def run_started_at(db: Database, run_id: int) -> datetime | None:
    """The ledger's start time of a run (a crawl uses it as the `seen_at` of every page it stores)."""
    row = db.con.execute("SELECT started_at FROM crawl_runs WHERE run_id = ?", [run_id]).fetchone()
    return None if row is None else row[0]


def mark_header_unreadable(db: Database, *, model_id: str, sha: str, reason: str) -> None:
    """A sha whose weight headers cannot be parsed: flag it and do not fetch it again until it changes."""
    flag = "unreadable_header: " + " ".join(reason.split())[:300]
    db.con.execute(
        "UPDATE models SET deep_sha = sha, deep_at = ?, flags = [?] WHERE model_id = ? AND sha = ?",
        [utcnow(), flag, model_id, sha],
    )
