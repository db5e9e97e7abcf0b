"""The mixture-of-experts part of the report: pure figures and the chart/table declarations.

`report.CHARTS` and `report.TABLES` append what is declared here; the data comes from the
named queries of `analysis.moe_queries` (see there what counts as a language model).
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from hubcensus.analysis.figures import _QUALITATIVE, _layout
from hubcensus.analysis.headline import fmt_params, fmt_pct

Rows = list[dict[str, Any]]


def moe_share(rows: Rows) -> go.Figure:
    """Monthly bars: % of new language models (layout known) that are mixtures of experts."""
    fig = go.Figure(
        go.Bar(name="MoE", x=[r["month"] for r in rows], y=[round(100 * r["share_moe"], 2) for r in rows],
               customdata=[[r["moe_models"], r["language_models"]] for r in rows], marker_color=_QUALITATIVE[4],
               hovertemplate="%{y:.1f}% (%{customdata[0]} of %{customdata[1]})")
    )  # fmt: skip
    _layout(fig, "Mixture-of-experts share of new language models per month")
    fig.update_yaxes(title_text="% of language models", rangemode="tozero")
    fig.update_xaxes(type="category")
    return fig


def active_ratio(rows: Rows) -> go.Figure:
    """Lines: active / total parameters of new MoE models per month (median and pooled), in %."""
    months = [r["month"] for r in rows]
    fig = go.Figure()
    for index, (key, name) in enumerate((("median_ratio", "median of models"),
                                         ("pooled_ratio", "sum active / sum total"))):  # fmt: skip
        fig.add_trace(
            go.Scatter(name=name, x=months, y=[round(100 * r[key], 2) for r in rows], mode="lines+markers",
                       marker_color=_QUALITATIVE[index], hovertemplate="%{y:.1f}%")
        )  # fmt: skip
    _layout(fig, "Active parameters per token, % of total, of new MoE models")
    fig.update_yaxes(title_text="% of parameters active", rangemode="tozero")
    fig.update_xaxes(type="category")
    return fig


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


CHARTS: tuple[tuple[Any, ...], ...] = (
    ("moe_share_by_month", "moe_share_by_month",
     ("month", "language_models", "moe_models", "share_moe", "unknown_layout"), moe_share,
     "Language models = pipeline tag text-generation whose expert layout the header pass read; MoE = more "
     "than one routed expert per layer (v_models.is_moe). Models of unknown layout are in the CSV, not the share.",
     "SELECT * FROM v_models WHERE pipeline_tag = 'text-generation' AND is_moe IS NOT NULL",
     ("language_models", "language models")),
    ("moe_active_ratio_by_month", "moe_active_ratio_by_month",
     ("month", "moe_models", "median_ratio", "pooled_ratio", "median_active_params", "median_effective_params"),
     active_ratio,
     "Active parameters per token (non-expert tensors + top-k / experts of the routed ones + shared experts, "
     "MTP layers out) over effective parameters, for MoE models created each month.",
     "SELECT * FROM v_models WHERE is_moe AND active_params IS NOT NULL", ("moe_models", "MoE models")),
)  # fmt: skip
"""`report.ChartSpec` fields: name, query, CSV columns, build, caption, sql, counts."""

TABLES: tuple[tuple[Any, ...], ...] = (
    ("largest_moe_models", "largest_moe_models", "Largest mixture-of-experts models",
     "By effective (unpacked) parameters; active = parameters a token passes through (all experts stay in "
     "memory). Experts = routed experts per MoE layer, top-k = routed experts per token.",
     (("model", "model_id", _text), ("created", "created", _text), ("params", "effective_params", fmt_params),
      ("active", "active_params", fmt_params), ("active share", "active_share", fmt_pct),
      ("experts", "expert_count", _text), ("top-k", "experts_per_token", _text),
      ("shared", "shared_experts", _text)),
     "SELECT * FROM v_models WHERE is_moe ORDER BY effective_params DESC NULLS LAST LIMIT 15"),
)  # fmt: skip
"""`report.TableSpec` fields: name, query, title, caption, columns, sql."""
