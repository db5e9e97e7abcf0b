"""Assembly: run the named queries, build the figures and headline, write HTML, Markdown and CSV.

`write_report(db_path, out_dir)` is the one entry point (the CLI, `demo` and cron call it).
Charts and tables are declared once in `CHARTS` / `TABLES`: which query feeds them, which
columns make their CSV, how they are drawn and which view gives the same numbers in SQL.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from hubcensus.analysis import figures, kv_report, queries
from hubcensus.analysis.connect import open_readonly
from hubcensus.analysis.headline import fmt_bytes, fmt_params, fmt_pct, headline
from hubcensus.analysis.queries import Rows
from hubcensus.db.overview import dataset_label, verify

FORMATS = ("html", "md", "csv")


@dataclass(frozen=True)
class ChartSpec:
    """One chart: its data (query + CSV columns), its drawing, and the SQL that reproduces it."""

    name: str
    query: str
    columns: tuple[str, ...]
    build: Callable[[Rows], go.Figure]
    caption: str
    sql: str
    counts: tuple[str, str] = ("models", "models")
    """(column summed, noun): what the chart rests on, e.g. 1,234 models."""


@dataclass(frozen=True)
class TableSpec:
    """One table: its query, and (header, column, formatter) per displayed column."""

    name: str
    query: str
    title: str
    caption: str
    columns: tuple[tuple[str, str, Callable[[Any], str]], ...]
    sql: str


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


def _int(value: Any) -> str:
    return "-" if value is None else f"{value:,}"


def _gb(value: Any) -> str:
    return "-" if value is None else f"{value:.3g}"


def _days(value: Any) -> str:
    return "-" if value is None else f"{value:g}"


_SHARE_COLUMNS = ("month", "dtype_family")
_FAMILY_NOTE = "Storage format = v_models.dtype_family (see the notes at the end)."

CHARTS: tuple[ChartSpec, ...] = (
    ChartSpec("dtype_share_by_count", "dtype_share_by_month", (*_SHARE_COLUMNS, "models", "share_models"),
              lambda rows: figures.dtype_share(rows, "share_models"),
              f"Share of the models created each month, by storage format. {_FAMILY_NOTE}",
              "SELECT * FROM v_dtype_by_month"),
    ChartSpec("dtype_share_by_params", "dtype_share_by_month",
              (*_SHARE_COLUMNS, "effective_params", "share_params"),
              lambda rows: figures.dtype_share(rows, "share_params"),
              "The same split weighted by effective (unpacked) parameters: where the big models go.",
              "SELECT * FROM v_dtype_by_month"),
    ChartSpec("dtype_share_by_downloads", "dtype_share_by_month",
              (*_SHARE_COLUMNS, "downloads", "share_downloads"),
              lambda rows: figures.dtype_share(rows, "share_downloads"),
              "The same split weighted by each model's downloads over the last 30 days: what people use.",
              "SELECT * FROM v_dtype_by_month"),
    ChartSpec("dtype_share_by_library", "dtype_share_by_library",
              ("month", "library_name", "dtype_family", "models", "share_models"),
              lambda rows: figures.dtype_share_facets(rows, "library_name", "Storage format by library"),
              f"The monthly split within the {queries.TOP_GROUPS} most common libraries.",
              "SELECT * FROM v_dtype_by_library_month"),
    ChartSpec("dtype_share_by_pipeline", "dtype_share_by_pipeline",
              ("month", "pipeline_tag", "dtype_family", "models", "share_models"),
              lambda rows: figures.dtype_share_facets(rows, "pipeline_tag", "Storage format by pipeline tag"),
              f"The monthly split within the {queries.TOP_GROUPS} most common pipeline tags.",
              "SELECT * FROM v_dtype_by_pipeline_month"),
    ChartSpec("params_by_month", "params_by_month",
              ("month", "models", "p10_params", "median_params", "p90_params", "max_params"),
              figures.params_by_month,
              "Effective parameters of the models created each month (models with known parameters).",
              "SELECT * FROM v_params_by_month"),
    ChartSpec("bits_per_param", "bits_per_param", ("bits_bin", "bytes_per_param", "dtype_family", "models"),
              figures.bits_histogram,
              "Weight bytes x 8 / effective parameters, half-bit bins: peaks at 32, 16, 8 and about 4 bits; "
              "quantized models sit above their nominal width (scales, unquantized embeddings).",
              "SELECT * FROM v_bits_histogram"),
    ChartSpec("quant_methods_by_month", "quant_methods_by_month", ("month", "quant_method", "models"),
              figures.quant_methods,
              "Models created each month by quantization method (unquantized models left out).",
              "SELECT * FROM v_quant_by_month"),
    ChartSpec("derivative_delay_by_month", "derivative_delay_by_month",
              ("month", "dtype_family", "bases", "median_days"),
              figures.derivative_delay,
              "For base models in the database, the median days until the first derivative (a model naming "
              "it as base model) stored in F8, 4-bit or GGUF, by the month the base was released.",
              "SELECT * FROM v_first_derivatives", ("bases", "base-model/format pairs")),
    ChartSpec("cost_per_billion", "cost_per_billion",
              ("dtype_family", "models", "median_gb", "p10_gb", "p90_gb", "models_with_files", "median_file_gb",
               "rule_of_thumb_gb"),
              figures.cost_per_billion,
              "Measured weight bytes per effective parameter (= GB per billion parameters, GB = 1e9 bytes; "
              "models of 100M+ parameters), median with p10-p90 whiskers, next to the rule of thumb.",
              "SELECT * FROM v_cost_per_billion"),
)  # fmt: skip

CHARTS += kv_report.chart_specs(ChartSpec)

_MODEL_TABLE = (
    ("model", "model_id", _text), ("created", "created", _text), ("library", "library_name", _text),
    ("format", "dtype_family", _text), ("dtype", "dominant_dtype", _text), ("quant", "quant_method", _text),
    ("params", "effective_params", fmt_params), ("weights", "weight_bytes", fmt_bytes),
    ("bits/param", "bits_per_param", _text), ("downloads (30 d)", "downloads", _int),
)  # fmt: skip

TABLES: tuple[TableSpec, ...] = (
    TableSpec("cost_per_billion", "cost_per_billion", "What 1B parameters cost (table)",
              "GB (1e9 bytes) per billion effective parameters, measured from the weights; files = whole "
              "safetensors files where headers were read. VRAM needs the weights plus activations/KV cache.",
              (("format", "dtype_family", _text), ("models", "models", _int), ("median GB", "median_gb", _gb),
               ("p10 GB", "p10_gb", _gb), ("p90 GB", "p90_gb", _gb), ("files: models", "models_with_files", _int),
               ("files: median GB", "median_file_gb", _gb), ("rule of thumb GB", "rule_of_thumb_gb", _gb)),
              "SELECT * FROM v_cost_per_billion"),
    TableSpec("derivative_delay", "derivative_delay", "Time to the first quantized derivative",
              "Per storage format of the derivative: base models that got one, derivatives, median days from "
              "the base's release, share within a week, share whose first came from the base's own author.",
              (("format", "dtype_family", _text), ("base models", "bases", _int),
               ("derivatives", "derivatives", _int), ("median days", "median_days", _days),
               ("within 7 days", "share_within_7_days", fmt_pct),
               ("first by base author", "share_first_by_base_author", fmt_pct)),
              "SELECT * FROM v_first_derivatives"),
    TableSpec("quant_publishers", "quant_publishers", "Who publishes quantized derivatives",
              "Authors of models that name a base model and are stored in F8, INT8, 4-bit or GGUF.",
              (("author", "author", _text), ("derivatives", "derivatives", _int), ("F8", "f8", _int),
               ("INT8", "int8", _int), ("4-bit", "four_bit", _int), ("GGUF", "gguf", _int),
               ("downloads (30 d)", "downloads", _int)),
              "SELECT * FROM v_quant_publishers ORDER BY derivatives DESC"),
    TableSpec("largest_models", "largest_models", "Largest models",
              "By effective (unpacked) parameters.", _MODEL_TABLE,
              "SELECT * FROM v_models ORDER BY effective_params DESC NULLS LAST LIMIT 15"),
    TableSpec("most_downloaded", "most_downloaded", "Most downloaded models",
              "By downloads over the last 30 days.", _MODEL_TABLE,
              "SELECT * FROM v_models ORDER BY downloads DESC NULLS LAST LIMIT 15"),
)  # fmt: skip


from hubcensus.analysis import gguf_report  # noqa: E402  (the GGUF section: its charts and tables)

CHARTS = (*CHARTS, *(ChartSpec(*spec) for spec in gguf_report.CHARTS))
TABLES = (*TABLES, *(TableSpec(*spec) for spec in gguf_report.TABLES))

from hubcensus.analysis import format_report  # noqa: E402  (weight file formats: pickle, safetensors, GGUF)

CHARTS = (*CHARTS, *(ChartSpec(*spec) for spec in format_report.CHARTS))
TABLES = (*TABLES, *(TableSpec(*spec) for spec in format_report.TABLES))

from hubcensus.analysis import moe_report  # noqa: E402  (the mixture-of-experts section)

CHARTS = (*CHARTS, *(ChartSpec(*spec) for spec in moe_report.CHARTS))
TABLES = (*TABLES, *(TableSpec(*spec) for spec in moe_report.TABLES))


@dataclass
class Report:
    """Everything a report shows, before it is written anywhere."""

    generated_at: datetime
    since: datetime | None
    data: dict[str, Rows]
    headline: list[str]
    charts: list[tuple[ChartSpec, go.Figure | None]] = field(default_factory=list)
    label: str | None = None
    """What the data is when it is not the Hub (the demo's synthetic catalog): said at the top."""

    @property
    def empty(self) -> bool:
        """True when no model is in scope (the report then says so instead of charting)."""
        overview = queries.first(self.data["overview"])
        return not overview or not overview["in_scope"]

    def rests_on(self, spec: ChartSpec) -> str:
        """'Rests on 1,234 models.' for one chart, summed from its own rows."""
        column, noun = spec.counts
        total = sum(r[column] for r in self.data[spec.query])
        return f"Rests on {total:,} {noun}."

    def chart_rows(self, spec: ChartSpec) -> Rows:
        """The rows of one chart, restricted to its CSV columns."""
        return [{c: r[c] for c in spec.columns} for r in self.data[spec.query]]


@dataclass(frozen=True)
class ReportResult:
    """What `write_report` wrote."""

    out_dir: Path
    files: list[Path]
    models: int
    empty: bool
    headline: list[str]


def month_start(value: date | datetime | None) -> datetime | None:
    """`--since` rounded down to the first of its month (monthly charts start on a whole month)."""
    if value is None:
        return None
    return datetime(value.year, value.month, 1)


def build_report(db_path: str | Path, *, since: date | None = None, now: datetime | None = None) -> Report:
    """Query the database (read-only) and build the figures and headline."""
    start = month_start(since)
    generated = now or datetime.now(UTC).replace(tzinfo=None)
    db = open_readonly(db_path)
    try:
        verify(db)  # a damaged file fails here, not halfway through a report that looks whole
        data = queries.run_all(db.con, start)
        label = dataset_label(db)
    finally:
        db.close()
    report = Report(generated_at=generated, since=start, data=data,
                    headline=headline(data, since=start, now=generated), label=label)  # fmt: skip
    if not report.empty:
        for spec in CHARTS:
            rows = data[spec.query]
            report.charts.append((spec, spec.build(rows) if rows else None))
    return report


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return "" if value is None else value


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Path:
    """One CSV: header, then rows (None as empty)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_value(row.get(c)) for c in columns])
    return path


def _write_csvs(report: Report, out: Path) -> list[Path]:
    files = []
    for spec in CHARTS:
        files.append(write_csv(out / f"{spec.name}.csv", spec.columns, report.chart_rows(spec)))
    for table in TABLES:
        if table.name in {s.name for s in CHARTS}:
            continue
        columns = (
            list(report.data[table.query][0])
            if report.data[table.query]
            else [c for _, c, _ in table.columns]
        )
        files.append(write_csv(out / f"{table.name}.csv", columns, report.data[table.query]))
    overview = report.data["overview"]
    files.append(write_csv(out / "overview.csv", list(overview[0]) if overview else [], overview))
    return files


def write_report(
    db_path: str | Path,
    out_dir: str | Path,
    *,
    since: date | None = None,
    formats: Iterable[str] = FORMATS,
    now: datetime | None = None,
) -> ReportResult:
    """Write `report.html` (self-contained), `report.md` and one CSV per chart/table into `out_dir`.

    Reads the database read-only. `since` keeps models created on or after the first of its
    month; `now` fixes the generation time (tests). An empty database gives a report that says so.
    """
    wanted = [f.strip().lower() for f in formats if f.strip()]
    unknown = sorted(set(wanted) - set(FORMATS))
    if unknown or not wanted:
        raise ValueError(
            f"unknown report format(s) {', '.join(unknown) or '(none)'}: use {', '.join(FORMATS)}"
        )
    from hubcensus.analysis import render  # local: keeps the template out of the query path

    report = build_report(db_path, since=since, now=now)
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    with_csv = "csv" in wanted
    if with_csv:
        files += _write_csvs(report, out)
    if "html" in wanted:
        path = out / "report.html"
        path.write_text(render.html(report, TABLES, csv_links=with_csv), encoding="utf-8")
        files.append(path)
    if "md" in wanted:
        path = out / "report.md"
        path.write_text(render.markdown(report, TABLES, csv_links=with_csv), encoding="utf-8")
        files.append(path)
    overview = queries.first(report.data["overview"])
    return ReportResult(out_dir=out, files=files, models=int(overview.get("in_scope") or 0),
                        empty=report.empty, headline=report.headline)  # fmt: skip
