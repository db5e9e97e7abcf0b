"""The `hubcensus` command line: thin typer wrappers, one module of commands per room.

Each `commands_*` module registers its commands on `app`; they parse options, build settings
once, call one library function and print. Errors and exit codes: `hubcensus.errors`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from hubcensus.errors import HubcensusGroup, debug_enabled, quiet_pool_logger

app = typer.Typer(
    name="hubcensus",
    cls=HubcensusGroup,
    help=(
        "A census of the weights on the Hugging Face Hub: crawl safetensors metadata into DuckDB, "
        "then query it with SQL and chart how the Hub moved from fp32 to bf16, fp8 and 4-bit.\n\n"
        "Start with `hubcensus crawl` (or `hubcensus demo` offline), then `hubcensus report`.\n\n"
        "Exit codes: 0 ok, 1 failed, 2 usage, 3 database missing/unreadable/not hubcensus/newer, "
        "75 busy (another crawl holds the lock), 130 interrupted."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Show the traceback of an unexpected error (or HUBCENSUS_DEBUG=1)."),
    ] = False,
) -> None:
    """Options of every command."""
    ctx.obj = {"debug": debug}
    quiet_pool_logger(debug_enabled(ctx))


def _register() -> None:
    from hubcensus import commands_crawl, commands_explain, commands_report

    for module in (commands_crawl, commands_report, commands_explain):
        module.register(app)


_register()


if __name__ == "__main__":
    app()
