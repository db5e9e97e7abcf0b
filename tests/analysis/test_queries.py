"""Views, macros and named queries on the known database: exact values."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
from analysis_census import run_query

_run = run_query


def test_dtype_family_is_one_case_for_every_model(census_db: Path) -> None:
    with duckdb.connect(str(census_db), read_only=True) as con:  # the stored views, as plain duckdb sees them
        rows = con.execute("SELECT model_id, dtype_family FROM v_models ORDER BY model_id").fetchall()
    assert rows == [
        ("g/base-b-gguf", "GGUF"),
        ("m/mlx-4bit", "4-bit"),
        ("meta/base-a", "BF16"),
        ("meta/base-a-gptq", "4-bit"),
        ("meta/base-b", "F32"),
        ("q/base-a-awq", "4-bit"),
        ("q/base-a-fp8", "F8"),
        ("q/base-b-bnb8", "INT8"),
        ("sd/diff-c", "F16"),
        ("st/embed", "F32"),
        ("x/unknown", None),
    ]


def test_overview_counts(census_db: Path) -> None:
    (row,) = _run(census_db, "overview")
    assert row == {
        "models_all": 12, "models": 11, "deleted": 1, "in_scope": 11, "known_format": 10, "header_exact": 2,
        "with_params": 9, "first_month": "2024-01", "last_month": "2024-03",
        "data_as_of": datetime(2024, 4, 1), "last_crawl": datetime(2024, 4, 1, 6, 30),
    }  # fmt: skip


def test_dtype_share_by_month(census_db: Path) -> None:
    rows = _run(census_db, "dtype_share_by_month")
    assert [(r["month"], r["dtype_family"], r["models"], r["share_models"]) for r in rows] == [
        ("2024-01", "F32", 1, 0.3333), ("2024-01", "F16", 1, 0.3333), ("2024-01", "BF16", 1, 0.3333),
        ("2024-02", "F8", 1, 0.5), ("2024-02", "4-bit", 1, 0.5),
        ("2024-03", "F32", 1, 0.2), ("2024-03", "INT8", 1, 0.2), ("2024-03", "4-bit", 2, 0.4),
        ("2024-03", "GGUF", 1, 0.2),
    ]  # fmt: skip
    jan_bf16 = rows[2]
    assert (jan_bf16["effective_params"], jan_bf16["share_params"]) == (8_000_000_000, 0.7273)  # 8 of 11 B
    assert (jan_bf16["downloads"], jan_bf16["share_downloads"]) == (1000, 0.5556)  # 1000 of 1800


def test_since_keeps_models_created_from_that_day(census_db: Path) -> None:
    rows = _run(census_db, "dtype_share_by_month", datetime(2024, 3, 1))
    assert {r["month"] for r in rows} == {"2024-03"}
    (overview,) = _run(census_db, "overview", datetime(2024, 3, 1))
    assert (overview["in_scope"], overview["models"]) == (5, 11)


def test_params_bits_and_cost(census_db: Path) -> None:
    assert _run(census_db, "params_by_month") == [
        {"month": "2024-01", "models": 3, "p10_params": 1_200_000_000, "median_params": 2_000_000_000,
         "p90_params": 6_800_000_000, "max_params": 8_000_000_000},
        {"month": "2024-02", "models": 2, "p10_params": 8_000_000_000, "median_params": 8_000_000_000,
         "p90_params": 8_000_000_000, "max_params": 8_000_000_000},
        {"month": "2024-03", "models": 4, "p10_params": 370_000_000, "median_params": 1_000_000_000,
         "p90_params": 5_900_000_000, "max_params": 8_000_000_000},
    ]  # fmt: skip
    bits = [(r["bits_bin"], r["dtype_family"], r["models"]) for r in _run(census_db, "bits_per_param")]
    assert bits == [(4.5, "4-bit", 2), (5.0, "4-bit", 1), (8.0, "F8", 1), (8.5, "INT8", 1), (16.0, "F16", 1),
                    (16.0, "BF16", 1), (32.0, "F32", 2)]  # fmt: skip
    cost = {r["dtype_family"]: r for r in _run(census_db, "cost_per_billion")}
    assert list(cost) == ["F32", "F16", "BF16", "F8", "INT8", "4-bit"]
    assert cost["BF16"] == {"dtype_family": "BF16", "models": 1, "median_gb": 2.0, "p10_gb": 2.0, "p90_gb": 2.0,
                            "models_with_files": 1, "median_file_gb": 2.002, "rule_of_thumb_gb": 2.0}  # fmt: skip
    assert (cost["4-bit"]["models"], cost["4-bit"]["median_gb"], cost["4-bit"]["p90_gb"]) == (3, 0.6, 0.62)
    assert (cost["F8"]["median_gb"], cost["F8"]["median_file_gb"], cost["F8"]["rule_of_thumb_gb"]) == (
        1.05,
        1.051,
        1.0,
    )


def test_derivatives_and_publishers(census_db: Path) -> None:
    delay = {r["dtype_family"]: r for r in _run(census_db, "derivative_delay")}
    assert {f: (r["bases"], r["derivatives"], r["median_days"]) for f, r in delay.items()} == {
        "F8": (1, 1, 22.0),  # base-a 01-10 -> fp8 02-01
        "INT8": (1, 1, 65.0),  # base-b 01-20 -> bnb8 03-25
        "4-bit": (2, 3, 52.0),  # base-a -> awq 02-15 (36 d); base-b -> mlx 03-28 (68 d)
        "GGUF": (1, 1, 60.0),
    }
    with duckdb.connect(str(census_db), read_only=True) as con:
        first = con.execute(
            "SELECT base_model, first_derivative, days_to_first FROM v_first_derivatives "
            "WHERE dtype_family = '4-bit' ORDER BY base_model"
        ).fetchall()
    assert first == [("meta/base-a", "q/base-a-awq", 36), ("meta/base-b", "m/mlx-4bit", 68)]
    publishers = _run(census_db, "quant_publishers")
    assert [(p["author"], p["derivatives"], p["f8"], p["four_bit"], p["downloads"]) for p in publishers] == [
        ("q", 3, 1, 1, 340), ("g", 1, 0, 0, 80), ("meta", 1, 0, 1, 50), ("m", 1, 0, 1, 20),
    ]  # fmt: skip


def test_top_tables_and_group_splits(census_db: Path) -> None:
    assert [r["model_id"] for r in _run(census_db, "largest_models")][:3] == [
        "meta/base-a", "meta/base-a-gptq", "q/base-a-awq",
    ]  # fmt: skip
    assert [r["model_id"] for r in _run(census_db, "most_downloaded")][:2] == ["st/embed", "meta/base-a"]
    libraries = _run(census_db, "dtype_share_by_library")
    assert list(dict.fromkeys(r["library_name"] for r in libraries)) == [
        "transformers", "diffusers", "gguf", "mlx", "sentence-transformers",
    ]  # fmt: skip
    pipes = [(r["pipeline_tag"], r["month"], r["dtype_family"], r["share_models"])
             for r in _run(census_db, "dtype_share_by_pipeline") if r["month"] == "2024-03"]  # fmt: skip
    assert pipes == [("text-generation", "2024-03", "INT8", 0.25), ("text-generation", "2024-03", "4-bit", 0.5),
                     ("text-generation", "2024-03", "GGUF", 0.25),
                     ("sentence-similarity", "2024-03", "F32", 1.0)]  # fmt: skip


def test_read_only_connection_brings_its_own_views(tmp_path: Path, census_db: Path) -> None:
    copy = tmp_path / "old.duckdb"
    copy.write_bytes(census_db.read_bytes())
    con = duckdb.connect(str(copy))
    for (name,) in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall():
        con.execute(f"DROP VIEW {name}")
    con.close()
    assert _run(copy, "overview")[0]["known_format"] == 10
