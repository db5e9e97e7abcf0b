"""Builders of safetensors headers with real tensor naming, for tests of any package.

A tensor spec is `(name, dtype, shape)`. `header_bytes` lays specs out contiguously
and returns the file prefix (u64 length + JSON); `write_header_only` writes just that
prefix (a "virtual" file whose real size is returned); `file_header` parses it back.
Architectures: `LlamaConfig` + `llama_tensors(cfg, scheme)` (schemes in `SCHEMES`;
`linear_tensors` for one layer), `GptOssConfig` + `gpt_oss_tensors(cfg)` (MXFP4
experts), `flux_transformer_tensors()` (diffusers FLUX.1-dev), `gpt2_tensors()`.
Each comes with an independent parameter count to test against
(`cfg.parameter_count()`, `FLUX_DEV_PARAMETERS`, `GPT2_SMALL_PARAMETERS`).
Import as `from builders import ...` (pytest puts tests/crawler on sys.path).
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubcensus.crawler.formats.safetensors import FileHeader, parse_header

from hubcensus.dtypes import storage_bytes

Spec = tuple[str, str, tuple[int, ...]]

SCHEMES = ("bf16", "f16", "f32", "gptq", "awq", "ct-pack", "bnb-4bit", "nvfp4", "mlx", "fp8-block")


def header_json(tensors: list[Spec], metadata: dict[str, str] | None = None) -> tuple[bytes, int]:
    """JSON header for tensors laid out back to back, and the data length."""
    head: dict[str, Any] = {} if metadata is None else {"__metadata__": metadata}
    offset = 0
    for name, dtype, shape in tensors:
        size = storage_bytes(dtype, math.prod(shape))
        assert size is not None, dtype
        head[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(head, separators=(",", ":")).encode()
    return raw + b" " * (-len(raw) % 8), offset


def header_bytes(tensors: list[Spec], metadata: dict[str, str] | None = None) -> tuple[bytes, int]:
    """(prefix = u64 LE length + JSON, full file size of the real file)."""
    raw, data = header_json(tensors, metadata)
    return struct.pack("<Q", len(raw)) + raw, 8 + len(raw) + data


def write_header_only(path: Path, tensors: list[Spec], metadata: dict[str, str] | None = None) -> int:
    """Write only the header of a safetensors file; returns the size the whole file would have."""
    prefix, size = header_bytes(tensors, metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(prefix)
    return size


def file_header(path: str, tensors: list[Spec], metadata: dict[str, str] | None = None) -> FileHeader:
    """Parsed header of a virtual file (repo path such as "transformer/x.safetensors")."""
    prefix, size = header_bytes(tensors, metadata)
    return parse_header(prefix[8:], path=path, header_len=len(prefix) - 8, file_size=size)


@dataclass(frozen=True)
class LlamaConfig:
    """A llama-shaped decoder."""

    hidden: int = 256
    intermediate: int = 768
    layers: int = 2
    vocab: int = 1000
    heads: int = 4
    kv_heads: int = 2
    head_dim: int = 64
    tie_embeddings: bool = False

    def linears(self) -> list[tuple[str, int, int]]:
        """(module, in_features, out_features) of every quantizable linear, in order."""
        h, q, kv, i = (
            self.hidden,
            self.heads * self.head_dim,
            self.kv_heads * self.head_dim,
            self.intermediate,
        )
        out = []
        for n in range(self.layers):
            p = f"model.layers.{n}."
            out += [
                (p + "self_attn.q_proj", h, q),
                (p + "self_attn.k_proj", h, kv),
                (p + "self_attn.v_proj", h, kv),
                (p + "self_attn.o_proj", q, h),
                (p + "mlp.gate_proj", h, i),
                (p + "mlp.up_proj", h, i),
                (p + "mlp.down_proj", i, h),
            ]
        return out

    def parameter_count(self) -> int:
        """Closed form: embeddings + layers (attention, MLP, 2 norms) + final norm + lm_head."""
        h, i, q, kv = (
            self.hidden,
            self.intermediate,
            self.heads * self.head_dim,
            self.kv_heads * self.head_dim,
        )
        layer = h * q + 2 * h * kv + q * h + 3 * h * i + 2 * h
        return self.vocab * h * (1 if self.tie_embeddings else 2) + self.layers * layer + h


LLAMA3_8B = LlamaConfig(
    hidden=4096, intermediate=14336, layers=32, vocab=128256, heads=32, kv_heads=8, head_dim=128
)


def linear_tensors(
    module: str, fin: int, fout: int, scheme: str, *, bits: int = 4, group: int = 128
) -> list[Spec]:
    """Stored tensors of one linear layer under a scheme (PyTorch weight layout is [out, in])."""
    m = module
    if scheme in ("bf16", "f16", "f32"):
        return [(m + ".weight", scheme.upper(), (fout, fin))]
    if scheme == "gptq":
        return [
            (m + ".qweight", "I32", (fin * bits // 32, fout)),
            (m + ".qzeros", "I32", (fin // group, fout * bits // 32)),
            (m + ".scales", "F16", (fin // group, fout)),
            (m + ".g_idx", "I32", (fin,)),
        ]
    if scheme == "awq":
        return [
            (m + ".qweight", "I32", (fin, fout * bits // 32)),
            (m + ".qzeros", "I32", (fin // group, fout * bits // 32)),
            (m + ".scales", "F16", (fin // group, fout)),
        ]
    if scheme == "ct-pack":
        return [
            (m + ".weight_packed", "I32", (fout, fin * bits // 32)),
            (m + ".weight_scale", "BF16", (fout, fin // group)),
            (m + ".weight_shape", "I64", (2,)),
        ]
    if scheme == "bnb-4bit":
        n = fin * fout
        return [
            (m + ".weight", "U8", (n // 2, 1)),
            (m + ".weight.absmax", "U8", (n // 64,)),
            (m + ".weight.nested_absmax", "F32", (math.ceil(n / 64 / 256),)),
            (m + ".weight.nested_quant_map", "F32", (256,)),
            (m + ".weight.quant_map", "F32", (16,)),
            (m + ".weight.quant_state.bitsandbytes__nf4", "U8", (125,)),
        ]
    if scheme == "nvfp4":
        return [
            (m + ".weight", "U8", (fout, fin // 2)),
            (m + ".weight_scale", "F8_E4M3", (fout, fin // 16)),
            (m + ".weight_scale_2", "F32", ()),
            (m + ".input_scale", "F32", ()),
        ]
    if scheme == "mlx":
        return [
            (m + ".weight", "U32", (fout, fin * bits // 32)),
            (m + ".scales", "BF16", (fout, fin // 64)),
            (m + ".biases", "BF16", (fout, fin // 64)),
        ]
    if scheme == "fp8-block":
        return [
            (m + ".weight", "F8_E4M3", (fout, fin)),
            (m + ".weight_scale_inv", "F32", (math.ceil(fout / 128), math.ceil(fin / 128))),
        ]
    raise ValueError(f"unknown scheme {scheme}")


def llama_tensors(cfg: LlamaConfig, scheme: str = "bf16", *, bits: int = 4, group: int = 128) -> list[Spec]:
    """All tensors of a llama checkpoint; linears per `scheme`, the rest in the scheme's float dtype.

    MLX also quantizes the embedding (and lm_head), as mlx-lm does.
    """
    fdt = {"f32": "F32", "gptq": "F16", "awq": "F16", "f16": "F16"}.get(scheme, "BF16")
    h = cfg.hidden
    out: list[Spec] = []
    if scheme == "mlx":
        out += linear_tensors("model.embed_tokens", h, cfg.vocab, "mlx", bits=bits)
    else:
        out.append(("model.embed_tokens.weight", fdt, (cfg.vocab, h)))
    for module, fin, fout in cfg.linears():
        out += linear_tensors(module, fin, fout, scheme, bits=bits, group=group)
        if module.endswith("down_proj"):
            layer = module.rsplit(".mlp.", 1)[0]
            out += [
                (layer + ".input_layernorm.weight", fdt, (h,)),
                (layer + ".post_attention_layernorm.weight", fdt, (h,)),
            ]
    out.append(("model.norm.weight", fdt, (h,)))
    if not cfg.tie_embeddings:
        if scheme == "mlx":
            out += linear_tensors("lm_head", h, cfg.vocab, "mlx", bits=bits)
        else:
            out.append(("lm_head.weight", fdt, (cfg.vocab, h)))
    return out


@dataclass(frozen=True)
class GptOssConfig:
    """A gpt-oss-shaped MoE decoder (attention with biases and sinks, MXFP4 experts)."""

    hidden: int = 256
    intermediate: int = 256
    experts: int = 4
    layers: int = 2
    vocab: int = 1000
    heads: int = 4
    kv_heads: int = 2
    head_dim: int = 64

    def parameter_count(self) -> int:
        """Closed form of the unquantized model."""
        h, i, e, q, kv = (
            self.hidden,
            self.intermediate,
            self.experts,
            self.heads * self.head_dim,
            self.kv_heads * self.head_dim,
        )
        attn = (h * q + q) + 2 * (h * kv + kv) + (q * h + h) + self.heads
        moe = (e * h + e) + e * (2 * i * h + 2 * i) + e * (i * h + h)
        return 2 * self.vocab * h + h + self.layers * (attn + moe + 2 * h)


GPT_OSS_20B = GptOssConfig(
    hidden=2880, intermediate=2880, experts=32, layers=24, vocab=201088, heads=64, kv_heads=8, head_dim=64
)


def gpt_oss_tensors(cfg: GptOssConfig) -> list[Spec]:
    """gpt-oss checkpoint tensors: BF16 everywhere except MXFP4 expert blocks with U8 scales."""
    h, i, e = cfg.hidden, cfg.intermediate, cfg.experts
    q, kv = cfg.heads * cfg.head_dim, cfg.kv_heads * cfg.head_dim
    out: list[Spec] = [("model.embed_tokens.weight", "BF16", (cfg.vocab, h))]
    for n in range(cfg.layers):
        p = f"model.layers.{n}."
        out += [
            (p + "input_layernorm.weight", "BF16", (h,)),
            (p + "post_attention_layernorm.weight", "BF16", (h,)),
        ]
        for proj, fout in (("q_proj", q), ("k_proj", kv), ("v_proj", kv)):
            out += [
                (p + f"self_attn.{proj}.weight", "BF16", (fout, h)),
                (p + f"self_attn.{proj}.bias", "BF16", (fout,)),
            ]
        out += [
            (p + "self_attn.o_proj.weight", "BF16", (h, q)),
            (p + "self_attn.o_proj.bias", "BF16", (h,)),
            (p + "self_attn.sinks", "BF16", (cfg.heads,)),
            (p + "mlp.router.weight", "BF16", (e, h)),
            (p + "mlp.router.bias", "BF16", (e,)),
            (p + "mlp.experts.gate_up_proj_blocks", "U8", (e, 2 * i, h // 32, 16)),
            (p + "mlp.experts.gate_up_proj_scales", "U8", (e, 2 * i, h // 32)),
            (p + "mlp.experts.gate_up_proj_bias", "BF16", (e, 2 * i)),
            (p + "mlp.experts.down_proj_blocks", "U8", (e, h, i // 32, 16)),
            (p + "mlp.experts.down_proj_scales", "U8", (e, h, i // 32)),
            (p + "mlp.experts.down_proj_bias", "BF16", (e, h)),
        ]
    out += [("model.norm.weight", "BF16", (h,)), ("lm_head.weight", "BF16", (cfg.vocab, h))]
    return out


FLUX_DEV_PARAMETERS = 11_901_408_320  # FluxTransformer2DModel of FLUX.1-dev


def flux_transformer_tensors(
    dtype: str = "BF16", *, double: int = 19, single: int = 38, dim: int = 3072
) -> list[Spec]:
    """diffusers FluxTransformer2DModel tensors (FLUX.1-dev shapes by default)."""
    out: list[Spec] = []

    def lin(name: str, fin: int, fout: int) -> None:
        out.extend([(name + ".weight", dtype, (fout, fin)), (name + ".bias", dtype, (fout,))])

    def qk_norms(p: str, names: tuple[str, ...]) -> None:
        out.extend((f"{p}.{n}.weight", dtype, (128,)) for n in names)

    for emb, fin in (("timestep_embedder", 256), ("guidance_embedder", 256), ("text_embedder", 768)):
        lin(f"time_text_embed.{emb}.linear_1", fin, dim)
        lin(f"time_text_embed.{emb}.linear_2", dim, dim)
    lin("context_embedder", 4096, dim)
    lin("x_embedder", 64, dim)
    for n in range(double):
        p = f"transformer_blocks.{n}"
        lin(p + ".norm1.linear", dim, 6 * dim)
        lin(p + ".norm1_context.linear", dim, 6 * dim)
        for proj in (
            "to_q",
            "to_k",
            "to_v",
            "add_q_proj",
            "add_k_proj",
            "add_v_proj",
            "to_out.0",
            "to_add_out",
        ):
            lin(f"{p}.attn.{proj}", dim, dim)
        qk_norms(p + ".attn", ("norm_q", "norm_k", "norm_added_q", "norm_added_k"))
        for ff in ("ff", "ff_context"):
            lin(f"{p}.{ff}.net.0.proj", dim, 4 * dim)
            lin(f"{p}.{ff}.net.2", 4 * dim, dim)
    for n in range(single):
        p = f"single_transformer_blocks.{n}"
        lin(p + ".norm.linear", dim, 3 * dim)
        lin(p + ".proj_mlp", dim, 4 * dim)
        lin(p + ".proj_out", 5 * dim, dim)
        for proj in ("to_q", "to_k", "to_v"):
            lin(f"{p}.attn.{proj}", dim, dim)
        qk_norms(p + ".attn", ("norm_q", "norm_k"))
    lin("norm_out.linear", dim, 2 * dim)
    lin("proj_out", dim, 64)
    return out


def numel(tensors: list[Spec]) -> int:
    """Sum of stored elements (what the Hub counts)."""
    return sum(math.prod(s) for _, _, s in tensors)


GPT2_SMALL_PARAMETERS = 124_439_808  # gpt2 (tied lm_head)


def gpt2_tensors(
    *, layers: int = 12, hidden: int = 768, vocab: int = 50257, positions: int = 1024, dtype: str = "F32"
) -> list[Spec]:
    """GPT-2 checkpoint tensors (Conv1D weights are [in, out]; lm_head tied to wte)."""
    h = hidden
    out: list[Spec] = [("wte.weight", dtype, (vocab, h)), ("wpe.weight", dtype, (positions, h))]
    for n in range(layers):
        p = f"h.{n}."
        out += [
            (p + "ln_1.weight", dtype, (h,)),
            (p + "ln_1.bias", dtype, (h,)),
            (p + "attn.c_attn.weight", dtype, (h, 3 * h)),
            (p + "attn.c_attn.bias", dtype, (3 * h,)),
            (p + "attn.c_proj.weight", dtype, (h, h)),
            (p + "attn.c_proj.bias", dtype, (h,)),
            (p + "ln_2.weight", dtype, (h,)),
            (p + "ln_2.bias", dtype, (h,)),
            (p + "mlp.c_fc.weight", dtype, (h, 4 * h)),
            (p + "mlp.c_fc.bias", dtype, (4 * h,)),
            (p + "mlp.c_proj.weight", dtype, (4 * h, h)),
            (p + "mlp.c_proj.bias", dtype, (h,)),
        ]
    out += [("ln_f.weight", dtype, (h,)), ("ln_f.bias", dtype, (h,))]
    return out


TINYLLAMA_1_1B = LlamaConfig(  # TinyLlama/TinyLlama-1.1B-Chat-v1.0 config.json
    hidden=2048, intermediate=5632, layers=22, vocab=32000, heads=32, kv_heads=4, head_dim=64
)
TINYLLAMA_CONFIG = {"model_type": "llama", "attention_bias": False, "mlp_bias": False}


def autogptq_linear(
    module: str, fin: int, fout: int, *, bits: int, group: int, bias: bool = True
) -> list[Spec]:
    """One linear as AutoGPTQ's QuantLinear saves it: qweight [in/32*b, out], qzeros [ceil(in/g), out/32*b],
    scales F16, g_idx [in] (act-order or not), and an F16 bias it writes even for bias-free layers."""
    groups = math.ceil(fin / (group if group > 0 else fin))
    out = [
        (module + ".qweight", "I32", (fin // 32 * bits, fout)),
        (module + ".qzeros", "I32", (groups, fout // 32 * bits)),
        (module + ".scales", "F16", (groups, fout)),
        (module + ".g_idx", "I32", (fin,)),
    ]
    return out + ([(module + ".bias", "F16", (fout,))] if bias else [])


def autogptq_llama_tensors(cfg: LlamaConfig, *, bits: int, group: int = 128) -> list[Spec]:
    """A Llama checkpoint quantized by AutoGPTQ: every linear packed, with the all-zero bias it adds."""
    h = cfg.hidden
    out: list[Spec] = [("model.embed_tokens.weight", "F16", (cfg.vocab, h))]
    for module, fin, fout in cfg.linears():
        out += autogptq_linear(module, fin, fout, bits=bits, group=group)
        if module.endswith("down_proj"):
            layer = module.rsplit(".mlp.", 1)[0]
            out += [
                (layer + ".input_layernorm.weight", "F16", (h,)),
                (layer + ".post_attention_layernorm.weight", "F16", (h,)),
            ]
    out += [("model.norm.weight", "F16", (h,)), ("lm_head.weight", "F16", (cfg.vocab, h))]
    return out


@dataclass(frozen=True)
class QwenV1Config:
    """Qwen (v1) `QWenLMHeadModel`: fused c_attn with a real bias, bias-free c_proj / w1 / w2 (`no_bias`)."""

    hidden: int = 2048
    intermediate: int = 11008  # the MLP's width is intermediate // 2
    layers: int = 2
    vocab: int = 151936

    def linears(self) -> list[tuple[str, int, int]]:
        h, ff = self.hidden, self.intermediate // 2
        out = []
        for n in range(self.layers):
            p = f"transformer.h.{n}."
            out += [(p + "attn.c_attn", h, 3 * h), (p + "attn.c_proj", h, h), (p + "mlp.w1", h, ff),
                    (p + "mlp.w2", h, ff), (p + "mlp.c_proj", ff, h)]  # fmt: skip
        return out

    def parameter_count(self) -> int:
        """wte + lm_head + per layer (c_attn with bias, c_proj, w1, w2, c_proj, 2 RMSNorms) + ln_f."""
        h, ff = self.hidden, self.intermediate // 2
        layer = (h * 3 * h + 3 * h) + h * h + 3 * h * ff + 2 * h
        return 2 * self.vocab * h + self.layers * layer + h


def autogptq_qwen_v1_tensors(cfg: QwenV1Config, *, bits: int = 4, group: int = 128) -> list[Spec]:
    """Qwen-v1 quantized by AutoGPTQ: every linear packed with a bias (only c_attn's is real)."""
    h = cfg.hidden
    out: list[Spec] = [("transformer.wte.weight", "F16", (cfg.vocab, h))]
    for module, fin, fout in cfg.linears():
        if module.endswith("attn.c_attn"):
            layer = module.rsplit(".attn.", 1)[0]
            out.append((layer + ".ln_1.weight", "F16", (h,)))
        out += autogptq_linear(module, fin, fout, bits=bits, group=group)
        if module.endswith("attn.c_proj"):
            out.append((module.rsplit(".attn.", 1)[0] + ".ln_2.weight", "F16", (h,)))
    return [*out, ("transformer.ln_f.weight", "F16", (h,)), ("lm_head.weight", "F16", (cfg.vocab, h))]


def gpt_oss_original_tensors(cfg: GptOssConfig) -> list[Spec]:
    """The openai reference checkpoint (`original/model.safetensors` of openai/gpt-oss-*), names from
    gpt_oss/torch/model.py + weights.py: fused qkv, MXFP4 experts as `mlpN_weight.blocks` / `.scales`."""
    h, i, e = cfg.hidden, cfg.intermediate, cfg.experts
    qkv, q = (cfg.heads + 2 * cfg.kv_heads) * cfg.head_dim, cfg.heads * cfg.head_dim
    out: list[Spec] = [("embedding.weight", "BF16", (cfg.vocab, h))]
    for n in range(cfg.layers):
        p = f"block.{n}."
        out += [
            (p + "attn.norm.scale", "BF16", (h,)),
            (p + "attn.qkv.weight", "BF16", (qkv, h)),
            (p + "attn.qkv.bias", "BF16", (qkv,)),
            (p + "attn.sinks", "BF16", (cfg.heads,)),
            (p + "attn.out.weight", "BF16", (h, q)),
            (p + "attn.out.bias", "BF16", (h,)),
            (p + "mlp.norm.scale", "BF16", (h,)),
            (p + "mlp.gate.weight", "BF16", (e, h)),
            (p + "mlp.gate.bias", "BF16", (e,)),
            (p + "mlp.mlp1_weight.blocks", "U8", (e, 2 * i, h // 32, 16)),
            (p + "mlp.mlp1_weight.scales", "U8", (e, 2 * i, h // 32)),
            (p + "mlp.mlp1_bias", "BF16", (e, 2 * i)),
            (p + "mlp.mlp2_weight.blocks", "U8", (e, h, i // 32, 16)),
            (p + "mlp.mlp2_weight.scales", "U8", (e, h, i // 32)),
            (p + "mlp.mlp2_bias", "BF16", (e, h)),
        ]
    return [*out, ("norm.scale", "BF16", (h,)), ("unembedding.weight", "BF16", (cfg.vocab, h))]
