"""The store on a real DuckDB file: idempotent pages, history, ledger, lock."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from hubcensus.db import gguf_store, listing_store, store
from hubcensus.db.connection import DatabaseBusy, DatabaseError, open_database
from hubcensus.db.migrations import LATEST_VERSION, MIGRATIONS

SHA1, SHA2 = "1" * 40, "2" * 40


def _row(**over: object) -> dict:
    row = {
        "model_id": "org/model",
        "author": "org",
        "created_at": datetime(2024, 1, 1),
        "last_modified": datetime(2024, 2, 1),
        "sha": SHA1,
        "tags": ["safetensors", "base_model:quantized:org/base"],
        "downloads": 5,
        "likes": 1,
        "hub_parameters": {"BF16": 100, "F32": 3},
        "hub_total_params": 103,
        "dominant_dtype": "BF16",
        "weight_bytes": 212,
        "weights_source": "hub",
    }
    row.update(over)
    return row


def _count(db, table: str) -> int:
    return db.con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_migrations_are_recorded_once(tmp_path: Path) -> None:
    path = tmp_path / "m.duckdb"
    open_database(path).close()
    open_database(path).close()
    con = duckdb.connect(str(path), read_only=True)
    versions = [
        v for (v,) in con.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    ]
    # versions are recorded, not counted: gaps are fine
    assert versions == sorted(v for v, _, _ in MIGRATIONS)
    assert versions[-1] == LATEST_VERSION


def test_same_page_twice_changes_nothing(db) -> None:
    run = store.start_run(db, mode="full", endpoint="http://127.0.0.1", version="t")
    seen = datetime(2026, 1, 1)
    first = listing_store.store_listing_page(db, [_row()], run_id=run, seen_at=seen, state={"cursor": "c1"})
    snapshot = {t: db.con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in
                ("models", "model_dtypes", "model_versions", "model_stats")}  # fmt: skip
    again = listing_store.store_listing_page(db, [_row()], run_id=run, seen_at=seen, state={"cursor": "c1"})
    assert (first.new, first.updated, again.new, again.updated) == (1, 0, 0, 0)
    for table, rows in snapshot.items():
        assert db.con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() == rows
    assert store.get_state(db, "cursor") == "c1"
    assert db.con.execute("SELECT dtype, parameters, bytes FROM model_dtypes ORDER BY dtype").fetchall() == [
        ("BF16", 100, 200),
        ("F32", 3, 12),
    ]


def test_new_sha_is_history_and_keeps_first_seen(db) -> None:
    run = store.start_run(db, mode="incremental", endpoint="e", version="t")
    listing_store.store_listing_page(db, [_row()], run_id=run, seen_at=datetime(2026, 1, 1))
    result = listing_store.store_listing_page(
        db,
        [_row(sha=SHA2, hub_parameters={"F8_E4M3": 100}, downloads=9)],
        run_id=run,
        seen_at=datetime(2026, 1, 2),
    )
    assert (result.new, result.updated) == (0, 1)
    assert db.con.execute("SELECT sha FROM model_versions ORDER BY first_seen").fetchall() == [
        (SHA1,),
        (SHA2,),
    ]
    assert db.con.execute("SELECT first_seen, last_seen FROM models").fetchone() == (
        datetime(2026, 1, 1),
        datetime(2026, 1, 2),
    )
    assert db.con.execute("SELECT downloads FROM model_stats ORDER BY observed_at").fetchall() == [(5,), (9,)]
    assert db.con.execute("SELECT dtype FROM model_dtypes WHERE source = 'hub'").fetchall() == [("F8_E4M3",)]


def test_header_figures_survive_a_listing_of_the_same_sha_only(db) -> None:
    run = store.start_run(db, mode="full", endpoint="e", version="t")
    listing_store.store_listing_page(db, [_row()], run_id=run, seen_at=datetime(2026, 1, 1))
    exact = {"model_id": "org/model", "sha": SHA1, "weights_source": "header", "dominant_dtype": "BF16",
             "quant_method": "none", "effective_params": 103, "weight_bytes": 212, "overhead_bytes": 0,
             "file_bytes": 300, "bits_per_param": 212 * 8 / 103, "flags": [], "header_parameters": {"BF16": 100, "F32": 3}}  # fmt: skip
    files = [{"model_id": "org/model", "sha": SHA1, "path": "model.safetensors", "component": "",
              "size_bytes": 300, "header_bytes": 80, "tensor_count": 2, "metadata_format": "pt"}]  # fmt: skip
    store.store_headers(db, [exact], files, [])
    listing_store.store_listing_page(db, [_row()], run_id=run, seen_at=datetime(2026, 1, 2))
    assert db.con.execute("SELECT weights_source, file_bytes, deep_sha FROM models").fetchone() == (
        "header",
        300,
        SHA1,
    )
    listing_store.store_listing_page(db, [_row(sha=SHA2)], run_id=run, seen_at=datetime(2026, 1, 3))
    assert db.con.execute("SELECT weights_source, deep_sha FROM models").fetchone() == ("hub", SHA1)
    assert _count(db, "safetensors_files") == 1


def test_mark_deleted_only_models_not_seen_since_walk_start(db) -> None:
    run = store.start_run(db, mode="full", endpoint="e", version="t")
    listing_store.store_listing_page(db, [_row(model_id="a/old")], run_id=run, seen_at=datetime(2026, 1, 1))
    listing_store.store_listing_page(db, [_row(model_id="a/kept")], run_id=run, seen_at=datetime(2026, 1, 5))
    assert store.mark_deleted(db, run_id=run, walk_started_at=datetime(2026, 1, 3)) == 1
    assert db.con.execute("SELECT model_id FROM models WHERE deleted_at IS NOT NULL").fetchall() == [
        ("a/old",)
    ]
    listing_store.store_listing_page(db, [_row(model_id="a/old")], run_id=run, seen_at=datetime(2026, 1, 6))
    assert db.con.execute("SELECT count(*) FROM models WHERE deleted_at IS NOT NULL").fetchone() == (0,)


def test_ledger_marks_abandoned_runs_killed(db) -> None:
    first = store.start_run(db, mode="full", endpoint="e", version="t")
    second = store.start_run(db, mode="incremental", endpoint="e", version="t")
    store.record_error(
        db, second, model_id="a/b", target="list page", kind="http", status=503, message="bad\ngateway"
    )
    store.finish_run(db, second, status="ok", counters={"pages": 2, "errors": 1})
    runs = db.con.execute("SELECT run_id, status, pages, errors FROM crawl_runs ORDER BY run_id").fetchall()
    assert runs == [(first, "killed", None, None), (second, "ok", 2, 1)]
    assert db.con.execute("SELECT seq, message FROM fetch_errors").fetchall() == [(1, "bad gateway")]


def test_second_writer_is_refused_and_reader_needs_a_file(tmp_path: Path, db) -> None:
    with pytest.raises(DatabaseBusy, match="holds the write lock"):
        open_database(db.path)
    with pytest.raises(DatabaseError, match="no database at"):
        open_database(tmp_path / "missing.duckdb", read_only=True)


def test_history_tables_keep_their_natural_keys_unique(db) -> None:
    from hubcensus.db.schema import UNIQUE_KEYS

    run = store.start_run(db, mode="full", endpoint="e", version="t")
    for day, sha, downloads in ((1, SHA1, 5), (1, SHA1, 5), (2, SHA1, 6), (2, SHA2, 7), (3, SHA2, 7)):
        listing_store.store_listing_page(
            db, [_row(sha=sha, downloads=downloads), _row(sha=sha, downloads=downloads)],
            run_id=run, seen_at=datetime(2026, 1, day),
        )  # fmt: skip
    header = {
        "model_id": "org/model",
        "sha": SHA2,
        "weights_source": "header",
        "header_parameters": {"BF16": 100},
    }
    files = [{"model_id": "org/model", "sha": SHA2, "path": "model.safetensors", "component": ""}]
    dtypes = [
        {
            "model_id": "org/model",
            "sha": SHA2,
            "path": "model.safetensors",
            "dtype": "BF16",
            "parameters": 100,
        }
    ]
    for _ in range(2):
        store.store_headers(db, [header], files, dtypes)
    gguf = {"model_id": "org/model", "sha": SHA2, "path": "m-Q4_K_M.gguf", "status": "ok"}
    for _ in range(2):
        gguf_store.store_gguf(db, [gguf], [{**gguf, "ggml_type": "Q4_K", "tensors": 1}], [])
    for table, key in UNIQUE_KEYS.items():
        cols = ", ".join(key)
        dupes = db.con.execute(
            f"SELECT {cols}, count(*) FROM {table} GROUP BY ALL HAVING count(*) > 1"
        ).fetchall()
        assert dupes == [], table
        assert _count(db, table) > 0, table
    # one snapshot per observation time, the last value seen wins; unchanged values add nothing
    assert db.con.execute("SELECT day(observed_at), downloads FROM model_stats ORDER BY 1").fetchall() == [
        (1, 5),
        (2, 7),
    ]


def test_a_database_from_before_a_migration_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with open_database(path) as db:
        run = store.start_run(db, mode="full", endpoint="e", version="old")
        store.finish_run(db, run, status="ok", counters={"pages": 3})
        db.con.execute("ALTER TABLE crawl_runs DROP COLUMN headers_left")
        db.con.execute("ALTER TABLE crawl_runs DROP COLUMN gated_skipped")
        db.con.execute("DELETE FROM schema_migrations WHERE version = 4")
    with open_database(path) as db:
        assert db.con.execute("SELECT max(version) FROM schema_migrations").fetchone() == (LATEST_VERSION,)
        assert db.con.execute("SELECT run_id, pages, headers_left, gated_skipped FROM crawl_runs").fetchall() == [
            (run, 3, None, None)
        ]
        store.update_run(db, run, {"headers_left": 7, "gated_skipped": 2})
        assert db.con.execute("SELECT headers_left, gated_skipped FROM crawl_runs").fetchone() == (7, 2)
