"""Synthetic GGUF repos (`--gguf`; ids under `fakehub-gguf/`): header-only files, zeros after the header.

What the Hub holds and a GGUF census must handle: many variants of one model sharing a
byte-identical tokenizer (128k tokens + 280k merges: ~7.5 MB headers), IQ* types, split files
`-0000k-of-0000n.gguf` whose later shards carry only the `split.*` keys, an `mmproj-*.gguf`
vision projector, v1, v2 and v3 files, a big-endian file in a subfolder, and hostile files. The
listing's `gguf` field describes one file (the largest) and `config` is `{}`. The truth of every
file comes from the spec it was written from (not from parsing it back).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from gguf import LlamaFileType
from hubcensus.fakehub.gguf_write import (
    ARRAY,
    F32,
    I32,
    KV,
    STRING,
    U16,
    U32,
    Encoder,
    TensorSpec,
    header_segments,
)
from hubcensus.fakehub.repo import Reader, Repo, RepoFile, lfs_file, parse_iso, small_file

ORG = "fakehub-gguf"


@dataclass(frozen=True)
class ModelSpec:
    """The shape of a llama-like model (ggml dims: row length first)."""

    arch: str
    layers: int
    hidden: int
    ffn: int
    kv_dim: int
    vocab: int
    ctx: int
    merges: int = 0
    scores: bool = False
    experts: int = 0


LLAMA3_8B = ModelSpec("llama", 32, 4096, 14336, 1024, 128_256, 131_072, merges=280_147)
GEMMA3_4B = ModelSpec("gemma3", 34, 2560, 10240, 1024, 262_144, 131_072, scores=True)
MIXTRAL = ModelSpec("llama", 32, 4096, 14336, 1024, 32_000, 32_768, scores=True, experts=8)
LLAMA2_7B = ModelSpec("llama", 32, 4096, 11008, 4096, 32_000, 4096, scores=True)
TINY = ModelSpec("llama", 2, 256, 512, 256, 1000, 2048, scores=True)

MIXES: dict[str, tuple[str, dict[str, str]]] = {
    "Q2_K": ("Q2_K", {"attn_v": "Q3_K", "ffn_down": "Q3_K", "output": "Q6_K"}),
    "Q3_K_M": ("Q3_K", {"attn_v": "Q5_K", "ffn_down": "Q4_K", "output": "Q6_K"}),
    "Q4_0": ("Q4_0", {"output": "Q6_K"}),
    "Q4_K_S": ("Q4_K", {"attn_v": "Q5_K", "output": "Q6_K"}),
    "Q4_K_M": ("Q4_K", {"attn_v": "Q6_K", "ffn_down": "Q6_K", "output": "Q6_K"}),
    "Q5_K_M": ("Q5_K", {"attn_v": "Q6_K", "ffn_down": "Q6_K", "output": "Q6_K"}),
    "Q6_K": ("Q6_K", {}),
    "Q8_0": ("Q8_0", {}),
    "F16": ("F16", {}),
    "BF16": ("BF16", {}),
    "IQ2_XXS": ("IQ2_XXS", {"attn_v": "Q4_K", "output": "Q5_K", "token_embd": "Q2_K"}),
    "IQ3_XXS": ("IQ3_XXS", {"attn_v": "IQ3_S", "output": "Q6_K"}),
    "IQ4_XS": ("IQ4_XS", {"output": "Q6_K"}),
}


def file_type_id(label: str) -> int:
    """llama.cpp's `general.file_type` of a label ('Q4_K_M' -> 15, 'F32' -> 0)."""
    return int(LlamaFileType["ALL_F32" if label == "F32" else f"MOSTLY_{label}"])


def model_tensors(m: ModelSpec, label: str) -> list[TensorSpec]:
    """The tensor infos of a variant: norms in F32, the rest in the mix of `label`."""
    default, over = MIXES[label]

    def t(name: str, dims: tuple[int, ...], role: str) -> TensorSpec:
        return TensorSpec(name, dims, over.get(role, default))

    out = [t("token_embd.weight", (m.hidden, m.vocab), "token_embd")]
    for i in range(m.layers):
        b = f"blk.{i}."
        out += [
            TensorSpec(b + "attn_norm.weight", (m.hidden,), "F32"),
            t(b + "attn_q.weight", (m.hidden, m.hidden), "attn_q"),
            t(b + "attn_k.weight", (m.hidden, m.kv_dim), "attn_k"),
            t(b + "attn_v.weight", (m.hidden, m.kv_dim), "attn_v"),
            t(b + "attn_output.weight", (m.hidden, m.hidden), "attn_output"),
            TensorSpec(b + "ffn_norm.weight", (m.hidden,), "F32"),
        ]
        if m.experts:
            e = m.experts
            out += [
                TensorSpec(b + "ffn_gate_inp.weight", (m.hidden, e), "F32"),
                t(b + "ffn_gate_exps.weight", (m.hidden, m.ffn, e), "ffn_gate"),
                t(b + "ffn_up_exps.weight", (m.hidden, m.ffn, e), "ffn_up"),
                t(b + "ffn_down_exps.weight", (m.ffn, m.hidden, e), "ffn_down"),
            ]
        else:
            out += [
                t(b + "ffn_gate.weight", (m.hidden, m.ffn), "ffn_gate"),
                t(b + "ffn_up.weight", (m.hidden, m.ffn), "ffn_up"),
                t(b + "ffn_down.weight", (m.ffn, m.hidden), "ffn_down"),
            ]
    out += [TensorSpec("output_norm.weight", (m.hidden,), "F32"), t("output.weight", (m.hidden, m.vocab), "output")]
    return out


def _token(i: int) -> str:
    h = (i * 2654435761) & 0xFFFFFFFF
    word = format(h, "x")[: 2 + i % 7]
    return ("Ġ" if i % 3 == 0 else "") + word


@lru_cache(maxsize=16)
def tokenizer_bytes(vocab: int, merges: int, scores: bool, version: int, big_endian: bool) -> bytes:
    """The encoded tokenizer KVs (tokens, token types, scores, merges): shared by every variant."""
    enc = Encoder(version, big_endian)
    kvs = [KV("tokenizer.ggml.model", STRING, "gpt2" if merges else "llama"),
           KV("tokenizer.ggml.tokens", ARRAY, [_token(i) for i in range(vocab)], STRING)]
    if scores:
        kvs.append(KV("tokenizer.ggml.scores", ARRAY, [float(-i) for i in range(vocab)], F32))
    kvs.append(KV("tokenizer.ggml.token_type", ARRAY, [1] * vocab, I32))
    if merges:
        kvs.append(KV("tokenizer.ggml.merges", ARRAY, [f"{_token(i)} {_token(i + 7)}" for i in range(merges)],
                      STRING))
    return b"".join(enc.kv(kv) for kv in kvs)


def _tokenizer_kv_count(m: ModelSpec) -> int:
    return 3 + bool(m.scores) + bool(m.merges)


@dataclass(frozen=True)
class GGUFFile:
    """One file of a GGUF repo: its header segments, declared size and truth."""

    path: str
    segments: tuple[bytes, ...]
    size: int
    truth: dict[str, Any]


def _truth(tensors: list[TensorSpec], size: int, *, version: int, label: str | None, arch: str | None,
           big_endian: bool = False) -> dict[str, Any]:
    types: dict[str, list[int]] = {}
    for t in tensors:
        row = types.setdefault(t.ggml_type, [0, 0, 0])
        row[0] += 1
        row[1] += t.parameters
        row[2] += t.nbytes
    return {"status": "ok", "version": version, "big_endian": big_endian, "tensor_count": len(tensors),
            "parameters": sum(t.parameters for t in tensors), "tensor_bytes": sum(t.nbytes for t in tensors),
            "size": size, "file_type_label": label, "architecture": arch,
            "types": {k: tuple(v) for k, v in sorted(types.items())}}


def variant_files(m: ModelSpec, stem: str, label: str, *, version: int = 3, big_endian: bool = False,
                  splits: int = 1, folder: str = "") -> list[GGUFFile]:
    """One variant (split into `splits` shards): the first holds every KV, the others only `split.*`."""
    tensors = model_tensors(m, label)
    shared = tokenizer_bytes(m.vocab, m.merges, m.scores, version, big_endian)
    meta = [KV("general.architecture", STRING, m.arch), KV("general.name", STRING, stem),
            KV(f"{m.arch}.context_length", U32, m.ctx), KV(f"{m.arch}.embedding_length", U32, m.hidden),
            KV(f"{m.arch}.block_count", U32, m.layers), KV(f"{m.arch}.feed_forward_length", U32, m.ffn),
            KV("general.file_type", U32, file_type_id(label))]
    if m.experts:
        meta.append(KV(f"{m.arch}.expert_count", U32, m.experts))
        meta.append(KV(f"{m.arch}.expert_used_count", U32, 2))  # as llama.cpp's converter writes for Mixtral
    tail = [KV("tokenizer.ggml.bos_token_id", U32, 1), KV("tokenizer.chat_template", STRING, "{% for m in messages %}"
            "{{ m.content }}{% endfor %}" * 40), KV("general.quantization_version", U32, 2)]
    per = -(-len(tensors) // splits)
    out = []
    for k in range(splits):
        part = tensors[k * per:(k + 1) * per]
        split = [KV("split.no", U16, k), KV("split.count", U16, splits),
                 KV("split.tensors.count", I32, len(tensors))] if splits > 1 else []
        tokenizer = (shared, _tokenizer_kv_count(m))
        kvs: list[KV | tuple[bytes, int]] = [*meta, *split, tokenizer, *tail] if k == 0 else list(split)
        segments, size = header_segments(kvs, part, version=version, big_endian=big_endian)
        suffix = f"-{k + 1:05d}-of-{splits:05d}" if splits > 1 else ""
        path = f"{folder}{stem}-{label}{suffix}.gguf"
        truth = _truth(part, size, version=version, label=label if k == 0 else None,
                       arch=m.arch if k == 0 else None, big_endian=big_endian)
        out.append(GGUFFile(path, tuple(segments), size, truth))
    return out


def mmproj_file(path: str) -> GGUFFile:
    """A vision projector (`clip` architecture, F16), as shipped beside gemma-3 GGUFs."""
    tensors = [TensorSpec("v.patch_embd.weight", (14, 14, 3, 1152), "F16")]
    for i in range(27):
        b = f"v.blk.{i}."
        tensors += [TensorSpec(b + "attn_q.weight", (1152, 1152), "F16"),
                    TensorSpec(b + "attn_k.weight", (1152, 1152), "F16"),
                    TensorSpec(b + "attn_v.weight", (1152, 1152), "F16"),
                    TensorSpec(b + "ffn_up.weight", (1152, 4304), "F16"),
                    TensorSpec(b + "ffn_down.weight", (4304, 1152), "F16"),
                    TensorSpec(b + "ln1.weight", (1152,), "F32")]
    tensors.append(TensorSpec("mm.input_projection.weight", (1152, 2560), "F16"))
    kvs = [KV("general.architecture", STRING, "clip"), KV("general.file_type", U32, 1),
           KV("clip.has_vision_encoder", 7, True)]
    segments, size = header_segments(kvs, tensors)
    return GGUFFile(path, tuple(segments), size, _truth(tensors, size, version=3, label="F16", arch="clip"))


def hostile_files() -> list[GGUFFile]:
    """Files that lie: each must be a recorded error (truth `error` says what is wrong)."""
    enc = Encoder()
    good = [KV("general.architecture", STRING, "llama"), KV("general.file_type", U32, 1)]
    t = [TensorSpec("a.weight", (256, 4), "F16")]
    seg, size = header_segments(good, t)
    head = b"".join(seg)
    out = []

    def add(name: str, data: bytes, size: int, why: str) -> None:
        out.append(GGUFFile(f"{name}.gguf", (data,), size, {"status": "error", "error": why}))

    add("bad-magic", b"GGUX" + head[4:], size, "bad magic")
    add("version-9", head[:4] + enc.pack("I", 9) + head[8:], size, "unsupported version")
    add("past-eof", head, size - 64, "tensor data ends past the file size")
    unknown = head.replace(enc.pack("I", 1) + enc.pack("Q", 0), enc.pack("I", 77) + enc.pack("Q", 0))
    add("unknown-type", unknown, size, "unknown ggml type id")
    add("tensor-count-2pow60", head[:8] + enc.pack("QQ", 2**60, 2) + head[24:], size, "tensor count over the cap")
    huge = b"GGUF" + enc.pack("I", 3) + enc.pack("QQ", 0, 1) + enc.string("k") + enc.pack("I", STRING) + enc.pack(
        "Q", 2**62)
    add("string-2pow62", huge, 1 << 20, "string length over the cap")
    dims = b"GGUF" + enc.pack("I", 3) + enc.pack("QQ", 1, 0) + enc.string("t") + enc.pack("I", 100)
    add("dims-100", dims.ljust(4096, b"\0"), 1 << 20, "too many dims")
    arr = b"GGUF" + enc.pack("I", 3) + enc.pack("QQ", 0, 1) + enc.string("a") + enc.pack("I", ARRAY) + enc.pack(
        "I", STRING) + enc.pack("Q", 2**40)
    add("array-2pow40", arr, 1 << 30, "array length over the cap")
    add("truncated", head[: len(head) // 2], len(head) // 2, "header runs past the end of the file")
    dup_seg, dup_size = header_segments(good, [t[0], t[0]])
    add("duplicate-tensor", b"".join(dup_seg), dup_size, "two tensors share a name")
    dup_kv, kv_size = header_segments([*good, good[0]], t)
    add("duplicate-key", b"".join(dup_kv), kv_size, "a key appears twice")
    two = [TensorSpec("a.weight", (256, 4), "F16"), TensorSpec("b.weight", (256, 4), "F16")]
    mis = b"".join(header_segments(good, two)[0])
    second = enc.pack("I", 1) + enc.pack("Q", 2048)  # b.weight at 2048 (aligned) -> 2056
    add("misaligned-offset", mis.replace(second, enc.pack("I", 1) + enc.pack("Q", 2056)), 1 << 20,
        "a tensor offset that is not a multiple of the alignment")
    return out


def segments_reader(segments: tuple[bytes, ...], size: int) -> Reader:
    """Read [start, end) of a file made of header segments, zeros after them."""
    bounds, pos = [], 0
    for s in segments:
        bounds.append((pos, pos + len(s), s))
        pos += len(s)

    def read(start: int, end: int) -> bytes:
        end = min(end, size)
        if start >= end:
            return b""
        parts = [s[max(start, a) - a:min(end, b) - a] for a, b, s in bounds if a < end and b > start]
        data = b"".join(parts)
        return data + bytes(end - start - len(data))

    return read


@dataclass(frozen=True)
class RepoSpec:
    """A GGUF repo of the catalog."""

    name: str
    created: str
    files: tuple[GGUFFile, ...]
    base: str | None = None
    downloads: int = 1000


def repo_specs() -> list[RepoSpec]:
    """Every GGUF repo fakehub serves with `--gguf`."""
    llama_labels = ("Q2_K", "Q3_K_M", "Q4_0", "Q4_K_S", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16",
                    "IQ2_XXS", "IQ3_XXS", "IQ4_XS")
    llama = [f for lab in llama_labels for f in variant_files(LLAMA3_8B, "Llama-3.1-8B-Instruct", lab)]
    gemma = [f for lab in ("Q4_0", "Q4_K_M", "Q8_0", "BF16", "IQ4_XS")
             for f in variant_files(GEMMA3_4B, "gemma-3-4b-it", lab)]
    gemma.append(mmproj_file("mmproj-model-f16.gguf"))
    mixtral = [*variant_files(MIXTRAL, "Mixtral-8x7B-Instruct", "Q4_K_M", splits=3),
               *variant_files(MIXTRAL, "Mixtral-8x7B-Instruct", "Q8_0", splits=2),
               *variant_files(MIXTRAL, "Mixtral-8x7B-Instruct", "Q2_K")]
    v2 = [f for lab in ("Q4_0", "Q5_K_M") for f in variant_files(LLAMA2_7B, "llama-2-7b-chat", lab, version=2)]
    v1 = variant_files(LLAMA2_7B, "llama-7b", "Q4_0", version=1)
    be = variant_files(TINY, "tiny-llama", "F16", big_endian=True, folder="big-endian/")
    be += variant_files(TINY, "tiny-llama", "Q8_0")
    return [
        RepoSpec("Llama-3.1-8B-Instruct-GGUF", "2024-07-24T10:00:00.000Z", tuple(llama),
                 base="meta-llama/Llama-3.1-8B-Instruct", downloads=90_000),
        RepoSpec("gemma-3-4b-it-GGUF", "2025-03-13T09:00:00.000Z", tuple(gemma), base="google/gemma-3-4b-it",
                 downloads=50_000),
        RepoSpec("Mixtral-8x7B-Instruct-GGUF", "2023-12-12T08:00:00.000Z", tuple(mixtral),
                 base="mistralai/Mixtral-8x7B-Instruct-v0.1", downloads=20_000),
        RepoSpec("Llama-2-7B-Chat-GGUF", "2023-09-05T12:00:00.000Z", tuple(v2), base="meta-llama/Llama-2-7b-chat-hf",
                 downloads=8000),
        RepoSpec("llama-7b-ggufv1", "2023-08-25T12:00:00.000Z", tuple(v1), downloads=10),
        RepoSpec("tiny-llama-GGUF", "2025-01-10T12:00:00.000Z", tuple(be), downloads=5),
        RepoSpec("hostile-GGUF", "2025-06-01T00:00:00.000Z", tuple(hostile_files()), downloads=1),
    ]


def _listing_gguf(spec: RepoSpec) -> dict[str, Any] | None:
    """The listing's `gguf`: one file (the largest readable, non-projector) of the repo."""
    ok = [f for f in spec.files if f.truth["status"] == "ok" and f.truth["architecture"]
          and "mmproj" not in f.path]
    if not ok:
        return None
    f = max(ok, key=lambda f: f.size)
    return {"total": f.truth["parameters"], "architecture": f.truth["architecture"], "context_length": 4096,
            "bos_token": "<s>", "eos_token": "</s>", "totalFileSize": f.size}


def build_repo(spec: RepoSpec) -> tuple[Repo, Any]:
    """(Repo, truth function) of one spec; file bytes are built when first read."""
    repo_id = f"{ORG}/{spec.name}"
    created = parse_iso(spec.created)
    readme = f"# {spec.name}\n\nGGUF files (fakehub synthetic, header only).\n".encode()
    sizes = {"README.md": len(readme), **{f.path: f.size for f in spec.files}}

    def files() -> dict[str, RepoFile]:
        out: dict[str, RepoFile] = {"README.md": small_file("README.md", readme)}
        for f in spec.files:
            sha = hashlib.sha256(repo_id.encode() + f.path.encode() + str(f.size).encode()).hexdigest()
            out[f.path] = lfs_file(f.path, f.size, sha, segments_reader(f.segments, f.size))
        return out

    arch = next((f.truth["architecture"] for f in spec.files if f.truth.get("architecture")), None)
    tags = ["gguf", *([arch] if arch else []), "text-generation"]
    base_models = None
    if spec.base:
        tags[-1:-1] = [f"base_model:{spec.base}", f"base_model:quantized:{spec.base}"]
        base_models = {"relation": "quantized", "models": [{"id": spec.base}]}
    sha = hashlib.sha1(f"{repo_id}\n{sorted(sizes.items())}".encode()).hexdigest()
    repo = Repo(id=repo_id, sha=sha, created_ms=created, modified_ms=created + 3_600_000, library_name=None,
                pipeline_tag="text-generation", tags=tags, downloads=spec.downloads, downloads_all_time=spec.downloads * 5,
                likes=spec.downloads // 100, config={}, base_models=base_models, gguf=_listing_gguf(spec),
                file_sizes=sizes, files_factory=files)

    def truth() -> dict[str, Any]:
        return {"id": repo_id, "sha": sha, "created_at": spec.created, "kind": "gguf", "quant_method": "gguf",
                "deleted": False, "gguf": repo.gguf, "file_sizes": sizes, "tags": tags, "base_model": spec.base,
                "gguf_files": {f.path: f.truth for f in spec.files}, "hostile": None}

    return repo, truth


@lru_cache(maxsize=1)
def _specs() -> tuple[RepoSpec, ...]:
    return tuple(repo_specs())


def gguf_repos() -> list[tuple[Repo, Any]]:
    """Static (Repo, truth function) pairs of every GGUF repo."""
    return [build_repo(s) for s in _specs()]

