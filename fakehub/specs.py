"""What a synthetic model is: kinds by era, weight components, configs, tags, files (pure, cached)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from hubcensus.fakehub import layouts
from hubcensus.fakehub.configs import real_shaped
from hubcensus.fakehub.layouts import ARCHS, Tensor


@dataclass(frozen=True)
class Kind:
    """A family of repos: library, task and weight scheme."""

    name: str
    library: str | None
    pipeline: str
    scheme: str  # layouts scheme ("none" for plain weights) or "gguf" / "bin"
    quant_method: str


KINDS: tuple[Kind, ...] = (
    Kind("llm", "transformers", "text-generation", "none", "none"),
    Kind("encoder", "transformers", "fill-mask", "none", "none"),
    Kind("st", "sentence-transformers", "sentence-similarity", "none", "none"),
    Kind("timm", "timm", "image-classification", "none", "none"),
    Kind("sd", "diffusers", "text-to-image", "none", "none"),
    Kind("flux", "diffusers", "text-to-image", "none", "none"),
    Kind("bin", "transformers", "text-generation", "bin", "none"),
    Kind("gptq", "transformers", "text-generation", "gptq", "gptq"),
    Kind("awq", "transformers", "text-generation", "awq", "awq"),
    Kind("bnb4", "transformers", "text-generation", "bnb-4bit", "bnb-4bit"),
    Kind("bnb8", "transformers", "text-generation", "bnb-8bit", "bnb-8bit"),
    Kind("fp8", "transformers", "text-generation", "fp8", "fp8"),
    Kind("nvfp4", "transformers", "text-generation", "nvfp4", "nvfp4"),
    Kind("ct", "transformers", "text-generation", "compressed-tensors", "compressed-tensors"),
    Kind("mxfp4", "transformers", "text-generation", "mxfp4", "mxfp4"),
    Kind("mlx", "mlx", "text-generation", "mlx", "mlx"),
    Kind("gguf", None, "text-generation", "gguf", "gguf"),
)
KIND_INDEX = {k.name: i for i, k in enumerate(KINDS)}
#            llm enc st timm sd flux bin gptq awq bnb4 bnb8 fp8 nvfp4 ct mxfp4 mlx gguf
ERA_WEIGHTS: dict[int, tuple[float, ...]] = {
    2019: (20, 35, 5, 5, 0, 0, 35, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    2020: (20, 30, 8, 7, 0, 0, 35, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    2021: (25, 25, 10, 10, 0, 0, 30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    2022: (30, 18, 12, 8, 8, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0),
    2023: (40, 8, 8, 5, 8, 0, 8, 6, 3, 3, 1, 0, 0, 0, 0, 2, 6),
    2024: (40, 4, 7, 4, 5, 1, 3, 4, 4, 6, 1, 2, 0, 2, 0, 5, 10),
    2025: (33, 3, 6, 3, 3, 2, 1, 2, 3, 5, 1, 8, 3, 4, 2, 6, 12),
    2026: (30, 2, 5, 2, 2, 2, 1, 1, 2, 4, 1, 11, 6, 5, 3, 7, 13),
}
LLM_WEIGHTS = (30, 20, 15, 12, 12, 7, 4)  # over layouts.LLM_ARCHS
N_ORGS_HINT = 2000
ORGS_FAMOUS = ("meta-llama", "mistralai", "Qwen", "google", "microsoft", "TheBloke", "bartowski", "unsloth",
               "mlx-community", "black-forest-labs", "stabilityai", "sentence-transformers", "timm", "RedHatAI",
               "nvidia", "openai", "neuralmagic", "deepseek-ai", "bigscience", "EleutherAI")
_SYL = ("ka", "lo", "mi", "ra", "ne", "tu", "vo", "si", "pe", "da", "zu", "fi", "go", "hy", "xe", "wa")
WORDS = {"llm": ("llama", "mistral", "qwen", "phi", "gemma", "falcon"), "encoder": ("bert", "roberta", "deberta"),
         "st": ("minilm", "mpnet", "bge", "e5"), "timm": ("vit", "deit", "beit"), "sd": ("stable-diffusion", "anime-diffusion"),
         "flux": ("flux", "flux-dev"), "bin": ("gpt2", "opt", "bloom")}
QUANT_CONFIG: dict[str, dict[str, Any]] = {
    "gptq": {"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": False, "sym": True},
    "awq": {"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm", "zero_point": True},
    "bnb-4bit": {"quant_method": "bitsandbytes", "load_in_4bit": True, "load_in_8bit": False,
                 "bnb_4bit_quant_type": "nf4", "bnb_4bit_compute_dtype": "bfloat16"},
    "bnb-8bit": {"quant_method": "bitsandbytes", "load_in_4bit": False, "load_in_8bit": True},
    "fp8": {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic", "weight_block_size": [128, 128]},
    "nvfp4": {"quant_method": "modelopt", "quant_algo": "NVFP4", "group_size": 16},
    "compressed-tensors": {"quant_method": "compressed-tensors", "format": "pack-quantized", "config_groups": {
        "group_0": {"weights": {"num_bits": 4, "group_size": 128, "type": "int", "symmetric": True}}}},
    "mxfp4": {"quant_method": "mxfp4"},
}
QUANT_TAGS = {"gptq": ["4-bit", "gptq"], "awq": ["4-bit", "awq"], "bnb-4bit": ["4-bit", "bitsandbytes"],
              "bnb-8bit": ["8-bit", "bitsandbytes"], "fp8": ["fp8"], "nvfp4": ["modelopt", "nvfp4"],
              "compressed-tensors": ["compressed-tensors"], "mxfp4": ["mxfp4"], "mlx": ["mlx", "4-bit"],
              "gguf": ["gguf"]}


def org_name(code: int) -> str:
    """The organisation name of an org code (famous names first, then syllable names)."""
    if code < len(ORGS_FAMOUS):
        return ORGS_FAMOUS[code]
    c = code - len(ORGS_FAMOUS)
    n = len(_SYL)
    return f"{_SYL[c % n]}{_SYL[(c // n) % n]}{_SYL[(c // n // n) % n]}-lab{c}"


def flip_dtype(dtype: str) -> str:
    """The dtype a re-upload converts to."""
    return "F16" if dtype == "BF16" else "BF16"


@dataclass(frozen=True)
class Component:
    """One weight component of a repo: folder, file stem and layout key."""

    folder: str
    stem: str
    arch: str
    scheme: str
    dtype: str


@dataclass(frozen=True)
class WeightFile:
    """One safetensors file of a component: path, prefix bytes (u64 + header), total size, tensors."""

    path: str
    prefix: bytes
    size: int
    tensors: tuple[Tensor, ...]


@lru_cache(maxsize=2048)
def component_files(c: Component) -> tuple[tuple[WeightFile, ...], tuple[str, bytes] | None]:
    """The safetensors files (sharded above 5 GB) and the optional index file of a component."""
    tensors = layouts.layout(c.arch, "vae" if c.scheme == "vae" else c.scheme, c.dtype)
    shards = layouts.shard(tensors)
    files: list[WeightFile] = []
    n = len(shards)
    for k, part in enumerate(shards, 1):
        name = f"{c.stem}.safetensors" if n == 1 else f"{c.stem}-{k:05d}-of-{n:05d}.safetensors"
        prefix, data = layouts.header_bytes(part, {"format": "pt"})
        files.append(WeightFile(c.folder + name, prefix, len(prefix) + data, part))
    if n == 1:
        return tuple(files), None
    total = sum(t.nbytes for t in tensors)
    wmap = {t.name: f.path[len(c.folder):] for f in files for t in f.tensors}
    index = json.dumps({"metadata": {"total_size": total}, "weight_map": wmap}, indent=2).encode()
    return tuple(files), (f"{c.folder}{c.stem}.safetensors.index.json", index)


def components(kind: Kind, arch: str, dtype: str) -> list[Component]:
    """Weight components of a kind (diffusers repos keep their weights in subfolders)."""
    if kind.name == "sd":
        return [Component("unet/", "diffusion_pytorch_model", "sd15", "none", dtype),
                Component("text_encoder/", "model", "bert-base", "none", dtype),
                Component("vae/", "diffusion_pytorch_model", "sd15", "vae", dtype)]
    if kind.name == "flux":
        return [Component("transformer/", "diffusion_pytorch_model", "flux", "none", "BF16"),
                Component("vae/", "diffusion_pytorch_model", "sd15", "vae", "BF16")]
    if kind.scheme in ("gguf", "bin"):
        return []
    scheme = kind.scheme
    return [Component("", "model", arch, scheme, dtype)]


@lru_cache(maxsize=1024)
def config_json(kind: Kind, arch: str, dtype: str) -> bytes:
    """The config.json (model_index.json for diffusers) bytes of a model."""
    return json.dumps(config_for(kind, arch, dtype)[0], indent=2).encode()


@lru_cache(maxsize=1024)
def config_for(kind: Kind, arch: str, dtype: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config.json content, the listing's `config` subset) of a model."""
    a = ARCHS[arch]
    if kind.library == "diffusers":
        cls = "FluxPipeline" if kind.name == "flux" else "StableDiffusionPipeline"
        return {"_class_name": cls, "_diffusers_version": "0.30.0"}, {"diffusers": {"_class_name": cls}}
    full: dict[str, Any] = {"architectures": [a.architecture], "model_type": a.model_type,
                            "hidden_size": a.hidden, "intermediate_size": a.intermediate,
                            "num_hidden_layers": a.layers, "vocab_size": a.vocab,
                            "num_attention_heads": a.heads, "num_key_value_heads": a.kv_heads,
                            "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}.get(dtype, "bfloat16")}
    full = real_shaped(a, full)
    sub: dict[str, Any] = {"architectures": [a.architecture], "model_type": a.model_type}
    if kind.quant_method in QUANT_CONFIG:
        full["quantization_config"] = sub["quantization_config"] = QUANT_CONFIG[kind.quant_method]
    if kind.quant_method == "mlx":
        full["quantization"] = sub["quantization"] = {"group_size": 64, "bits": 4}
    return full, sub


@lru_cache(maxsize=64)
def kind_tags(kind: Kind) -> tuple[str, ...]:
    """The tags every repo of a kind carries (so listing filters on them are vectorised)."""
    tags: list[str] = [kind.library] if kind.library else []
    tags.append("pytorch" if kind.scheme == "bin" else "gguf" if kind.scheme == "gguf" else "safetensors")
    if kind.library == "diffusers":
        tags.append("FluxPipeline" if kind.name == "flux" else "StableDiffusionPipeline")
    tags.append(kind.pipeline)
    tags += [t for t in QUANT_TAGS.get(kind.quant_method, []) if t not in tags]
    return (*tags, "license:apache-2.0", "region:us")


def tags_for(kind: Kind, arch: str, base: str | None, relation: str | None) -> list[str]:
    """The Hub-computed tag list of a model."""
    tags = list(kind_tags(kind))
    if kind.library != "diffusers":
        tags.insert(2 if kind.library else 1, ARCHS[arch].model_type)
    if base is not None and relation is not None:
        tags[-2:-2] = [f"base_model:{base}", f"base_model:{relation}:{base}"]
    return tags


@lru_cache(maxsize=64)
@cache
def gguf_file(arch: str) -> tuple[dict[str, Any], str, bytes, int]:
    """(the listing's `gguf` field, path, header bytes, file size) of the one GGUF file a synthetic
    GGUF repo quantizing `arch` ships: a real llama.cpp-style header (tokenizer of the arch's vocab,
    the Q4_K_M tensor mix, or Q8_0 where rows are not a multiple of 256), zeros after it. The field
    describes that file (`total` = its parameters, `totalFileSize` = its bytes)."""
    from hubcensus.fakehub.gguf_repos import ModelSpec, variant_files

    a = ARCHS[arch]
    ctx = 4096 if a.vocab < 100000 else 131072
    model = ModelSpec("llama" if a.model_type in ("llama", "mistral") else a.model_type, a.layers, a.hidden,
                      a.intermediate, a.kv_heads * a.head_dim, a.vocab, ctx, scores=True, experts=a.experts)
    label = "Q4_K_M" if a.hidden % 256 == 0 and a.intermediate % 256 == 0 else "Q8_0"
    (f,) = variant_files(model, "model", label)
    info = {"total": f.truth["parameters"], "architecture": model.arch, "context_length": ctx,
            "bos_token": "<s>", "eos_token": "</s>", "totalFileSize": f.size}
    return info, f.path, b"".join(f.segments), f.size
