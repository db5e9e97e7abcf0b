"""Named, documented SQL over the census database, returning tidy rows (a list of dicts).

Every query takes `$since` (a datetime or None: only models created on or after it) and
reads the views and table macros of `db/views.sql`, so ad-hoc SQL gives the same numbers.
Months come back as 'YYYY-MM' strings, shares as fractions rounded to 4 places, and all
the work is done by DuckDB aggregates: nothing loops over models in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

Rows = list[dict[str, Any]]

FAMILIES: tuple[str, ...] = ("F32", "F16", "BF16", "F8", "INT8", "4-bit", "GGUF", "other")
"""Storage formats (`v_models.dtype_family`) in chart order."""

_FAMILY_ORDER = f"list_position([{', '.join(repr(f) for f in FAMILIES)}], dtype_family)"
_MONTH = "strftime(created_month, '%Y-%m')"

TOP_GROUPS = 6
"""Libraries / pipeline tags shown in the split-by-group charts (the most common in scope)."""

TOP_ROWS = 15
"""Rows of the ranked tables (largest, most downloaded, publishers)."""


@dataclass(frozen=True)
class Query:
    """One named query: what it answers and its SQL (parameter `$since`)."""

    name: str
    doc: str
    sql: str

    def run(self, con: duckdb.DuckDBPyConnection, since: datetime | None = None) -> Rows:
        """Execute and return tidy rows."""
        params = {"since": since} if "$since" in self.sql else {}
        cursor = con.execute(self.sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _group_split(column: str, macro: str) -> str:
    return f"""
    WITH s AS (SELECT * FROM {macro}($since)),
    top AS (SELECT {column} FROM s GROUP BY 1 ORDER BY sum(models) DESC, 1 LIMIT {TOP_GROUPS})
    SELECT {_MONTH} AS month, {column}, dtype_family, models, round(share_models, 4) AS share_models
    FROM s JOIN top USING ({column})
    ORDER BY (SELECT sum(models) FROM s s2 WHERE s2.{column} = s.{column}) DESC, {column}, month,
             {_FAMILY_ORDER}
    """


_TOP_MODEL_COLUMNS = """model_id, strftime(created_at, '%Y-%m-%d') AS created, library_name, dtype_family,
    dominant_dtype, quant_method, effective_params, weight_bytes, round(bits_per_param, 2) AS bits_per_param,
    downloads, weights_source"""

QUERIES: dict[str, Query] = {
    q.name: q
    for q in (
        Query(
            "overview",
            "What the report rests on: current models, in scope, known storage format, exact (header) "
            "figures, months covered, and the freshness of the data.",
            """
            SELECT
                (SELECT count(*) FROM models) AS models_all,
                (SELECT count(*) FROM v_models) AS models,
                (SELECT count(*) FROM models WHERE deleted_at IS NOT NULL) AS deleted,
                count(*) AS in_scope,
                count(dtype_family) AS known_format,
                count(*) FILTER (WHERE weights_source = 'header') AS header_exact,
                count(effective_params) AS with_params,
                strftime(min(created_month), '%Y-%m') AS first_month,
                strftime(max(created_month), '%Y-%m') AS last_month,
                (SELECT max(last_seen) FROM models) AS data_as_of,
                (SELECT max(finished_at) FROM crawl_runs WHERE status = 'ok') AS last_crawl
            FROM v_models WHERE $since IS NULL OR created_at >= $since
            """,
        ),
        Query(
            "dtype_share_by_month",
            "Share of new models per month by storage format: by count, by effective parameters "
            "and by (30-day) downloads.",
            f"""
            SELECT {_MONTH} AS month, dtype_family, models, effective_params, downloads,
                   round(share_models, 4) AS share_models, round(share_params, 4) AS share_params,
                   round(share_downloads, 4) AS share_downloads
            FROM dtype_by_month($since) ORDER BY month, {_FAMILY_ORDER}
            """,
        ),
        Query(
            "dtype_share_by_library",
            f"The same split within the {TOP_GROUPS} most common libraries.",
            _group_split("library_name", "dtype_by_library_month"),
        ),
        Query(
            "dtype_share_by_pipeline",
            f"The same split within the {TOP_GROUPS} most common pipeline tags.",
            _group_split("pipeline_tag", "dtype_by_pipeline_month"),
        ),
        Query(
            "params_by_month",
            "Effective parameters of new models per month: p10, median, p90, max.",
            f"""
            SELECT {_MONTH} AS month, models, round(p10_params)::BIGINT AS p10_params,
                   round(median_params)::BIGINT AS median_params, round(p90_params)::BIGINT AS p90_params,
                   max_params
            FROM params_by_month($since) ORDER BY month
            """,
        ),
        Query(
            "bits_per_param",
            "Histogram of bits (and bytes) per effective parameter, half-bit bins, by storage format.",
            f"""
            SELECT bits_bin, bytes_per_param, dtype_family, models
            FROM bits_histogram($since) ORDER BY bits_bin, {_FAMILY_ORDER}
            """,
        ),
        Query(
            "quant_methods_by_month",
            "New models per month by quantization method (unquantized models left out).",
            f"""
            SELECT {_MONTH} AS month, quant_method, models
            FROM quant_by_month($since) ORDER BY month, quant_method
            """,
        ),
        Query(
            "derivative_delay_by_month",
            "Days from a base model's release to its first F8 / 4-bit / GGUF derivative: median per "
            "month of the base's release.",
            """
            SELECT strftime(base_created_month, '%Y-%m') AS month, dtype_family, count(*) AS bases,
                   quantile_cont(days_to_first, 0.5) AS median_days
            FROM first_derivatives($since) WHERE dtype_family IN ('F8', '4-bit', 'GGUF')
            GROUP BY 1, 2 ORDER BY 1, list_position(['F8', '4-bit', 'GGUF'], dtype_family)
            """,
        ),
        Query(
            "derivative_delay",
            "Days from base release to first derivative, per format, over all bases in scope.",
            """
            SELECT dtype_family, count(*) AS bases, sum(derivatives) AS derivatives,
                   quantile_cont(days_to_first, 0.5) AS median_days,
                   round(avg((days_to_first <= 7)::INT), 4) AS share_within_7_days,
                   round(avg((first_author = base_author)::INT), 4) AS share_first_by_base_author
            FROM first_derivatives($since)
            GROUP BY 1 ORDER BY list_position(['F8', 'INT8', '4-bit', 'GGUF'], dtype_family)
            """,
        ),
        Query(
            "quant_publishers",
            "Who publishes quantized derivatives (F8, INT8, 4-bit, GGUF models with a base model).",
            f"""
            SELECT * FROM quant_publishers($since)
            ORDER BY derivatives DESC, downloads DESC, author LIMIT {TOP_ROWS}
            """,
        ),
        Query(
            "largest_models",
            "The largest models by effective parameters, with storage format and size.",
            f"""
            SELECT {_TOP_MODEL_COLUMNS} FROM v_models
            WHERE effective_params IS NOT NULL AND ($since IS NULL OR created_at >= $since)
            ORDER BY effective_params DESC, model_id LIMIT {TOP_ROWS}
            """,
        ),
        Query(
            "most_downloaded",
            "The most downloaded models (last 30 days), with storage format and size.",
            f"""
            SELECT {_TOP_MODEL_COLUMNS} FROM v_models
            WHERE downloads IS NOT NULL AND ($since IS NULL OR created_at >= $since)
            ORDER BY downloads DESC, model_id LIMIT {TOP_ROWS}
            """,
        ),
        Query(
            "cost_per_billion",
            "What 1B parameters cost per storage format, measured (GB = 1e9 bytes), next to the rule "
            "of thumb.",
            f"""
            SELECT dtype_family, models, round(median_gb, 3) AS median_gb, round(p10_gb, 3) AS p10_gb,
                   round(p90_gb, 3) AS p90_gb, models_with_files, round(median_file_gb, 3) AS median_file_gb,
                   rule_of_thumb_gb
            FROM cost_per_billion($since) ORDER BY {_FAMILY_ORDER}
            """,
        ),
    )
}


def run(con: duckdb.DuckDBPyConnection, name: str, since: datetime | None = None) -> Rows:
    """Run one named query."""
    return QUERIES[name].run(con, since)


def run_all(con: duckdb.DuckDBPyConnection, since: datetime | None = None) -> dict[str, Rows]:
    """Every named query, by name."""
    return {name: query.run(con, since) for name, query in QUERIES.items()}


def pivot(rows: Rows, index: str, column: str, value: str) -> dict[Any, dict[Any, Any]]:
    """Rows -> {index value: {column value: value}} (small, already-aggregated rows only)."""
    table: dict[Any, dict[Any, Any]] = {}
    for row in rows:
        table.setdefault(row[index], {})[row[column]] = row[value]
    return table


def first(rows: Rows) -> Mapping[str, Any]:
    """The only row of a one-row query (or an empty mapping)."""
    return rows[0] if rows else {}


from hubcensus.analysis import kv_report  # noqa: E402 - the KV cache queries

QUERIES.update({name: Query(name, doc, sql) for name, doc, sql in kv_report.QUERIES})

from hubcensus.analysis.gguf_queries import QUERIES as _GGUF_QUERIES  # noqa: E402  (the GGUF section)

QUERIES.update({name: Query(name, doc, sql) for name, doc, sql in _GGUF_QUERIES})

from hubcensus.analysis.format_queries import QUERIES as _FORMAT_QUERIES  # noqa: E402  (weight file formats)

QUERIES.update({name: Query(name, doc, sql) for name, doc, sql in _FORMAT_QUERIES})

from hubcensus.analysis.moe_queries import QUERIES as _MOE_QUERIES  # noqa: E402  (mixture of experts)

QUERIES.update({name: Query(name, doc, sql) for name, doc, sql in _MOE_QUERIES})
