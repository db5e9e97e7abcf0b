"""docs/schema.md documents every table, view and column, and its example queries run."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
from hubcensus.analysis.sql import run_sql
from hubcensus.db import schema

DOC = (Path(__file__).resolve().parents[2] / "docs" / "schema.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = DOC.index(f"### `{title}`")
    following = DOC.find("\n### ", start + 1)
    end_of_part = DOC.find("\n## ", start + 1)
    ends = [i for i in (following, end_of_part) if i > 0]
    return DOC[start : min(ends) if ends else len(DOC)]


@pytest.mark.parametrize("table", sorted(schema.metadata.tables))
def test_every_table_column_is_documented(table: str) -> None:
    section = _section(table)
    missing = [c.name for c in schema.metadata.tables[table].columns if f"`{c.name}`" not in section]
    assert missing == [], f"docs/schema.md: document {table}.{missing}"


def test_every_view_column_is_documented(census_db: Path) -> None:
    with duckdb.connect(str(census_db), read_only=True) as con:
        views = [
            v for (v,) in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
        ]
        columns = {
            view: [d[0] for d in con.execute(f"SELECT * FROM {view} LIMIT 0").description] for view in views
        }
    assert "v_models" in views and "v_dtype_by_month" in views
    for view in sorted(views):
        heading = re.search(rf"^### .*`{view}`.*$", DOC, flags=re.MULTILINE)
        assert heading is not None, f"docs/schema.md: no section for view {view}"
        section = DOC[heading.start() : DOC.find("\n### ", heading.start() + 1)]
        missing = [c for c in columns[view] if f"`{c}`" not in section]
        assert missing == [], f"docs/schema.md: document {view}.{missing}"


def test_every_example_query_runs(census_db: Path) -> None:
    blocks = re.findall(r"```sql\n(.*?)```", DOC, flags=re.DOTALL)
    assert len(blocks) >= 8
    for block in blocks:
        result = run_sql(census_db, block)
        assert result.columns, block
    fits = run_sql(census_db, next(b for b in blocks if "24 * 1024" in b))
    assert [r[0] for r in fits.rows] == ["meta/base-a", "q/base-a-fp8", "q/base-a-awq", "meta/base-a-gptq",
                                         "meta/base-b", "q/base-b-bnb8", "m/mlx-4bit"]  # fmt: skip
