"""`hubcensus explain MODEL`: why a model's files are X GB and how much memory its weights need."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from hubcensus import settings
from hubcensus.errors import Fail
from hubcensus.options import DbOpt, EndpointOpt, TokenEnvOpt, TokenOpt

EXPLAIN_HELP = """Explain one model's size: parameters by dtype, bytes, bits per parameter, VRAM.

Answers "why is this 12B model's file 23.8 GB, and does it need 12 or 24 GB of
VRAM?" for any model: the storage dtypes and their arithmetic (12B x 2 bytes in
BF16), the effective parameter count of quantized checkpoints (a 4-bit GPTQ
I32 qweight holds 8 weights; the Hub counts it as one), and the memory to hold
the weights as stored and cast to bf16, fp8 and 4-bit.

Reads the database (also while a crawl runs). Only --live goes online: it reads the
model's listing entry and safetensors headers from the Hub (a few requests, nothing
downloaded, nothing written to your database).

Examples:

  hubcensus explain black-forest-labs/FLUX.1-dev

  hubcensus explain meta-llama/Llama-3.1-8B-Instruct --json

  hubcensus explain org/model --live --endpoint http://127.0.0.1:8080
"""


def explain_command(
    model: Annotated[str, typer.Argument(help="Model id, 'org/name'.", show_default=False)],
    db: DbOpt = None,
    endpoint: EndpointOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")] = False,
    live: Annotated[
        bool,
        typer.Option("--live", help="Read the model from the Hub now (the only way explain goes online)."),
    ] = False,
    token: TokenOpt = None,
    token_env: TokenEnvOpt = None,
) -> None:
    """Explain one model's size and memory needs."""
    from hubcensus.analysis.explain import explain, render

    if live:
        config = settings.load(db, endpoint, token, token_env=token_env)
        info = _explain_live(model, config)
    else:
        config = settings.load(db, endpoint, with_token=False)
        info = explain(config.db_path, model)
        if info is None:
            raise Fail(
                f"{model} is not in {config.db_path}; `hubcensus explain {model} --live` reads it from the Hub"
            )
    typer.echo(json.dumps(info, indent=2, default=str) if as_json else render(info))


def _explain_live(model: str, config: settings.Settings) -> dict[str, Any]:
    """Read the model from the Hub into a throwaway database, then explain it from there."""
    from hubcensus.analysis.explain import explain
    from hubcensus.crawler.hub import EndpointUnreachable, HubError, check_endpoint, make_client
    from hubcensus.crawler.live import read_live

    client = make_client(config.endpoint, config.token, timeout=config.timeout)
    try:
        check_endpoint(client, connect_timeout=config.connect_timeout)
        info = read_live(client, model, lambda path: explain(path, model))
    except EndpointUnreachable as exc:
        raise Fail(f"{exc}; offline? `hubcensus demo` builds a synthetic Hub's database to explain") from None
    except HubError as exc:
        raise Fail(_hub_problem(model, exc, config.endpoint)) from None
    if info is None:
        raise Fail(f"{model}: the Hub returned no such model ({config.endpoint})")
    return info


def _hub_problem(model: str, exc: Exception, endpoint: str) -> str:
    status = getattr(exc, "status", None)
    if status == 404:
        return f"{model}: no such model on {endpoint}"
    if status in (401, 403):
        return (
            f"{model}: gated or private on {endpoint}; set HF_TOKEN (or --token) to a token that has access"
        )
    return f"{model}: {exc} ({endpoint})"


def register(app: typer.Typer) -> None:
    """Add `explain` to `app`."""
    app.command("explain", help=EXPLAIN_HELP, no_args_is_help=True)(explain_command)
