"""The quantization rule table: which stored tensor is a quantized weight, and the evidence each rule reads.

`RULES` is tried in order for every tensor; the first rule that matches names the
method, the effective (unpacked) parameter count and the overhead siblings
(scales, zeros, permutations...). Tensors no rule claims are plain parameters
(or overhead by name, see `quant.classify`). Pure: names, dtypes and shapes in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from hubcensus.dtypes import DTYPE_BITS, FLOAT8_DTYPES

DEFAULT_BITS = 4
VALID_BITS = frozenset({2, 3, 4, 5, 6, 8})
MLX_DEFAULT_GROUP = 64
_EXL2_OVERHEAD = ("q_scale", "q_scale_max", "q_groups", "q_perm", "q_invperm", "q_group_map")
_GPTQ_AWQ_OVERHEAD = ("qzeros", "scales", "g_idx")
_CT_OVERHEAD = ("weight_scale", "weight_zero_point", "weight_shape", "weight_g_idx", "weight_global_scale",
                "input_global_scale", "input_scale")  # fmt: skip
_SCALE_OVERHEAD = ("weight_scale", "weight_scale_inv", "weight_scale_2", "weight_zero_point", "input_scale")


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
    bias_free: tuple[str, ...] = ()
    """Linear modules (name suffixes) the architecture builds without a bias: a `bias` beside their
    `qweight` is one the quantizer wrote (AutoGPTQ writes an all-zero bias for every quantized linear)."""


class Seen(NamedTuple):
    """One tensor being tried against the rules, with everything a rule may look at."""

    name: str
    module: str
    leaf: str
    dtype: str
    shape: tuple[int, ...]
    tensors: Mapping[str, Shape]
    qc: QuantConfig

    def sibling(self, leaf: str) -> str:
        """The full name of a tensor of the same module."""
        return f"{self.module}.{leaf}" if self.module else leaf

    def get(self, leaf: str) -> Shape | None:
        """A sibling's dtype and shape, if the model has it."""
        return self.tensors.get(self.sibling(leaf))

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def width(self) -> int:
        return DTYPE_BITS.get(self.dtype, 0)


Found = tuple[TensorClass, list[str]]
"""A quantized weight's verdict and the names of its overhead siblings."""


@dataclass(frozen=True)
class Rule:
    """One row of the table: the method it detects, the evidence it reads, and the test."""

    method: str
    evidence: str
    match: Callable[[Seen], Found | None]


def _verdict(t: Seen, method: str, effective: int, fmt: str, label: str) -> TensorClass:
    return TensorClass(method, effective, False, fmt, t.name, label)


def _qweight(t: Seen) -> Found | None:
    if t.leaf != "qweight":
        return None
    bits = (
        _packed_bits(t.shape, t.get("qzeros"), t.get("scales"), t.get("g_idx")) or t.qc.bits or DEFAULT_BITS
    )
    method = _gptq_or_awq(t.shape, t.get("scales"), t.get("g_idx") is not None, t.qc, bits)
    overhead = [t.sibling(s) for s in _GPTQ_AWQ_OVERHEAD]
    if any(t.module == m or t.module.endswith("." + m) for m in t.qc.bias_free):
        overhead.append(t.sibling("bias"))
    return _verdict(t, method, t.numel * t.width // bits, f"INT{bits}", f"{t.dtype} qweight"), overhead


def _exl2(t: Seen) -> Found | None:
    perm = t.get("q_invperm") or t.get("q_perm")  # EXL2: an [in] permutation
    if t.leaf != "q_weight" or perm is None:
        return None
    effective = perm.shape[0] * t.shape[-1] if perm.shape and t.shape else 0
    return _verdict(t, "exl2", effective, "EXL2", f"{t.dtype} q_weight"), [
        t.sibling(s) for s in _EXL2_OVERHEAD
    ]


def _weight_packed(t: Seen) -> Found | None:
    if t.leaf != "weight_packed":
        return None
    scale = t.get("weight_scale")
    nvfp4 = t.dtype == "U8" and scale is not None and scale.dtype in FLOAT8_DTYPES
    bits = 4 if nvfp4 else t.qc.bits or DEFAULT_BITS
    fmt = "NVFP4" if nvfp4 else f"INT{bits}"
    verdict = _verdict(t, "compressed-tensors", t.numel * t.width // bits, fmt, f"{t.dtype} weight_packed")
    return verdict, [t.sibling(s) for s in _CT_OVERHEAD]


def _mxfp4_blocks(t: Seen) -> Found | None:
    if t.dtype != "U8":
        return None
    if t.leaf.endswith("_blocks"):  # transformers: experts.gate_up_proj_blocks + _scales
        scales, label = t.sibling(t.leaf[: -len("_blocks")] + "_scales"), "U8 *_blocks"
    elif t.leaf == "blocks":  # openai reference checkpoint: mlp1_weight.blocks + .scales
        scales, label = t.sibling("scales"), "U8 *.blocks"
    else:
        return None
    if scales not in t.tensors:
        return None
    return _verdict(t, "mxfp4", t.numel * 2, "MXFP4", label), [scales]


def _bnb_4bit(t: Seen) -> Found | None:
    n = t.name
    states = (f"{n}.quant_state.bitsandbytes__nf4", f"{n}.quant_state.bitsandbytes__fp4")
    if t.leaf != "weight" or not any(k in t.tensors for k in (f"{n}.absmax", f"{n}.quant_map", *states)):
        return None
    fp4 = states[1] in t.tensors or (t.qc.detail or "").lower() == "fp4"
    verdict = _verdict(
        t, "bnb-4bit", t.numel * t.width // 4, "FP4" if fp4 else "NF4", f"{t.dtype} bnb-4bit weight"
    )
    return verdict, []


def _bnb_8bit(t: Seen) -> Found | None:
    if t.leaf != "weight" or t.get("SCB") is None:
        return None
    verdict = _verdict(t, "bnb-8bit", t.numel, "INT8", f"{t.dtype} weight + SCB")
    return verdict, [t.sibling("SCB"), t.sibling("weight_format")]


def _mlx(t: Seen) -> Found | None:
    scales = t.get("scales")
    if t.leaf != "weight" or t.dtype != "U32" or scales is None:
        return None
    biases = t.get("biases") is not None  # affine (scales + biases) or mxfp4 (U8 scales, no biases)
    fp4 = not biases and (scales.dtype == "U8" or t.qc.detail == "mxfp4")
    group = t.qc.group_size or (32 if fp4 else MLX_DEFAULT_GROUP)
    inferred = _ratio_bits(t.shape[-1], scales.shape[-1] * group) if t.shape and scales.shape else None
    bits = t.qc.module_bits.get(t.module) or inferred or t.qc.bits or DEFAULT_BITS
    label = "U32 weight + scales + biases" if biases else "U32 weight + scales"
    verdict = _verdict(t, "mlx", t.numel * 32 // bits, "MXFP4" if fp4 else f"INT{bits}", label)
    return verdict, [t.sibling("scales"), t.sibling("biases")]


def _nvfp4(t: Seen) -> Found | None:
    scale = t.get("weight_scale")
    if t.leaf != "weight" or t.dtype != "U8" or scale is None or scale.dtype not in FLOAT8_DTYPES:
        return None
    verdict = _verdict(t, "nvfp4", t.numel * 2, "NVFP4", f"U8 weight + {scale.dtype} weight_scale")
    return verdict, [t.sibling(s) for s in _SCALE_OVERHEAD]


def _fp8(t: Seen) -> Found | None:
    if t.leaf != "weight" or t.dtype not in FLOAT8_DTYPES:
        return None
    return _verdict(t, "fp8", t.numel, t.dtype, f"{t.dtype} weight"), [t.sibling(s) for s in _SCALE_OVERHEAD]


def _int8(t: Seen) -> Found | None:
    if t.leaf != "weight" or t.dtype != "I8" or t.get("weight_scale") is None:
        return None
    verdict = _verdict(t, "int8", t.numel, "INT8", "I8 weight + weight_scale")
    return verdict, [t.sibling(s) for s in _SCALE_OVERHEAD]


def _native_fp4_fp6(t: Seen) -> Found | None:
    if t.leaf != "weight" or not (t.dtype == "F4" or t.dtype.startswith("F6_")):
        return None
    method = "fp4" if t.dtype == "F4" else "fp6"
    return _verdict(t, method, t.numel, t.dtype, f"{t.dtype} weight"), [t.sibling(s) for s in _SCALE_OVERHEAD]


RULES: tuple[Rule, ...] = (
    Rule("gptq|awq", "I32 `qweight`: 32/bits values per word, bits from qzeros vs scales, else g_idx vs "
         "rows, else the config; GPTQ packs rows [in*b/32, out], AWQ columns [in, out*b/32]; a `bias` "
         "beside it on a bias-free linear is the quantizer's", _qweight),
    Rule("exl2", "`q_weight` with a `q_invperm`/`q_perm` [in] permutation", _exl2),
    Rule("compressed-tensors", "`weight_packed`: I32 pack-quantized, or U8 with an FP8 `weight_scale` (NVFP4)",
         _weight_packed),
    Rule("mxfp4", "U8 `X_blocks` + `X_scales` (transformers) or `X.blocks` + `X.scales` (openai reference "
         "checkpoints): two fp4 values per byte", _mxfp4_blocks),
    Rule("bnb-4bit", "`weight` with `weight.absmax`, `weight.quant_map` or "
         "`weight.quant_state.bitsandbytes__nf4|fp4`: two 4-bit values per byte", _bnb_4bit),
    Rule("bnb-8bit", "`weight` with an `SCB` sibling", _bnb_8bit),
    Rule("mlx", "U32 `weight` with `scales` (+ `biases`: affine; U8 scales: mxfp4); bits from weight "
         "vs scales x group size", _mlx),
    Rule("nvfp4", "U8 `weight` with an FP8 `weight_scale`", _nvfp4),
    Rule("fp8", "F8_* `weight` (scales beside it are overhead)", _fp8),
    Rule("int8", "I8 `weight` with a `weight_scale`", _int8),
    Rule("fp4|fp6", "native F4 / F6_* `weight`", _native_fp4_fp6),
)  # fmt: skip


def match(seen: Seen) -> Found | None:
    """The first rule that claims this tensor, or None (a plain tensor)."""
    for rule in RULES:
        found = rule.match(seen)
        if found is not None:
            return found
    return None


def _packed_bits(
    qweight: tuple[int, ...], qzeros: Shape | None, scales: Shape | None, g_idx: Shape | None
) -> int | None:
    """Bit width of a GPTQ/AWQ qweight from its siblings' shapes, None if they do not tell.

    Both pack zeros as qzeros [in/g, out*b/32] next to scales [in/g, out]; GPTQ also
    stores g_idx [in] next to qweight [in*b/32, out]; 3-bit included (32/3 values a word).
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
