"""The GGUF section of `explain`: a repo's variants (file type, size, parameters, bits per weight,
ggml type mix), from `v_gguf_variants` at the model's current sha."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubcensus.analysis.headline import fmt_bytes, fmt_params
from hubcensus.analysis.kv_memory import kv_section

_COLUMNS = (
    "variant", "file_type_label", "architecture", "files", "files_ok", "split_count", "complete", "is_projector",
    "size_bytes", "parameters", "tensor_bytes", "bits_per_weight", "dominant_type", "type_mix",
)  # fmt: skip


def gguf_variants(con: Any, model_id: str) -> list[dict[str, Any]]:
    """The model's GGUF variants, fewest bits per weight first (projectors last)."""
    try:
        rows = con.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM v_gguf_variants WHERE model_id = ? "
            "ORDER BY is_projector, bits_per_weight NULLS LAST, variant",
            [model_id],
        ).fetchall()
    except Exception:  # a database made before the GGUF tables: no variants to show
        return []
    return [dict(zip(_COLUMNS, row, strict=True)) for row in rows]


def gguf_errors(con: Any, model_id: str) -> list[tuple[str, str]]:
    """(path, one-line reason) of the model's GGUF files whose headers were refused."""
    try:
        return con.execute(
            "SELECT g.path, g.error FROM gguf_files g JOIN models m ON m.model_id = g.model_id AND m.sha = g.sha "
            "WHERE g.model_id = ? AND g.status = 'error' ORDER BY g.path",
            [model_id],
        ).fetchall()
    except Exception:
        return []


def gguf_kv(con: Any, info: Mapping[str, Any], **kv: Any) -> dict[str, Any] | None:
    """The KV cache to add to each GGUF variant: the model's own, else its base model's (a GGUF repo has
    no config.json; `base_model:quantized:BASE` names the model it quantizes). None when unknown."""
    own = info.get("kv_cache")
    if own and own.get("bytes") is not None:
        return {**own, "from": info["model_id"]}
    try:
        row = con.execute(
            "SELECT base_models[1] FROM models WHERE model_id = ? AND base_relation = 'quantized'", [info["model_id"]]
        ).fetchone()
    except Exception:
        return None
    if not row or not row[0]:
        return None
    cache = kv_section(con, {"model_id": row[0], "sha": None}, **kv).get("kv_cache")
    return {**cache, "from": row[0]} if cache and cache.get("bytes") is not None else None


def gguf_summary(info: Mapping[str, Any]) -> list[str]:
    """The model's own figures when they come from a representative GGUF variant."""
    params, weight, bits = info.get("effective_parameters"), info.get("weight_bytes"), info.get("bits_per_parameter")
    if not params or not weight:
        return ["No complete GGUF variant could be read."]
    lines = [
        f"Weights (its representative GGUF variant): {fmt_bytes(weight)} of tensors, mostly "
        f"{info.get('dominant_dtype')}; {fmt_params(params)} parameters ({params:,})"
        + (f" at {bits:.2f} bits per parameter." if bits else ".")
    ]
    lines.extend(f"  evidence: {item}" for item in info.get("evidence") or [])
    return lines


def render_gguf(info: Mapping[str, Any]) -> list[str]:
    """The GGUF lines of `explain` (empty when the model has no GGUF files read)."""
    variants = [v for v in info.get("gguf_variants") or [] if v["files_ok"]]
    errors = info.get("gguf_errors") or []
    if not variants and not errors:
        return []
    weights = [v for v in variants if not v["is_projector"]]
    kv = info.get("gguf_kv")
    lines = ["", f"GGUF variants ({len(weights)}, exact from the GGUF headers; memory to hold each ~ its size):"]
    if kv:
        lines.append(
            f"  to run: + KV cache {fmt_bytes(kv['bytes'])} ({kv['context']:,} tokens x {kv['batch']}, {kv['dtype']}"
            f", from the config of {kv['from']})"
        )
    if variants:
        run = f" {'to run':>9}" if kv else ""
        lines.append(f"  {'variant':<40} {'file type':<10} {'size':>9}{run} {'params':>7} {'bits/w':>6}  ggml types")
    for v in variants:
        name = v["variant"] + (" (projector)" if v["is_projector"] else "")
        if v["split_count"] and v["split_count"] > 1:
            name += f" [{v['files']}/{v['split_count']} files]"
        bits = f"{v['bits_per_weight']:.2f}" if v["bits_per_weight"] else "-"
        run = f" {fmt_bytes((v['tensor_bytes'] or 0) + kv['bytes']):>9}" if kv else ""
        lines.append(
            f"  {name[:40]:<40} {v['file_type_label'] or '-':<10} {fmt_bytes(v['size_bytes']):>9}{run} "
            f"{fmt_params(v['parameters']):>7} {bits:>6}  {v['type_mix'] or '-'}"
            + ("" if v["complete"] else "  (incomplete)")
        )
    for path, reason in errors:
        lines.append(f"  unreadable: {path}: {reason}")
    return lines
