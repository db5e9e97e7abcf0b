"""`hubcensus explain MODEL`: why a model's files are X GB and how much memory its weights need."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from hubcensus import settings

EXPLAIN_HELP = """Explain one model's size: parameters by dtype, bytes, bits per parameter, VRAM.

Answers "why is this 12B model's file 23.8 GB, and does it need 12 or 24 GB of
VRAM?" for any model: the storage dtypes and their arithmetic (12B x 2 bytes in
BF16), the effective parameter count of quantized checkpoints (a 4-bit GPTQ
I32 qweight holds 8 weights; the Hub counts it as one), and the memory to hold
the weights as stored and cast to bf16, fp8 and 4-bit.

Reads the database when the model is in it; otherwise (or with --live) reads
the model's listing entry and safetensors headers from the Hub (a few requests,
nothing downloaded, nothing written to your database).

Examples:

  hubcensus explain black-forest-labs/FLUX.1-dev

  hubcensus explain meta-llama/Llama-3.1-8B-Instruct --json

  hubcensus explain org/model --live --endpoint http://127.0.0.1:8080

  hubcensus explain meta-llama/Meta-Llama-3-8B --context 32768 --batch 4 --kv-dtype fp8

For language models it adds the KV cache (from config.json: GQA, MQA, MLA, sliding
windows, attention-free layers) and weights + KV against 24/48/80/141 GB GPUs.
"""

DbOpt = Annotated[
    Path | None,
    typer.Option(
        "--db", help="DuckDB file [default: $HUBCENSUS_DB or ./hubcensus.duckdb]", show_default=False
    ),
]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"hubcensus: {message}", err=True)
    return typer.Exit(1)


def explain_command(
    model: Annotated[str, typer.Argument(help="Model id, 'org/name'.", show_default=False)],
    db: DbOpt = None,
    endpoint: Annotated[
        str | None, typer.Option(help="Hub endpoint for --live [default: $HF_ENDPOINT or the real Hub]")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")] = False,
    live: Annotated[
        bool, typer.Option("--live", help="Read the Hub now even if the database has the model.")
    ] = False,
    token_env: Annotated[str, typer.Option(help="Environment variable holding the Hub token.")] = "HF_TOKEN",
    context: Annotated[
        int | None, typer.Option(help="KV cache context in tokens [default: 8192, or the max context if less]")
    ] = None,
    batch: Annotated[int, typer.Option(help="Sequences held in the KV cache at once.")] = 1,
    kv_dtype: Annotated[str, typer.Option(help="KV cache dtype: bf16, fp8, f16 or f32.")] = "bf16",
) -> None:
    """Explain one model's size and memory needs."""
    from hubcensus.analysis.explain import explain, render
    from hubcensus.db.connection import DatabaseError

    config = settings.load(db, endpoint, token_env)
    kv = _kv_options(context, batch, kv_dtype)
    info = None
    if not live and config.db_path.exists():
        try:
            info = explain(config.db_path, model, **kv)
        except DatabaseError as exc:
            raise _fail(str(exc)) from None
    if info is None:
        info = _explain_live(model, config, kv)
    typer.echo(json.dumps(info, indent=2, default=str) if as_json else render(info))


def _kv_options(context: int | None, batch: int, kv_dtype: str) -> dict:
    """The KV cache options, checked (one clear line when wrong)."""
    from hubcensus.analysis.kv_memory import KV_DTYPES

    if kv_dtype not in KV_DTYPES:
        raise _fail(f"--kv-dtype must be one of {', '.join(KV_DTYPES)}, not {kv_dtype!r}")
    if batch < 1 or (context is not None and context < 1):
        raise _fail("--context and --batch must be positive")
    return {"context": context, "batch": batch, "kv_dtype": kv_dtype}


def _explain_live(model: str, config: settings.Settings, kv: dict | None = None) -> dict:
    """Read the model from the Hub into a throwaway database, then explain it from there."""
    from hubcensus.analysis.explain import explain
    from hubcensus.crawler.deep import read_one
    from hubcensus.crawler.hub import HubError, make_client, version
    from hubcensus.crawler.walk.listing import EXPAND
    from hubcensus.db import store
    from hubcensus.db.connection import open_database

    client = make_client(config.endpoint, config.token)
    with tempfile.TemporaryDirectory(prefix="hubcensus-explain-") as tmp:
        path = Path(tmp) / "explain.duckdb"
        with open_database(path) as db:
            run = store.start_run(db, mode="explain", endpoint=config.endpoint, version=version())
            try:
                summary = read_one(db, client, model, run_id=run, expand=(*EXPAND, "siblings"))
            except HubError as exc:
                raise _fail(_hub_problem(model, exc, config.endpoint)) from None
            store.finish_run(db, run, status="ok", counters={"headers_fetched": summary.stored})
        info = explain(path, model, **(kv or {}))
    if info is None:
        raise _fail(f"{model}: the Hub returned no such model ({config.endpoint})")
    return info


def _hub_problem(model: str, exc: Exception, endpoint: str) -> str:
    status = getattr(exc, "status", None)
    if status == 404:
        return f"{model}: no such model on {endpoint}"
    if status in (401, 403):
        return f"{model}: gated or private on {endpoint}; set HF_TOKEN to a token that has access"
    return f"{model}: {exc} ({endpoint})"


def register(app: typer.Typer) -> None:
    """Add `explain` to `app`."""
    app.command("explain", help=EXPLAIN_HELP, no_args_is_help=True)(explain_command)
