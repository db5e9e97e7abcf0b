"""Pure functions: tidy query rows -> plotly figures (no database, no I/O).

Figures carry plain Python lists (never numpy arrays), so `fig.to_dict()` is easy to
assert on, and a layout that reads on a phone: small margins, legend below, autosize.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import plotly.graph_objects as go
from hubcensus.analysis.queries import FAMILIES, Rows
from plotly.subplots import make_subplots

FAMILY_COLORS: dict[str, str] = {
    "F32": "#1f3b73",
    "F16": "#5b8fd6",
    "BF16": "#2a9d8f",
    "F8": "#f4a261",
    "INT8": "#e9c46a",
    "4-bit": "#d62828",
    "GGUF": "#8e5bb5",
    "other": "#9e9e9e",
}
"""One color per storage format, the same in every chart."""

FAMILY_SERIES: tuple[str, ...] = ("F8", "4-bit", "GGUF")
"""Derivative formats shown in the time-to-first-derivative chart."""

MEASURES: dict[str, str] = {
    "share_models": "% of new models",
    "share_params": "% of effective parameters",
    "share_downloads": "% of downloads (30 days)",
}

_QUALITATIVE = ("#264653", "#2a9d8f", "#e9c46a", "#f4a261", "#e76f51", "#8e5bb5", "#5b8fd6", "#d62828",
                "#6a994e", "#9e9e9e")  # fmt: skip


def _layout(fig: go.Figure, title: str, *, height: int = 420, **extra: Any) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 16}},
        template="plotly_white",
        height=height,
        autosize=True,
        margin={"l": 50, "r": 15, "t": 80, "b": 50},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "traceorder": "normal"},
        **{"hovermode": "x unified", **extra},
    )
    return fig


def _ordered(values: Iterable[Any]) -> list[Any]:
    return sorted({v for v in values})


def _families(rows: Rows) -> list[str]:
    present = {r["dtype_family"] for r in rows}
    return [f for f in FAMILIES if f in present]


def dtype_share(rows: Rows, measure: str = "share_models") -> go.Figure:
    """Stacked monthly bars: share of new models per storage format (by count, params or downloads)."""
    months = _ordered(r["month"] for r in rows)
    fig = go.Figure()
    for family in _families(rows):
        by_month = {r["month"]: r[measure] for r in rows if r["dtype_family"] == family}
        fig.add_trace(
            go.Bar(
                name=family,
                x=months,
                y=[round(100 * by_month.get(m, 0.0), 2) for m in months],
                marker_color=FAMILY_COLORS[family],
                hovertemplate="%{y:.1f}%",
            )
        )
    label = MEASURES[measure]
    _layout(fig, f"Storage format of new models per month ({label})", barmode="stack")
    fig.update_yaxes(title_text=label, range=[0, 100], ticksuffix="%")
    fig.update_xaxes(type="category")
    return fig


def dtype_share_facets(rows: Rows, group: str, title: str) -> go.Figure:
    """Small multiples: the monthly storage-format split within each group (library or pipeline tag)."""
    groups = list(dict.fromkeys(r[group] for r in rows))
    months = _ordered(r["month"] for r in rows)
    cols = 2 if len(groups) > 1 else 1
    nrows = max(1, math.ceil(len(groups) / cols))
    fig = make_subplots(
        rows=nrows, cols=cols, subplot_titles=groups or [""], shared_xaxes=True, shared_yaxes=True,
        vertical_spacing=0.12 if nrows < 4 else 0.07, horizontal_spacing=0.05,
    )  # fmt: skip
    shown: set[str] = set()
    for index, name in enumerate(groups):
        subset = [r for r in rows if r[group] == name]
        for family in _families(subset):
            by_month = {r["month"]: r["share_models"] for r in subset if r["dtype_family"] == family}
            fig.add_trace(
                go.Bar(
                    name=family,
                    legendgroup=family,
                    showlegend=family not in shown,
                    x=months,
                    y=[round(100 * by_month.get(m, 0.0), 2) for m in months],
                    marker_color=FAMILY_COLORS[family],
                    hovertemplate=f"{name}: %{{y:.1f}}%",
                ),
                row=index // cols + 1,
                col=index % cols + 1,
            )
            shown.add(family)
    _layout(fig, title, height=200 + 190 * nrows, barmode="stack")
    fig.update_layout(legend={"y": 1.0 + 40 / (200 + 190 * nrows), "yanchor": "bottom"})
    fig.update_yaxes(range=[0, 100], ticksuffix="%")
    fig.update_xaxes(type="category")
    return fig


def params_by_month(rows: Rows) -> go.Figure:
    """Median and p90 (and p10) effective parameters of new models per month, log scale, in billions."""
    months = [r["month"] for r in rows]
    fig = go.Figure()
    for key, name, dash in (("p90_params", "p90", "solid"), ("median_params", "median", "solid"),
                            ("p10_params", "p10", "dot")):  # fmt: skip
        fig.add_trace(
            go.Scatter(
                name=name,
                x=months,
                y=[r[key] / 1e9 for r in rows],
                mode="lines+markers",
                line={"dash": dash},
                hovertemplate="%{y:.3g}B",
            )
        )
    _layout(fig, "Size of new models per month (effective parameters)")
    fig.update_yaxes(type="log", title_text="billions of parameters (log)")
    fig.update_xaxes(type="category")
    return fig


def bits_histogram(rows: Rows) -> go.Figure:
    """Histogram of bits per parameter (half-bit bins), stacked by storage format."""
    fig = go.Figure()
    for family in _families(rows):
        subset = [r for r in rows if r["dtype_family"] == family]
        fig.add_trace(
            go.Bar(
                name=family,
                x=[r["bits_bin"] + 0.25 for r in subset],
                y=[r["models"] for r in subset],
                width=0.5,
                marker_color=FAMILY_COLORS[family],
                customdata=[r["bytes_per_param"] for r in subset],
                hovertemplate="%{x:.2f} bits = %{customdata:.3f} bytes/param: %{y} models",
            )
        )
    _layout(fig, "Bytes per parameter (weights / effective parameters)", barmode="stack", hovermode="closest")
    fig.update_xaxes(
        title_text="bits per parameter (bytes = bits / 8)",
        tickvals=[4, 8, 16, 32],
        ticktext=["4 (0.5 B)", "8 (1 B)", "16 (2 B)", "32 (4 B)"],
        range=[0, 40.5],
    )
    fig.update_yaxes(title_text="models")
    return fig


def quant_methods(rows: Rows) -> go.Figure:
    """New quantized models per month, stacked by quantization method."""
    months = _ordered(r["month"] for r in rows)
    totals: dict[str, int] = {}
    for r in rows:
        totals[r["quant_method"]] = totals.get(r["quant_method"], 0) + r["models"]
    fig = go.Figure()
    for index, method in enumerate(sorted(totals, key=lambda m: (-totals[m], m))):
        by_month = {r["month"]: r["models"] for r in rows if r["quant_method"] == method}
        fig.add_trace(
            go.Bar(
                name=method,
                x=months,
                y=[by_month.get(m, 0) for m in months],
                marker_color=_QUALITATIVE[index % len(_QUALITATIVE)],
            )
        )
    _layout(fig, "Quantization methods of new models per month", barmode="stack")
    fig.update_yaxes(title_text="new models")
    fig.update_xaxes(type="category")
    return fig


def derivative_delay(rows: Rows) -> go.Figure:
    """Median days from a base model's release to its first F8 / 4-bit / GGUF derivative, by release month."""
    fig = go.Figure()
    for family in FAMILY_SERIES:
        subset = [r for r in rows if r["dtype_family"] == family]
        if not subset:
            continue
        fig.add_trace(
            go.Scatter(
                name=f"first {family}",
                x=[r["month"] for r in subset],
                y=[r["median_days"] for r in subset],
                customdata=[r["bases"] for r in subset],
                mode="lines+markers",
                marker_color=FAMILY_COLORS[family],
                line_color=FAMILY_COLORS[family],
                hovertemplate="%{y} days (median of %{customdata} base models)",
            )
        )
    _layout(fig, "Days from a base model's release to its first quantized derivative")
    fig.update_xaxes(title_text="month the base model was released", type="category")
    fig.update_yaxes(title_text="median days", rangemode="tozero")
    return fig


def cost_per_billion(rows: Rows) -> go.Figure:
    """Measured GB per billion parameters per storage format (median, p10-p90), beside the rule of thumb."""
    families = [r["dtype_family"] for r in rows]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            name="measured (median)",
            x=families,
            y=[r["median_gb"] for r in rows],
            marker_color=[FAMILY_COLORS[f] for f in families],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [round(r["p90_gb"] - r["median_gb"], 3) for r in rows],
                "arrayminus": [round(r["median_gb"] - r["p10_gb"], 3) for r in rows],
            },
            customdata=[r["models"] for r in rows],
            hovertemplate="%{y:.3f} GB per 1B params (%{customdata} models)",
        )
    )
    fig.add_trace(
        go.Scatter(
            name="rule of thumb",
            x=families,
            y=[r["rule_of_thumb_gb"] for r in rows],
            mode="markers",
            marker={"symbol": "line-ew-open", "size": 28, "line": {"width": 3}, "color": "#111111"},
            hovertemplate="rule of thumb %{y} GB",
        )
    )
    _layout(fig, "What 1B parameters cost, by storage format", hovermode="closest")
    fig.update_yaxes(title_text="GB per billion parameters", rangemode="tozero")
    return fig
