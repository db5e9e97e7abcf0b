"""Rendering a built `Report`: one self-contained HTML page (plotly.js inlined once) and Markdown."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
from hubcensus.analysis.headline import fmt_params, fmt_pct
from hubcensus.analysis.queries import FAMILIES, pivot
from plotly.offline import get_plotlyjs

if TYPE_CHECKING:
    from hubcensus.analysis.report import Report, TableSpec

TITLE = "hubcensus: the weights on the Hugging Face Hub"


def title(report: Report) -> str:
    """The page title: the Hub's, or (demo and other non-Hub data) what the data really is."""
    label = getattr(report, "label", None)
    return f"hubcensus: {label.split(' (')[0]}" if label else TITLE


def _banner(report: Report) -> str | None:
    label = getattr(report, "label", None)
    return f"Note: {label}." if label else None


PLOT_CONFIG = {"responsive": True, "displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}
RECENT_MONTHS = 24

FAMILY_NOTES: dict[str, str] = {
    "F32": "dominant dtype F32, not quantized",
    "F16": "dominant dtype F16, not quantized",
    "BF16": "dominant dtype BF16, not quantized",
    "F8": "float8 weights (F8_E4M3, F8_E5M2...), quant_method fp8 or an F8 dominant dtype",
    "INT8": "8-bit integer weights: bnb-8bit, or a packing method / integer storage at 8-12 bits per parameter",
    "4-bit": "F4 / MXFP4 / NVFP4 / bnb-4bit, or packed weights (GPTQ, AWQ, MLX, compressed-tensors...) below "
    "8 bits per parameter or of unknown width",
    "GGUF": "GGUF files (quant_method gguf, or no safetensors but a GGUF file)",
    "other": "anything else (F64, F6, wide integers...); models with no known storage are left out",
}

CSS = """
:root { --fg: #1d2327; --muted: #5f6b73; --line: #dde3e8; --accent: #2a9d8f; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); }
main { max-width: 1100px; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; margin: .5rem 0; } h2 { font-size: 1.2rem; margin: 2rem 0 .3rem; }
.meta, .caption, .data { color: var(--muted); font-size: .9rem; }
.summary { border-left: 4px solid var(--accent); background: #f4faf9; padding: .5rem 1rem; }
.summary li { margin: .35rem 0; }
.banner { background: #fff3cd; border: 1px solid #e0b100; padding: .5rem 1rem; }
.chart { width: 100%; min-height: 300px; }
.table-wrap { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; font-size: .85rem; min-width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .5rem; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
code { font-size: .85em; background: #f1f3f5; padding: 0 .2em; border-radius: 3px; word-break: break-all; }
nav ul { padding-left: 1.2rem; columns: 2 16rem; }
@media (max-width: 600px) { body { font-size: 15px; } main { padding: .6rem; } h1 { font-size: 1.25rem; } }
"""


def _meta_line(report: Report) -> str:
    scope = f"models created since {report.since:%Y-%m-%d}" if report.since else "all models"
    return f"Generated {report.generated_at:%Y-%m-%d %H:%M} UTC from the census database; {scope}."


def _html_table(spec: TableSpec, rows: Sequence[dict[str, Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h, _, _ in spec.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(fmt(r.get(key)))}</td>" for _, key, fmt in spec.columns) + "</tr>"
        for r in rows
    )
    return f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _data_line(name: str, sql: str, csv_links: bool) -> str:
    link = f'Data: <a href="{escape(name)}.csv">{escape(name)}.csv</a> · ' if csv_links else ""
    return f'<p class="data">{link}SQL: <code>{escape(sql)}</code></p>'


def html(report: Report, tables: Sequence[TableSpec], *, csv_links: bool) -> str:
    """The whole page: headline first, then charts and tables; plotly.js inlined once in <head>."""
    banner = _banner(report)
    parts = [f'<p class="banner"><strong>{escape(banner)}</strong></p>'] if banner else []
    parts += [f"<h1>{escape(title(report))}</h1>", f'<p class="meta">{escape(_meta_line(report))}</p>']
    items = "".join(f"<li>{escape(s)}</li>" for s in report.headline)
    parts.append(f'<section class="summary" id="summary"><h2>Headline numbers</h2><ul>{items}</ul></section>')
    if not report.empty:
        links = "".join(
            f'<li><a href="#{escape(s.name)}">{escape(_title(fig, s.name))}</a></li>'
            for s, fig in report.charts
        )
        links += "".join(f'<li><a href="#table-{escape(t.name)}">{escape(t.title)}</a></li>' for t in tables)
        parts.append(f"<nav><ul>{links}</ul></nav>")
        for spec, fig in report.charts:
            parts.append(f'<section id="{escape(spec.name)}"><h2>{escape(_title(fig, spec.name))}</h2>')
            parts.append(f'<p class="caption">{escape(spec.caption)} {escape(report.rests_on(spec))}</p>')
            if fig is None:
                parts.append('<p class="empty">No data for this chart in the selected models.</p>')
            else:
                parts.append(_figure_div(fig, spec.name))
            parts.append(_data_line(spec.name, spec.sql, csv_links) + "</section>")
        for table in tables:
            rows = report.data[table.query]
            parts.append(f'<section id="table-{escape(table.name)}"><h2>{escape(table.title)}</h2>')
            parts.append(f'<p class="caption">{escape(table.caption)}</p>')
            parts.append(_html_table(table, rows) if rows else '<p class="empty">No data.</p>')
            parts.append(_data_line(table.name, table.sql, csv_links) + "</section>")
        notes = "".join(f"<li><b>{escape(f)}</b>: {escape(FAMILY_NOTES[f])}</li>" for f in FAMILIES)
        parts.append(
            '<section id="notes"><h2>Notes</h2><p class="caption">Storage format (<code>v_models.dtype_family'
            f'</code>), one definition used by every chart:</p><ul>{notes}</ul><p class="caption">'
            "Effective parameters count packed 4-bit values unpacked and leave scales/zeros out; downloads "
            "are the Hub's last-30-days figure; GB = 1e9 bytes. Deleted models are left out.</p></section>"
        )
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title(report))} ({report.generated_at:%Y-%m-%d})</title>\n<style>{CSS}</style>\n"
        "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>\n"
        f"<script>{get_plotlyjs()}</script>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _title(fig: Any, fallback: str) -> str:
    text = fig.layout.title.text if fig is not None else None
    return text or fallback.replace("_", " ")


def _figure_div(fig: Any, name: str) -> str:
    fig = go.Figure(fig)  # a copy: the section heading already carries the title
    fig.update_layout(title_text=None, margin_t=40)
    height = fig.layout.height or 420
    div = fig.to_html(
        full_html=False, include_plotlyjs=False, div_id=f"chart-{name}", config=PLOT_CONFIG,
        default_width="100%", default_height=f"{height}px",
    )  # fmt: skip
    return f'<div class="chart">{div}</div>'


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(headers), line(["---"] * len(headers)), *(line(r) for r in rows)])


def _md_data(name: str, sql: str, csv_links: bool) -> str:
    return (f"Data: [{name}.csv]({name}.csv) · " if csv_links else "") + f"SQL: `{sql}`"


def markdown(report: Report, tables: Sequence[TableSpec], *, csv_links: bool) -> str:
    """The same headline numbers and the key tables, as Markdown."""
    banner = _banner(report)
    out = [f"> **{banner}**", ""] if banner else []
    out += [f"# {title(report)}", "", f"_{_meta_line(report)}_", "", "## Headline numbers", ""]
    out += [f"- {s}" for s in report.headline]
    if report.empty:
        return "\n".join(out) + "\n"
    shares = pivot(report.data["dtype_share_by_month"], "month", "dtype_family", "share_models")
    months = sorted(shares)[-RECENT_MONTHS:]
    present = [f for f in FAMILIES if any(f in shares[m] for m in months)]
    out += ["", "## Storage format of new models per month (% of models)", ""]
    out.append(_md_table(["month", *present], [[m, *(fmt_pct(shares[m].get(f, 0.0)) for f in present)]
                                              for m in months]))  # fmt: skip
    out += ["", _md_data("dtype_share_by_count", "SELECT * FROM v_dtype_by_month", csv_links)]
    sizes = report.data["params_by_month"][-RECENT_MONTHS:]
    out += ["", "## Size of new models per month (effective parameters)", ""]
    out.append(_md_table(["month", "models", "median", "p90", "max"],
                         [[r["month"], f"{r['models']:,}", fmt_params(r["median_params"]),
                           fmt_params(r["p90_params"]), fmt_params(r["max_params"])] for r in sizes]))  # fmt: skip
    out += ["", _md_data("params_by_month", "SELECT * FROM v_params_by_month", csv_links)]
    for table in tables:
        rows = report.data[table.query]
        out += ["", f"## {table.title}", "", table.caption, ""]
        out.append(
            _md_table(
                [h for h, _, _ in table.columns],
                [[fmt(r.get(k)) for _, k, fmt in table.columns] for r in rows],
            )
            if rows
            else "No data."
        )
        out += ["", _md_data(table.name, table.sql, csv_links)]
    if csv_links:
        charts = ", ".join(f"[{s.name}.csv]({s.name}.csv)" for s, _ in report.charts)
        out += ["", "## Chart data", "", f"Every chart's numbers: {charts}."]
    out += ["", "## Notes", "", *(f"- **{f}**: {FAMILY_NOTES[f]}" for f in FAMILIES)]
    return "\n".join(out) + "\n"
