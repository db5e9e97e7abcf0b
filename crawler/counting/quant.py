"""Quantization schemes from tensor names, dtypes and shapes (pure, no I/O).

Each tensor is classified as a parameter tensor (with its effective, unpacked count)
or as overhead (scales, zeros, g_idx, absmax, ...). Packed storage is unpacked by the
bit width: an I32 `qweight` holds 32/bits weights, a U8 bnb-4bit/MXFP4/NVFP4 byte
holds two 4-bit values. Tensor evidence decides first, the repo config second: bit
widths come from sibling shapes where they tell (GPTQ/AWQ qzeros vs scales, MLX
weight vs scales x group size), else from the config, else 4.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from hubcensus.dtypes import DTYPE_BITS, FLOAT8_DTYPES

METHODS = (
    "none",
    "fp8",
    "int8",
    "gptq",
    "awq",
    "compressed-tensors",
    "bnb-4bit",
    "bnb-8bit",
    "mxfp4",
    "nvfp4",
    "mlx",
    "exl2",
    "fp4",
    "fp6",
    "gguf",
    "unknown",
)
DEFAULT_BITS = 4
VALID_BITS = frozenset({2, 3, 4, 5, 6, 8})
MLX_DEFAULT_GROUP = 64
# Tensors that are always quantization bookkeeping, whatever they sit next to.
ALWAYS_OVERHEAD = frozenset(
    {"input_scale", "k_scale", "v_scale", "q_scale", "output_scale", "input_global_scale"}
)
_EXL2_OVERHEAD = ("q_scale", "q_scale_max", "q_groups", "q_perm", "q_invperm", "q_group_map")
_GPTQ_AWQ_OVERHEAD = ("qzeros", "scales", "g_idx")
_CT_OVERHEAD = (
    "weight_scale",
    "weight_zero_point",
    "weight_shape",
    "weight_g_idx",
    "weight_global_scale",
    "input_global_scale",
    "input_scale",
)
_SCALE_OVERHEAD = ("weight_scale", "weight_scale_inv", "weight_scale_2", "weight_zero_point", "input_scale")
_BNB4 = re.compile(r"^(.*)\.weight\.(absmax|quant_map|nested_absmax|nested_quant_map|quant_state\..+)$")
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


class Shape(NamedTuple):
    """dtype and shape of one stored tensor, keyed by name in the maps below."""

    dtype: str
    shape: tuple[int, ...]


class TensorClass(NamedTuple):
    """Verdict for one tensor: its method, effective parameters (0 for overhead) and labels."""

    method: str
    effective: int
    overhead: bool
    fmt: str  # logical format for the role profile: the dtype, or INT4 / NF4 / MXFP4 / NVFP4 ...
    owner: str  # the weight tensor it belongs to (itself for parameters)
    evidence: str  # short label such as "I32 qweight"; "" for plain tensors


@dataclass(frozen=True)
class QuantConfig:
    """What the repo's config declares about quantization (all optional)."""

    method: str | None = None
    bits: int | None = None
    group_size: int | None = None
    detail: str | None = None
    module_bits: dict[str, int] = field(default_factory=dict)
    evidence: str = ""


def read_config(config: Mapping[str, Any] | None) -> QuantConfig:
    """Normalise `quantization_config` (or MLX's top-level `quantization`) into a QuantConfig."""
    if not isinstance(config, Mapping):
        return QuantConfig()
    qc = config.get("quantization_config")
    mlx = config.get("quantization")
    if not isinstance(qc, Mapping):
        qc = mlx if isinstance(mlx, Mapping) else None
        if qc is None:
            return QuantConfig()
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
    return QuantConfig(method, bits, group, detail, module_bits, " ".join(parts))


def classify(tensors: Mapping[str, Shape], qc: QuantConfig | None = None) -> dict[str, TensorClass]:
    """Classify every tensor of a model (all shards together, since scales may sit in another shard)."""
    qc = qc or QuantConfig()
    out: dict[str, TensorClass] = {}
    for name, (dtype, shape) in tensors.items():
        module, _, leaf = name.rpartition(".")
        if name in out:
            continue
        found = _anchor(name, module, leaf, dtype, shape, tensors, qc)
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


def _anchor(
    name: str,
    module: str,
    leaf: str,
    dtype: str,
    shape: tuple[int, ...],
    tensors: Mapping[str, Shape],
    qc: QuantConfig,
) -> tuple[TensorClass, list[str]] | None:
    """A packed or quantized weight tensor and the names of its overhead siblings, else None."""
    numel = _numel(shape)
    width = DTYPE_BITS.get(dtype, 0)
    sib = f"{module}." if module else ""
    if leaf == "qweight":
        bits = (
            _packed_bits(
                shape, tensors.get(sib + "qzeros"), tensors.get(sib + "scales"), tensors.get(sib + "g_idx")
            )
            or qc.bits
            or DEFAULT_BITS
        )
        method = _gptq_or_awq(shape, tensors.get(sib + "scales"), sib + "g_idx" in tensors, qc, bits)
        return (
            TensorClass(method, numel * width // bits, False, f"INT{bits}", name, f"{dtype} qweight"),
            [sib + s for s in _GPTQ_AWQ_OVERHEAD],
        )
    if leaf == "q_weight" and (sib + "q_invperm" in tensors or sib + "q_perm" in tensors):
        perm = tensors.get(sib + "q_invperm") or tensors[sib + "q_perm"]  # EXL2: [in] permutation
        effective = perm.shape[0] * shape[-1] if perm.shape and shape else 0
        return (
            TensorClass("exl2", effective, False, "EXL2", name, f"{dtype} q_weight"),
            [sib + s for s in _EXL2_OVERHEAD],
        )
    if leaf == "weight_packed":
        scale = tensors.get(sib + "weight_scale")
        nvfp4 = dtype == "U8" and scale is not None and scale.dtype in FLOAT8_DTYPES
        bits = 4 if nvfp4 else qc.bits or DEFAULT_BITS
        return (
            TensorClass(
                "compressed-tensors",
                numel * width // bits,
                False,
                "NVFP4" if nvfp4 else f"INT{bits}",
                name,
                f"{dtype} weight_packed",
            ),
            [sib + s for s in _CT_OVERHEAD],
        )
    if leaf.endswith("_blocks") and dtype == "U8" and sib + leaf[: -len("_blocks")] + "_scales" in tensors:
        return (
            TensorClass("mxfp4", numel * 2, False, "MXFP4", name, "U8 *_blocks"),
            [sib + leaf[: -len("_blocks")] + "_scales"],
        )
    if leaf != "weight":
        return None
    if (
        f"{name}.absmax" in tensors
        or f"{name}.quant_map" in tensors
        or any(f"{name}.quant_state.bitsandbytes__{t}" in tensors for t in ("nf4", "fp4"))
    ):
        fp4 = f"{name}.quant_state.bitsandbytes__fp4" in tensors or (qc.detail or "").lower() == "fp4"
        return (
            TensorClass(
                "bnb-4bit",
                numel * width // 4,
                False,
                "FP4" if fp4 else "NF4",
                name,
                f"{dtype} bnb-4bit weight",
            ),
            [],
        )
    if sib + "SCB" in tensors:
        return TensorClass("bnb-8bit", numel, False, "INT8", name, f"{dtype} weight + SCB"), [
            sib + "SCB",
            sib + "weight_format",
        ]
    if dtype == "U32" and sib + "scales" in tensors:  # MLX: affine (scales + biases) or mxfp4 (U8 scales)
        scales = tensors[sib + "scales"]
        biases = sib + "biases" in tensors
        fp4 = not biases and (scales.dtype == "U8" or qc.detail == "mxfp4")
        group = qc.group_size or (32 if fp4 else MLX_DEFAULT_GROUP)
        inferred = _ratio_bits(shape[-1], scales.shape[-1] * group) if shape and scales.shape else None
        bits = qc.module_bits.get(module) or inferred or qc.bits or DEFAULT_BITS
        label = "U32 weight + scales + biases" if biases else "U32 weight + scales"
        return (
            TensorClass("mlx", numel * 32 // bits, False, "MXFP4" if fp4 else f"INT{bits}", name, label),
            [sib + "scales", sib + "biases"],
        )
    scale = tensors.get(sib + "weight_scale")
    if dtype == "U8" and scale is not None and scale.dtype in FLOAT8_DTYPES:
        return (
            TensorClass("nvfp4", numel * 2, False, "NVFP4", name, f"U8 weight + {scale.dtype} weight_scale"),
            [sib + s for s in _SCALE_OVERHEAD],
        )
    if dtype in FLOAT8_DTYPES:
        return TensorClass("fp8", numel, False, dtype, name, f"{dtype} weight"), [
            sib + s for s in _SCALE_OVERHEAD
        ]
    if dtype == "I8" and scale is not None:
        return TensorClass("int8", numel, False, "INT8", name, "I8 weight + weight_scale"), [
            sib + s for s in _SCALE_OVERHEAD
        ]
    if dtype == "F4" or dtype.startswith("F6_"):
        method = "fp4" if dtype == "F4" else "fp6"
        return TensorClass(method, numel, False, dtype, name, f"{dtype} weight"), [
            sib + s for s in _SCALE_OVERHEAD
        ]
    return None


def _packed_bits(
    qweight: tuple[int, ...], qzeros: Shape | None, scales: Shape | None, g_idx: Shape | None
) -> int | None:
    """Bit width of a GPTQ/AWQ qweight from its siblings' shapes, None if they do not tell.

    Both pack zeros as qzeros [in/g, out*b/32] next to scales [in/g, out]; GPTQ also
    stores g_idx [in] next to qweight [in*b/32, out].
    """
    if qzeros is not None and scales is not None and len(qzeros.shape) == 2 and len(scales.shape) == 2:
        bits = _ratio_bits(qzeros.shape[1], scales.shape[1])
        if bits:
            return bits
    if g_idx is not None and len(g_idx.shape) == 1 and len(qweight) == 2:
        return _ratio_bits(qweight[0], g_idx.shape[0])
    return None


def _ratio_bits(packed: int, values: int, width: int = 32) -> int | None:
    """Bits per value when `packed` words of `width` bits hold exactly `values` values."""
    if values <= 0 or (packed * width) % values:
        return None
    bits = packed * width // values
    return bits if bits in VALID_BITS else None


def _gptq_or_awq(
    shape: tuple[int, ...], scales: Shape | None, has_g_idx: bool, qc: QuantConfig, bits: int
) -> str:
    """GPTQ packs along the input dim (qweight [in*b/32, out]), AWQ along the output dim ([in, out*b/32])."""
    if has_g_idx:
        return "gptq"
    if scales is not None and len(shape) == 2 and len(scales.shape) == 2:
        if shape[1] == scales.shape[1]:
            return "gptq"
        if shape[1] * 32 // bits == scales.shape[1]:
            return "awq"
    return qc.method if qc.method in ("gptq", "awq") else "gptq"


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
