"""Figures from the known database's rows: the data each chart draws (`fig.to_dict()`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hubcensus.analysis import figures, queries
from hubcensus.analysis.connect import open_readonly


@pytest.fixture(scope="module")
def data(census_db: Path) -> dict[str, list[dict]]:
    db = open_readonly(census_db)
    try:
        return queries.run_all(db.con)
    finally:
        db.close()


def _traces(fig) -> list[dict]:
    return fig.to_dict()["data"]


def test_dtype_share_by_count_params_downloads(data) -> None:
    rows = data["dtype_share_by_month"]
    count = _traces(figures.dtype_share(rows, "share_models"))
    assert [(t["type"], t["name"]) for t in count] == [
        ("bar", "F32"), ("bar", "F16"), ("bar", "BF16"), ("bar", "F8"), ("bar", "INT8"), ("bar", "4-bit"),
        ("bar", "GGUF"),
    ]  # fmt: skip
    assert all(t["x"] == ["2024-01", "2024-02", "2024-03"] for t in count)
    assert {t["name"]: t["y"] for t in count} == {
        "F32": [33.33, 0.0, 20.0], "F16": [33.33, 0.0, 0.0], "BF16": [33.33, 0.0, 0.0], "F8": [0.0, 50.0, 0.0],
        "INT8": [0.0, 0.0, 20.0], "4-bit": [0.0, 50.0, 40.0], "GGUF": [0.0, 0.0, 20.0],
    }  # fmt: skip
    params = {t["name"]: t["y"] for t in _traces(figures.dtype_share(rows, "share_params"))}
    assert params["BF16"] == [72.73, 0.0, 0.0] and params["4-bit"] == [0.0, 50.0, 89.11]
    downloads = {t["name"]: t["y"] for t in _traces(figures.dtype_share(rows, "share_downloads"))}
    assert downloads["F32"] == [27.78, 0.0, 96.34]
    layout = figures.dtype_share(rows).to_dict()["layout"]
    assert (layout["barmode"], layout["yaxis"]["range"]) == ("stack", [0, 100])


def test_facets_one_panel_per_group_and_one_legend_entry_per_family(data) -> None:
    fig = figures.dtype_share_facets(data["dtype_share_by_library"], "library_name", "by library")
    traces = _traces(fig)
    titles = [a["text"] for a in fig.to_dict()["layout"]["annotations"]]
    assert titles == ["transformers", "diffusers", "gguf", "mlx", "sentence-transformers"]
    assert [t["name"] for t in traces if t.get("showlegend")] == [
        "F32",
        "BF16",
        "F8",
        "INT8",
        "4-bit",
        "F16",
        "GGUF",
    ]
    transformers_4bit = next(t for t in traces if t["name"] == "4-bit" and t["xaxis"] == "x")
    assert transformers_4bit["y"] == [0.0, 50.0, 50.0]


def test_params_by_month_log_scale_in_billions(data) -> None:
    fig = figures.params_by_month(data["params_by_month"])
    traces = {t["name"]: t["y"] for t in _traces(fig)}
    assert traces == {"p90": [6.8, 8.0, 5.9], "median": [2.0, 8.0, 1.0], "p10": [1.2, 8.0, 0.37]}
    assert fig.to_dict()["layout"]["yaxis"]["type"] == "log"


def test_bits_histogram_peaks(data) -> None:
    traces = {t["name"]: (t["x"], t["y"]) for t in _traces(figures.bits_histogram(data["bits_per_param"]))}
    assert traces == {
        "F32": ([32.25], [2]), "F16": ([16.25], [1]), "BF16": ([16.25], [1]), "F8": ([8.25], [1]),
        "INT8": ([8.75], [1]), "4-bit": ([4.75, 5.25], [2, 1]),
    }  # fmt: skip


def test_quant_methods_and_derivative_delay(data) -> None:
    quant = {t["name"]: t["y"] for t in _traces(figures.quant_methods(data["quant_methods_by_month"]))}
    assert quant == {
        "awq": [1, 0],
        "bnb-8bit": [0, 1],
        "fp8": [1, 0],
        "gguf": [0, 1],
        "gptq": [0, 1],
        "mlx": [0, 1],
    }
    delay = _traces(figures.derivative_delay(data["derivative_delay_by_month"]))
    assert [(t["name"], t["x"], t["y"]) for t in delay] == [
        ("first F8", ["2024-01"], [22.0]), ("first 4-bit", ["2024-01"], [52.0]), ("first GGUF", ["2024-01"], [60.0]),
    ]  # fmt: skip


def test_cost_per_billion_measured_beside_rule_of_thumb(data) -> None:
    measured, thumb = _traces(figures.cost_per_billion(data["cost_per_billion"]))
    assert measured["x"] == ["F32", "F16", "BF16", "F8", "INT8", "4-bit"]
    assert measured["y"] == [4.0, 2.0, 2.0, 1.05, 1.1, 0.6]
    assert measured["error_y"]["array"] == [0.0, 0.0, 0.0, 0.0, 0.0, 0.02]
    assert thumb["y"] == [4.0, 2.0, 2.0, 1.0, 1.0, 0.5]
