"""Repos from real files: DIR/<org>/<name>/<path> (+ optional hub.json with listing fields and real sizes)."""

from __future__ import annotations

import hashlib
import json
import re
import struct
from pathlib import Path
from typing import Any

from hubcensus.fakehub import layouts
from hubcensus.fakehub.repo import LFS_SUFFIXES, Reader, Repo, RepoFile, iso, lfs_file, parse_iso, small_file

LFS_MIN_SIZE = 10_000_000
ROOT_WEIGHTS = re.compile(r"^model(-\d{5}-of-\d{5})?\.safetensors$")
DEFAULT_CREATED = "2024-01-01T00:00:00.000Z"
QUANT_NAMES = {"gptq": "gptq", "awq": "awq", "fp8": "fp8", "mxfp4": "mxfp4", "modelopt": "nvfp4",
               "compressed-tensors": "compressed-tensors"}


def file_reader(path: Path, size: int) -> Reader:
    """Read [start, end) from a stored file, zeros past its stored bytes (header-only files)."""
    stored = path.stat().st_size

    def read(start: int, end: int) -> bytes:
        end = min(end, size)
        if start >= end:
            return b""
        data = b""
        if start < stored:
            with path.open("rb") as f:
                f.seek(start)
                data = f.read(min(end, stored) - start)
        return data + bytes(end - start - len(data))

    return read


def _sha256(path: Path, size: int) -> str:
    """sha256 of the full file; for header-only files, of the stored bytes plus the declared size."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    if path.stat().st_size != size:
        h.update(f"fakehub-virtual-size:{size}".encode())
    return h.hexdigest()


def read_header(f: RepoFile) -> tuple[int, dict[str, Any]] | None:
    """(header length, header dict) of a safetensors RepoFile, or None when it does not parse."""
    try:
        (n,) = struct.unpack("<Q", f.read(0, 8))
        if n > 100_000_000 or 8 + n > f.size:
            return None
        hdr = json.loads(f.read(8, 8 + n))
        return (n, hdr) if isinstance(hdr, dict) else None
    except (struct.error, ValueError, UnicodeDecodeError):
        return None


def quant_method(config: dict[str, Any] | None, paths: list[str]) -> str:
    """The quantization method a repo's config (or its gguf-only files) tells."""
    cfg = config or {}
    qc = cfg.get("quantization_config") or {}
    qm = qc.get("quant_method")
    if qm == "bitsandbytes":
        return "bnb-4bit" if qc.get("load_in_4bit") else "bnb-8bit"
    if qm in QUANT_NAMES:
        return QUANT_NAMES[qm]
    if "quantization" in cfg:
        return "mlx"
    if not any(p.endswith(".safetensors") for p in paths) and any(p.endswith(".gguf") for p in paths):
        return "gguf"
    return "none"


def hub_summary(files: dict[str, RepoFile]) -> dict[str, Any] | None:
    """The listing's `safetensors`: root `model.safetensors.index.json` shards, else root `model*.safetensors`."""
    idx = files.get("model.safetensors.index.json")
    if idx is not None:
        try:
            names = sorted(set(json.loads(idx.read(0, idx.size))["weight_map"].values()))
        except (ValueError, KeyError, TypeError):
            return None
    else:
        names = [p for p in files if ROOT_WEIGHTS.match(p)]
    by: dict[str, int] = {}
    for p in names:
        parsed = read_header(files[p]) if p in files else None
        if parsed is None:
            return None
        for name, t in parsed[1].items():
            if name != "__metadata__":
                by[t["dtype"]] = by.get(t["dtype"], 0) + _numel(t["shape"])
    return {"parameters": by, "total": sum(by.values())} if by else None


def _numel(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def static_truth(repo: Repo, hostile: str | None = None) -> dict[str, Any]:
    """Ground truth of a static repo, computed by parsing its safetensors headers."""
    files: dict[str, Any] = {}
    by: dict[str, int] = {}
    eff = 0
    qm = quant_method(repo.config, list(repo.file_sizes))
    for p, f in repo.files.items():
        if not p.endswith(".safetensors"):
            continue
        parsed = read_header(f)
        if parsed is None:
            files[p] = {"size": f.size, "header_len": None, "tensors": None, "parameters_by_dtype": None}
            continue
        n, hdr = parsed
        fb: dict[str, int] = {}
        for name, t in hdr.items():
            if name == "__metadata__":
                continue
            k = _numel(t["shape"])
            fb[t["dtype"]] = fb.get(t["dtype"], 0) + k
            eff += k * layouts.effective_mult(name, t["dtype"], qm)
        files[p] = {"size": f.size, "header_len": n, "tensors": len(hdr) - ("__metadata__" in hdr),
                    "parameters_by_dtype": fb}
        for d, k in fb.items():
            by[d] = by.get(d, 0) + k
    base = repo.base_models["models"][0]["id"] if repo.base_models else None
    return {"id": repo.id, "sha": repo.sha, "created_at": iso(repo.created_ms), "last_modified": iso(repo.modified_ms),
            "library_name": repo.library_name, "pipeline_tag": repo.pipeline_tag, "tags": repo.tags,
            "gated": repo.gated, "files": files, "file_sizes": repo.file_sizes, "parameters_by_dtype": by,
            "hub_safetensors": repo.safetensors, "effective_parameters": eff if by else (repo.gguf or {}).get("total", 0),
            "quant_method": qm, "base_model": base, "deleted": False, "kind": "disk", "gguf": repo.gguf,
            "config": repo.config, "version": 0, "hostile": hostile}


def load_repo(folder: Path, repo_id: str) -> Repo:
    """One repo folder -> Repo (files read lazily by range; LFS sha256 from hub.json or computed)."""
    meta: dict[str, Any] = {}
    if (folder / "hub.json").is_file():
        meta = json.loads((folder / "hub.json").read_text())
    sizes_meta: dict[str, int] = meta.get("file_sizes", {})
    sha_meta: dict[str, str] = meta.get("file_sha256", {})
    files: dict[str, RepoFile] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel == "hub.json":
            continue
        size = int(sizes_meta.get(rel, path.stat().st_size))
        if rel.endswith(LFS_SUFFIXES) or size >= LFS_MIN_SIZE:
            files[rel] = lfs_file(rel, size, sha_meta.get(rel) or _sha256(path, size), file_reader(path, size))
        else:
            files[rel] = small_file(rel, path.read_bytes())
    config = meta.get("config")
    if config is None and "config.json" in files:
        try:
            full = json.loads(files["config.json"].read(0, files["config.json"].size))
            config = {k: full[k] for k in ("architectures", "model_type", "quantization_config", "quantization")
                      if k in full}
        except ValueError:
            config = None
    listing = "\n".join(f"{p} {f.size} {f.etag()}" for p, f in files.items())
    created = parse_iso(meta.get("createdAt", DEFAULT_CREATED))
    lib = meta.get("library_name")
    tags = meta.get("tags") or [t for t in (lib, "safetensors" if any(p.endswith(".safetensors") for p in files)
                                            else None, meta.get("pipeline_tag")) if t]
    return Repo(
        id=repo_id, sha=hashlib.sha1(f"{repo_id}\n{listing}".encode()).hexdigest(), created_ms=created,
        modified_ms=parse_iso(meta.get("lastModified", iso(created))), library_name=lib,
        pipeline_tag=meta.get("pipeline_tag"), tags=list(tags), gated=meta.get("gated", False),
        downloads=int(meta.get("downloads", 0)), downloads_all_time=int(meta.get("downloadsAllTime", 0)),
        likes=int(meta.get("likes", 0)), trending_score=int(meta.get("trendingScore", 0)), config=config,
        base_models=meta.get("baseModels"), gguf=meta.get("gguf"), safetensors=hub_summary(files),
        file_sizes={p: f.size for p, f in files.items()}, _files=files, hub_id=meta.get("_id"),
        former_ids=list(meta.get("former_ids", [])))


def load_dir(root: str | Path) -> list[Repo]:
    """All repos under DIR/<org>/<name>/."""
    root = Path(root)
    repos = []
    for org in sorted(p for p in root.iterdir() if p.is_dir()):
        for name in sorted(p for p in org.iterdir() if p.is_dir()):
            repos.append(load_repo(name, f"{org.name}/{name.name}"))
    return repos


