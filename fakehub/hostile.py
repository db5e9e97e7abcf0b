"""Hostile repos: safetensors files whose prefix or header lies (`--hostile`; ids under `fakehub-hostile/`)."""

from __future__ import annotations

import hashlib
import json
import struct
from typing import Any

from hubcensus.fakehub.ondisk import static_truth
from hubcensus.fakehub.repo import Repo, RepoFile, bytes_reader, lfs_file, parse_iso, small_file

ORG = "fakehub-hostile"


def _valid_header() -> bytes:
    return json.dumps({"__metadata__": {"format": "pt"},
                       "a": {"dtype": "F32", "shape": [25], "data_offsets": [0, 100]}}).encode()


def hostile_files() -> dict[str, tuple[str, bytes, int]]:
    """name -> (what is wrong, stored prefix bytes, declared file size)."""
    good = _valid_header()
    overlap = json.dumps({"a": {"dtype": "F32", "shape": [25], "data_offsets": [0, 100]},
                          "b": {"dtype": "F32", "shape": [25], "data_offsets": [50, 150]}}).encode()
    long = json.dumps({f"t{i}": {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]}
                       for i in range(100)}).encode().ljust(5000)
    return {
        "len-10gb": ("length prefix claims 10 GiB (file is 1 MiB)", struct.pack("<Q", 10 * 2**30) + good, 1 << 20),
        "len-2pow63": ("length prefix is 2^63", struct.pack("<Q", 2**63) + good, 1 << 20),
        "len-30mb": ("header of 30,000,000 bytes, over the client's 25 MB limit", struct.pack("<Q", 30_000_000)
                     + b"{" + b" " * 64, 30_000_108),
        "not-json": ("header bytes are not JSON", struct.pack("<Q", 64) + b"this is not json at all!".ljust(64), 172),
        "cut-short": ("header claims 5000 bytes, file ends after 1000 (mid-JSON)", struct.pack("<Q", 5000) + long[:1000],
                      1008),
        "overlapping": ("tensors with overlapping data_offsets", struct.pack("<Q", len(overlap)) + overlap,
                        8 + len(overlap) + 150),
    }


def static_repo(repo_id: str, files: dict[str, RepoFile], created_ms: int, config: dict[str, Any], tags: list[str],
                pipeline_tag: str, salt: bytes = b"") -> Repo:
    """A static transformers repo holding `files` (sha derived from the id and `salt`)."""
    return Repo(id=repo_id, sha=hashlib.sha1(repo_id.encode() + salt).hexdigest(), created_ms=created_ms,
                modified_ms=created_ms, library_name="transformers", pipeline_tag=pipeline_tag, tags=tags,
                config=config, safetensors=None, file_sizes={p: f.size for p, f in files.items()}, _files=files)


def hostile_repos() -> list[tuple[Repo, Any]]:
    """Static (Repo, truth function) pairs for every hostile file."""
    out = []
    created = parse_iso("2025-06-01T00:00:00.000Z")
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}
    for k, (name, (why, prefix, size)) in enumerate(hostile_files().items()):
        sha256 = hashlib.sha256(prefix + str(size).encode()).hexdigest()
        files: dict[str, RepoFile] = {
            "config.json": small_file("config.json", json.dumps(config).encode()),
            "model.safetensors": lfs_file("model.safetensors", size, sha256, bytes_reader(prefix, size)),
        }
        repo = static_repo(f"{ORG}/{name}", files, created + k * 1000, dict(config),
                           ["transformers", "safetensors", "llama", "text-generation"], "text-generation", prefix)
        out.append((repo, (lambda r=repo, w=why: static_truth(r, hostile=w))))
    return out
