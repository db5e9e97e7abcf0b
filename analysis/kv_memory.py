"""Memory to run one model: weights + KV cache, from `model_configs` (the explain command's KV section).

The KV cache of `batch` sequences of `context` tokens: full-attention layers grow with the context,
sliding-window layers stop at their window (the same formula as `db/views.sql` `kv_cache_bytes`).
GPU sizes are GiB, the way a "24 GB" card holds 24 x 1024^3 bytes; activations and framework
overhead are not counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import duckdb
from hubcensus.analysis.headline import fmt_bytes
from hubcensus.db.config_store import config_row

KV_DTYPES: dict[str, float] = {"bf16": 2, "f16": 2, "fp8": 1, "f32": 4}
"""Bytes per cached element of each `--kv-dtype`."""
GPU_GIB: tuple[int, ...] = (24, 48, 80, 141)
DEFAULT_CONTEXT = 8192


def kv_bytes(full_bpt: int, sliding_bpt: int, window: int | None, context: int, *, scale: float = 1) -> int:
    """Bytes of one sequence: full layers x context + sliding layers x min(context, window), times `scale`."""
    held = context if window is None else min(context, window)
    return int((full_bpt * context + sliding_bpt * held) * scale)


def kv_section(
    con: Any, info: Mapping[str, Any], *, context: int | None = None, batch: int = 1, kv_dtype: str = "bf16"
) -> dict[str, Any]:
    """`kv_cache` and `memory_to_run` of an explain dict (empty when the config was never read)."""
    if kv_dtype not in KV_DTYPES:
        raise ValueError(f"--kv-dtype must be one of {', '.join(KV_DTYPES)}, not {kv_dtype!r}")
    if batch < 1 or (context is not None and context < 1):
        raise ValueError("--context and --batch must be positive")
    try:
        row = config_row(con, info["model_id"])
    except duckdb.Error:  # a database written before model_configs existed
        return {}
    if row is None:
        return {}
    scale = KV_DTYPES[kv_dtype] / 2  # stored figures are bf16
    max_context = row["max_context"]
    tokens = context or min(DEFAULT_CONTEXT, max_context or DEFAULT_CONTEXT)
    known = row["kv_full_bytes_per_token"] is not None and row["kv_sliding_bytes_per_token"] is not None
    per_seq = (
        kv_bytes(row["kv_full_bytes_per_token"], row["kv_sliding_bytes_per_token"], row["sliding_window"], tokens,
                 scale=scale)
        if known else None
    )  # fmt: skip
    total_kv = None if per_seq is None else per_seq * batch
    cache = {
        "bytes_per_token": None if not known else int(row["kv_bytes_per_token"] * scale),
        "bytes": total_kv, "context": tokens, "batch": batch, "dtype": kv_dtype, "rule": row["rule"],
        "attention": row["attention"], "max_context": max_context,
        "past_max_context": bool(max_context and tokens > max_context),
        "sliding_window": row["sliding_window"], "sliding_layers": row["sliding_layers"],
        "layers": row["layers"], "attention_layers": row["attention_layers"], "kv_heads": row["kv_heads"],
        "head_dim": row["head_dim"],
        "uncompressed_bytes_per_token": None if row["kv_uncompressed_bytes_per_token"] is None
        else int(row["kv_uncompressed_bytes_per_token"] * scale),
        "header_check": row["header_check"], "reason": row["reason"], "flags": row["flags"],
        "config_sha": row["sha"], "config_current": row["sha"] == info.get("sha"),
    }  # fmt: skip
    weights = info.get("weight_bytes")
    memory = info.get("memory") or {}
    gpus = []
    for gib in GPU_GIB:
        capacity = gib * 2**30
        fits = {}
        for label, key in (("as_stored", "as_stored"), ("8bit", "fp8"), ("4bit", "int4")):
            need = None if memory.get(key) is None or total_kv is None else memory[key] + total_kv
            fits[label] = None if need is None else need <= capacity
        gpus.append({"gib": gib, **fits})
    run = {
        "weights_bytes": weights, "kv_bytes": total_kv,
        "total_bytes": None if weights is None or total_kv is None else weights + total_kv, "gpus": gpus,
    }  # fmt: skip
    return {"kv_cache": cache, "memory_to_run": run}


def _fits(value: bool | None) -> str:
    return "-" if value is None else "fits" if value else "no"


def render_kv(info: Mapping[str, Any]) -> list[str]:
    """The KV cache and memory-to-run lines of `explain` (nothing when no config was read)."""
    cache, run = info.get("kv_cache"), info.get("memory_to_run")
    if not cache or not run:
        return []
    lines = ["", f"KV cache ({cache['dtype']}, {cache['batch']} x {cache['context']:,} tokens):"]
    if cache["bytes"] is None:
        lines.append(f"  unknown: {cache['reason'] or 'layout not readable'}")
        return lines
    lines.append(f"  rule: {cache['rule']} ({cache['attention']})")
    if cache["attention"] == "mla":
        lines.append(f"  {cache['layers']} layers x 1 latent of {cache['head_dim']} (kv_lora_rank + rope dims), "
                     f"no K/V pair: {cache['bytes_per_token']:,} bytes per token "
                     f"(uncompressed it would be {cache['uncompressed_bytes_per_token'] or 0:,})")  # fmt: skip
    else:
        lines.append(f"  {cache['attention_layers']} KV layers x {cache['kv_heads']} KV head{'s' if cache['kv_heads'] != 1 else ''} x head_dim "
                     f"{cache['head_dim']} x 2 (K and V): {cache['bytes_per_token']:,} bytes per token")  # fmt: skip
    if cache["sliding_window"]:
        lines.append(
            f"  {cache['sliding_layers']} sliding layers hold at most {cache['sliding_window']:,} tokens"
        )
    lines.append(f"  = {fmt_bytes(cache['bytes'])} ({cache['bytes'] / 2**30:.2f} GiB)")
    if cache["past_max_context"]:
        lines.append(
            f"  {cache['context']:,} tokens is past the model's max context ({cache['max_context']:,})"
        )
    if cache["header_check"] == "disagrees":
        lines.append("  the safetensors shapes disagree with the config: " + "; ".join(cache["flags"][-2:]))
    lines.append("")
    total = run["total_bytes"]
    lines.append(f"Memory to run: {fmt_bytes(run['weights_bytes'])} weights + {fmt_bytes(run['kv_bytes'])} KV "
                 f"= {fmt_bytes(total)} ({(total or 0) / 2**30:.1f} GiB), before activations and overhead")  # fmt: skip
    lines.append(f"  {'GPU':<8} {'as stored':>10} {'8-bit':>8} {'4-bit':>8}")
    for gpu in run["gpus"]:
        lines.append(f"  {str(gpu['gib']) + ' GB':<8} {_fits(gpu['as_stored']):>10} {_fits(gpu['8bit']):>8} "
                     f"{_fits(gpu['4bit']):>8}")  # fmt: skip
    return lines
