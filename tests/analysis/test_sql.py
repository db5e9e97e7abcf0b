"""`hubcensus sql`: answers SELECTs, refuses everything that could change or escape, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from hubcensus.analysis.connect import open_readonly
from hubcensus.analysis.sql import SqlError, check_read_only, run_sql, to_csv, to_json

WRITES = [
    "INSERT INTO models (model_id) VALUES ('evil/x')",
    "UPDATE models SET downloads = 0",
    "DELETE FROM models",
    "CREATE TABLE t AS SELECT 1",
    "CREATE OR REPLACE VIEW v_models AS SELECT 1",
    "DROP TABLE models",
    "ALTER TABLE models ADD COLUMN x INT",
    "ATTACH '/tmp/other.duckdb' AS other",
    "DETACH other",
    "COPY models TO '/tmp/models.csv'",
    "COPY models FROM '/tmp/models.csv'",
    "EXPORT DATABASE '/tmp/dump'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SET threads = 1",
    "PRAGMA enable_profiling",
    "CALL pragma_version()",
    "CHECKPOINT",
    "VACUUM",
    "BEGIN TRANSACTION",
    "USE memory",
    "SELECT 1; DELETE FROM models",
    "SELECT 1; SELECT 2",
]


@pytest.mark.parametrize("statement", WRITES)
def test_refused_before_running(statement: str) -> None:
    with pytest.raises(SqlError) as caught:
        check_read_only(statement)
    message = str(caught.value)
    assert "\n" not in message
    assert ("not allowed" in message and "read-only SELECT" in message) or "statements given" in message


def test_refusal_names_the_statement_kind() -> None:
    with pytest.raises(SqlError, match=r"^refused: INSERT statements are not allowed"):
        check_read_only("insert into models (model_id) values ('x')")
    with pytest.raises(SqlError, match=r"^refused: COPY statements"):
        check_read_only("COPY (SELECT 1) TO '/tmp/x.csv'")


@pytest.mark.parametrize(
    "statement",
    ["SELECT count(*) FROM v_models", "FROM v_dtype_by_month", "DESCRIBE v_models", "SHOW TABLES",
     "EXPLAIN SELECT * FROM models", "WITH x AS (SELECT 1 AS a) SELECT a FROM x", "SUMMARIZE v_models"],
)  # fmt: skip
def test_reads_are_allowed(census_db: Path, statement: str) -> None:
    assert run_sql(census_db, statement).columns


def test_select_answers_with_the_views(census_db: Path) -> None:
    result = run_sql(
        census_db, "SELECT dtype_family, count(*) AS n FROM v_models GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    assert result.columns == ["dtype_family", "n"]
    assert result.rows[:2] == [("4-bit", 3), ("F32", 2)]
    assert to_csv(result).splitlines()[:3] == ["dtype_family,n", "4-bit,3", "F32,2"]
    first = run_sql(census_db, "SELECT model_id, created_at FROM v_models ORDER BY created_at LIMIT 1")
    assert json.loads(to_json(first)) == [{"model_id": "meta/base-a", "created_at": "2024-01-10T00:00:00"}]


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("SELEC 1", 'Parser Error: syntax error at or near "SELEC"'),
        ("SELECT * FROM no_such_table", "Catalog Error: Table with name no_such_table does not exist!"),
        ("", "empty statement"),
    ],
)
def test_bad_sql_is_one_clear_line(census_db: Path, statement: str, expected: str) -> None:
    with pytest.raises(SqlError) as caught:
        run_sql(census_db, statement)
    assert str(caught.value).startswith(expected)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "statement",
    ["SELECT * FROM read_csv('/etc/passwd')", "SELECT * FROM read_text('/etc/hostname')",
     "SELECT * FROM read_parquet('/tmp/x.parquet')", "SELECT * FROM 'https://example.com/x.csv'"],
)  # fmt: skip
def test_file_and_network_table_functions_cannot_escape(census_db: Path, statement: str) -> None:
    with pytest.raises(SqlError, match=r"disabled by configuration|Permission"):
        run_sql(census_db, statement)


def test_the_connection_itself_cannot_write_even_past_the_check(census_db: Path, tmp_path: Path) -> None:
    db = open_readonly(census_db, locked=True)
    try:
        con = db.con
        for statement in ("INSERT INTO models (model_id) VALUES ('evil/x')", "DELETE FROM models",
                          f"ATTACH '{tmp_path / 'other.duckdb'}' AS other",
                          f"COPY (SELECT 1) TO '{tmp_path / 'x.csv'}'", "SET enable_external_access = true"):  # fmt: skip
            with pytest.raises(duckdb.Error):
                con.execute(statement)
    finally:
        db.close()
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "other.duckdb").exists()
    assert run_sql(census_db, "SELECT count(*) FROM models").rows == [(12,)]
