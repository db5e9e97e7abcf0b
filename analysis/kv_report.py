"""The report's KV-cache part: named queries and pure figures over `v_model_memory` (db/views.sql).

- KV bytes per token per billion parameters of new text-generating models by month (GQA, MQA and
  MLA adoption as a picture: the line falls as they spread);
- the share of attention kinds (mha, gqa, mqa, mla, hybrid) by month;
- the distribution of the longest context (one sequence, bf16 KV cache, weights as stored) that
  fits in 24 GiB.

`queries.QUERIES` takes `QUERIES` (name, doc, SQL); `report.CHARTS` takes `chart_specs(ChartSpec)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go

Rows = list[dict[str, Any]]

ATTENTION_ORDER: tuple[str, ...] = ("mha", "gqa", "mqa", "mla", "hybrid", "none")
ATTENTION_COLORS = {"mha": "#1f3b73", "gqa": "#2a9d8f", "mqa": "#e9c46a", "mla": "#d62828", "hybrid": "#8e5bb5",
                    "none": "#9e9e9e"}  # fmt: skip
_MONTH = "strftime(created_month, '%Y-%m')"

QUERIES: tuple[tuple[str, str, str], ...] = (
    (
        "kv_by_month",
        "KV bytes per token (bf16) per billion effective parameters of new text-generating models, by month.",
        f"""
            SELECT {_MONTH} AS month, models, round(p25_kv_per_billion, 1) AS p25_kv_per_billion,
                   round(median_kv_per_billion, 1) AS median_kv_per_billion,
                   round(p75_kv_per_billion, 1) AS p75_kv_per_billion,
                   round(median_kv_bytes_per_token)::BIGINT AS median_kv_bytes_per_token
            FROM kv_by_month($since) ORDER BY month
            """,
    ),
    (
        "attention_by_month",
        "Attention kinds of new text-generating models by month (share of the month).",
        f"""
            SELECT {_MONTH} AS month, attention, models, round(share_models, 4) AS share_models
            FROM attention_by_month($since)
            ORDER BY month, list_position({list(ATTENTION_ORDER)!r}, attention)
            """,
    ),
    (
        "context_in_24gb",
        "How many tokens of context fit in 24 GiB beside the weights (one sequence, bf16 KV cache).",
        "SELECT context_bin, models, at_max_context FROM context_in_24gb($since) ORDER BY bin_order",
    ),
)
"""(name, doc, SQL with `$since`): `queries.QUERIES` wraps them in its `Query`."""


def _layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 16}}, template="plotly_white",
        height=420, autosize=True, margin={"l": 50, "r": 15, "t": 80, "b": 50},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0}, hovermode="x unified",
    )  # fmt: skip
    return fig


def kv_per_billion(rows: Rows) -> go.Figure:
    """Median (and p25-p75) KV bytes per token per billion parameters, by month, log scale."""
    months = [r["month"] for r in rows]
    fig = go.Figure()
    for key, name, dash in (("p75_kv_per_billion", "p75", "dot"), ("median_kv_per_billion", "median", "solid"),
                            ("p25_kv_per_billion", "p25", "dot")):  # fmt: skip
        fig.add_trace(go.Scatter(name=name, x=months, y=[r[key] for r in rows], mode="lines+markers",
                                 line={"dash": dash}, hovertemplate="%{y:,.0f} B"))  # fmt: skip
    _layout(fig, "KV cache per token per billion parameters (new LLMs)")
    fig.update_yaxes(type="log", title_text="bytes per token per 1B params (bf16, log)")
    fig.update_xaxes(type="category")
    return fig


def attention_share(rows: Rows) -> go.Figure:
    """Stacked shares of attention kinds per month."""
    months = sorted({r["month"] for r in rows})
    share = {(r["month"], r["attention"]): r["share_models"] for r in rows}
    kinds = [k for k in ATTENTION_ORDER if any(r["attention"] == k for r in rows)]
    fig = go.Figure()
    for kind in kinds:
        fig.add_trace(go.Bar(name=kind, x=months, y=[100 * share.get((m, kind), 0) for m in months],
                             marker_color=ATTENTION_COLORS.get(kind), hovertemplate="%{y:.1f}%"))  # fmt: skip
    _layout(fig, "Attention kinds of new LLMs")
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title_text="% of new models", range=[0, 100])
    fig.update_xaxes(type="category")
    return fig


def context_in_24gb(rows: Rows) -> go.Figure:
    """Models by the longest context that fits in 24 GiB, split by what limits it."""
    bins = [r["context_bin"] for r in rows]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(name="limited by memory", x=bins, y=[r["models"] - r["at_max_context"] for r in rows])
    )
    fig.add_trace(go.Bar(name="whole max context fits", x=bins, y=[r["at_max_context"] for r in rows]))
    _layout(fig, "Longest context that fits in 24 GB (weights as stored + bf16 KV cache)")
    fig.update_layout(barmode="stack", hovermode="closest")
    fig.update_yaxes(title_text="models")
    return fig


def chart_specs(spec: Callable[..., Any]) -> tuple[Any, ...]:
    """The KV charts as `report.ChartSpec`s (the class is passed in: report imports this module)."""
    return (
        spec("kv_per_billion_by_month", "kv_by_month",
             ("month", "models", "p25_kv_per_billion", "median_kv_per_billion", "p75_kv_per_billion",
              "median_kv_bytes_per_token"),
             kv_per_billion,
             "KV cache bytes per token (bf16, one sequence) per billion effective parameters of the text-generating "
             "models created each month, from their config.json: grouped-query, multi-query and latent attention "
             "push it down.", "SELECT * FROM v_kv_by_month"),
        spec("attention_by_month", "attention_by_month", ("month", "attention", "models", "share_models"),
             attention_share,
             "Attention kind of the text-generating models created each month: mha (every head cached), gqa, "
             "mqa (one KV head), mla (one latent vector), hybrid (some layers hold no KV: Mamba, linear).",
             "SELECT * FROM v_attention_by_month"),
        spec("context_in_24gb", "context_in_24gb", ("context_bin", "models", "at_max_context"), context_in_24gb,
             "The most tokens of one sequence whose bf16 KV cache fits beside the weights (as stored) in 24 GiB, "
             "sliding layers capped at their window; activations and overhead not counted.",
             "SELECT * FROM v_context_in_24gb"),
    )  # fmt: skip
