"""`hubcensus report`, `hubcensus sql`, `hubcensus export`: read the census, never write it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from hubcensus.settings import resolve_db

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db", help="DuckDB file (default: $HUBCENSUS_DB, else ./hubcensus.duckdb).", show_default=False
    ),
]

REPORT_HELP = """Write the trend report: report.html (self-contained, renders offline), report.md and one CSV per chart.

\b
Examples:
  hubcensus report                                 # ./reports/<today>/
  hubcensus report --out /srv/census/2026-11-25    # what cron runs
  hubcensus report --since 2024-01 --format html   # only models created since Jan 2024
"""

SQL_HELP = """Run one read-only SQL query over the census (views: v_models, v_dtype_by_month, ...; see docs/schema.md).

\b
Examples:
  hubcensus sql "SELECT dtype_family, count(*) FROM v_models GROUP BY 1 ORDER BY 2 DESC"
  hubcensus sql "SELECT * FROM v_dtype_by_month WHERE created_month >= '2025-01-01'" --format csv
  hubcensus sql "SELECT author, f8 FROM v_quant_publishers ORDER BY f8 DESC LIMIT 10" --format json
  hubcensus sql "DESCRIBE v_models"

Writes (INSERT, UPDATE, CREATE, COPY, ATTACH, INSTALL, SET...) are refused, and file access is off.
"""

EXPORT_HELP = """Export every table (and v_models) as Parquet, for DuckDB, pandas or polars.

\b
Examples:
  hubcensus export --parquet ./census-parquet
  duckdb -c "SELECT count(*) FROM './census-parquet/models.parquet'"
"""


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=1)


def report(
    db: DbOption = None,
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
    fmt: Annotated[str, typer.Option("--format", help="Comma-separated: html,md,csv.")] = "html,md,csv",
) -> None:
    from hubcensus.analysis.report import write_report
    from hubcensus.db.connection import DatabaseError

    target = out or Path("reports") / f"{datetime.now(UTC):%Y-%m-%d}"
    try:
        result = write_report(resolve_db(db), target, since=since, formats=fmt.split(","))
    except (DatabaseError, ValueError) as exc:
        raise _fail(str(exc)) from None
    console = Console()
    for sentence in result.headline:
        console.print(f"- {sentence}", highlight=False, soft_wrap=True)
    console.print(
        f"Wrote {len(result.files)} files to {result.out_dir} ({result.models:,} models).", highlight=False
    )


def sql(
    statement: Annotated[str, typer.Argument(help="One SELECT statement (quote it).")],
    db: DbOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
) -> None:
    from hubcensus.analysis.sql import OUTPUT_FORMATS, SqlError, run_sql, to_csv, to_json, to_table
    from hubcensus.db.connection import DatabaseError

    if fmt not in OUTPUT_FORMATS:
        raise _fail(f"unknown format {fmt!r}: use {', '.join(OUTPUT_FORMATS)}")
    try:
        result = run_sql(resolve_db(db), statement)
    except (SqlError, DatabaseError) as exc:
        raise _fail(str(exc)) from None
    if fmt == "table":
        Console().print(to_table(result))
    else:
        typer.echo(to_csv(result) if fmt == "csv" else to_json(result), nl=fmt == "json")


def export(
    parquet: Annotated[
        Path, typer.Option("--parquet", help="Directory to write <table>.parquet files into.")
    ],
    db: DbOption = None,
) -> None:
    from hubcensus.analysis.export import export_parquet
    from hubcensus.db.connection import DatabaseError

    try:
        written = export_parquet(resolve_db(db), parquet)
    except DatabaseError as exc:
        raise _fail(str(exc)) from None
    for item in written:
        typer.echo(f"{item.path}  {item.rows:,} rows")


def register(app: typer.Typer) -> None:
    """Add `report`, `sql` and `export` to `app`."""
    app.command("report", help=REPORT_HELP)(report)
    app.command("sql", help=SQL_HELP)(sql)
    app.command("export", help=EXPORT_HELP)(export)
