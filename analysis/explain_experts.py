"""The mixture-of-experts part of `explain`: active parameters per token, the expert layout, and how many
weight bytes sit in the routed experts (what offloading experts to host RAM would leave on the GPU)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubcensus.analysis.headline import fmt_bytes, fmt_params

CONVENTION = "embeddings and lm_head included; routed experts top_k/n_experts; shared experts included; MTP layers excluded"
"""The header pass's rule (crawler/counting/experts.py), printed beside the figure."""


def experts_section(con: Any, model_id: str, profile: Mapping[str, Any]) -> dict[str, Any]:
    """`active_parameters` and the layout from `models`; `expert_bytes` from the experts role's bytes."""
    row = con.execute(
        "SELECT active_params, expert_count, experts_per_token, shared_experts, expert_params, active_reason "
        "FROM models WHERE model_id = ?",
        [model_id],
    ).fetchone()
    active, count, top_k, shared, expert_params, reason = row or (None,) * 6
    role = (profile.get("roles") or {}).get("experts") or {}
    expert_bytes = sum(f.get("bytes", 0) for f in (role.get("formats") or {}).values())
    expert_bytes += role.get("overhead_bytes") or 0
    moe = bool(count and count > 1)
    layout = None
    if moe and top_k:
        layout = f"{top_k} of {count} experts" + (f" + {shared} shared" if shared else "")
    return {
        "active_parameters": active,
        "experts": {
            "expert_count": count, "experts_per_token": top_k, "shared_experts": shared, "layout": layout,
            "expert_params": expert_params, "expert_bytes": expert_bytes if moe else None, "reason": reason,
            "convention": CONVENTION,
        },
    }  # fmt: skip


def render_parameters_line(info: Mapping[str, Any]) -> list[str]:
    """'46.7B parameters, 12.9B active per token (2 of 8 experts)' for an MoE model; nothing for a dense one."""
    e = info.get("experts") or {}
    total, active = info.get("effective_parameters"), info.get("active_parameters")
    if not e.get("expert_count") or e["expert_count"] < 2:
        return []
    if active is None:
        return [f"Mixture of experts ({e['expert_count']} experts): active parameters unknown: {e.get('reason')}."]
    return [
        f"{fmt_params(total)} parameters, {fmt_params(active)} active per token ({e['layout']})",
        f"  convention: {e['convention']}",
    ]


def render_expert_memory(info: Mapping[str, Any]) -> list[str]:
    """Which part of the weight bytes is routed experts (memory to run is unchanged: all experts)."""
    e = info.get("experts") or {}
    expert_bytes, total = e.get("expert_bytes"), info.get("weight_bytes")
    if not expert_bytes or not total:
        return []
    return [
        f"  of which routed experts {fmt_bytes(expert_bytes):>9}  ({expert_bytes / 2**30:.1f} GiB); "
        f"offloading them to host RAM leaves {fmt_bytes(total - expert_bytes)} on the GPU"
    ]
