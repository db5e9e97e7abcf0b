"""KV cache queries, figures and the documented example query, on the known census (analysis_census)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
from hubcensus.analysis import kv_report, queries
from hubcensus.analysis.report import build_report
from hubcensus.analysis.sql import run_sql

DOC = (Path(__file__).resolve().parents[2] / "docs" / "schema.md").read_text(encoding="utf-8")
GIB24 = 24 * 2**30


def _run(census_db: Path, name: str) -> list[dict]:
    with duckdb.connect(str(census_db), read_only=True) as con:
        return queries.run(con, name)


def test_kv_per_billion_by_month(census_db: Path) -> None:
    rows = _run(census_db, "kv_by_month")
    # Jan: base-a (131,072 B/token, 8B) and base-b (18,432, 1B); Feb: fp8 + awq; Mar: gptq, bnb8, mlx
    assert [(r["month"], r["models"], r["median_kv_per_billion"]) for r in rows] == [
        ("2024-01", 2, (16_384 + 18_432) / 2), ("2024-02", 2, 16_384.0), ("2024-03", 3, 18_432.0)
    ]  # fmt: skip
    assert rows[2]["median_kv_bytes_per_token"] == 18_432


def test_attention_share_by_month(census_db: Path) -> None:
    rows = _run(census_db, "attention_by_month")
    assert [(r["month"], r["attention"], r["models"], r["share_models"]) for r in rows] == [
        ("2024-01", "gqa", 1, 0.5), ("2024-01", "mqa", 1, 0.5), ("2024-02", "gqa", 2, 1.0),
        ("2024-03", "gqa", 1, 0.3333), ("2024-03", "mqa", 2, 0.6667),
    ]  # fmt: skip


def test_longest_context_in_24gb(census_db: Path) -> None:
    rows = _run(census_db, "context_in_24gb")
    assert [(r["context_bin"], r["models"], r["at_max_context"]) for r in rows] == [
        ("8k-32k", 3, 3), ("32k-128k", 1, 0), ("128k+", 3, 3)
    ]  # fmt: skip
    with duckdb.connect(str(census_db), read_only=True) as con:
        (tokens,) = con.execute(
            "SELECT longest_context_24gb FROM v_model_memory WHERE model_id = 'meta/base-a'"
        ).fetchone()
    assert tokens == (GIB24 - 16_000_000_000) // 131_072 == 74_537


def test_example_query_models_at_32k_in_24gb(census_db: Path) -> None:
    block = next(b for b in re.findall(r"```sql\n(.*?)```", DOC, flags=re.DOTALL) if "kv_bytes_32k <=" in b)
    result = run_sql(census_db, block)
    assert [r[0] for r in result.rows] == ["meta/base-a", "q/base-a-fp8", "q/base-a-awq", "meta/base-a-gptq"]
    assert result.rows[0][3] == round((16_000_000_000 + 4 * 2**30) / 2**30, 2)


def test_figures_carry_the_rows(census_db: Path) -> None:
    fig = kv_report.kv_per_billion(_run(census_db, "kv_by_month")).to_dict()
    median = next(t for t in fig["data"] if t["name"] == "median")
    assert list(median["x"]) == ["2024-01", "2024-02", "2024-03"]
    assert list(median["y"]) == [17_408.0, 16_384.0, 18_432.0]
    share = kv_report.attention_share(_run(census_db, "attention_by_month")).to_dict()
    assert [t["name"] for t in share["data"]] == ["gqa", "mqa"]
    assert list(share["data"][1]["y"]) == [50.0, 0, 66.67]
    ctx = kv_report.context_in_24gb(_run(census_db, "context_in_24gb")).to_dict()
    assert list(ctx["data"][0]["y"]) == [0, 1, 0] and list(ctx["data"][1]["y"]) == [3, 0, 3]


def test_report_has_the_kv_charts(census_db: Path) -> None:
    report = build_report(census_db)
    names = {spec.name: fig for spec, fig in report.charts}
    for name in ("kv_per_billion_by_month", "attention_by_month", "context_in_24gb"):
        assert names[name] is not None
