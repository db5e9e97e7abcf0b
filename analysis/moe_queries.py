"""The mixture-of-experts named queries of the report (appended to `analysis.queries.QUERIES`).

Everything reads `v_models` (`is_moe`, `active_params`, the expert layout; header pass, migration 9).
**Language models** here = pipeline tag `text-generation` whose expert layout is known
(`is_moe IS NOT NULL`, i.e. headers read by the MoE-aware pass): the share of MoE is taken among
those, so models whose layout was never read do not count as dense. They are reported beside it
(`unknown_layout`) so the share's base is visible. Months with no known layout are left out.
"""

from __future__ import annotations

_SINCE = "($since::TIMESTAMP IS NULL OR created_at >= $since::TIMESTAMP)"
_MONTH = "strftime(created_month, '%Y-%m')"
LANGUAGE_PIPELINES = ("text-generation",)
"""Pipeline tags counted as language models in the MoE share."""
TOP_MOE = 15
"""Rows of the largest-MoE table."""

_LM = f"pipeline_tag IN ({', '.join(repr(p) for p in LANGUAGE_PIPELINES)})"

QUERIES: tuple[tuple[str, str, str], ...] = (
    (
        "moe_share_by_month",
        "Share of mixture-of-experts models among the new language models (text-generation, expert "
        "layout known) per month; models of unknown layout counted beside.",
        f"""
        SELECT {_MONTH} AS month, count(is_moe) AS language_models,
               count(*) FILTER (WHERE is_moe) AS moe_models,
               round(count(*) FILTER (WHERE is_moe) / count(is_moe), 4) AS share_moe,
               count(*) FILTER (WHERE is_moe IS NULL) AS unknown_layout
        FROM v_models
        WHERE {_LM} AND created_month IS NOT NULL AND {_SINCE}
        GROUP BY created_month HAVING count(is_moe) > 0 ORDER BY month
        """,
    ),
    (
        "moe_active_ratio_by_month",
        "Active / total (effective) parameters of the MoE models created each month: median of the "
        "per-model ratio and the pooled ratio (sum active / sum total), with median sizes.",
        f"""
        SELECT {_MONTH} AS month, count(*) AS moe_models,
               round(median(active_params / effective_params), 4) AS median_ratio,
               round(sum(active_params) / sum(effective_params), 4) AS pooled_ratio,
               round(median(active_params))::BIGINT AS median_active_params,
               round(median(effective_params))::BIGINT AS median_effective_params
        FROM v_models
        WHERE is_moe AND active_params IS NOT NULL AND effective_params > 0 AND created_month IS NOT NULL
          AND {_SINCE}
        GROUP BY created_month ORDER BY month
        """,
    ),
    (
        "largest_moe_models",
        "The largest mixture-of-experts models by effective parameters: active per token and the layout "
        "(routed experts, top-k, shared); active_reason where active is unknown.",
        f"""
        SELECT model_id, strftime(created_at, '%Y-%m-%d') AS created, effective_params, active_params,
               round(active_params / nullif(effective_params, 0), 4) AS active_share, expert_count,
               experts_per_token, shared_experts, expert_params, active_reason
        FROM v_models
        WHERE is_moe AND effective_params IS NOT NULL AND {_SINCE}
        ORDER BY effective_params DESC, model_id LIMIT {TOP_MOE}
        """,
    ),
)
"""(name, what it answers, SQL with `$since`): appended to `analysis.queries.QUERIES`."""
