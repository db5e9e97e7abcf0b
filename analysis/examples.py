"""Example queries shown to users (help texts, the demo's next commands): SQL lives in analysis/, not the CLI."""

from __future__ import annotations

DTYPE_FAMILIES = "SELECT dtype_family, count(*) AS models FROM v_models GROUP BY 1 ORDER BY 2 DESC"
"""How many models hold each storage format."""

SQL_EXAMPLES: tuple[tuple[str, str], ...] = (
    (DTYPE_FAMILIES, ""),
    ("SELECT * FROM v_dtype_by_month WHERE created_month >= '2025-01-01'", "--format csv"),
    ("SELECT author, f8 FROM v_quant_publishers ORDER BY f8 DESC LIMIT 10", "--format json"),
    ("DESCRIBE v_models", ""),
)
"""`hubcensus sql` examples: (statement, options)."""

PARQUET_COUNT = "SELECT count(*) FROM './census-parquet/models.parquet'"
"""Reading an export back with plain DuckDB."""
