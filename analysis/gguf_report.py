"""The GGUF part of the report: pure figures and the chart/table declarations.

`report.CHARTS` and `report.TABLES` append what is declared here; the data comes from the
named queries of `analysis.gguf_queries`.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from hubcensus.analysis.figures import _QUALITATIVE, FAMILY_COLORS, _layout, _ordered
from hubcensus.analysis.headline import fmt_pct

Rows = list[dict[str, Any]]
def file_types(rows: Rows) -> go.Figure:
    """Stacked monthly bars: share of each GGUF file type among new variants."""
    months = _ordered(r["month"] for r in rows)
    totals: dict[str, int] = {}
    for r in rows:
        totals[r["file_type"]] = totals.get(r["file_type"], 0) + r["variants"]
    fig = go.Figure()
    for index, file_type in enumerate(sorted(totals, key=lambda t: (t == "other", -totals[t], t))):
        by_month = {r["month"]: r["share"] for r in rows if r["file_type"] == file_type}
        fig.add_trace(
            go.Bar(name=file_type, x=months, y=[round(100 * by_month.get(m, 0.0), 2) for m in months],
                   marker_color=_QUALITATIVE[index % len(_QUALITATIVE)], hovertemplate="%{y:.1f}%")
        )  # fmt: skip
    _layout(fig, "GGUF file types of new variants per month (% of variants)", barmode="stack")
    fig.update_yaxes(title_text="% of GGUF variants", range=[0, 100])
    fig.update_xaxes(type="category")
    return fig


def bits(rows: Rows) -> go.Figure:
    """Histogram of GGUF variants by bits per weight."""
    fig = go.Figure(
        go.Bar(x=[r["bits_bin"] + 0.25 for r in rows], y=[r["variants"] for r in rows], width=0.5,
               marker_color=FAMILY_COLORS["GGUF"], customdata=[r["common_file_type"] for r in rows],
               hovertemplate="%{x:.2f} bits per weight: %{y} variants (mostly %{customdata})", name="GGUF")
    )  # fmt: skip
    _layout(fig, "Bits per weight of GGUF variants", hovermode="closest")
    fig.update_xaxes(title_text="bits per weight (tensor bytes x 8 / parameters)", tickvals=[2, 3, 4, 5, 6, 8, 16])
    fig.update_yaxes(title_text="variants")
    return fig


def gguf_vs_safetensors(rows: Rows) -> go.Figure:
    """Quantized derivatives per month: GGUF vs safetensors, side by side."""
    months = _ordered(r["month"] for r in rows)
    fig = go.Figure()
    for fmt, color in (("GGUF", FAMILY_COLORS["GGUF"]), ("safetensors", FAMILY_COLORS["4-bit"])):
        by_month = {r["month"]: r["models"] for r in rows if r["format"] == fmt}
        fig.add_trace(go.Bar(name=fmt, x=months, y=[by_month.get(m, 0) for m in months], marker_color=color))
    _layout(fig, "Quantized derivatives per month: GGUF vs safetensors", barmode="group")
    fig.update_yaxes(title_text="new models")
    fig.update_xaxes(type="category")
    return fig


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:,.4g}" if isinstance(value, float) else f"{value:,}"


CHARTS: tuple[tuple[Any, ...], ...] = (
    ("gguf_file_types_by_month", "gguf_file_types_by_month", ("month", "file_type", "variants", "share"),
     file_types, "GGUF file types (general.file_type: Q4_K_M, Q8_0, IQ*...) of the variants in repos created "
     "each month; split shards count once, vision projectors not at all.",
     "SELECT * FROM v_gguf_variants WHERE NOT is_projector", ("variants", "GGUF variants")),
    ("gguf_bits_per_weight", "gguf_bits_histogram", ("bits_bin", "variants", "common_file_type"), bits,
     "Tensor bytes x 8 / parameters of every complete GGUF variant, from its tensor infos (scales included): "
     "Q4_K_M sits near 4.9 bits, Q8_0 at 8.5.",
     "SELECT * FROM v_gguf_variants WHERE NOT is_projector AND complete", ("variants", "GGUF variants")),
    ("gguf_vs_safetensors", "gguf_vs_safetensors_by_month", ("month", "format", "models"), gguf_vs_safetensors,
     "Models naming a base model, created each month, stored as GGUF vs as quantized safetensors "
     "(F8, INT8, 4-bit).",
     "SELECT * FROM v_models WHERE base_model IS NOT NULL AND dtype_family IN ('GGUF', 'F8', 'INT8', '4-bit')",
     ("models", "models")),
)  # fmt: skip
"""`report.ChartSpec` fields: name, query, CSV columns, build, caption, sql, counts."""

TABLES: tuple[tuple[Any, ...], ...] = (
    ("gguf_first_delay", "gguf_first_delay", "Time from a base model's release to its first GGUF",
     "Base models in the database with a GGUF repo tagged base_model:quantized:BASE, by release month: "
     "how many, their GGUF repos, median and p90 days to the first, share within a week.",
     (("month", "month", _text), ("base models", "bases", _num), ("GGUF repos", "gguf_repos", _num),
      ("median days", "median_days", _num), ("p90 days", "p90_days", _num),
      ("within 7 days", "share_within_7_days", fmt_pct)),
     "SELECT model_id, created_at, tags FROM models WHERE list_contains(tags, 'gguf')"),
)  # fmt: skip
"""`report.TableSpec` fields: name, query, title, caption, columns, sql."""
