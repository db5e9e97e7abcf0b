"""Real safetensors tensor layouts: architectures x quantization schemes -> tensor lists and headers.

A layout is a list of `Tensor(name, dtype, shape, mult)` where `mult` is how many unquantized
parameters one stored element holds (8 for an int4-packed I32, 2 for a U8 holding two fp4, 0 for
scales/zeros/g_idx/absmax/... overhead, 1 otherwise).
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from functools import lru_cache

DTYPE_BITS: dict[str, int] = {
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "BOOL": 8, "U8": 8, "I8": 8, "F8_E4M3": 8, "F8_E5M2": 8,
    "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "F16": 16, "BF16": 16, "I16": 16, "U16": 16,
    "F32": 32, "I32": 32, "U32": 32, "F64": 64, "I64": 64, "U64": 64, "C64": 64,
}
QUANT_METHODS = ("none", "gptq", "awq", "bnb-4bit", "bnb-8bit", "fp8", "mxfp4", "nvfp4",
                 "compressed-tensors", "mlx", "gguf")
SHARD_BYTES = 5_000_000_000


@dataclass(frozen=True)
class Tensor:
    """One tensor of a layout."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    mult: int = 1

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return (self.numel * DTYPE_BITS[self.dtype] + 7) // 8


@dataclass(frozen=True)
class Arch:
    """A base architecture (llama-like decoder unless `family` says otherwise)."""

    name: str
    family: str  # llama | moe | bert | vit | sd | flux
    model_type: str
    architecture: str
    hidden: int
    intermediate: int
    layers: int
    vocab: int = 32000
    heads: int = 32
    kv_heads: int = 32
    head_dim: int = 128
    tied: bool = False
    experts: int = 0
    top_k: int = 0
    """Routed experts a token uses (config `num_experts_per_tok`)."""


ARCHS: dict[str, Arch] = {a.name: a for a in [
    Arch("tiny", "llama", "llama", "LlamaForCausalLM", 256, 768, 2, 32000, 4, 4, 64, True),
    Arch("0.5b", "llama", "qwen2", "Qwen2ForCausalLM", 896, 4864, 24, 151936, 14, 2, 64, True),
    Arch("1b", "llama", "llama", "LlamaForCausalLM", 2048, 8192, 16, 128256, 32, 8, 64, True),
    Arch("3b", "llama", "llama", "LlamaForCausalLM", 3072, 8192, 28, 128256, 24, 8, 128, True),
    Arch("7b", "llama", "mistral", "MistralForCausalLM", 4096, 14336, 32, 32768, 32, 8, 128),
    Arch("12b", "llama", "mistral", "MistralForCausalLM", 5120, 13824, 40, 131072, 32, 8, 128),
    Arch("70b", "llama", "llama", "LlamaForCausalLM", 8192, 28672, 80, 128256, 64, 8, 128),
    Arch("moe-20b", "moe", "gpt_oss", "GptOssForCausalLM", 2880, 2880, 24, 201088, 64, 8, 64, False, 32, 4),
    Arch("minilm", "bert", "bert", "BertModel", 384, 1536, 6, 30522, 12, 12, 32),
    Arch("bert-base", "bert", "bert", "BertModel", 768, 3072, 12, 30522, 12, 12, 64),
    Arch("vit-b16", "vit", "vit", "VisionTransformer", 768, 3072, 12, 1000),
    Arch("sd15", "sd", "unet", "UNet2DConditionModel", 320, 1280, 2),
    Arch("flux", "flux", "flux", "FluxTransformer2DModel", 3072, 12288, 19, 38),
]}
LLM_ARCHS = ("tiny", "0.5b", "1b", "3b", "7b", "12b", "70b")


def _linear_plain(x: str, n_in: int, n_out: int, dtype: str, bias: bool = False) -> list[Tensor]:
    out = [Tensor(f"{x}.weight", dtype, (n_out, n_in))]
    if bias:
        out.append(Tensor(f"{x}.bias", dtype, (n_out,)))
    return out


def linear(x: str, n_in: int, n_out: int, scheme: str, dtype: str) -> list[Tensor]:
    """Tensors stored for one linear layer `x` (in -> out) under a quantization scheme."""
    g = 128
    if scheme == "gptq":
        return [Tensor(f"{x}.qweight", "I32", (n_in // 8, n_out), 8),
                Tensor(f"{x}.qzeros", "I32", (n_in // g, n_out // 8), 0),
                Tensor(f"{x}.scales", "F16", (n_in // g, n_out), 0),
                Tensor(f"{x}.g_idx", "I32", (n_in,), 0)]
    if scheme == "awq":
        return [Tensor(f"{x}.qweight", "I32", (n_in, n_out // 8), 8),
                Tensor(f"{x}.qzeros", "I32", (n_in // g, n_out // 8), 0),
                Tensor(f"{x}.scales", "F16", (n_in // g, n_out), 0)]
    if scheme == "bnb-4bit":
        return [Tensor(f"{x}.weight", "U8", (n_in * n_out // 2, 1), 2),
                Tensor(f"{x}.weight.absmax", "F32", (n_in * n_out // 64,), 0),
                Tensor(f"{x}.weight.quant_map", "F32", (16,), 0),
                Tensor(f"{x}.weight.quant_state.bitsandbytes__nf4", "U8", (98,), 0)]
    if scheme == "bnb-8bit":
        return [Tensor(f"{x}.weight", "I8", (n_out, n_in)), Tensor(f"{x}.SCB", "F32", (n_out,), 0)]
    if scheme == "fp8":
        return [Tensor(f"{x}.weight", "F8_E4M3", (n_out, n_in)),
                Tensor(f"{x}.weight_scale_inv", "F32", (-(-n_out // 128), -(-n_in // 128)), 0)]
    if scheme == "nvfp4":
        return [Tensor(f"{x}.weight", "U8", (n_out, n_in // 2), 2),
                Tensor(f"{x}.weight_scale", "F8_E4M3", (n_out, n_in // 16), 0),
                Tensor(f"{x}.weight_scale_2", "F32", (), 0),
                Tensor(f"{x}.input_scale", "F32", (), 0)]
    if scheme == "compressed-tensors":
        return [Tensor(f"{x}.weight_packed", "I32", (n_out, n_in // 8), 8),
                Tensor(f"{x}.weight_scale", "BF16", (n_out, n_in // g), 0),
                Tensor(f"{x}.weight_shape", "I64", (2,), 0)]
    if scheme == "mlx":
        return [Tensor(f"{x}.weight", "U32", (n_out, n_in // 8), 8),
                Tensor(f"{x}.scales", "BF16", (n_out, n_in // 64), 0),
                Tensor(f"{x}.biases", "BF16", (n_out, n_in // 64), 0)]
    return _linear_plain(x, n_in, n_out, dtype)


def _llama(a: Arch, scheme: str, dtype: str) -> list[Tensor]:
    d = a.hidden
    q, kv = a.heads * a.head_dim, a.kv_heads * a.head_dim
    emb = linear("model.embed_tokens", d, a.vocab, "mlx" if scheme == "mlx" else "none", dtype)
    ts = list(emb)
    for i in range(a.layers):
        p = f"model.layers.{i}"
        ts += [Tensor(f"{p}.input_layernorm.weight", dtype, (d,)),
               Tensor(f"{p}.post_attention_layernorm.weight", dtype, (d,))]
        for nm, n_in, n_out in (("self_attn.q_proj", d, q), ("self_attn.k_proj", d, kv),
                                ("self_attn.v_proj", d, kv), ("self_attn.o_proj", q, d)):
            ts += linear(f"{p}.{nm}", n_in, n_out, scheme, dtype)
        if a.family == "moe":
            ts += _moe_mlp(a, p, scheme, dtype)
        else:
            for nm, n_in, n_out in (("mlp.gate_proj", d, a.intermediate), ("mlp.up_proj", d, a.intermediate),
                                    ("mlp.down_proj", a.intermediate, d)):
                ts += linear(f"{p}.{nm}", n_in, n_out, scheme, dtype)
    ts.append(Tensor("model.norm.weight", dtype, (d,)))
    if not a.tied:
        ts += linear("lm_head", d, a.vocab, "mlx" if scheme == "mlx" else "none", dtype)
    return ts


def _moe_mlp(a: Arch, p: str, scheme: str, dtype: str) -> list[Tensor]:
    e, d, f = a.experts, a.hidden, a.intermediate
    m = f"{p}.mlp"
    ts = [Tensor(f"{m}.router.weight", dtype, (e, d)), Tensor(f"{m}.router.bias", dtype, (e,)),
          Tensor(f"{m}.experts.gate_up_proj_bias", dtype, (e, 2 * f)),
          Tensor(f"{m}.experts.down_proj_bias", dtype, (e, d))]
    if scheme == "mxfp4":
        ts += [Tensor(f"{m}.experts.gate_up_proj_blocks", "U8", (e, 2 * f, d // 32, 16), 2),
               Tensor(f"{m}.experts.gate_up_proj_scales", "U8", (e, 2 * f, d // 32), 0),
               Tensor(f"{m}.experts.down_proj_blocks", "U8", (e, d, f // 32, 16), 2),
               Tensor(f"{m}.experts.down_proj_scales", "U8", (e, d, f // 32), 0)]
    else:
        ts += [Tensor(f"{m}.experts.gate_up_proj", dtype, (e, d, 2 * f)),
               Tensor(f"{m}.experts.down_proj", dtype, (e, f, d))]
    return ts


def _bert(a: Arch, dtype: str) -> list[Tensor]:
    d, f = a.hidden, a.intermediate
    ts = [Tensor("embeddings.word_embeddings.weight", dtype, (a.vocab, d)),
          Tensor("embeddings.position_embeddings.weight", dtype, (512, d)),
          Tensor("embeddings.token_type_embeddings.weight", dtype, (2, d)),
          Tensor("embeddings.LayerNorm.weight", dtype, (d,)), Tensor("embeddings.LayerNorm.bias", dtype, (d,)),
          Tensor("embeddings.position_ids", "I64", (1, 512))]
    for i in range(a.layers):
        p = f"encoder.layer.{i}"
        for nm, n_in, n_out in (("attention.self.query", d, d), ("attention.self.key", d, d),
                                ("attention.self.value", d, d), ("attention.output.dense", d, d),
                                ("intermediate.dense", d, f), ("output.dense", f, d)):
            ts += _linear_plain(f"{p}.{nm}", n_in, n_out, dtype, bias=True)
        for nm in ("attention.output.LayerNorm", "output.LayerNorm"):
            ts += [Tensor(f"{p}.{nm}.weight", dtype, (d,)), Tensor(f"{p}.{nm}.bias", dtype, (d,))]
    return ts + _linear_plain("pooler.dense", d, d, dtype, bias=True)


def _vit(a: Arch, dtype: str) -> list[Tensor]:
    d = a.hidden
    ts = [Tensor("cls_token", dtype, (1, 1, d)), Tensor("pos_embed", dtype, (1, 197, d)),
          Tensor("patch_embed.proj.weight", dtype, (d, 3, 16, 16)), Tensor("patch_embed.proj.bias", dtype, (d,))]
    for i in range(a.layers):
        p = f"blocks.{i}"
        for nm in ("norm1", "norm2"):
            ts += [Tensor(f"{p}.{nm}.weight", dtype, (d,)), Tensor(f"{p}.{nm}.bias", dtype, (d,))]
        for nm, n_in, n_out in (("attn.qkv", d, 3 * d), ("attn.proj", d, d), ("mlp.fc1", d, a.intermediate),
                                ("mlp.fc2", a.intermediate, d)):
            ts += _linear_plain(f"{p}.{nm}", n_in, n_out, dtype, bias=True)
    ts += [Tensor("norm.weight", dtype, (d,)), Tensor("norm.bias", dtype, (d,))]
    return ts + _linear_plain("head", d, a.vocab, dtype, bias=True)


def _conv(p: str, c_in: int, c_out: int, dtype: str, k: int = 3) -> list[Tensor]:
    return [Tensor(f"{p}.weight", dtype, (c_out, c_in, k, k)), Tensor(f"{p}.bias", dtype, (c_out,))]


def _unet(dtype: str, vae: bool = False) -> list[Tensor]:
    chans = (128, 256, 512, 512) if vae else (320, 640, 1280, 1280)
    ts = _conv("conv_in", 3 if vae else 4, chans[0], dtype)
    for b, c in enumerate(chans):
        prev = chans[max(b - 1, 0)]
        for j in range(2):
            p = f"down_blocks.{b}.resnets.{j}"
            ts += _conv(f"{p}.conv1", prev if j == 0 else c, c, dtype) + _conv(f"{p}.conv2", c, c, dtype)
            if not vae:
                ts += _linear_plain(f"{p}.time_emb_proj", 1280, c, dtype, bias=True)
                if b < 3:
                    a = f"down_blocks.{b}.attentions.{j}.transformer_blocks.0"
                    for nm in ("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0", "attn2.to_q"):
                        ts += _linear_plain(f"{a}.{nm}", c, c, dtype)
                    ts += _linear_plain(f"{a}.attn2.to_k", 768, c, dtype) + _linear_plain(f"{a}.attn2.to_v", 768, c, dtype)
                    ts += _linear_plain(f"{a}.ff.net.0.proj", c, 8 * c, dtype, bias=True)
                    ts += _linear_plain(f"{a}.ff.net.2", 4 * c, c, dtype, bias=True)
        for j in range(3):
            p = f"up_blocks.{b}.resnets.{j}"
            ts += _conv(f"{p}.conv1", c, c, dtype) + _conv(f"{p}.conv2", c, c, dtype)
    return ts + _conv("conv_out", chans[0], 3 if vae else 4, dtype)


def _flux(a: Arch, dtype: str) -> list[Tensor]:
    d, f = a.hidden, a.intermediate
    ts = _linear_plain("x_embedder", 64, d, dtype, True) + _linear_plain("context_embedder", 4096, d, dtype, True)
    for nm, n_in in (("time_text_embed.timestep_embedder.linear_1", 256), ("time_text_embed.text_embedder.linear_1", 768),
                     ("time_text_embed.guidance_embedder.linear_1", 256)):
        ts += _linear_plain(nm, n_in, d, dtype, True) + _linear_plain(nm[:-1] + "2", d, d, dtype, True)
    for i in range(a.layers):
        p = f"transformer_blocks.{i}"
        for nm in ("attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0", "attn.add_q_proj", "attn.add_k_proj",
                   "attn.add_v_proj", "attn.to_add_out"):
            ts += _linear_plain(f"{p}.{nm}", d, d, dtype, True)
        for nm in ("ff", "ff_context"):
            ts += _linear_plain(f"{p}.{nm}.net.0.proj", d, f, dtype, True) + _linear_plain(f"{p}.{nm}.net.2", f, d, dtype, True)
        ts += _linear_plain(f"{p}.norm1.linear", d, 6 * d, dtype, True)
        ts += _linear_plain(f"{p}.norm1_context.linear", d, 6 * d, dtype, True)
    for i in range(a.vocab):  # vocab = number of single blocks
        p = f"single_transformer_blocks.{i}"
        ts += _linear_plain(f"{p}.norm.linear", d, 3 * d, dtype, True) + _linear_plain(f"{p}.proj_mlp", d, 4 * d, dtype, True)
        for nm in ("attn.to_q", "attn.to_k", "attn.to_v"):
            ts += _linear_plain(f"{p}.{nm}", d, d, dtype, True)
        ts += _linear_plain(f"{p}.proj_out", 5 * d, d, dtype, True)
    return ts + _linear_plain("norm_out.linear", d, 2 * d, dtype, True) + _linear_plain("proj_out", d, 64, dtype, True)


@lru_cache(maxsize=512)
def layout(arch: str, scheme: str, dtype: str) -> tuple[Tensor, ...]:
    """All tensors of one weight component (an LLM, an encoder, a unet, ...), in file order."""
    a = ARCHS[arch]
    if a.family in ("llama", "moe"):
        return tuple(_llama(a, scheme, dtype))
    if a.family == "bert":
        return tuple(_bert(a, dtype))
    if a.family == "vit":
        return tuple(_vit(a, dtype))
    if a.family == "flux":
        return tuple(_flux(a, dtype))
    if arch == "sd15":
        return tuple(_unet(dtype, vae=(scheme == "vae")))
    raise KeyError(arch)


def header_bytes(tensors: tuple[Tensor, ...], metadata: dict[str, str] | None = None) -> tuple[bytes, int]:
    """The safetensors prefix (u64 length + JSON header, space-padded to 8) and the data length."""
    hdr: dict[str, object] = {}
    if metadata is not None:
        hdr["__metadata__"] = metadata
    off = 0
    for t in tensors:
        hdr[t.name] = {"dtype": t.dtype, "shape": list(t.shape), "data_offsets": [off, off + t.nbytes]}
        off += t.nbytes
    raw = json.dumps(hdr, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw, off


def counts(tensors: tuple[Tensor, ...]) -> tuple[dict[str, int], int, int]:
    """(storage elements per dtype, effective parameters, data bytes) of a tensor list."""
    by: dict[str, int] = {}
    eff = nbytes = 0
    for t in tensors:
        n = t.numel
        by[t.dtype] = by.get(t.dtype, 0) + n
        eff += n * t.mult
        nbytes += t.nbytes
    return by, eff, nbytes


@lru_cache(maxsize=512)
def layout_counts(arch: str, scheme: str, dtype: str) -> tuple[dict[str, int], int, int]:
    """`counts` of a cached layout."""
    return counts(layout(arch, scheme, dtype))


@lru_cache(maxsize=512)
def active_count(arch: str, scheme: str, dtype: str) -> int:
    """Parameters a token passes through (the truth of `active_parameters`): every tensor but the routed
    experts (`.experts.` in the name), of which `top_k / experts`; a dense layout: all of them."""
    a = ARCHS[arch]
    tensors = layout(arch, scheme, dtype)
    total = sum(t.numel * t.mult for t in tensors)
    if not a.experts:
        return total
    routed = sum(t.numel * t.mult for t in tensors if ".experts." in t.name)
    return total - routed + routed * a.top_k // a.experts


def shard(tensors: tuple[Tensor, ...], max_bytes: int = SHARD_BYTES) -> list[tuple[Tensor, ...]]:
    """Split a layout into shards of at most `max_bytes` of data (one tensor never splits)."""
    shards: list[list[Tensor]] = [[]]
    size = 0
    for t in tensors:
        if shards[-1] and size + t.nbytes > max_bytes:
            shards.append([])
            size = 0
        shards[-1].append(t)
        size += t.nbytes
    return [tuple(s) for s in shards]


_RULES: dict[str, dict[str, int]] = {
    "gptq": {".qweight": 8, ".qzeros": 0, ".scales": 0, ".g_idx": 0},
    "awq": {".qweight": 8, ".qzeros": 0, ".scales": 0},
    "bnb-4bit": {".absmax": 0, ".quant_map": 0, ".nested_absmax": 0, ".nested_quant_map": 0},
    "bnb-8bit": {".SCB": 0, ".weight_format": 0},
    "fp8": {".weight_scale_inv": 0, ".weight_scale": 0, ".input_scale": 0},
    "mxfp4": {"_blocks": 2, "_scales": 0},
    "nvfp4": {".weight_scale": 0, ".weight_scale_2": 0, ".input_scale": 0},
    "compressed-tensors": {".weight_packed": 8, ".weight_scale": 0, ".weight_shape": 0, ".weight_zero_point": 0},
    "mlx": {".scales": 0, ".biases": 0},
}


def effective_mult(name: str, dtype: str, quant_method: str) -> int:
    """Unquantized parameters per stored element of a tensor, by name rules (used for on-disk repos)."""
    if quant_method == "bnb-4bit":
        if ".quant_state." in name:
            return 0
        if name.endswith(".weight") and dtype == "U8":
            return 2
    if quant_method == "nvfp4" and name.endswith(".weight") and dtype == "U8":
        return 2
    if quant_method == "mlx" and name.endswith(".weight") and dtype == "U32":
        return 8
    for suffix, m in _RULES.get(quant_method, {}).items():
        if name.endswith(suffix):
            return m
    return 1


def parse_header(prefix: bytes) -> dict[str, dict]:
    """Parse a safetensors prefix (u64 + JSON) into its tensor entries (without __metadata__)."""
    (n,) = struct.unpack("<Q", prefix[:8])
    hdr = json.loads(prefix[8:8 + n])
    hdr.pop("__metadata__", None)
    return hdr
