"""Cross-check a config's KV layout against the tensor shapes of the safetensors headers (pure).

Where the shapes tell it:
- ``...layers.N.<attn>.k_proj.weight`` has ``kv_heads x head_dim`` rows (out features), one per
  attention layer (GQA/MQA/MHA; MoE and hybrids alike);
- ``...layers.N.self_attn.kv_a_proj_with_mqa.weight`` has ``kv_lora_rank + qk_rope_head_dim`` rows (MLA);
- Falcon / BLOOM / GPT-NeoX fused ``query_key_value.weight`` has ``(heads + 2 x kv_heads) x head_dim`` rows.

Packed quantized storage (I32/U32 GPTQ/AWQ/MLX words, U8 4-bit pairs) does not show the logical
shape and is skipped, as are vision and audio towers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from hubcensus.crawler.counting.kv_cache import KvLayout

_LAYER = re.compile(r"(?:^|\.)(?:layers|h|blocks|layer)\.(\d+)\.(?:self_attn|attention|attn|self_attention|mixer)\."
                    r"(k_proj|kv_a_proj_with_mqa|query_key_value)\.weight$")  # fmt: skip
_PACKED = frozenset({"I32", "U32", "U8", "I64"})
_OTHER_TOWERS = ("vision", "visual", "audio", "image", "mm_projector", "multi_modal")


def cross_check(layout: KvLayout, tensors: Iterable[Any]) -> tuple[str | None, list[str]]:
    """('agrees' | 'disagrees' | None when the shapes cannot tell, flags describing a disagreement).

    `tensors`: objects with `name`, `dtype` and `shape` (the header parser's `Tensor`).
    """
    if not layout.known or layout.attention in ("none", None):
        return None, []
    rows: dict[str, set[int]] = {}
    layers: dict[str, set[int]] = {}
    for tensor in tensors:
        name = tensor.name
        match = _LAYER.search(name)
        if match is None or tensor.dtype in _PACKED or len(tensor.shape) != 2:
            continue
        if any(tower in name for tower in _OTHER_TOWERS):
            continue
        kind = match.group(2)
        rows.setdefault(kind, set()).add(int(tensor.shape[0]))
        layers.setdefault(kind, set()).add(int(match.group(1)))
    expected = _expected(layout)
    flags: list[str] = []
    checked = False
    for kind, want in expected.items():
        if kind not in rows:
            continue
        checked = True
        seen = sorted(rows[kind])
        if seen != [want]:
            flags.append(f"kv_header_disagrees:{kind} rows {seen[:4]} != {want}")
        count = len(layers[kind])
        if layout.attention_layers is not None and count < layout.attention_layers:
            flags.append(
                f"kv_header_disagrees:{kind} in {count} layers, config says {layout.attention_layers}"
            )
    if not checked:
        return None, []
    return ("disagrees" if flags else "agrees"), flags


def _expected(layout: KvLayout) -> dict[str, int]:
    """Rows each projection must have under the config's layout."""
    if layout.attention == "mla":
        return {"kv_a_proj_with_mqa": (layout.kv_lora_rank or 0) + (layout.qk_rope_head_dim or 0)}
    kv, dim, heads = layout.kv_heads or 0, layout.head_dim or 0, layout.heads or 0
    return {"k_proj": kv * dim, "query_key_value": (heads + 2 * kv) * dim}
