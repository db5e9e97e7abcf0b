"""Rebuild MoE tensor shapes from index names (or from the config alone) and config dims (test helper).

`shape_of(name, cfg)` knows the Mixtral / WizardLM-2, gpt-oss, DeepSeek-V3, Qwen3-MoE and Granite-MoE
modules (Hugging Face transformers layouts); `deepseek_v3_names`, `qwen3_moe_names`, `granite_moe_names`
list a checkpoint's tensor names when its index is absent. Pure; import as `from moe_shapes import ...`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hubcensus.crawler.counting.quant import Shape

REALDATA = Path(__file__).resolve().parents[3] / "shared" / "realdata"


def load(rel: str) -> dict[str, Any]:
    return json.loads((REALDATA / rel).read_text())


def index_names(model_dir: str) -> list[str]:
    return sorted(load(f"models/{model_dir}/model.safetensors.index.json")["weight_map"])


def _dims(cfg: dict[str, Any]) -> dict[str, int]:
    h = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    hd = cfg.get("head_dim") or h // heads
    return {
        "h": h, "v": cfg["vocab_size"], "q": heads * hd, "kv": cfg.get("num_key_value_heads", heads) * hd,
        "i": cfg["intermediate_size"], "mi": cfg.get("moe_intermediate_size") or cfg["intermediate_size"],
        "e": cfg.get("num_local_experts") or cfg.get("num_experts") or cfg.get("n_routed_experts") or 0,
        "hd": hd, "heads": heads,
    }  # fmt: skip


def shape_of(name: str, cfg: dict[str, Any]) -> Shape:
    """dtype and shape of one tensor of the families above (BF16; gpt-oss experts MXFP4 as stored)."""
    d = _dims(cfg)
    h, v, q, kv, i, mi, e = d["h"], d["v"], d["q"], d["kv"], d["i"], d["mi"], d["e"]
    leaf = name.rsplit(".", 2)
    module, kind = leaf[-2], leaf[-1]
    if kind in ("bias", "sinks") and "experts" not in name and "router" not in name:
        size = {"q_proj": q, "k_proj": kv, "v_proj": kv, "o_proj": h}.get(module, d["heads"])
        return Shape("BF16", (size,))
    if "norm" in module or "norm" in kind:
        size = {"q_a_layernorm": cfg.get("q_lora_rank"), "kv_a_layernorm": cfg.get("kv_lora_rank"),
                "q_norm": d["hd"], "k_norm": d["hd"]}.get(module) or h  # fmt: skip
        return Shape("BF16", (size,))
    if module in ("embed_tokens", "lm_head", "head"):
        return Shape("BF16", (v, h))
    if "mlp.experts." in name and kind.endswith(("_blocks", "_scales", "_bias")):  # gpt-oss, stacked MXFP4
        out = 2 * i if kind.startswith("gate_up") else h
        inner = i if kind.startswith("down") else h
        if kind.endswith("_bias"):
            return Shape("BF16", (e, out))
        return Shape("U8", (e, out, inner // 32, 16) if kind.endswith("_blocks") else (e, out, inner // 32))
    if module in ("router", "gate") and ("mlp." + module in name or "block_sparse_moe.gate" in name):
        return Shape("BF16", (e, h) if kind == "weight" else (e,))
    if module == "gate" and kind == "e_score_correction_bias":
        return Shape("BF16", (e,))
    if name.endswith("block_sparse_moe.router.layer.weight"):
        return Shape("BF16", (e, h))
    if module == "input_linear":
        return Shape("BF16", (e, 2 * i, h))
    if module == "output_linear":
        return Shape("BF16", (e, h, i))
    width = cfg["moe_intermediate_size"] * cfg.get("n_shared_experts", 1) if "shared_experts" in name else (
        mi if ".experts." in name else i
    )
    if module in ("w1", "w3", "gate_proj", "up_proj"):
        return Shape("BF16", (width, h))
    if module in ("w2", "down_proj"):
        return Shape("BF16", (h, width))
    rope, nope, vd = cfg.get("qk_rope_head_dim", 0), cfg.get("qk_nope_head_dim", 0), cfg.get("v_head_dim", 0)
    mla = {
        "q_a_proj": (cfg.get("q_lora_rank"), h),
        "q_b_proj": (d["heads"] * (nope + rope), cfg.get("q_lora_rank")),
        "kv_a_proj_with_mqa": ((cfg.get("kv_lora_rank") or 0) + rope, h),
        "kv_b_proj": (d["heads"] * (nope + vd), cfg.get("kv_lora_rank")),
        "eh_proj": (h, 2 * h),
    }
    if module in mla:
        return Shape("BF16", mla[module])
    if module == "o_proj":
        return Shape("BF16", (h, d["heads"] * vd if vd else q))
    if module in ("q_proj", "k_proj", "v_proj"):
        return Shape("BF16", ({"q_proj": q, "k_proj": kv, "v_proj": kv}[module], h))
    raise KeyError(name)


def shapes(names: list[str], cfg: dict[str, Any]) -> dict[str, Shape]:
    return {n: shape_of(n, cfg) for n in names}


def numel(table: dict[str, Shape]) -> int:
    return sum(math.prod(s.shape) for s in table.values())


def _attention(p: str, norms: tuple[str, ...] = ()) -> list[str]:
    return [p + f"self_attn.{m}.weight" for m in ("q_proj", "k_proj", "v_proj", "o_proj", *norms)]


def _swiglu(p: str) -> list[str]:
    return [p + f"{m}.weight" for m in ("gate_proj", "up_proj", "down_proj")]


def deepseek_v3_names(cfg: dict[str, Any]) -> list[str]:
    """DeepSeek-V3 / R1 tensors (MTP layers at index >= num_hidden_layers included, as published)."""
    out = ["model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"]
    layers = cfg["num_hidden_layers"]
    for n in range(layers + cfg.get("num_nextn_predict_layers", 0)):
        p = f"model.layers.{n}."
        out += [p + "input_layernorm.weight", p + "post_attention_layernorm.weight"]
        out += [p + f"self_attn.{m}.weight" for m in ("q_a_proj", "q_a_layernorm", "q_b_proj",
                                                       "kv_a_proj_with_mqa", "kv_a_layernorm", "kv_b_proj", "o_proj")]  # fmt: skip
        if n < cfg["first_k_dense_replace"]:
            out += _swiglu(p + "mlp.")
            continue
        out += [p + "mlp.gate.weight", p + "mlp.gate.e_score_correction_bias", *_swiglu(p + "mlp.shared_experts.")]
        for x in range(cfg["n_routed_experts"]):
            out += _swiglu(p + f"mlp.experts.{x}.")
        if n >= layers:  # the MTP module's own tensors
            out += [p + f"{m}.weight" for m in ("embed_tokens", "enorm", "hnorm", "eh_proj",
                                                 "shared_head.norm", "shared_head.head")]  # fmt: skip
    return out


def qwen3_moe_names(cfg: dict[str, Any]) -> list[str]:
    out = ["model.embed_tokens.weight", "model.norm.weight"]
    out += [] if cfg.get("tie_word_embeddings") else ["lm_head.weight"]
    for n in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{n}."
        out += [p + "input_layernorm.weight", p + "post_attention_layernorm.weight", p + "mlp.gate.weight"]
        out += _attention(p, ("q_norm", "k_norm"))
        for x in range(cfg["num_experts"]):
            out += _swiglu(p + f"mlp.experts.{x}.")
    return out


def granite_moe_names(cfg: dict[str, Any]) -> list[str]:
    out = ["model.embed_tokens.weight", "model.norm.weight"]
    out += [] if cfg.get("tie_word_embeddings") else ["lm_head.weight"]
    for n in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{n}."
        out += [p + "input_layernorm.weight", p + "post_attention_layernorm.weight", *_attention(p)]
        out += [p + f"block_sparse_moe.{m}.weight" for m in ("input_linear", "output_linear", "router.layer")]
    return out
