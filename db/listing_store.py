"""Listing rows into `models` and its history: staged with their cursor, merged in batches.

A crawl commits every page to `listing_stage` in the same transaction as its
cursor (constant cost, whatever the size of the database), and merges what is
staged into `models`, `model_versions`, `model_stats` and `model_dtypes` every
so many rows and when the walk ends. A merge joins the batch against the whole
table once, so its cost is paid per batch, not per page. Rows left staged by a
killed run are merged by the next one: nothing committed is lost.

Identity: a staged row matches its `models` row by `hub_id` (the Hub's `_id`)
when both have one, else by `model_id`. A known `_id` staged under a new name is
a rename (`db.renames`), applied in the merge's transaction before the rows are
merged; a name now held by a new `_id` moves the old holder aside.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hubcensus.db.arrow import DTYPE_COLUMNS, rollback, stage_models, staged_transaction
from hubcensus.db.connection import Database
from hubcensus.db.renames import displace, rename_many
from hubcensus.db.schema import ESTIMATE_COLUMNS, LISTING_COLUMNS
from hubcensus.db.store import put_state

MODEL_COLUMNS = (*LISTING_COLUMNS, *ESTIMATE_COLUMNS)


@dataclass(frozen=True)
class MergeResult:
    """What one merge of staged listing rows changed."""

    seen: int
    new: int
    updated: int
    renamed: int = 0


def stage_listing_page(
    db: Database,
    rows: list[Mapping[str, Any]],
    *,
    run_id: int,
    seen_at: datetime,
    state: Mapping[str, str] | None = None,
) -> int:
    """Stage one listing page (and the crawl state that follows it) in one transaction; return its models.

    `rows` carry the LISTING_COLUMNS and ESTIMATE_COLUMNS of `models` plus
    `hub_parameters` ({dtype: storage elements}), as `hubcensus.crawler.walk.listing.normalize` makes them.
    """
    unique = list({row.get("hub_id") or row["model_id"]: row for row in rows}.values())
    unique = list({row["model_id"]: row for row in unique}.values())
    page, page_dtypes = stage_models(unique, MODEL_COLUMNS, "hub")
    cols = ", ".join((*MODEL_COLUMNS, "hub_parameters"))
    con = db.con
    with staged_transaction(con, {"page_models": page, "page_dtypes": page_dtypes}):
        (seq,) = con.execute("SELECT coalesce(max(seq), 0) + 1 FROM listing_stage").fetchone()
        con.execute(
            f"INSERT INTO listing_stage (seq, run_id, seen_at, {cols}) SELECT ?, ?, ?, {cols} FROM page_models",
            [seq, run_id, seen_at],
        )
        con.execute(
            f"INSERT INTO listing_stage_dtypes (seq, {', '.join(DTYPE_COLUMNS)}) "
            f"SELECT ?, {', '.join(DTYPE_COLUMNS)} FROM page_dtypes",
            [seq],
        )
        if state:
            put_state(con, state)
    return len(unique)


def staged_rows(db: Database) -> int:
    """Listing rows staged and not yet merged (0 in a database made before staging existed)."""
    con = db.con
    if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'listing_stage'").fetchone()[0]:
        return 0
    return int(con.execute("SELECT count(*) FROM listing_stage").fetchone()[0])


_BATCH = """
CREATE OR REPLACE TEMP TABLE merge_batch AS
SELECT s.*,
       m.model_id IS NULL AS is_new,
       m.model_id IS NOT NULL AND m.sha IS DISTINCT FROM s.sha AS is_updated,
       m.model_id IS NULL OR m.downloads IS DISTINCT FROM s.downloads OR m.likes IS DISTINCT FROM s.likes
           OR m.downloads_all_time IS DISTINCT FROM s.downloads_all_time AS stats_changed
FROM (SELECT * FROM listing_stage QUALIFY row_number() OVER (PARTITION BY model_id ORDER BY seq DESC) = 1) s
LEFT JOIN models m ON m.model_id = s.model_id
"""
"""The newest staged row of each model, with what it changes (the one join against `models` for counts)."""


def merge_staged(db: Database, *, defer_renames: bool = False) -> MergeResult:
    """Merge everything staged into `models` and the history tables, in one transaction.

    Idempotent: merging a row `models` already holds changes nothing. Renames
    (a known `_id` under a new name) are applied first, in the same transaction;
    with `defer_renames` (a walk's intermediate merges) the rows of renamed or
    displacing `_id`s stay staged for the walk's last merge instead, so a walk pays
    the renames' one UPDATE per table once, not once per batch. A new sha
    becomes a `model_versions` row (every sha staged, not only the newest); changed
    popularity becomes one `model_stats` snapshot per model and observation time
    (the last value wins); the Hub's per-dtype counts replace the model's 'hub'
    `model_dtypes` rows.
    """
    if not staged_rows(db):
        return MergeResult(seen=0, new=0, updated=0)  # no join against `models` for nothing
    con = db.con
    con.execute("BEGIN TRANSACTION")
    try:
        renamed = _set_aside(con) if defer_renames else _apply_identity(con)
        con.execute(_BATCH)
        seen, new, updated = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE is_new), count(*) FILTER (WHERE is_updated) FROM merge_batch"
        ).fetchone()
        if seen:
            _merge_history(con)
            _merge_models(con)
        con.execute("DELETE FROM listing_stage")
        con.execute("DELETE FROM listing_stage_dtypes")
        if defer_renames:
            _put_back(con)
        con.execute("DROP TABLE merge_batch")
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise
    return MergeResult(
        seen=int(seen), new=int(new), updated=int(updated), renamed=0 if defer_renames else renamed
    )


_LATEST_BY_HUB_ID = """
SELECT hub_id, model_id, seen_at, run_id FROM listing_stage WHERE hub_id IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY hub_id ORDER BY seq DESC) = 1
"""


_NEEDS_RENAME = f"""
SELECT l.hub_id FROM ({_LATEST_BY_HUB_ID}) l JOIN models m ON m.hub_id = l.hub_id WHERE m.model_id <> l.model_id
UNION
SELECT l.hub_id FROM ({_LATEST_BY_HUB_ID}) l JOIN models m ON m.model_id = l.model_id
WHERE m.hub_id IS NOT NULL AND m.hub_id <> l.hub_id
"""
"""`_id`s whose staged rows need a rename or move a name's holder aside."""


def _set_aside(con: Any) -> int:
    """Take the staged rows that need a rename out of this merge (`_put_back` restores them); return their `_id`s."""
    _same_name_per_id(con)
    con.execute(f"CREATE OR REPLACE TEMP TABLE aside_ids AS {_NEEDS_RENAME}")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE aside_stage AS SELECT * FROM listing_stage "
        "WHERE hub_id IN (SELECT hub_id FROM aside_ids)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE aside_dtypes AS SELECT * FROM listing_stage_dtypes "
        "WHERE (seq, model_id) IN (SELECT seq, model_id FROM aside_stage)"
    )
    con.execute("DELETE FROM listing_stage WHERE hub_id IN (SELECT hub_id FROM aside_ids)")
    con.execute("DELETE FROM listing_stage_dtypes WHERE (seq, model_id) IN (SELECT seq, model_id FROM aside_stage)")
    return int(con.execute("SELECT count(*) FROM aside_ids").fetchall()[0][0])


def _put_back(con: Any) -> None:
    con.execute("INSERT INTO listing_stage SELECT * FROM aside_stage")
    con.execute("INSERT INTO listing_stage_dtypes SELECT * FROM aside_dtypes")
    for table in ("aside_ids", "aside_stage", "aside_dtypes"):
        con.execute(f"DROP TABLE {table}")


def _same_name_per_id(con: Any) -> None:
    """Every staged row of an `_id` takes the newest name staged for it."""
    con.execute(
        f"""
        UPDATE listing_stage SET model_id = l.model_id FROM ({_LATEST_BY_HUB_ID}) l
        WHERE listing_stage.hub_id = l.hub_id AND listing_stage.model_id <> l.model_id
        """
    )


def _apply_identity(con: Any) -> int:
    """Line staged rows up with `models` by `_id` before the merge; return the renames recorded.

    1. Every staged row of an `_id` takes the newest name staged for it (a model
       renamed while a walk ran has its history under one name).
    2. A stored `_id` staged under another name is renamed (with all its history).
    3. A name staged for a new `_id` but held by another stored `_id` (a reused
       name) moves the holder aside; a holder without `_id` is taken as the same model.
    """
    _same_name_per_id(con)
    moves = con.execute(
        f"""
        SELECT l.hub_id, m.model_id, l.model_id, l.seen_at, l.run_id
        FROM ({_LATEST_BY_HUB_ID}) l JOIN models m ON m.hub_id = l.hub_id
        WHERE m.model_id <> l.model_id
        """
    ).fetchall()
    renamed = 0
    if moves:
        seen_at, run_id = max((m[3], m[4]) for m in moves)
        renamed = rename_many(con, [m[:3] for m in moves], seen_at=seen_at, run_id=run_id)
    taken = con.execute(
        f"""
        SELECT m.model_id FROM ({_LATEST_BY_HUB_ID}) l JOIN models m ON m.model_id = l.model_id
        WHERE m.hub_id IS NOT NULL AND m.hub_id <> l.hub_id
        """
    ).fetchall()
    displace(con, [name for (name,) in taken])
    return renamed


def _merge_history(con: Any) -> None:
    con.execute(
        """
        DELETE FROM model_stats WHERE (model_id, observed_at) IN
            (SELECT model_id, seen_at FROM merge_batch WHERE stats_changed)
        """
    )
    con.execute(
        """
        INSERT INTO model_stats (model_id, observed_at, run_id, downloads, downloads_all_time, likes)
        SELECT model_id, seen_at, run_id, downloads, downloads_all_time, likes FROM merge_batch WHERE stats_changed
        """
    )
    con.execute(
        """
        INSERT INTO model_versions (model_id, sha, last_modified, first_seen, run_id, hub_total_params,
                                    hub_parameters, dominant_dtype, quant_method, effective_params, weight_bytes)
        SELECT model_id, sha, last_modified, seen_at, run_id, hub_total_params, hub_parameters::JSON,
               dominant_dtype, quant_method, effective_params, weight_bytes
        FROM listing_stage s
        WHERE sha IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM model_versions v WHERE v.model_id = s.model_id AND v.sha = s.sha)
        QUALIFY row_number() OVER (PARTITION BY model_id, sha ORDER BY seq) = 1
        """
    )
    con.execute(
        "DELETE FROM model_dtypes WHERE source = 'hub' AND model_id IN (SELECT model_id FROM merge_batch)"
    )
    con.execute(
        f"""
        INSERT INTO model_dtypes ({", ".join(DTYPE_COLUMNS)})
        SELECT {", ".join(f"d.{c}" for c in DTYPE_COLUMNS)}
        FROM listing_stage_dtypes d JOIN merge_batch b ON b.model_id = d.model_id AND b.seq = d.seq
        """
    )


def _merge_models(con: Any) -> None:
    listing_set = ", ".join(
        f"{c} = coalesce(s.{c}, models.{c})" if c == "hub_id" else f"{c} = s.{c}" for c in LISTING_COLUMNS[1:]
    )
    estimate_set = ", ".join(
        f"{c} = CASE WHEN models.deep_sha IS NOT DISTINCT FROM s.sha THEN models.{c} ELSE s.{c} END"
        for c in ESTIMATE_COLUMNS
    )
    cols = ", ".join(MODEL_COLUMNS)
    values = ", ".join(f"s.{c}" for c in MODEL_COLUMNS)
    con.execute(
        f"""
        MERGE INTO models USING merge_batch s ON models.model_id = s.model_id
        WHEN MATCHED THEN UPDATE SET {listing_set}, {estimate_set},
            last_seen = s.seen_at, last_run_id = s.run_id, deleted_at = NULL
        WHEN NOT MATCHED THEN INSERT ({cols}, first_seen, last_seen, last_run_id)
            VALUES ({values}, s.seen_at, s.seen_at, s.run_id)
        """
    )


def store_listing_page(
    db: Database,
    rows: list[Mapping[str, Any]],
    *,
    run_id: int,
    seen_at: datetime,
    state: Mapping[str, str] | None = None,
) -> MergeResult:
    """Stage one page and merge at once (with anything else staged): for single models and tests."""
    stage_listing_page(db, rows, run_id=run_id, seen_at=seen_at, state=state)
    return merge_staged(db)
