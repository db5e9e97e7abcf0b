"""`hubcensus report`, `hubcensus sql`, `hubcensus export`: read the census, never write it."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from hubcensus.analysis.examples import PARQUET_COUNT, SQL_EXAMPLES
from hubcensus.errors import Fail
from hubcensus.options import DbOpt, format_option
from hubcensus.settings import resolve_db

REPORT_HELP = """Write the trend report: report.html (self-contained, renders offline), report.md and one CSV per chart.

\b
Examples:
  hubcensus report                                 # ./reports/<today>/
  hubcensus report --out /srv/census/2026-11-25    # what cron runs
  hubcensus report --since 2024-01 --format html   # only models created since Jan 2024
"""

SQL_HELP = """Run one read-only SQL query over the census (views: v_models, v_dtype_by_month, ...; see docs/schema.md).

CSV and JSON stream: the first rows print at once, whatever the size of the result.
A table shows at most --max-rows rows (default 1000) and says when there were more;
off a terminal it is never wrapped or cut.

\b
Examples:
{examples}

Writes (inserts, updates, new tables, COPY, ATTACH, INSTALL, settings) are refused, and file access is off.
""".format(
    examples="\n".join(f"  hubcensus sql \"{sql}\" {opts}".rstrip() for sql, opts in SQL_EXAMPLES)
)

EXPORT_HELP = f"""Export every table (and v_models) as Parquet, for DuckDB, pandas or polars.

\b
Examples:
  hubcensus export --parquet ./census-parquet
  python -c "import duckdb; print(duckdb.sql(\\"{PARQUET_COUNT}\\"))"
"""


def _writable_dir(path: Path, option: str) -> Path:
    """`path` made (with parents) and writable, or one line naming the option."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise Fail(f"{option} {path}: exists and is not a directory") from None
    except OSError as exc:
        raise Fail(f"{option} {path}: cannot create it ({exc.strerror})") from None
    if not path.is_dir() or not os.access(path, os.W_OK):
        raise Fail(f"{option} {path}: not a writable directory")
    return path


def report(
    db: DbOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output directory (default: ./reports/<today>).", show_default=False),
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d", "%Y-%m"],
            help="Only models created since this month (YYYY-MM[-DD]).",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[str, format_option("comma-separated: html,md,csv", "Files to write")] = "html,md,csv",
) -> None:
    from hubcensus.analysis.report import FORMATS, write_report
    from hubcensus.db.connection import open_database

    wanted = [f.strip().lower() for f in fmt.split(",") if f.strip()]
    unknown = sorted(set(wanted) - set(FORMATS))
    if unknown or not wanted:
        raise typer.BadParameter(
            f"unknown report format(s) {', '.join(unknown) or '(none)'}: use {', '.join(FORMATS)}",
            param_hint="--format",
        )
    path = resolve_db(db)
    open_database(path, read_only=True).close()  # missing, damaged or busy: say so before writing anything
    target = _writable_dir(out or Path("reports") / f"{datetime.now(UTC):%Y-%m-%d}", "--out")
    result = write_report(path, target, since=since, formats=wanted)
    for sentence in result.headline:
        typer.echo(f"- {sentence}")
    typer.echo(f"Wrote {len(result.files)} files to {result.out_dir} ({result.models:,} models).")


def sql(
    statement: Annotated[str, typer.Argument(help="One SELECT statement (quote it).")],
    db: DbOpt = None,
    fmt: Annotated[str, format_option("table, csv or json", "Output format")] = "table",
    max_rows: Annotated[
        int, typer.Option("--max-rows", min=1, help="Rows a table shows at most (csv/json: all).")
    ] = 1000,
) -> None:
    from hubcensus.analysis.sql import OUTPUT_FORMATS, SqlError, open_query

    if fmt not in OUTPUT_FORMATS:
        raise typer.BadParameter(
            f"unknown format {fmt!r}: use {', '.join(OUTPUT_FORMATS)}", param_hint="--format"
        )
    try:
        with open_query(resolve_db(db), statement) as query:
            if fmt == "table":
                _print_table(query, max_rows)
            else:
                from hubcensus.analysis.sql import write_csv, write_json

                try:
                    (write_csv if fmt == "csv" else write_json)(query, sys.stdout)
                except BrokenPipeError:  # `| head`: the reader has what it wanted
                    _quiet_stdout()
    except SqlError as exc:
        raise Fail(str(exc)) from None


def _quiet_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _print_table(query: object, max_rows: int) -> None:
    from rich.console import Console

    from hubcensus.analysis.sql import SqlResult, table_rows, to_table

    rows, more = table_rows(query, max_rows)  # type: ignore[arg-type]
    result = SqlResult(columns=query.columns, rows=rows)  # type: ignore[attr-defined]
    tty = sys.stdout.isatty()
    table = to_table(result, more=more, fold=tty)
    if tty:
        Console().print(table)
        return
    width = Console(width=1_000_000).measure(table).maximum
    Console(width=max(width, 20), soft_wrap=False, color_system=None).print(table, crop=False)


def export(
    parquet: Annotated[
        Path, typer.Option("--parquet", help="Directory to write <table>.parquet files into.")
    ],
    db: DbOpt = None,
) -> None:
    from hubcensus.analysis.export import export_parquet
    from hubcensus.db.connection import open_database

    path = resolve_db(db)
    open_database(path, read_only=True).close()
    written = export_parquet(path, _writable_dir(parquet, "--parquet"))
    for item in written:
        typer.echo(f"{item.path}  {item.rows:,} rows")


def register(app: typer.Typer) -> None:
    """Add `report`, `sql` and `export` to `app`."""
    app.command("report", help=REPORT_HELP)(report)
    app.command("sql", help=SQL_HELP)(sql)
    app.command("export", help=EXPORT_HELP)(export)
