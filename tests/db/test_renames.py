"""Identity by `_id` on a real DuckDB file: renames, swaps, reused names, legacy rows, the redirect API."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from hubcensus.db import listing_store, schema, store
from hubcensus.db.connection import open_database
from hubcensus.db.migrations import LATEST_VERSION
from hubcensus.db.renames import current_model_id, rename_model

X, Y = "621ffdc036468d709f17434d", "621ffdc036468d709f174338"
SHA1, SHA2 = "1" * 40, "2" * 40
DAY = [datetime(2026, 1, d) for d in range(1, 10)]


def _row(model_id: str, hub_id: str | None, **over: object) -> dict:
    row = {
        "model_id": model_id,
        "hub_id": hub_id,
        "author": model_id.split("/")[0],
        "sha": SHA1,
        "downloads": 5,
        "likes": 1,
        "hub_parameters": {"BF16": 100},
        "weights_source": "hub",
    }
    row.update(over)
    return row


def _put(db, rows: list[dict], day: int) -> listing_store.MergeResult:
    run = store.start_run(db, mode="full", endpoint="e", version="t")
    return listing_store.store_listing_page(db, rows, run_id=run, seen_at=DAY[day])


def _models(db) -> list[tuple]:
    return db.con.execute("SELECT model_id, hub_id FROM models ORDER BY model_id").fetchall()


def _names(db, table: str) -> list[str]:
    return [m for (m,) in db.con.execute(f"SELECT DISTINCT model_id FROM {table} ORDER BY 1").fetchall()]


def _renames(db) -> list[tuple]:
    return db.con.execute("SELECT hub_id, old_id, new_id, seen_at FROM model_renames ORDER BY seen_at, new_id").fetchall()


def test_a_known_id_under_a_new_name_is_one_row_with_all_its_history(db) -> None:
    _put(db, [_row("gpt2", X)], 1)
    _put(db, [_row("gpt2", X, sha=SHA2, downloads=9)], 2)
    result = _put(db, [_row("openai-community/gpt2", X, downloads=11)], 3)
    assert (result.seen, result.new, result.updated, result.renamed) == (1, 0, 1, 1)
    assert _models(db) == [("openai-community/gpt2", X)]
    for table in ("model_versions", "model_stats", "model_dtypes"):
        assert _names(db, table) == ["openai-community/gpt2"], table
    assert db.con.execute("SELECT count(*) FROM model_versions").fetchone() == (2,)
    assert db.con.execute("SELECT first_seen, last_seen FROM models").fetchone() == (DAY[1], DAY[3])
    assert _renames(db) == [(X, "gpt2", "openai-community/gpt2", DAY[3])]
    again = _put(db, [_row("openai-community/gpt2", X, downloads=11)], 4)
    assert (again.new, again.renamed) == (0, 0) and len(_renames(db)) == 1


def test_two_models_swapping_names_keep_their_own_history(db) -> None:
    _put(db, [_row("org/a", X, sha=SHA1), _row("org/b", Y, sha=SHA2)], 1)
    result = _put(db, [_row("org/a", Y, sha=SHA2), _row("org/b", X, sha=SHA1)], 2)
    assert (result.new, result.renamed) == (0, 2)
    assert _models(db) == [("org/a", Y), ("org/b", X)]
    assert db.con.execute("SELECT model_id, sha FROM model_versions ORDER BY 1").fetchall() == [
        ("org/a", SHA2), ("org/b", SHA1)]  # fmt: skip


def test_a_reused_name_moves_the_old_holder_aside_until_it_is_seen_again(db) -> None:
    _put(db, [_row("user/model", X, sha=SHA1)], 1)
    taken = _put(db, [_row("user/model", Y, sha=SHA2)], 2)
    assert (taken.new, taken.renamed) == (1, 0)
    assert _models(db) == [("user/model", Y), (f"user/model@{X}", X)]
    assert db.con.execute("SELECT model_id, sha FROM model_versions ORDER BY 1").fetchall() == [
        ("user/model", SHA2), (f"user/model@{X}", SHA1)]  # fmt: skip
    found = _put(db, [_row("org/model", X, sha=SHA1)], 3)
    assert (found.new, found.renamed) == (0, 1)
    assert _models(db) == [("org/model", X), ("user/model", Y)]
    assert _renames(db) == [(X, "user/model", "org/model", DAY[3])]
    assert current_model_id(db.con, "user/model") == "user/model"  # the name's current holder


def test_a_row_from_before_hub_id_is_matched_by_name_and_gets_its_id(db) -> None:
    _put(db, [_row("org/legacy", None)], 1)
    result = _put(db, [_row("org/legacy", X)], 2)
    assert (result.new, result.renamed) == (0, 0)
    assert _models(db) == [("org/legacy", X)]
    keeps = _put(db, [_row("org/legacy", None)], 3)  # an answer without _id does not erase it
    assert keeps.new == 0 and _models(db) == [("org/legacy", X)]


def test_a_model_renamed_while_the_walk_ran_is_stored_once_under_its_last_name(db) -> None:
    run = store.start_run(db, mode="full", endpoint="e", version="t")
    listing_store.stage_listing_page(db, [_row("user/m", X, sha=SHA1)], run_id=run, seen_at=DAY[1])
    listing_store.stage_listing_page(db, [_row("org/m", X, sha=SHA2)], run_id=run, seen_at=DAY[1])
    result = listing_store.merge_staged(db)
    assert (result.seen, result.new, result.renamed) == (1, 1, 0)
    assert _models(db) == [("org/m", X)]
    assert _names(db, "model_versions") == ["org/m"]


def test_a_walks_intermediate_merge_leaves_renames_staged_for_its_last(db) -> None:
    _put(db, [_row("user/a", X), _row("user/b", Y)], 1)
    run = store.start_run(db, mode="full", endpoint="e", version="t")
    rows = [_row("org/a", X, sha=SHA2), _row("user/b", X.replace("d", "e")), _row("org/new", "f" * 24)]
    listing_store.stage_listing_page(db, rows, run_id=run, seen_at=DAY[2])
    early = listing_store.merge_staged(db, defer_renames=True)
    assert (early.seen, early.new, early.renamed) == (1, 1, 0)  # org/new only
    assert _models(db) == [("org/new", "f" * 24), ("user/a", X), ("user/b", Y)]
    assert listing_store.staged_rows(db) == 2
    assert db.con.execute("SELECT count(*) FROM listing_stage_dtypes").fetchone() == (2,)
    last = listing_store.merge_staged(db)
    assert (last.seen, last.new, last.updated, last.renamed) == (2, 1, 1, 1)
    assert _models(db) == [("org/a", X), ("org/new", "f" * 24), ("user/b", X.replace("d", "e")), (f"user/b@{Y}", Y)]
    assert listing_store.staged_rows(db) == 0
    assert db.con.execute("SELECT model_id, dtype FROM model_dtypes WHERE model_id = 'org/a'").fetchall() == [
        ("org/a", "BF16")]  # fmt: skip


def test_deleted_then_seen_again_under_a_new_name_is_live_again(db) -> None:
    _put(db, [_row("user/m", X), _row("user/other", Y)], 1)
    run = store.start_run(db, mode="full", endpoint="e", version="t")
    listing_store.store_listing_page(db, [_row("user/other", Y)], run_id=run, seen_at=DAY[3])
    assert store.mark_deleted(db, run_id=run, walk_started_at=DAY[2]) == 1
    assert db.con.execute("SELECT model_id FROM models WHERE deleted_at IS NOT NULL").fetchall() == [("user/m",)]
    _put(db, [_row("org/m", X)], 4)
    assert db.con.execute("SELECT model_id, deleted_at FROM models WHERE hub_id = ?", [X]).fetchall() == [
        ("org/m", None)]  # fmt: skip


def test_the_redirect_api_renames_folds_and_refuses(db) -> None:
    _put(db, [_row("bert-base-uncased", Y), _row("gpt2", None), _row("openai-community/gpt2", X)], 1)
    assert rename_model(db, "bert-base-uncased", "google-bert/bert-base-uncased", run_id=7, seen_at=DAY[2])
    assert _renames(db) == [(Y, "bert-base-uncased", "google-bert/bert-base-uncased", DAY[2])]
    # a legacy row (no _id) whose name redirects to a stored model: the same model, folded into it
    assert rename_model(db, "gpt2", "openai-community/gpt2", seen_at=DAY[3])
    assert _models(db) == [("google-bert/bert-base-uncased", Y), ("openai-community/gpt2", X)]
    assert db.con.execute("SELECT count(*), count(DISTINCT model_id) FROM model_versions").fetchone() == (2, 2)
    assert not rename_model(db, "nobody/none", "org/x")
    assert not rename_model(db, "openai-community/gpt2", "google-bert/bert-base-uncased")  # two _ids
    assert not rename_model(db, "openai-community/gpt2", "org/x", hub_id=Y)
    assert db.con.execute("SELECT run_id FROM model_renames ORDER BY seen_at").fetchall() == [(7,), (None,)]


def test_a_table_added_to_the_schema_later_follows_renames(db) -> None:
    extra = sa.Table("test_extra_per_model", schema.metadata, sa.Column("model_id", sa.String),
                     sa.Column("n", sa.Integer))  # fmt: skip
    try:
        extra.create(db.engine)
        _put(db, [_row("gpt2", X)], 1)
        db.con.execute("INSERT INTO test_extra_per_model VALUES ('gpt2', 1), ('other/model', 2)")
        _put(db, [_row("openai-community/gpt2", X)], 2)
        assert db.con.execute("SELECT model_id, n FROM test_extra_per_model ORDER BY n").fetchall() == [
            ("openai-community/gpt2", 1), ("other/model", 2)]  # fmt: skip
    finally:
        schema.metadata.remove(extra)


def test_current_model_id_follows_renames_to_the_end(db) -> None:
    _put(db, [_row("a/one", X)], 1)
    _put(db, [_row("b/two", X)], 2)
    _put(db, [_row("c/three", X)], 3)
    assert [current_model_id(db.con, n) for n in ("a/one", "b/two", "c/three", "no/such")] == [
        "c/three", "c/three", "c/three", None]  # fmt: skip


def test_migration_5_adds_identity_to_a_database_made_before_it(tmp_path: Path) -> None:
    path = tmp_path / "v4.duckdb"
    with open_database(path) as db:
        _put(db, [_row("gpt2", None)], 1)
        db.con.execute("ALTER TABLE models DROP COLUMN hub_id")
        db.con.execute("ALTER TABLE listing_stage DROP COLUMN hub_id")
        db.con.execute("ALTER TABLE crawl_runs DROP COLUMN models_renamed")
        db.con.execute("DROP TABLE model_renames")
        db.con.execute("DELETE FROM schema_migrations WHERE version = 5")
    with open_database(path) as db:
        assert db.con.execute("SELECT max(version) FROM schema_migrations").fetchone() == (LATEST_VERSION,)
        assert _models(db) == [("gpt2", None)]  # filled by the next walk
        _put(db, [_row("gpt2", X)], 2)
        _put(db, [_row("openai-community/gpt2", X)], 3)
        assert _models(db) == [("openai-community/gpt2", X)]
        assert _renames(db) == [(X, "gpt2", "openai-community/gpt2", DAY[3])]
