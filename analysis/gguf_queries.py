"""The GGUF named queries of the report (appended to `analysis.queries.QUERIES`; imports nothing of ours).

Everything reads `v_gguf_variants` (current sha, split shards joined) and `v_models`:
- the file types of new GGUF variants per month (by the repo's creation month), as shares;
- the bits-per-weight distribution of GGUF variants (half-bit bins);
- quantized derivatives per month, GGUF vs safetensors (models naming a base model, stored as
  GGUF or as F8 / INT8 / 4-bit safetensors);
- days from a base model's release to its first GGUF, from the `base_model:quantized:` tags.
"""

from __future__ import annotations

_SINCE = "($since::TIMESTAMP IS NULL OR created_at >= $since::TIMESTAMP)"
TOP_FILE_TYPES = 10
"""File types shown by name in the share chart; the rest are 'other'."""

QUERIES: tuple[tuple[str, str, str], ...] = (
    (
        "gguf_file_types_by_month",
        "Share of each GGUF file type among the GGUF variants of the repos created each month.",
        f"""
        WITH v AS (
            SELECT strftime(date_trunc('month', created_at), '%Y-%m') AS month,
                   coalesce(file_type_label, 'unlabelled') AS file_type
            FROM v_gguf_variants WHERE NOT is_projector AND {_SINCE}
        ), top AS (SELECT file_type FROM v GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT {TOP_FILE_TYPES}),
        named AS (
            SELECT month, CASE WHEN top.file_type IS NULL THEN 'other' ELSE v.file_type END AS file_type
            FROM v LEFT JOIN top USING (file_type)
        )
        SELECT month, file_type, count(*) AS variants,
               round(count(*) / sum(count(*)) OVER (PARTITION BY month), 4) AS share
        FROM named GROUP BY month, file_type ORDER BY month, variants DESC, file_type
        """,
    ),
    (
        "gguf_bits_histogram",
        "GGUF variants by bits per weight (tensor bytes x 8 / parameters), half-bit bins.",
        f"""
        SELECT floor(bits_per_weight * 2) / 2 AS bits_bin, count(*) AS variants,
               mode(file_type_label) AS common_file_type
        FROM v_gguf_variants
        WHERE NOT is_projector AND complete AND bits_per_weight IS NOT NULL AND {_SINCE}
        GROUP BY 1 ORDER BY 1
        """,
    ),
    (
        "gguf_vs_safetensors_by_month",
        "Quantized derivatives (a base model named) created each month: GGUF repos vs quantized "
        "safetensors (F8, INT8, 4-bit).",
        f"""
        SELECT strftime(created_month, '%Y-%m') AS month,
               CASE WHEN dtype_family = 'GGUF' THEN 'GGUF' ELSE 'safetensors' END AS format,
               count(*) AS models
        FROM v_models
        WHERE base_model IS NOT NULL AND dtype_family IN ('GGUF', 'F8', 'INT8', '4-bit') AND {_SINCE}
        GROUP BY ALL ORDER BY month, format
        """,
    ),
    (
        "gguf_first_delay",
        "Per release month of base models: bases with a GGUF quantization (tag base_model:quantized:BASE), "
        "median and p90 days (fractional, elapsed time) to the first one, share within a week.",
        """
        WITH q AS (
            SELECT substr(tag, 22) AS base_model, created_at
            FROM (SELECT unnest(m.tags) AS tag, v.created_at
                  FROM models m JOIN v_models v USING (model_id) WHERE v.dtype_family = 'GGUF')
            WHERE tag LIKE 'base_model:quantized:%'
        ), first AS (SELECT base_model, min(created_at) AS first_gguf, count(*) AS ggufs FROM q GROUP BY 1)
        SELECT strftime(date_trunc('month', b.created_at), '%Y-%m') AS month, count(*) AS bases,
               sum(f.ggufs)::BIGINT AS gguf_repos,
               round(median(d.days), 1) AS median_days,
               round(quantile_cont(d.days, 0.9), 1) AS p90_days,
               round(avg((d.days <= 7)::INT), 4) AS share_within_7_days
        FROM first f JOIN v_models b ON b.model_id = f.base_model,
             LATERAL (SELECT (epoch(f.first_gguf) - epoch(b.created_at)) / 86400.0 AS days) d
        WHERE ($since::TIMESTAMP IS NULL OR b.created_at >= $since::TIMESTAMP)
        GROUP BY 1 ORDER BY 1
        """,
    ),
)
"""(name, what it answers, SQL with `$since`): appended to `analysis.queries.QUERIES`."""
