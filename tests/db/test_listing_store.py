"""Listing pages staged with their cursor and merged in batches, on a real DuckDB file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from hubcensus.db import listing_store, store
from hubcensus.db.connection import open_database

SHA1, SHA2 = "1" * 40, "2" * 40
SEEN = datetime(2026, 3, 1)
HISTORY = ("models", "model_dtypes", "model_versions", "model_stats")


def _row(model_id: str, sha: str = SHA1, params: dict[str, int] | None = None, downloads: int = 5) -> dict:
    params = params or {"BF16": 100}
    return {"model_id": model_id, "author": model_id.split("/")[0], "sha": sha, "downloads": downloads,
            "likes": 1, "hub_parameters": params, "hub_total_params": sum(params.values()),
            "weights_source": "hub"}  # fmt: skip


PAGES = [
    [_row("a/one"), _row("b/two")],
    [_row("a/one", SHA2, {"F8_E4M3": 100, "F32": 2}, downloads=9), _row("c/three")],
    [_row("b/two"), _row("d/four", params={"I32": 8})],
]


def _tables(db) -> dict[str, list[tuple]]:
    return {t: db.con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in HISTORY}


def test_staged_rows_reach_models_only_when_merged(db) -> None:
    run = store.start_run(db, mode="full", endpoint="e", version="t")
    for n, page in enumerate(PAGES[:2]):
        listing_store.stage_listing_page(db, page, run_id=run, seen_at=SEEN, state={"cursor": f"c{n}"})
    assert store.get_state(db, "cursor") == "c1"
    assert (listing_store.staged_rows(db), db.con.execute("SELECT count(*) FROM models").fetchone()[0]) == (
        4,
        0,
    )

    result = listing_store.merge_staged(db)

    assert (result.seen, result.new, result.updated) == (3, 3, 0)
    assert listing_store.staged_rows(db) == 0
    assert db.con.execute("SELECT count(*) FROM listing_stage_dtypes").fetchone() == (0,)
    assert db.con.execute("SELECT model_id, sha FROM models ORDER BY 1").fetchall() == [
        ("a/one", SHA2), ("b/two", SHA1), ("c/three", SHA1)
    ]  # fmt: skip
    # both shas of a/one are history, though only the newest row was merged into models
    assert db.con.execute("SELECT sha FROM model_versions WHERE model_id = 'a/one' ORDER BY sha").fetchall() == [
        (SHA1,), (SHA2,)
    ]  # fmt: skip
    assert db.con.execute(
        "SELECT dtype, parameters, bytes FROM model_dtypes WHERE model_id = 'a/one' ORDER BY dtype"
    ).fetchall() == [("F32", 2, 8), ("F8_E4M3", 100, 100)]
    assert db.con.execute("SELECT downloads FROM model_stats WHERE model_id = 'a/one'").fetchall() == [(9,)]
    empty = listing_store.merge_staged(db)
    assert (empty.seen, empty.new, empty.updated) == (0, 0, 0)


def test_merging_every_page_or_once_gives_the_same_tables(tmp_path: Path) -> None:
    results = []
    for every_page in (True, False):
        with open_database(tmp_path / f"m{every_page}.duckdb") as db:
            run = store.start_run(db, mode="full", endpoint="e", version="t")
            new = updated = 0
            for page in PAGES:
                listing_store.stage_listing_page(db, page, run_id=run, seen_at=SEEN)
                if every_page:
                    merged = listing_store.merge_staged(db)
                    new, updated = new + merged.new, updated + merged.updated
            merged = listing_store.merge_staged(db)
            results.append((_tables(db), new + merged.new))
    (per_page, per_page_new), (batched, batched_new) = results
    assert per_page == batched
    assert per_page_new == batched_new == 4
    assert len(batched["model_versions"]) == 5


def test_a_failed_merge_keeps_the_stage(db) -> None:
    run = store.start_run(db, mode="full", endpoint="e", version="t")
    listing_store.stage_listing_page(db, PAGES[0], run_id=run, seen_at=SEEN)
    db.con.execute("ALTER TABLE model_stats RENAME TO model_stats_away")
    with pytest.raises(Exception, match="model_stats"):
        listing_store.merge_staged(db)
    db.con.execute("ALTER TABLE model_stats_away RENAME TO model_stats")
    assert listing_store.staged_rows(db) == 2
    assert db.con.execute("SELECT count(*) FROM models").fetchone() == (0,)
    assert listing_store.merge_staged(db).new == 2
