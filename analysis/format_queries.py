"""The weight file format named queries of the report (appended to `analysis.queries.QUERIES`; imports
nothing of ours).

Everything reads `weight_format_by_month` (models.weight_format, from the siblings), `v_pickle_files` and
`pickle_unsafe_globals` (db/views.sql):
- new models per month by weight file format (pickle-only, safetensors + pickle, safetensors, GGUF);
- the pickle files read, and how many name globals beyond torch's tensor/storage set.
"""

from __future__ import annotations

WEIGHT_FORMATS: tuple[tuple[str, str], ...] = (
    ("pickle", "pickle only"),
    ("both", "safetensors + pickle"),
    ("safetensors", "safetensors"),
    ("gguf", "GGUF"),
)
"""(models.weight_format, label) in chart order."""

_SINCE = "($since::TIMESTAMP IS NULL OR created_at >= $since::TIMESTAMP)"
_ORDER = f"list_position([{', '.join(repr(f) for f, _ in WEIGHT_FORMATS)}], weight_format)"

QUERIES: tuple[tuple[str, str, str], ...] = (
    (
        "weight_format_by_month",
        "New models per month by weight file format (pickle-only, safetensors + pickle, safetensors, GGUF), "
        "with each format's share of the month.",
        f"""
        SELECT strftime(created_month, '%Y-%m') AS month, weight_format, models,
               round(share_models, 4) AS share_models
        FROM weight_format_by_month($since) ORDER BY month, {_ORDER}
        """,
    ),
    (
        "weight_format_months",
        "The same counts, one row per month (the table).",
        """
        SELECT strftime(created_month, '%Y-%m') AS month,
               sum(models) FILTER (WHERE weight_format = 'pickle')::BIGINT AS pickle,
               sum(models) FILTER (WHERE weight_format = 'both')::BIGINT AS both,
               sum(models) FILTER (WHERE weight_format = 'safetensors')::BIGINT AS safetensors,
               sum(models) FILTER (WHERE weight_format = 'gguf')::BIGINT AS gguf,
               sum(models)::BIGINT AS models,
               round(sum(share_models) FILTER (WHERE weight_format = 'pickle'), 4) AS share_pickle
        FROM weight_format_by_month($since) GROUP BY 1 ORDER BY 1
        """,
    ),
    (
        "pickle_globals",
        "PyTorch pickle files read (current sha) and how many name globals beyond torch's tensor/storage "
        "set (posix.system...: recorded, never run), with the models holding them; `legacy_files`: files in the "
        "pre-1.6 container, so saved by torch < 1.6 (before 2020-07) whatever the repo's createdAt says.",
        f"""
        SELECT count(*) AS pickle_files, count(*) FILTER (WHERE pickle_container = 'legacy') AS legacy_files,
               count(*) FILTER (WHERE names_unsafe_globals) AS files_naming_globals,
               round(count(*) FILTER (WHERE names_unsafe_globals) / nullif(count(*), 0), 4) AS share_files,
               count(DISTINCT model_id) AS models,
               count(DISTINCT model_id) FILTER (WHERE names_unsafe_globals) AS models_naming_globals,
               (SELECT string_agg(global_name || ' (' || files || ')', ', ' ORDER BY files DESC, global_name)
                FROM (SELECT * FROM pickle_unsafe_globals($since) ORDER BY files DESC, global_name LIMIT 10))
                   AS top_globals
        FROM v_pickle_files WHERE {_SINCE}
        HAVING count(*) > 0
        """,
    ),
)
"""(name, what it answers, SQL with `$since`): appended to `analysis.queries.QUERIES`."""
