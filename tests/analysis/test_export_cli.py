"""Parquet export (read back by DuckDB and pyarrow) and the report/sql/export commands."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from analysis_census import figures_of
from hubcensus.analysis.export import export_parquet
from hubcensus.db import schema
from typer.testing import CliRunner

from hubcensus.cli import app
from hubcensus.exits import ExitCode

runner = CliRunner()


def test_export_every_table_readable_by_duckdb_and_pyarrow(census_db: Path, tmp_path: Path) -> None:
    written = {item.name: item for item in export_parquet(census_db, tmp_path / "pq")}
    census = {t.name for t in schema.metadata.sorted_tables} - {"listing_stage", "listing_stage_dtypes"}
    assert set(written) == census | {"v_models"}
    counts = {name: item.rows for name, item in written.items()}
    assert (counts["models"], counts["v_models"], counts["model_dtypes"], counts["crawl_runs"]) == (
        12,
        11,
        13,
        1,
    )
    con = duckdb.connect()
    for name, item in written.items():
        assert pq.read_table(item.path).num_rows == item.rows, name
        assert con.execute(f"SELECT count(*) FROM '{item.path}'").fetchone() == (item.rows,), name
    families = pq.read_table(
        tmp_path / "pq" / "v_models.parquet", columns=["model_id", "dtype_family"]
    ).to_pylist()
    assert {"model_id": "q/base-a-fp8", "dtype_family": "F8"} in families
    versions = pq.read_table(tmp_path / "pq" / "model_versions.parquet")
    assert str(versions.schema.field("hub_parameters").type) == "string"
    row = con.execute(f"SELECT hub_parameters FROM '{tmp_path / 'pq' / 'model_versions.parquet'}' "
                      "WHERE model_id = 'q/base-a-awq'").fetchone()  # fmt: skip
    assert json.loads(row[0]) == {"F16": 500000000, "I32": 1000000000}


def test_cli_report_writes_files_and_prints_the_headline(census_db: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["report", "--db", str(census_db), "--out", str(tmp_path / "r"), "--format", "md,csv"]
    )
    assert result.exit_code == 0, result.output
    assert ["4-bit", "40%", "2024-03", "0%", "2024-01"] in [figures_of(line) for line in result.output.splitlines()]
    assert (tmp_path / "r" / "report.md").exists() and not (tmp_path / "r" / "report.html").exists()
    assert "Wrote 29 files" in result.output  # 16 + KV cache charts (3) + GGUF charts (3), table (1) + formats (3) + MoE (2, 1)


def test_cli_report_errors_are_one_line(tmp_path: Path, census_db: Path) -> None:
    missing = runner.invoke(app, ["report", "--db", str(tmp_path / "none.duckdb"), "--out", str(tmp_path)])
    assert missing.exit_code == ExitCode.DATABASE
    assert missing.output.startswith("hubcensus: no database at") and len(missing.output.splitlines()) == 1
    bad = runner.invoke(app, ["report", "--db", str(census_db), "--out", str(tmp_path), "--format", "pdf"])
    assert bad.exit_code == ExitCode.USAGE and "unknown report format(s) pdf" in bad.output
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for args in (["report", "--out", str(blocker / "r")], ["export", "--parquet", str(blocker / "p")]):
        unwritable = runner.invoke(app, [*args, "--db", str(census_db)])
        assert unwritable.exit_code == ExitCode.FAILED, unwritable.output
        assert unwritable.output.startswith("hubcensus: ") and len(unwritable.output.splitlines()) == 1


def test_cli_sql_formats_and_refusal(census_db: Path) -> None:
    query = "SELECT model_id, downloads FROM v_models ORDER BY downloads DESC LIMIT 2"
    as_csv = runner.invoke(app, ["sql", query, "--db", str(census_db), "--format", "csv"])
    assert (as_csv.exit_code, as_csv.output) == (0, "model_id,downloads\nst/embed,5000\nmeta/base-a,1000\n")
    as_json = runner.invoke(app, ["sql", query, "--db", str(census_db), "--format", "json"])
    assert json.loads(as_json.output)[0] == {"model_id": "st/embed", "downloads": 5000}
    table = runner.invoke(app, ["sql", query, "--db", str(census_db)])
    assert table.exit_code == 0 and "st/embed" in table.output and "2 rows" in table.output
    refused = runner.invoke(app, ["sql", "DELETE FROM models", "--db", str(census_db)])
    assert refused.exit_code == ExitCode.FAILED
    assert refused.output.strip() == (
        "hubcensus: refused: DELETE statements are not allowed; hubcensus sql only runs read-only SELECT queries"
    )


def test_cli_export_and_help_teaches(census_db: Path, tmp_path: Path) -> None:
    done = runner.invoke(app, ["export", "--parquet", str(tmp_path / "out"), "--db", str(census_db)])
    assert done.exit_code == 0 and "models.parquet  12 rows" in done.output
    for command, example in (
        ("report", "--since 2024-01"),
        ("sql", "v_dtype_by_month"),
        ("export", "--parquet"),
    ):
        helped = runner.invoke(app, [command, "--help"])
        assert helped.exit_code == 0 and example in helped.output
