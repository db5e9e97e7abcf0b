"""write_report on the known database: headline, CSVs, HTML and Markdown, exactly; empty databases."""

from __future__ import annotations

import html
import re
from datetime import date, datetime
from pathlib import Path

import pytest
from analysis_census import NOW, figures_of
from hubcensus.analysis.headline import EMPTY
from hubcensus.analysis.report import CHARTS, write_report

HEADLINE = [
    "Based on 11 current models created 2024-01 to 2024-03 (10 with a known storage format, 2 measured exactly "
    "from their safetensors or GGUF headers; 1 model no longer public left out). Data as of 2024-04-01, report generated "
    "2024-04-02 12:00 UTC.",
    "4-bit holds 40% of new models in 2024-03, up from 0% in 2024-01.",
    "F8 holds 0% and 4-bit 40% of new models in 2024-03, against 0% and 0% in 2024-01.",
    "The median new model in 2024-03 has 1.0B effective parameters (p90 5.9B, 4 models), against 2.0B "
    "(p90 6.8B) in 2024-01.",
    "Measured, 1B parameters take 4.00 GB in F32, 2.00 GB in F16, 2.00 GB in BF16, 1.05 GB in F8, 1.10 GB in "
    "INT8, 0.60 GB in 4-bit (medians; the rule of thumb says 4, 2, 2, 1, 1, 0.5).",
    "A base model's first quantized derivative appeared after a median of: F8 after 22 days (1 base model); "
    "4-bit after 52 days (2 base models); GGUF after 60 days (1 base model).",
    "The most prolific publisher of quantized derivatives is q (3 models: 1 F8, 1 INT8, 1 4-bit).",
    "Largest model: meta/base-a, 8.0B effective parameters in BF16 (16.0 GB of weights).",
    "Most downloaded: st/embed (5,000 downloads in 30 days, F32, 100M parameters).",
]


@pytest.fixture(scope="module")
def report_dir(census_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    result = write_report(census_db, out, now=NOW)
    assert (result.models, result.empty) == (11, False)
    assert [figures_of(line) for line in result.headline] == [figures_of(line) for line in HEADLINE]
    return out


def test_every_chart_and_table_has_its_csv(report_dir: Path) -> None:
    names = sorted(p.name for p in report_dir.iterdir())
    expected = {f"{c.name}.csv" for c in CHARTS} | {"derivative_delay.csv", "quant_publishers.csv",
                "largest_models.csv", "most_downloaded.csv", "overview.csv", "report.html", "report.md",
                "gguf_first_delay.csv", "largest_moe_models.csv", "weight_format_months.csv",
                "pickle_globals.csv"}  # fmt: skip
    assert names == sorted(expected)


def test_csvs_exact(report_dir: Path) -> None:
    def read(name: str) -> str:
        return (report_dir / f"{name}.csv").read_text(encoding="utf-8")

    assert read("dtype_share_by_count") == (
        "month,dtype_family,models,share_models\n2024-01,F32,1,0.3333\n2024-01,F16,1,0.3333\n"
        "2024-01,BF16,1,0.3333\n2024-02,F8,1,0.5\n2024-02,4-bit,1,0.5\n2024-03,F32,1,0.2\n2024-03,INT8,1,0.2\n"
        "2024-03,4-bit,2,0.4\n2024-03,GGUF,1,0.2\n"
    )
    assert read("dtype_share_by_downloads").splitlines()[:2] == [
        "month,dtype_family,downloads,share_downloads", "2024-01,F32,500,0.2778",
    ]  # fmt: skip
    assert read("params_by_month") == (
        "month,models,p10_params,median_params,p90_params,max_params\n"
        "2024-01,3,1200000000,2000000000,6800000000,8000000000\n"
        "2024-02,2,8000000000,8000000000,8000000000,8000000000\n"
        "2024-03,4,370000000,1000000000,5900000000,8000000000\n"
    )
    assert read("cost_per_billion") == (
        "dtype_family,models,median_gb,p10_gb,p90_gb,models_with_files,median_file_gb,rule_of_thumb_gb\n"
        "F32,2,4.0,4.0,4.0,0,,4.0\nF16,1,2.0,2.0,2.0,0,,2.0\nBF16,1,2.0,2.0,2.0,1,2.002,2.0\n"
        "F8,1,1.05,1.05,1.05,1,1.051,1.0\nINT8,1,1.1,1.1,1.1,0,,1.0\n4-bit,3,0.6,0.6,0.62,0,,0.5\n"
    )
    assert read("bits_per_param") == (
        "bits_bin,bytes_per_param,dtype_family,models\n4.5,0.5625,4-bit,2\n5.0,0.625,4-bit,1\n8.0,1.0,F8,1\n"
        "8.5,1.0625,INT8,1\n16.0,2.0,F16,1\n16.0,2.0,BF16,1\n32.0,4.0,F32,2\n"
    )
    assert read("quant_publishers") == (
        "author,derivatives,f8,int8,four_bit,gguf,downloads\nq,3,1,1,1,0,340\ng,1,0,0,0,1,80\n"
        "meta,1,0,0,1,0,50\nm,1,0,0,1,0,20\n"
    )
    assert read("derivative_delay_by_month") == (
        "month,dtype_family,bases,median_days\n2024-01,F8,1,22.0\n2024-01,4-bit,2,52.0\n2024-01,GGUF,1,60.0\n"
    )
    assert read("overview") == (
        "models_all,models,deleted,in_scope,known_format,header_exact,with_params,first_month,last_month,"
        "data_as_of,last_crawl\n12,11,1,11,10,2,9,2024-01,2024-03,2024-04-01 00:00:00,2024-04-01 06:30:00\n"
    )
    assert read("largest_models").splitlines()[1] == (
        "meta/base-a,2024-01-10,transformers,BF16,BF16,none,8000000000,16000000000,16.0,1000,header"
    )


def test_html_is_self_contained_and_starts_with_the_headline(report_dir: Path) -> None:
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert page.count("plotly.js v") == 1  # the library, inlined once (its banner comment)
    assert not re.search(r"<script[^>]+src=", page)
    assert page.count('class="plotly-graph-div"') == len(CHARTS) - 2  # no GGUF files read: 2 GGUF charts empty
    summary = page.index('id="summary"')
    assert summary < page.index('class="plotly-graph-div"')
    items = [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", page)]
    assert [figures_of(item) for item in items[: len(HEADLINE)]] == [figures_of(line) for line in HEADLINE]
    assert '<a href="cost_per_billion.csv">cost_per_billion.csv</a>' in page
    assert "<td>meta/base-a</td><td>2024-01-10</td>" in page
    rests = re.findall(r"Rests on (\d+) ", page)
    assert rests.count("10") == 6  # dtype shares (3), splits (2), weight formats (1): every known-format model
    assert "9" in rests  # params_by_month: models with known parameters
    assert "4" in rests  # base-model/format pairs: F8 1 + 4-bit 2 + GGUF 1


def test_markdown_has_the_same_headline_and_tables(report_dir: Path) -> None:
    text = (report_dir / "report.md").read_text(encoding="utf-8")
    bullets = re.findall(r"^- (.*)$", text, flags=re.M)
    assert [figures_of(b) for b in bullets[: len(HEADLINE)]] == [figures_of(line) for line in HEADLINE]
    assert "| 2024-03 | 20% | 0% | 0% | 0% | 20% | 40% | 20% |" in text
    assert "| 4-bit | 3 | 0.6 | 0.6 | 0.62 | 0 | - | 0.5 |" in text
    assert "| q | 3 | 1 | 1 | 1 | 0 | 340 |" in text


def test_since_and_formats(census_db: Path, tmp_path: Path) -> None:
    result = write_report(census_db, tmp_path, since=date(2024, 3, 15), formats=["md"], now=NOW)
    assert [p.name for p in result.files] == ["report.md"]
    assert result.models == 5  # rounded down to 2024-03-01
    assert figures_of(result.headline[0])[:4] == ["5", "2024-03", "2024-03", "2024-03-01"]
    assert "Data: [" not in (tmp_path / "report.md").read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="unknown report format"):
        write_report(census_db, tmp_path, formats=["pdf"])


def test_since_after_every_model(census_db: Path, tmp_path: Path) -> None:
    result = write_report(census_db, tmp_path, since=datetime(2030, 1, 1), now=NOW)
    assert result.empty
    assert [figures_of(line) for line in result.headline] == [["2030-01-01", "11"]]


def test_empty_database_says_so_and_still_writes_files(empty_db: Path, tmp_path: Path) -> None:
    result = write_report(empty_db, tmp_path / "out", now=NOW)
    assert (result.empty, result.models, result.headline) == (True, 0, [EMPTY])
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "No models in the database yet" in page and "plotly-graph-div" not in page
    assert "No models in the database yet" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert (
        tmp_path / "out" / "dtype_share_by_count.csv"
    ).read_text() == "month,dtype_family,models,share_models\n"


def test_headline_compares_with_a_month_that_has_enough_models() -> None:
    from hubcensus.analysis.headline import headline

    def share(month: str, family: str, models: int, share: float) -> dict:
        return {"month": month, "dtype_family": family, "models": models, "share_models": share}

    data = {name: [] for name in ("params_by_month", "cost_per_billion", "derivative_delay", "quant_publishers",
                                  "largest_models", "most_downloaded")}  # fmt: skip
    data["overview"] = [{"models_all": 56, "models": 56, "deleted": 0, "in_scope": 56, "known_format": 56,
                         "header_exact": 0, "first_month": "2023-01", "last_month": "2024-02",
                         "data_as_of": None}]  # fmt: skip
    data["dtype_share_by_month"] = [
        share("2023-01", "F32", 1, 1.0),  # a lone early model: too few to compare with
        share("2023-02", "BF16", 10, 0.4), share("2023-02", "F16", 15, 0.6),
        share("2024-02", "BF16", 18, 0.6), share("2024-02", "F8", 3, 0.1), share("2024-02", "4-bit", 9, 0.3),
    ]  # fmt: skip
    lines = headline(data, since=None, now=datetime(2024, 2, 20))
    assert [figures_of(line) for line in lines[1:]] == [
        ["BF16", "60%", "2024-02", "40%", "2023-02"],
        ["F8", "10%", "4-bit", "30%", "2024-02", "0%", "0%", "2023-02"],
    ]
    assert "Data as of unknown" in lines[0]


def test_weight_format_chart_and_table(report_dir: Path) -> None:
    lines = (report_dir / "weight_format_by_month.csv").read_text(encoding="utf-8").splitlines()
    assert lines == [
        "month,weight_format,models,share_models",
        "2024-01,pickle,1,0.3333",
        "2024-01,safetensors,2,0.6667",
        "2024-02,safetensors,2,1.0",
        "2024-03,both,1,0.2",
        "2024-03,safetensors,3,0.6",
        "2024-03,gguf,1,0.2",
    ]
    table = (report_dir / "weight_format_months.csv").read_text(encoding="utf-8").splitlines()
    assert table[:2] == ["month,pickle,both,safetensors,gguf,models,share_pickle", "2024-01,1,,2,,3,0.3333"]
    assert (report_dir / "pickle_globals.csv").read_text(encoding="utf-8").splitlines()[1:] == []
