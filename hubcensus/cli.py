"""The `hubcensus` command line: thin typer wrappers, one module of commands per room.

Each `commands_*` module registers its commands on `app`; they parse options,
build settings, call one library function and print.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="hubcensus",
    help=(
        "A census of the weights on the Hugging Face Hub: crawl safetensors metadata into DuckDB, "
        "then query it with SQL and chart how the Hub moved from fp32 to bf16, fp8 and 4-bit.\n\n"
        "Start with `hubcensus crawl` (or `hubcensus demo` offline), then `hubcensus report`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from hubcensus import commands_crawl, commands_explain, commands_report

    for module in (commands_crawl, commands_report, commands_explain):
        module.register(app)


_register()


if __name__ == "__main__":
    app()
