"""Quantization schemes from tensor names, dtypes and shapes (pure, no I/O).

Each tensor is classified as a parameter tensor (with its effective, unpacked count)
or as overhead (scales, zeros, g_idx, absmax, biases a quantizer added...). Which
stored tensor is a quantized weight is decided by the rule table in
`quant_rules.RULES` (each rule names the evidence it reads). Tensor evidence decides
first, the repo config second: bit widths come from sibling shapes where they tell
(GPTQ/AWQ qzeros vs scales, MLX weight vs scales x group size), else from the config,
else 4.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from hubcensus.crawler.counting.quant_rules import QuantConfig, Seen, Shape, TensorClass, match

from hubcensus.dtypes import DTYPE_BITS

__all__ = ["QuantConfig", "Shape", "TensorClass", "classify", "decide_method", "format_bits", "read_config"]

# Tensors that are always quantization bookkeeping, whatever they sit next to.
ALWAYS_OVERHEAD = frozenset(
    {"input_scale", "k_scale", "v_scale", "q_scale", "output_scale", "input_global_scale"}
)
_BNB4 = re.compile(r"^(.*)\.weight\.(absmax|quant_map|nested_absmax|nested_quant_map|quant_state\..+)$")
_ATTENTION_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj")
_MLP_LINEARS = ("gate_proj", "up_proj", "down_proj", "w1", "w2", "w3")
BIAS_FREE_LINEARS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("llama", "mistral", "mixtral", "gemma", "gemma2", "qwen3", "qwen3_moe"),
                    _ATTENTION_LINEARS + _MLP_LINEARS),
    **dict.fromkeys(("qwen2", "qwen2_moe"), ("o_proj", *_MLP_LINEARS)),  # q/k/v carry real biases
    "phi3": ("qkv_proj", "o_proj", "gate_up_proj", "down_proj"),
    "qwen": ("attn.c_proj", "mlp.w1", "mlp.w2", "mlp.c_proj"),  # Qwen-v1: c_attn keeps its real bias
}  # fmt: skip
"""Per `model_type`, the linear modules built without a bias (from the transformers modeling code);
the config's `attention_bias` / `mlp_bias` flags override the attention / MLP part."""

# Config spellings -> our method names.
_CONFIG_METHODS = {
    "gptq": "gptq",
    "awq": "awq",
    "compressed-tensors": "compressed-tensors",
    "compressed_tensors": "compressed-tensors",
    "fp8": "fp8",
    "fbgemm_fp8": "fp8",
    "finegrained_fp8": "fp8",
    "mxfp4": "mxfp4",
    "mlx": "mlx",
    "gguf": "gguf",
}


def read_config(config: Mapping[str, Any] | None) -> QuantConfig:
    """Normalise `quantization_config` (or MLX's top-level `quantization`) into a QuantConfig."""
    if not isinstance(config, Mapping):
        return QuantConfig()
    bias_free = _bias_free(config)
    qc = config.get("quantization_config")
    mlx = config.get("quantization")
    if not isinstance(qc, Mapping):
        qc = mlx if isinstance(mlx, Mapping) else None
        if qc is None:
            return QuantConfig(bias_free=bias_free)
        raw = "mlx"
    else:
        raw = str(qc.get("quant_method") or ("mlx" if isinstance(mlx, Mapping) else "")).lower()
    method: str | None = _CONFIG_METHODS.get(raw, raw or None)
    bits = _int(qc.get("bits")) or _int(qc.get("w_bit"))
    group = _int(qc.get("group_size")) or _int(qc.get("q_group_size"))
    detail = None
    if raw == "bitsandbytes":
        four = qc.get("load_in_4bit") or qc.get("_load_in_4bit")
        method, bits = ("bnb-4bit", 4) if four else ("bnb-8bit", 8)
        detail = str(qc.get("bnb_4bit_quant_type") or "") or None if four else None
    elif raw == "modelopt":
        algo = str(qc.get("quant_algo") or (qc.get("quantization") or {}).get("quant_algo") or "").upper()
        method = "nvfp4" if "NVFP4" in algo else "fp8" if "FP8" in algo else "modelopt"
        detail = algo or None
    elif method == "compressed-tensors":
        detail = str(qc.get("format") or "") or None
        groups = qc.get("config_groups")
        found = set()
        if isinstance(groups, Mapping):
            for g in groups.values():
                w = g.get("weights") if isinstance(g, Mapping) else None
                if isinstance(w, Mapping) and _int(w.get("num_bits")):
                    found.add(_int(w.get("num_bits")))
        bits = found.pop() if len(found) == 1 else bits
    module_bits: dict[str, int] = {}
    if method == "mlx" and isinstance(mlx, Mapping):
        bits = _int(mlx.get("bits")) or bits
        group = _int(mlx.get("group_size")) or group
        detail = str(mlx.get("mode") or "") or None
        module_bits = {k: b for k, v in mlx.items() if isinstance(v, Mapping) and (b := _int(v.get("bits")))}
    parts = [
        "quantization (mlx)"
        if raw == "mlx" and "quant_method" not in qc
        else f"quantization_config.quant_method={raw}"
    ]
    parts += [f"{k}={v}" for k, v in (("bits", bits), ("group_size", group), ("format", detail)) if v]
    return QuantConfig(method, bits, group, detail, module_bits, " ".join(parts), bias_free)


def _bias_free(config: Mapping[str, Any]) -> tuple[str, ...]:
    """Linear modules the architecture builds without a bias: `BIAS_FREE_LINEARS` of its `model_type`,
    with the config's `attention_bias` / `mlp_bias` flags (Llama-style configs) taking precedence."""
    free = set(BIAS_FREE_LINEARS.get(str(config.get("model_type") or ""), ()))
    for flag, linears in (("attention_bias", _ATTENTION_LINEARS), ("mlp_bias", _MLP_LINEARS)):
        if config.get(flag) is False:
            free |= set(linears)
        elif config.get(flag) is True:
            free -= set(linears)
    if config.get("no_bias") is False:  # Qwen-v1's switch: every linear keeps a real bias
        free -= set(BIAS_FREE_LINEARS["qwen"])
    return tuple(sorted(free))


def classify(tensors: Mapping[str, Shape], qc: QuantConfig | None = None) -> dict[str, TensorClass]:
    """Classify every tensor of a model (all shards together, since scales may sit in another shard)."""
    qc = qc or QuantConfig()
    out: dict[str, TensorClass] = {}
    for name, (dtype, shape) in tensors.items():
        module, _, leaf = name.rpartition(".")
        if name in out:
            continue
        found = match(Seen(name, module, leaf, dtype, shape, tensors, qc))
        if found is None:
            continue
        verdict, overhead = found
        out[name] = verdict
        for other in overhead:
            if other in tensors and other not in out:
                out[other] = TensorClass(
                    verdict.method,
                    0,
                    True,
                    tensors[other].dtype,
                    name,
                    f"{tensors[other].dtype} {other.rpartition('.')[2]}",
                )
    for name, (dtype, shape) in tensors.items():
        if name in out:
            continue
        leaf = name.rpartition(".")[2]
        bnb = _BNB4.match(name)
        if bnb or leaf in ALWAYS_OVERHEAD:
            owner = bnb.group(1) + ".weight" if bnb else name
            label = "weight." + bnb.group(2) if bnb else leaf
            method = "bnb-4bit" if bnb else "none"
            out[name] = TensorClass(method, 0, True, dtype, owner, f"{dtype} {label}")
        else:
            out[name] = TensorClass("none", _numel(shape), False, dtype, name, "")
    return out


def decide_method(
    effective_by_method: Mapping[str, int],
    qc: QuantConfig,
    *,
    has_tensors: bool,
    gguf: Mapping[str, Any] | None,
) -> tuple[str, str | None, list[str]]:
    """(method, detail, flags) for a model or component: tensor evidence first, config second."""
    quantized = {m: n for m, n in effective_by_method.items() if m != "none" and n}
    flags: list[str] = []
    if not quantized:
        if not has_tensors:
            if gguf:
                return "gguf", None, flags
            return (qc.method, qc.detail, flags) if qc.method else ("unknown", None, flags)
        if qc.method and qc.method != "gguf":
            flags.append(
                f"config_quant_without_evidence: config says {qc.method} but tensors are unquantized"
            )
        return "none", None, flags
    method = max(sorted(quantized), key=lambda m: quantized[m])
    if qc.method == "compressed-tensors" and method in ("fp8", "int8", "nvfp4", "compressed-tensors"):
        return "compressed-tensors", qc.detail or method, flags
    detail = qc.detail if qc.method == method else None
    if qc.method and qc.method not in (method, "modelopt"):
        flags.append(f"config_method_mismatch: config says {qc.method}, tensors say {method}")
    return method, detail, flags


def format_bits(fmt: str) -> int | None:
    """Bits per weight of a logical format label (INT4, NF4, MXFP4, F8_E4M3, BF16, ...)."""
    if fmt.startswith("INT") and fmt[3:].isdigit():
        return int(fmt[3:])
    if fmt in ("NF4", "FP4", "MXFP4", "NVFP4"):
        return 4
    return DTYPE_BITS.get(fmt)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _int(value: Any) -> int | None:
    """A positive int from a config value, else None."""
    return value if type(value) is int and value > 0 else None
