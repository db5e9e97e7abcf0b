"""The mixture-of-experts section: its named queries, figures, CSVs and tables, exactly.

`census_db` knows the layout of two models (meta/base-a: 8 experts, top-2; q/base-a-fp8: dense);
`moe_db` is the same census with five more models read by the header pass (`LAYOUTS`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from analysis_census import NOW, build_census, header_row
from analysis_census import run_query as _run
from hubcensus.analysis import moe_report
from hubcensus.analysis.report import build_report, write_report
from hubcensus.db import store
from hubcensus.db.connection import open_database

G = 1_000_000_000
LAYOUTS = {
    "meta/base-b": {"active_params": 523_000_000, "expert_count": 4, "experts_per_token": 1,
                    "shared_experts": 1, "expert_params": 600_000_000},  # 2024-01, 1e9
    "sd/diff-c": {"active_params": 2 * G, "expert_count": 0},  # 2024-01, text-to-image: not a language model
    "q/base-a-awq": {"expert_count": 8, "active_reason": "experts in tensor names but no top_k in the config"},
    "meta/base-a-gptq": {"active_params": 2_750_000_000, "expert_count": 8, "experts_per_token": 2,
                         "shared_experts": 0, "expert_params": 7 * G},  # 2024-03, 8e9
    "q/base-b-bnb8": {"active_params": G, "expert_count": 0},  # 2024-03, dense
}  # fmt: skip


@pytest.fixture(scope="module")
def moe_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = build_census(tmp_path_factory.mktemp("moe") / "moe.duckdb")
    db = open_database(path)
    try:
        store.store_headers(db, [header_row(m, 1, layout) for m, layout in LAYOUTS.items()], [], [])
    finally:
        db.close()
    return path


def test_census_moe_queries(census_db: Path) -> None:
    assert _run(census_db, "moe_share_by_month") == [
        {"month": "2024-01", "language_models": 1, "moe_models": 1, "share_moe": 1.0, "unknown_layout": 1},
        {"month": "2024-02", "language_models": 1, "moe_models": 0, "share_moe": 0.0, "unknown_layout": 2},
    ]
    assert _run(census_db, "moe_active_ratio_by_month") == [
        {"month": "2024-01", "moe_models": 1, "median_ratio": 0.3438, "pooled_ratio": 0.3438,
         "median_active_params": 2_750_000_000, "median_effective_params": 8 * G},
    ]  # fmt: skip
    assert [(r["model_id"], r["active_params"], r["expert_count"], r["experts_per_token"], r["shared_experts"])
            for r in _run(census_db, "largest_moe_models")] == [("meta/base-a", 2_750_000_000, 8, 2, 0)]  # fmt: skip


def test_moe_share_counts_known_layouts_of_text_generation(moe_db: Path) -> None:
    assert [tuple(r.values()) for r in _run(moe_db, "moe_share_by_month")] == [
        ("2024-01", 2, 2, 1.0, 0),  # base-a, base-b (sd/diff-c is text-to-image)
        ("2024-02", 2, 1, 0.5, 1),  # fp8 dense, awq MoE; x/unknown not read
        ("2024-03", 2, 1, 0.5, 2),  # gptq MoE, bnb8 dense; the GGUF and MLX repos not read
    ]
    assert [r["month"] for r in _run(moe_db, "moe_share_by_month", datetime(2024, 3, 1))] == ["2024-03"]


def test_active_ratio_median_and_pooled(moe_db: Path) -> None:
    assert [tuple(r.values()) for r in _run(moe_db, "moe_active_ratio_by_month")] == [
        # (0.34375 + 0.523) / 2; (2.75e9 + 0.523e9) / 9e9
        ("2024-01", 2, 0.4334, 0.3637, 1_636_500_000, 4_500_000_000),
        ("2024-03", 1, 0.3438, 0.3438, 2_750_000_000, 8 * G),  # 2024-02: awq's active unknown
    ]


def test_largest_moe_models_table(moe_db: Path) -> None:
    rows = _run(moe_db, "largest_moe_models")
    assert [(r["model_id"], r["effective_params"], r["active_params"], r["active_share"], r["expert_count"],
             r["experts_per_token"], r["shared_experts"], r["active_reason"]) for r in rows] == [
        ("meta/base-a", 8 * G, 2_750_000_000, 0.3438, 8, 2, 0, None),
        ("meta/base-a-gptq", 8 * G, 2_750_000_000, 0.3438, 8, 2, 0, None),
        ("q/base-a-awq", 8 * G, None, None, 8, None, None, "experts in tensor names but no top_k in the config"),
        ("meta/base-b", G, 523_000_000, 0.523, 4, 1, 1, None),
    ]  # fmt: skip


def test_figures() -> None:
    share = moe_report.moe_share([{"month": "2024-01", "language_models": 4, "moe_models": 1, "share_moe": 0.25}])
    assert (list(share.data[0].x), list(share.data[0].y)) == (["2024-01"], [25.0])
    ratio = moe_report.active_ratio([{"month": "2024-01", "median_ratio": 0.4334, "pooled_ratio": 0.3637}])
    assert [list(t.y) for t in ratio.data] == [[43.34], [36.37]]


def test_report_csvs_and_table(moe_db: Path, tmp_path: Path) -> None:
    write_report(moe_db, tmp_path, now=NOW)
    assert (tmp_path / "moe_share_by_month.csv").read_text() == (
        "month,language_models,moe_models,share_moe,unknown_layout\n"
        "2024-01,2,2,1.0,0\n2024-02,2,1,0.5,1\n2024-03,2,1,0.5,2\n"
    )
    assert (tmp_path / "moe_active_ratio_by_month.csv").read_text() == (
        "month,moe_models,median_ratio,pooled_ratio,median_active_params,median_effective_params\n"
        "2024-01,2,0.4334,0.3637,1636500000,4500000000\n2024-03,1,0.3438,0.3438,2750000000,8000000000\n"
    )
    assert (tmp_path / "largest_moe_models.csv").read_text().splitlines()[3] == (
        "q/base-a-awq,2024-02-15,8000000000,,,8,,,,experts in tensor names but no top_k in the config"
    )
    md = (tmp_path / "report.md").read_text()
    assert "| meta/base-b | 2024-01-20 | 1.0B | 523M | 52% | 4 | 1 | 1 |" in md


def test_no_moe_in_scope_means_no_data(census_db: Path) -> None:
    report = build_report(census_db, since=datetime(2024, 3, 1), now=NOW)  # no 2024-03 layout is known
    figures = {spec.name: fig for spec, fig in report.charts}
    assert (figures["moe_share_by_month"], figures["moe_active_ratio_by_month"]) == (None, None)
    assert figures["params_by_month"] is not None
    assert report.data["largest_moe_models"] == []
