"""Peer check: our KV-cache figures against hf-mem's on the same real configs, offline.

    .venv/bin/pip install hf-mem        # bench only: never a runtime dependency
    .venv/bin/python bench/bench_kv.py [--contexts 4096,32768] [--configs ../shared/realdata/configs]

hf-mem (0.5.x) computes the KV cache in `hf_mem.safetensors.kv_cache.compute_safetensors_kv_cache_size
(config, cache_dtype, max_model_len, batch_size)`, a pure function of the config dict: we call it the
way `hf_mem.run` does (a `...ForConditionalGeneration` config with `text_config` is replaced by its
text_config; it needs `hidden_size`, `num_hidden_layers` and `num_attention_heads`), in BF16, batch 1,
for each context, with no network. Prints agreement and every disagreement with its reason, then how
fast our rules read configs (Hub scale: ~1M text-generating models). Skips cleanly without hf-mem.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hubcensus.crawler.counting.kv_cache import KvLayout, analyze_config, text_config

# real config.json files written by others: read beside the checkout, never copied into it
CONFIGS = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "configs"


def hf_mem_bytes(config: dict[str, Any], context: int) -> tuple[int | None, str | None]:
    """hf-mem's KV bytes (BF16, batch 1) for `context` tokens, or (None, why it gives nothing)."""
    from hf_mem.safetensors.kv_cache import compute_safetensors_kv_cache_size

    cfg = config
    archs = config.get("architectures") or []
    if any("ForConditionalGeneration" in a for a in archs) and "text_config" in config:
        cfg = dict(config["text_config"])
    missing = [k for k in ("hidden_size", "num_hidden_layers", "num_attention_heads") if k not in cfg]
    if missing:
        return None, f"hf-mem gives nothing: config lacks {', '.join(missing)}"
    return compute_safetensors_kv_cache_size(cfg, "BF16", context, 1), None


def reasons(config: dict[str, Any], ours: KvLayout, context: int) -> list[str]:
    """Why hf-mem's figure differs from ours (its simplifications, named)."""
    cfg, _ = text_config(config)
    heads = cfg.get("num_attention_heads")
    out = []
    if ours.attention == "mla":
        out.append(f"MLA: hf-mem caches 2 x {cfg.get('num_key_value_heads', heads)} heads x head_dim per layer; "
                   f"vLLM stores one latent of kv_lora_rank + qk_rope_head_dim = {ours.head_dim}")  # fmt: skip
    elif ours.kv_heads != cfg.get("num_key_value_heads", heads):
        out.append(f"KV heads: hf-mem {cfg.get('num_key_value_heads', heads)} (num_key_value_heads or heads), "
                   f"ours {ours.kv_heads} by rule {ours.rule}")  # fmt: skip
    if ours.attention == "hybrid":
        out.append(f"layers without attention: hf-mem counts all {ours.layers}, ours the {ours.attention_layers} "
                   "attention layers")  # fmt: skip
    if ours.sliding_layers and ours.sliding_window and context > ours.sliding_window:
        hybrid = "sliding_window_pattern" in cfg or "layer_types" in cfg
        how = (
            "counts them at the full context (hybrid: reserved pages)"
            if hybrid
            else "does not see them (no layer_types / sliding_window_pattern) and counts every token"
        )
        out.append(f"{ours.sliding_layers} sliding layers: hf-mem {how}; ours caps them at the "
                   f"{ours.sliding_window:,}-token window ({ours.rule})")  # fmt: skip
    hidden = cfg.get("hidden_size")
    if (
        ours.attention != "mla"
        and hidden
        and heads
        and "head_dim" not in cfg
        and ours.head_dim != hidden // heads
    ):
        out.append(f"head_dim: hf-mem hidden/heads = {hidden // heads}, ours {ours.head_dim} (kv_channels)")
    if any(f.startswith("library_default") for f in ours.flags):
        out.append("library defaults: " + ", ".join(f for f in ours.flags if f.startswith("library_default")))
    return out or ["unexplained"]


def compare(contexts: list[int], folder: Path) -> tuple[int, int, int]:
    """Print one line per (config, context); return (agreements, disagreements, hf-mem silent)."""
    agree = differ = silent = 0
    for path in sorted(folder.glob("*.json")):
        config = json.loads(path.read_text())
        ours = analyze_config(config)
        for context in contexts:
            mine = ours.kv_bytes(context)
            theirs, why_none = hf_mem_bytes(config, context)
            label = f"{path.stem:<20} {context:>7,} tok  ours {mine or 0:>15,}  hf-mem "
            if theirs is None:
                silent += 1
                print(f"{label}{'-':>15}  SILENT: {why_none}")
            elif theirs == mine:
                agree += 1
                print(f"{label}{theirs:>15,}  agree ({ours.rule})")
            else:
                differ += 1
                print(
                    f"{label}{theirs:>15,}  x{theirs / mine:.2f}  DIFFER: "
                    + "; ".join(reasons(config, ours, context))
                )
    return agree, differ, silent


def speed(folder: Path, n: int) -> float:
    """Configs per second through `analyze_config` (parsed dicts, the header pass's per-model cost)."""
    configs = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    start = time.perf_counter()
    for i in range(n):
        analyze_config(configs[i % len(configs)])
    return n / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contexts", default="4096,32768", help="comma-separated token counts")
    parser.add_argument("--configs", type=Path, default=CONFIGS, help="folder of config.json files")
    parser.add_argument(
        "--speed-configs", type=int, default=100_000, help="configs analysed for the speed line"
    )
    args = parser.parse_args()
    if not any(args.configs.glob("*.json")):
        print(f"bench_kv: no config.json files in {args.configs} (pass --configs DIR)", file=sys.stderr)
        return 1
    try:
        import hf_mem
    except ImportError:
        print("hf-mem is not installed (`.venv/bin/pip install hf-mem`): peer check skipped")
        return 0
    contexts = [int(c) for c in args.contexts.split(",") if c.strip()]
    print(f"hf-mem {getattr(hf_mem, '__version__', '?')} vs hubcensus on {args.configs} (BF16, batch 1)")
    agree, differ, silent = compare(contexts, args.configs)
    total = agree + differ + silent
    print(f"\nagree {agree}/{total}, differ {differ}/{total}, hf-mem silent {silent}/{total}")
    rate = speed(args.configs, args.speed_configs)
    print(f"our rules: {rate:,.0f} configs/s ({1e6 / rate:.1f} s of CPU per million text-generating models)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
