"""`hubcensus explain MODEL`: why a model's files are X GB and how much memory its weights need."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from hubcensus import settings
from hubcensus.errors import ExitCode, Fail
from hubcensus.options import DbOpt, EndpointOpt, TokenEnvOpt, TokenOpt

EXPLAIN_HELP = """Explain one model's size: parameters by dtype, bytes, bits per parameter, VRAM.

Answers "why is this 12B model's file 23.8 GB, and does it need 12 or 24 GB of
VRAM?" for any model: the storage dtypes and their arithmetic (12B x 2 bytes in
BF16), the effective parameter count of quantized checkpoints (a 4-bit GPTQ
I32 qweight holds 8 weights; the Hub counts it as one), and the memory to hold
the weights as stored and cast to bf16, fp8 and 4-bit.

Reads the database (also while a crawl runs). Only --live goes online: it reads the
model's listing entry and weight headers (safetensors, GGUF, PyTorch pickle heads) from the Hub (a few requests, nothing
downloaded, nothing written to your database).

Examples:

  hubcensus explain black-forest-labs/FLUX.1-dev

  hubcensus explain meta-llama/Llama-3.1-8B-Instruct --json

  hubcensus explain org/model --live --endpoint http://127.0.0.1:8080

  hubcensus explain meta-llama/Meta-Llama-3-8B --context 32768 --batch 4 --kv-dtype fp8

For language models it adds the KV cache (from config.json: GQA, MQA, MLA, sliding
windows, attention-free layers) and weights + KV against 24/48/80/141 GB GPUs.
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
    context: Annotated[
        int | None,
        typer.Option(help="KV cache context in tokens [default: 8192, or the max context if less]"),
    ] = None,
    batch: Annotated[int, typer.Option(help="Sequences held in the KV cache at once.")] = 1,
    kv_dtype: Annotated[str, typer.Option(help="KV cache dtype: bf16, fp8, f16 or f32.")] = "bf16",
) -> None:
    """Explain one model's size and memory needs."""
    from hubcensus.analysis.explain import explain, render

    kv = _kv_options(context, batch, kv_dtype)
    if live:
        config = settings.load(db, endpoint, token, token_env=token_env)
        info = _explain_live(model, config, kv)
    else:
        config = settings.load(db, endpoint, with_token=False)
        info = explain(config.db_path, model, **kv)
        if info is None:
            raise Fail(
                f"{model} is not in {config.db_path}; `hubcensus explain {model} --live` reads it from the Hub"
            )
    typer.echo(json.dumps(info, indent=2, default=str) if as_json else render(info))


def _kv_options(context: int | None, batch: int, kv_dtype: str) -> dict[str, Any]:
    """The KV cache options, checked (one clear line when wrong)."""
    from hubcensus.analysis.kv_memory import KV_DTYPES

    if kv_dtype not in KV_DTYPES:
        raise Fail(f"--kv-dtype must be one of {', '.join(KV_DTYPES)}, not {kv_dtype!r}", ExitCode.USAGE)
    if batch < 1 or (context is not None and context < 1):
        raise Fail("--context and --batch must be positive", ExitCode.USAGE)
    return {"context": context, "batch": batch, "kv_dtype": kv_dtype}


def _explain_live(model: str, config: settings.Settings, kv: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read the model from the Hub into a throwaway database, then explain it from there."""
    from hubcensus.analysis.explain import explain
    from hubcensus.crawler.hub import EndpointUnreachable, HubError, check_endpoint, make_client
    from hubcensus.crawler.live import read_live

    client = make_client(config.endpoint, config.token, timeout=config.timeout)
    try:
        check_endpoint(client, connect_timeout=config.connect_timeout)
        info = read_live(client, model, lambda path: explain(path, model, **(kv or {})))
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
    if status == 401:  # the Hub's anonymous answer for missing, private and gated repos alike
        return (
            f"{model}: no such model on {endpoint}, or it is private or gated; "
            "set HF_TOKEN (or --token) to a token that has access"
        )
    if status == 403:
        return (
            f"{model}: gated or disabled on {endpoint}; set HF_TOKEN (or --token) to a token that has access"
        )
    return f"{model}: {exc} ({endpoint})"


def register(app: typer.Typer) -> None:
    """Add `explain` to `app`."""
    app.command("explain", help=EXPLAIN_HELP, no_args_is_help=True)(explain_command)
