"""Writes: the run ledger, crawl state, errors, deletions and header figures.

Listing pages go through `db.listing_store` (staged with their cursor, merged in batches).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hubcensus.db import schema
from hubcensus.db.arrow import arrow_table, rollback, stage_models, staged_transaction
from hubcensus.db.connection import Database, failed_path, utcnow

HEADER_COLUMNS: tuple[str, ...] = (
    "weights_source", "dominant_dtype", "quant_method", "effective_params", "weight_bytes", "overhead_bytes",
    "file_bytes", "bits_per_param", "flags", "quant_evidence", "profile",
    "active_params", "expert_count", "experts_per_token", "shared_experts", "expert_params", "active_reason",
)  # fmt: skip
"""Columns the deep (header) pass sets."""


def put_state(con: Any, state: Mapping[str, str]) -> None:
    """Upsert crawl_state keys on `con` (inside the caller's transaction)."""
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
        put_state(con, {k: v for k, v in state.items() if v is not None})
        for key in [k for k, v in state.items() if v is None]:
            con.execute("DELETE FROM crawl_state WHERE key = ?", [key])
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise


def get_state(db: Database, key: str) -> str | None:
    """One crawl_state value, or None."""
    row = db.con.execute("SELECT value FROM crawl_state WHERE key = ?", [key]).fetchone()
    return None if row is None else row[0]


KILLED_MESSAGE = "the process ended without closing the run (killed, or the machine stopped)"


def noted_failure(db_path: Path) -> tuple[int, str] | None:
    """The run id and line a run left in `<db>.failed` when the full disk refused its ledger row."""
    try:
        run, message = (
            failed_path(db_path).read_text(encoding="utf-8").strip().splitlines()[-1].split("\t", 1)
        )
        return int(run), message
    except (OSError, ValueError, IndexError):
        return None


def start_run(db: Database, *, mode: str, endpoint: str, version: str) -> int:
    """Open a run in the ledger; runs left 'running' by a dead process become 'killed'.

    The caller holds the writer lock, so no other run can still be alive.
    """
    con = db.con
    noted = noted_failure(db.path)
    if noted is not None:
        con.execute(
            "UPDATE crawl_runs SET status = 'failed', message = ? WHERE run_id = ? AND status = 'running'",
            [noted[1], noted[0]],
        )
    con.execute(
        "UPDATE crawl_runs SET status = 'killed', message = coalesce(message, ?) WHERE status = 'running'",
        [KILLED_MESSAGE],
    )
    failed_path(db.path).unlink(missing_ok=True)
    run_id = con.execute("SELECT coalesce(max(run_id), 0) + 1 FROM crawl_runs").fetchone()[0]
    con.execute(
        "INSERT INTO crawl_runs (run_id, mode, endpoint, started_at, status, version) VALUES (?, ?, ?, ?, 'running', ?)",
        [run_id, mode, endpoint, utcnow(), version],
    )
    return int(run_id)


RUN_COUNTERS = (
    "pages", "models_seen", "models_new", "models_updated", "models_deleted", "headers_fetched",
    "headers_left", "gated_skipped", "requests_api", "requests_resolvers", "rate_limited", "retries", "errors",
    "models_renamed", "range_ignored",
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
    """Close a run: final counters, status (ok|failed|interrupted) and end time, in one statement (a
    full disk takes all of it or nothing)."""
    values = {k: v for k, v in counters.items() if k in {*RUN_COUNTERS, "watermark"}}
    with db.engine.begin() as conn:
        conn.execute(
            sa.update(schema.crawl_runs)
            .where(schema.crawl_runs.c.run_id == run_id)
            .values(**values, message=message, status=status, finished_at=utcnow())
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
    """After a completed full walk: live models it did not see are no longer public; return how many.

    A walk sees a model by its `_id` (a renamed one is merged under its new name, so
    it counts as seen). Deleted and made private look the same on the Hub, so
    `deleted_at` means "no longer public"; the row and its history stay, and the
    next walk that sees the `_id` again clears it. With `author`, the walk covered
    only that user's or organisation's models, and so does this.
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
    "file_format",
    "pickle_container",
    "pickle_globals",
    "pickle_unsafe",
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
    stage, stage_dtypes = stage_models(list(models), model_cols, "header")
    stage_files = arrow_table(schema.safetensors_files, list(files), FILE_COLUMNS)
    stage_file_dtypes = arrow_table(schema.file_dtypes, list(file_dtypes), FILE_DTYPE_COLUMNS)
    con = db.con
    staged = {"stage_h_models": stage, "stage_h_dtypes": stage_dtypes, "stage_h_files": stage_files,
              "stage_h_file_dtypes": stage_file_dtypes}  # fmt: skip
    with staged_transaction(con, staged):
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
