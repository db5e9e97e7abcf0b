"""One model: why its files are X GB and how much memory its weights need.

`explain` reads the database (exact figures when its headers were read, the
listing's estimate otherwise, and says which); `render` turns that into the
answer a person asked for. `--json` prints the dict as is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubcensus.analysis.connect import open_readonly
from hubcensus.analysis.explain_experts import experts_section, render_expert_memory, render_parameters_line
from hubcensus.analysis.explain_gguf import gguf_errors, gguf_kv, gguf_summary, gguf_variants, render_gguf
from hubcensus.analysis.headline import fmt_bytes, fmt_params
from hubcensus.analysis.kv_memory import kv_section, render_kv
from hubcensus.db.renames import current_model_id

from hubcensus.dtypes import dtype_bits, memory_bytes

MEMORY_NOTE = "weights only: activations, KV cache and framework overhead come on top"


def _dtypes(con: Any, model_id: str, source: str) -> dict[str, dict[str, int]]:
    rows = con.execute(
        "SELECT dtype, parameters, bytes FROM model_dtypes WHERE model_id = ? AND source = ? ORDER BY bytes DESC",
        [model_id, source],
    ).fetchall()
    return {dtype: {"parameters": int(p), "bytes": int(b or 0)} for dtype, p, b in rows}


def explain(
    db_path: str | Path, model_id: str, *, context: int | None = None, batch: int = 1, kv_dtype: str = "bf16"
) -> dict[str, Any] | None:
    """The explain dict of `model_id` from the database, or None when it is not there.

    An old name finds the model under its current one (`model_renames`); `asked_as` then says which.
    `context`, `batch`, `kv_dtype`: the KV cache to add to the weights (`kv_memory.kv_section`).
    """
    db = open_readonly(db_path)
    try:
        con = db.con
        asked, model_id = model_id, current_model_id(con, model_id) or model_id
        row = con.execute(
            """
            SELECT model_id, sha, hub_total_params, effective_params, weight_bytes, file_bytes, bits_per_param,
                   quant_method, dominant_dtype, flags, weights_source, quant_evidence, profile, deep_at,
                   last_modified, library_name, deleted_at, gguf_total, config_quant_method
            FROM models WHERE model_id = ?
            """,
            [model_id],
        ).fetchone()
        if row is None:
            return None
        keys = ("model_id", "sha", "hub_total_parameters", "effective_parameters", "weight_bytes", "file_bytes",
                "bits_per_parameter", "quant_method", "dominant_dtype", "flags", "source", "evidence", "profile",
                "headers_read_at", "last_modified", "library_name", "deleted_at", "gguf_total",
                "config_quant_method")  # fmt: skip
        out = dict(zip(keys, row, strict=True))
        if asked != model_id:
            out["asked_as"] = asked
        profile = json.loads(out.pop("profile")) if out["profile"] else {}
        header = out["source"] == "header"
        out["parameters_by_dtype"] = _dtypes(con, model_id, "header" if header else "hub")
        out["hub_parameters_by_dtype"] = {
            d: v["parameters"] for d, v in _dtypes(con, model_id, "hub").items()
        }
        out["components"] = {
            name: {k: comp.get(k) for k in ("files", "file_bytes", "storage_parameters", "effective_parameters",
                                            "weight_bytes", "bits_per_parameter", "dominant_dtype", "method")}
            for name, comp in (profile.get("components") or {}).items()
        }  # fmt: skip
        out["roles"] = profile.get("roles") or {}
        out["method_detail"] = profile.get("method_detail")
        out["ignored_files"] = [
            f if isinstance(f, dict) else {"path": str(f), "reason": "not part of the weight set"}
            for f in profile.get("ignored_files") or []
        ]  # safetensors files outside the weight set (alternate copies, variants), with the reason
        out["flags"] = list(out["flags"] or [])
        out["evidence"] = list(out["evidence"] or [])
        out["memory"] = memory_bytes(out["weight_bytes"], out["effective_parameters"])
        out.update(experts_section(con, model_id, profile))
        out["header_error"] = None if header else _header_error(con, model_id)
        for key in ("headers_read_at", "last_modified", "deleted_at"):
            out[key] = out[key].isoformat() if out[key] is not None else None
        out.update(kv_section(con, out, context=context, batch=batch, kv_dtype=kv_dtype))
        out.update(_formats(con, model_id))
        out["gguf_variants"] = gguf_variants(con, model_id)
        out["gguf_errors"] = gguf_errors(con, model_id)
        out["gguf_kv"] = gguf_kv(con, out, context=context, batch=batch, kv_dtype=kv_dtype) if out["gguf_variants"] else None
        return out
    finally:
        db.close()


def _formats(con: Any, model_id: str) -> dict[str, Any]:
    """`weight_format` (from the siblings) and `header_formats`: the formats of the files the figures come
    from ('safetensors', 'pickle'), at the sha the headers were read."""
    have = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'models' AND column_name = 'weight_format'"
    ).fetchone()[0]
    if not have:  # a file written before migration 8, read without migrating
        return {"weight_format": None, "header_formats": []}
    row = con.execute(
        """
        SELECT m.weight_format,
               list(DISTINCT coalesce(f.file_format, 'safetensors') ORDER BY coalesce(f.file_format, 'safetensors'))
                   FILTER (WHERE f.path IS NOT NULL)
        FROM models m LEFT JOIN safetensors_files f ON f.model_id = m.model_id AND f.sha = m.deep_sha
        WHERE m.model_id = ? GROUP BY m.weight_format
        """,
        [model_id],
    ).fetchone()
    return {"weight_format": row[0] if row else None, "header_formats": list(row[1] or []) if row else []}


_HEADS = {"safetensors": "safetensors headers", "pickle": "PyTorch pickle heads"}


def _source_line(info: Mapping[str, Any]) -> str:
    """'figures from the safetensors headers (exact)', '... PyTorch pickle heads ...', or both."""
    if info.get("quant_method") == "gguf":
        return "  figures from the GGUF headers (exact)"
    heads = " and ".join(_HEADS[f] for f in info.get("header_formats") or ["safetensors"] if f in _HEADS)
    return f"  figures from the {heads or 'safetensors headers'} (exact)"


def _header_error(con: Any, model_id: str) -> dict[str, Any] | None:
    """Why this model's headers could not be read: its newest `fetch_errors` row, or None."""
    row = con.execute(
        "SELECT kind, status, message, occurred_at FROM fetch_errors WHERE model_id = ? "
        "ORDER BY occurred_at DESC, run_id DESC, seq DESC LIMIT 1",
        [model_id],
    ).fetchone()
    if row is None:
        return None
    kind, status, message, at = row
    return {"kind": kind, "status": status, "message": message, "at": at.isoformat() if at else None}


def example_model(db_path: str | Path) -> str | None:
    """The most downloaded live model whose headers were read (an example to explain), or None."""
    db = open_readonly(db_path)
    try:
        row = db.con.execute(
            "SELECT model_id FROM models WHERE weights_source = 'header' AND deleted_at IS NULL "
            "ORDER BY downloads DESC NULLS LAST, model_id LIMIT 1"
        ).fetchone()
    finally:
        db.close()
    return None if row is None else row[0]


def _why(info: Mapping[str, Any]) -> list[str]:
    """The arithmetic behind the weight bytes, one line per storage dtype that matters."""
    total = info.get("weight_bytes") or 0
    lines = []
    for dtype, figures in info["parameters_by_dtype"].items():
        bits = dtype_bits(dtype)
        share = figures["bytes"] / total if total else 0
        if share < 0.01 and len(lines) >= 1:
            continue
        width = f"{bits / 8:g} byte{'s' if bits != 8 else ''}" if bits else "unknown width"
        lines.append(
            f"  {dtype:<10} {figures['parameters']:>17,} elements x {width:<9} = {fmt_bytes(figures['bytes']):>9}"
            f"  ({share:.0%})"
        )
    return lines


def render(info: Mapping[str, Any]) -> str:
    """The human answer: sizes, the arithmetic, memory needs, quantization and its evidence."""
    exact = info["source"] == "header"
    lines = [f"{info['model_id']} @ {(info.get('sha') or '?')[:12]}"]
    if info.get("asked_as"):
        lines.append(f"  (asked as {info['asked_as']}: renamed on the Hub)")
    failure = info.get("header_error")
    if exact:
        lines.append(_source_line(info))
    elif failure:
        status = f" {failure['status']}" if failure.get("status") else ""
        lines.append("  figures estimated from the Hub's listing: the headers could not be read")
        lines.append(f"  ({failure['kind']}{status}, {(failure.get('at') or '')[:10]}): {failure['message']}")
    else:
        lines.append(
            "  figures estimated from the Hub's listing (headers not read yet: `hubcensus crawl --deep ...`)"
        )
    if info.get("deleted_at"):
        lines.append(f"  no longer public on the Hub (deleted or made private; not seen since {info['deleted_at'][:10]})")
    effective = info.get("effective_parameters")
    hub_total = info.get("hub_total_parameters")
    lines.append("")
    if not info["parameters_by_dtype"] and info.get("gguf_variants"):
        lines.extend(gguf_summary(info))
        lines.extend(render_gguf(info))
        return "\n".join(lines)
    if not info["parameters_by_dtype"]:
        lines.append("No safetensors or PyTorch pickle weights known for this model.")
        if info.get("gguf_total"):
            lines.append(f"GGUF parameters (Hub): {fmt_params(info['gguf_total'])}")
        lines.extend(render_gguf(info))
        return "\n".join(lines)
    lines.append(
        f"Weights: {fmt_bytes(info.get('weight_bytes'))} of tensors"
        + (f", {fmt_bytes(info.get('file_bytes'))} of files" if info.get("file_bytes") else "")
        + f", mostly {info.get('dominant_dtype')}."
    )
    lines.extend(_why(info))
    if effective:
        bits = info.get("bits_per_parameter")
        lines.append(
            f"Parameters: {fmt_params(effective)} ({effective:,})"
            + (f" at {bits:.2f} bits per parameter" if bits else "")
            + (
                f"; the Hub shows {fmt_params(hub_total)} ({hub_total:,})"
                if hub_total and hub_total != effective
                else ""
            )
            + "."
        )
    lines.extend(render_parameters_line(info))
    quant = info.get("quant_method") or "unknown"
    detail = f" ({info['method_detail']})" if info.get("method_detail") else ""
    lines.append(f"Quantization: {quant}{detail}.")
    for item in info.get("evidence") or []:
        lines.append(f"  evidence: {item}")
    mem = info["memory"]
    lines.append("")
    lines.append(f"Memory to hold the weights ({MEMORY_NOTE}):")
    for key, label in (
        ("as_stored", "as stored"),
        ("bf16", "cast to bf16"),
        ("fp8", "cast to fp8"),
        ("int4", "at 4-bit"),
    ):
        value = mem.get(key)
        if value is not None:
            lines.append(f"  {label:<13} {fmt_bytes(value):>9}  ({value / 2**30:.1f} GiB)")
    lines.extend(render_expert_memory(info))
    if len(info.get("components") or {}) > 1 or any(info.get("components") or {}):
        lines.append("")
        lines.append("Components:")
        for name, comp in info["components"].items():
            lines.append(
                f"  {name or '(root)':<16} {fmt_params(comp.get('effective_parameters')):>7} params"
                f"  {fmt_bytes(comp.get('weight_bytes')):>9}  {comp.get('dominant_dtype') or '-':<8} {comp.get('method')}"
            )
    lines.extend(render_gguf(info))
    if info.get("ignored_files"):
        lines.append("")
        lines.append("Ignored (not summed):")
        lines.extend(f"  {f['path']}  ({f['reason']})" for f in info["ignored_files"])
    if info.get("flags"):
        lines.append("")
        lines.append("Flags:")
        lines.extend(f"  {flag}" for flag in info["flags"])
    lines.extend(render_kv(info))
    return "\n".join(lines)
