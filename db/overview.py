"""Named queries behind `hubcensus status` and the report's labels: rows as dicts, no SQL in the CLI."""

from __future__ import annotations

from typing import Any

from hubcensus.db.connection import Database

COUNTED_TABLES = (
    "models", "model_versions", "model_stats", "model_dtypes", "safetensors_files", "fetch_errors",
)  # fmt: skip

RUN_FIELDS = (
    "run_id", "mode", "status", "started_at", "finished_at", "models_seen", "models_new", "models_updated",
    "models_deleted", "headers_fetched", "headers_left", "requests_api", "requests_resolvers", "rate_limited",
    "retries", "errors", "message",
)  # fmt: skip


def _rows(db: Database, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cursor = db.con.execute(sql, params or [])
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def row_counts(db: Database) -> dict[str, int]:
    """Rows per census table, plus `deleted` (models no longer public), in display order."""
    counts = ", ".join(f"(SELECT count(*) FROM {t}) AS {t}" for t in COUNTED_TABLES)
    sql = f"SELECT {counts}, (SELECT count(*) FROM models WHERE deleted_at IS NOT NULL) AS deleted"
    row = _rows(db, sql)[0]
    order = ("models", "deleted", *COUNTED_TABLES[1:])
    return {name: int(row[name]) for name in order}


def last_ok_run(db: Database) -> dict[str, Any] | None:
    """The newest run that ended 'ok' (run_id, mode, finished_at), or None."""
    rows = _rows(
        db,
        "SELECT run_id, mode, finished_at FROM crawl_runs WHERE status = 'ok' ORDER BY run_id DESC LIMIT 1",
    )
    return rows[0] if rows else None


def crawl_state(db: Database) -> dict[str, str]:
    """Every crawl_state key and value (watermark, full-walk cursor, dataset label...)."""
    return {row["key"]: row["value"] for row in _rows(db, "SELECT key, value FROM crawl_state")}


def recent_runs(db: Database, limit: int = 5) -> list[dict[str, Any]]:
    """The newest `limit` runs of the ledger, newest first."""
    return _rows(db, f"SELECT {', '.join(RUN_FIELDS)} FROM crawl_runs ORDER BY run_id DESC LIMIT ?", [limit])


def dataset_label(db: Database) -> str | None:
    """What the data is when it is not the Hub (e.g. the demo's synthetic catalog), or None."""
    return crawl_state(db).get("dataset.label")


def verify(db: Database) -> None:
    """Read every block of every table once (DuckDB checks each block's checksum as it reads).

    A file damaged anywhere raises here, before a report is built on part of it.
    """
    tables = [name for (name,) in db.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    for name in tables:
        db.con.execute(f'SELECT bit_xor(hash(COLUMNS(*))) FROM "{name}"').fetchall()
