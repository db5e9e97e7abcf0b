"""Real-shaped config.json files: what the KV-cache rules read, as each family's real configs write it.

- `real_shaped(arch, base)`: the config.json of a synthetic LLM (hooked into `specs.config_for`), with
  the keys its family's real configs carry: `head_dim` where it is not hidden/heads (Mistral-Nemo-like
  12b, gpt-oss), `max_position_embeddings`, Qwen2's `use_sliding_window`/`max_window_layers`,
  gpt-oss's `layer_types` alternation and 128-token window. Consistent with `layouts` (k_proj rows =
  kv_heads x head_dim), so a header cross-check agrees.
- `write_repo(root, repo_id, config, tensors)`: an on-disk repo (`--repos DIR`) holding a real config
  (e.g. a real one from ../shared/realdata/configs) and a small real safetensors file, to serve any family.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

CONTEXT = {"llama": 131072, "qwen2": 32768, "mistral": 32768, "gpt_oss": 131072}


def real_shaped(arch: Any, base: dict[str, Any]) -> dict[str, Any]:
    """`base` (layers, heads, KV heads, hidden) plus the family keys of real configs of `arch.model_type`."""
    kind = arch.model_type
    if kind not in CONTEXT:
        return base
    full = dict(base)
    full["max_position_embeddings"] = CONTEXT[kind]
    if kind in ("llama", "mistral", "gpt_oss"):
        full["head_dim"] = arch.head_dim
    if kind == "llama":
        full.update(rope_theta=500000.0, tie_word_embeddings=arch.tied)
    elif kind == "mistral":
        full.update(rope_theta=1000000.0, sliding_window=None)
    elif kind == "qwen2":
        full.update(rope_theta=1000000.0, sliding_window=CONTEXT[kind], max_window_layers=arch.layers,
                    use_sliding_window=False, tie_word_embeddings=arch.tied)  # fmt: skip
    elif kind == "gpt_oss":
        full.update(sliding_window=128, num_local_experts=arch.experts, experts_per_token=arch.top_k,
                    num_experts_per_tok=arch.top_k,
                    layer_types=["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(arch.layers)])  # fmt: skip
    return full


def safetensors_bytes(tensors: dict[str, tuple[str, tuple[int, ...]]]) -> bytes:
    """A complete, valid safetensors file of zero-filled tensors {name: (dtype, shape)}."""
    widths = {"BF16": 2, "F16": 2, "F32": 4, "U8": 1, "I8": 1, "F8_E4M3": 1, "I32": 4}
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        size = widths[dtype]
        for dim in shape:
            size *= dim
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + bytes(offset)


def write_repo(
    root: str | Path,
    repo_id: str,
    config: dict[str, Any],
    tensors: dict[str, tuple[str, tuple[int, ...]]],
    *,
    pipeline_tag: str | None = "text-generation",
    created_at: str = "2025-01-01T00:00:00.000Z",
) -> Path:
    """Write `root/<org>/<name>/` with config.json, model.safetensors and hub.json; returns the folder."""
    folder = Path(root) / repo_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "model.safetensors").write_bytes(safetensors_bytes(tensors))
    meta = {"createdAt": created_at, "library_name": "transformers", "pipeline_tag": pipeline_tag}
    (folder / "hub.json").write_text(json.dumps(meta))
    return folder
