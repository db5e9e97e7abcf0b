"""Options several commands share, declared once (like huggingface_hub's `cli/_cli_utils.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hubcensus.settings import DEFAULTS

DbOpt = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="DuckDB file [default: $HUBCENSUS_DB or ./hubcensus.duckdb]",
        show_default=False,
        dir_okay=False,
    ),
]

EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint", help="Hub URL [default: $HF_ENDPOINT or https://huggingface.co]", show_default=False
    ),
]

TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        help="Hub token [default: $HF_TOKEN, else the login stored by `hf auth login`]. "
        "Never stored or logged (prefer the environment: options show in `ps`).",
        show_default=False,
    ),
]

TokenEnvOpt = Annotated[
    str | None,
    typer.Option("--token-env", hidden=True, help="Environment variable holding the Hub token (old form)."),
]

MemoryLimitOpt = Annotated[
    int,
    typer.Option(
        "--memory-limit",
        min=0,
        help="DuckDB memory limit in MB while crawling (0: DuckDB's default, 80% of RAM).",
    ),
]
MEMORY_LIMIT = DEFAULTS.memory_limit_mb


def format_option(choices: str, help_text: str) -> object:
    """`--format`, with the choices of one command in its help."""
    return typer.Option("--format", help=f"{help_text} ({choices}).")
