"""The weight file format part of the report: PyTorch pickles vs safetensors vs GGUF, and what pickles name.

The chart and the tables (appended to `report.CHARTS` / `report.TABLES`); the data comes from the named
queries of `analysis.format_queries`.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from hubcensus.analysis.figures import FAMILY_COLORS, _layout, _ordered
from hubcensus.analysis.format_queries import WEIGHT_FORMATS
from hubcensus.analysis.headline import fmt_pct

Rows = list[dict[str, Any]]

COLORS = {
    "pickle": "#b5651d",
    "both": "#e9c46a",
    "safetensors": FAMILY_COLORS["BF16"],
    "gguf": FAMILY_COLORS["GGUF"],
}


def weight_formats(rows: Rows) -> go.Figure:
    """Stacked monthly bars: share of new models by weight file format."""
    months = _ordered(r["month"] for r in rows)
    fig = go.Figure()
    for fmt, label in WEIGHT_FORMATS:
        color = COLORS[fmt]
        by_month = {r["month"]: r["share_models"] for r in rows if r["weight_format"] == fmt}
        if not by_month:
            continue
        fig.add_trace(
            go.Bar(name=label, x=months, y=[round(100 * by_month.get(m, 0.0), 2) for m in months],
                   marker_color=color, hovertemplate="%{y:.1f}%")
        )  # fmt: skip
    _layout(fig, "Weight file format of new models per month (% of models)", barmode="stack")
    fig.update_yaxes(title_text="% of new models", range=[0, 100])
    fig.update_xaxes(type="category")
    return fig


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


def _int(value: Any) -> str:
    return "-" if value is None else f"{value:,}"


CHARTS: tuple[tuple[Any, ...], ...] = (
    ("weight_format_by_month", "weight_format_by_month", ("month", "weight_format", "models", "share_models"),
     weight_formats, "Weight files of the models created each month, from each repo's file list: PyTorch "
     "pickles only (torch.save .bin/.pt/.ckpt), safetensors beside pickles, safetensors, GGUF only. The "
     "pickle -> safetensors migration.", "SELECT * FROM v_weight_format_by_month"),
)  # fmt: skip
"""`report.ChartSpec` fields: name, query, CSV columns, build, caption, sql."""

TABLES: tuple[tuple[Any, ...], ...] = (
    ("weight_format_months", "weight_format_months", "Weight file format of new models per month",
     "Models created each month by the format of their weight files (models with none left out). 2022-03 "
     "holds every repo created before March 2022: the Hub stamps them all 2022-03-02T23:29:04 (createdAt and "
     "the _id's time alike), so the years before are one row.",
     (("month", "month", _text), ("pickle only", "pickle", _int), ("safetensors + pickle", "both", _int),
      ("safetensors", "safetensors", _int), ("GGUF", "gguf", _int), ("models", "models", _int),
      ("pickle-only share", "share_pickle", fmt_pct)),
     "SELECT * FROM v_weight_format_by_month"),
    ("pickle_globals", "pickle_globals", "PyTorch pickles naming globals beyond tensors",
     "Pickle files whose headers were read, and those naming anything beyond torch's tensor/storage/dtype "
     "set and plain containers (flagged pickle-unsafe-globals; never executed). The legacy container dates a "
     "file before torch 1.6 (2020-07), which createdAt cannot.",
     (("pickle files", "pickle_files", _int), ("saved by torch < 1.6 (legacy)", "legacy_files", _int),
      ("naming other globals", "files_naming_globals", _int),
      ("share", "share_files", fmt_pct), ("models", "models", _int),
      ("models naming other globals", "models_naming_globals", _int), ("most named", "top_globals", _text)),
     "SELECT * FROM v_pickle_unsafe_globals ORDER BY files DESC"),
)  # fmt: skip
"""`report.TableSpec` fields: name, query, title, caption, columns, sql."""
