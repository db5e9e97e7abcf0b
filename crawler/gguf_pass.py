"""The GGUF part of the header pass: plan -> read -> parse -> rows (stored by `db.gguf_store`).

Per repo: one `blobs=true` call lists every `.gguf` with its size, then the headers are read
cheaply (`crawler.files.gguf_plan`). Every file becomes a `gguf_files` row ('ok' or 'error' with a
one-line reason) and per ggml type `gguf_types` rows.

The model's own figures (for a repo whose weights are GGUF only) follow from its variants:
1. candidates: complete variants (every shard read), not vision projectors (`mmproj`), holding the
   most parameters (the model itself, not a draft or projector beside it);
2. the representative: the `Q4_K_M` variant when there is one (llama.cpp's and Ollama's default
   pull), else the candidate of median tensor bytes (the lower one of an even count);
3. from it: `quant_method` 'gguf', `dominant_dtype` = the ggml type holding most of its tensor
   bytes ('Q4_K'), `effective_params` = its parameters, `weight_bytes` = its tensor bytes,
   `file_bytes` = its file sizes, `bits_per_param` = weight_bytes * 8 / effective_params;
   every variant is listed in `profile.gguf_variants`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hubcensus.crawler.files.gguf_plan import (
    FileRead,
    GGUFEntry,
    entries_from_info,
    is_gguf,
    read_repo_files,
)
from hubcensus.crawler.files.weightfiles import weight_format
from hubcensus.crawler.formats.gguf import GGUFInfo
from hubcensus.db import gguf_store

REPRESENTATIVE = "Q4_K_M"


@dataclass
class GGUFRepo:
    """What the GGUF pass read of one repo at one sha."""

    model_id: str
    sha: str
    reads: list[FileRead] = field(default_factory=list)
    listed: bool = True
    """Whether a `blobs=true` API call listed the files (else the siblings and `Content-Range` did)."""

    @property
    def bytes_read(self) -> int:
        return sum(r.bytes_read for r in self.reads)

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.reads) + self.listed


def has_gguf(paths: Iterable[str]) -> bool:
    """Whether a repo's weight files include GGUF files."""
    return any(is_gguf(p) for p in paths)


def gguf_only(paths: Iterable[str]) -> bool:
    """GGUF files and no safetensors or pickle weights: the model's figures come from its GGUF variants."""
    listed = list(paths)
    return has_gguf(listed) and weight_format(listed) == "gguf"


def read_repo(source: Any, model_id: str, sha: str, paths: Iterable[str] | None = None) -> GGUFRepo:
    """Read every .gguf header of the repo at `sha`.

    With `paths` (the listing's siblings) and a source that states sizes (`read_range`), each file's
    size comes from its first read: no API call (the API bucket is the scarce one). Otherwise one
    `blobs=true` call lists the files with their sizes.
    """
    if paths is not None and hasattr(source, "read_range"):
        entries = [GGUFEntry(p, None) for p in paths if is_gguf(p)]
        return GGUFRepo(model_id, sha, read_repo_files(source, model_id, entries, sha), listed=False)
    info = source.get_json(f"/api/models/{quote(model_id, safe='/')}/revision/{quote(sha, safe='')}", {"blobs": "true"})
    entries = entries_from_info(info)
    return GGUFRepo(model_id, sha, read_repo_files(source, model_id, entries, sha))


def file_rows(repo: GGUFRepo) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`gguf_files` and `gguf_types` rows of a read repo."""
    files, types = [], []
    for read in repo.reads:
        entry, info = read.entry, read.info
        variant = entry.variant
        index, count = entry.split
        row: dict[str, Any] = {
            "model_id": repo.model_id, "sha": repo.sha, "path": entry.path, "size_bytes": entry.size,
            "variant": variant, "split_index": index, "split_count": count, "bytes_read": read.bytes_read,
            "status": "ok" if info is not None else "error", "error": read.error,
        }  # fmt: skip
        if info is not None:
            row.update(_info_columns(info))
            no, n, _ = info.split()
            if n is not None and n > 0 and no is not None and 0 <= no < n:
                row["split_index"], row["split_count"] = no + 1, n
            for ggml_type, t in info.types.items():
                types.append(
                    {"model_id": repo.model_id, "sha": repo.sha, "path": entry.path, "ggml_type": ggml_type,
                     "tensors": t.tensors, "parameters": t.parameters, "bytes": t.bytes}
                )  # fmt: skip
        files.append(row)
    return files, types


def _info_columns(info: GGUFInfo) -> dict[str, Any]:
    return {
        "version": info.version, "tensor_count": info.tensor_count, "kv_count": info.kv_count,
        "parameters": info.parameters, "tensor_bytes": info.tensor_bytes, "data_offset": info.data_offset,
        "file_type": info.file_type, "file_type_label": info.file_type_label, "architecture": info.architecture,
        "context_length": info.context_length, "block_count": info.block_count,
    }  # fmt: skip


@dataclass
class Variant:
    """The shards of one variant, joined."""

    name: str
    label: str | None = None
    files: int = 0
    ok: int = 0
    split_count: int = 1
    parameters: int = 0
    tensor_bytes: int = 0
    size_bytes: int = 0
    projector: bool = False
    types: dict[str, list[int]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.ok == self.files == self.split_count

    @property
    def bits(self) -> float | None:
        return self.tensor_bytes * 8 / self.parameters if self.parameters else None


def variants(rows: list[dict[str, Any]], types: list[dict[str, Any]]) -> list[Variant]:
    """Join file rows into variants (shards summed)."""
    out: dict[str, Variant] = {}
    by_path: dict[str, list[dict[str, Any]]] = {}
    for t in types:
        by_path.setdefault(t["path"], []).append(t)
    for r in rows:
        v = out.setdefault(r["variant"], Variant(r["variant"], projector="mmproj" in r["path"].lower()))
        v.files += 1
        v.split_count = max(v.split_count, r["split_count"] or 1)
        v.size_bytes += r["size_bytes"] or 0
        if r["status"] != "ok":
            continue
        v.ok += 1
        v.label = v.label or r.get("file_type_label")
        v.parameters += r["parameters"] or 0
        v.tensor_bytes += r["tensor_bytes"] or 0
        for t in by_path.get(r["path"], []):
            acc = v.types.setdefault(t["ggml_type"], [0, 0, 0])
            acc[0] += t["tensors"]
            acc[1] += t["parameters"]
            acc[2] += t["bytes"]
    return sorted(out.values(), key=lambda v: v.name)


def representative(found: list[Variant]) -> Variant | None:
    """The variant whose figures stand for the model (the rule in the module docstring)."""
    complete = [v for v in found if v.complete and not v.projector and v.parameters]
    if not complete:
        return None
    most = max(v.parameters for v in complete)
    candidates = sorted((v for v in complete if v.parameters == most), key=lambda v: (v.tensor_bytes, v.name))
    preferred = [v for v in candidates if v.label == REPRESENTATIVE]
    return preferred[0] if preferred else candidates[(len(candidates) - 1) // 2]


def model_figures(repo: GGUFRepo, rows: list[dict[str, Any]], types: list[dict[str, Any]]) -> dict[str, Any]:
    """The `models` figures of a GGUF-only repo (for `db.gguf_store.store_gguf`)."""
    found = variants(rows, types)
    rep = representative(found)
    errors = [r for r in rows if r["status"] != "ok"]
    flags = [f"gguf_unreadable: {len(errors)} of {len(rows)} files"] if errors else []
    listing = [
        {"variant": v.name, "file_type": v.label, "parameters": v.parameters, "tensor_bytes": v.tensor_bytes,
         "size_bytes": v.size_bytes, "bits_per_weight": v.bits, "complete": v.complete, "projector": v.projector}
        for v in found
    ]  # fmt: skip
    base = {"model_id": repo.model_id, "sha": repo.sha, "quant_method": "gguf", "overhead_bytes": None}
    if rep is None:
        first = errors[0]["error"] if errors else "no complete GGUF variant"
        return {**base, "weights_source": "hub", "dominant_dtype": None, "effective_params": None,
                "weight_bytes": None, "file_bytes": None, "bits_per_param": None,
                "flags": [*flags, f"unreadable_gguf: {first}"[:300]], "quant_evidence": [],
                "profile": {"gguf_variants": listing}, "header_parameters": None}  # fmt: skip
    dominant = max(rep.types.items(), key=lambda kv: (kv[1][2], kv[0]))[0] if rep.types else None
    return {
        **base, **_experts(repo, rep), "weights_source": "header", "dominant_dtype": dominant, "effective_params": rep.parameters,
        "weight_bytes": rep.tensor_bytes, "file_bytes": rep.size_bytes, "bits_per_param": rep.bits,
        "flags": flags,
        "quant_evidence": [f"gguf: {len([v for v in found if not v.projector])} variants",
                           f"representative: {rep.name} ({rep.label or 'unlabelled'})"],
        "profile": {"gguf_variants": listing, "representative": rep.name},
        "header_parameters": {t: acc[1] for t, acc in sorted(rep.types.items())},
    }  # fmt: skip


def _experts(repo: GGUFRepo, rep: Variant) -> dict[str, Any]:
    """Active parameters of a GGUF-only model: dense (no `{arch}.expert_count`) -> its parameters; MoE ->
    NULL with the reason (the header pass keeps per-type totals, not the expert tensors' share)."""
    info = next((r.info for r in repo.reads if r.info is not None and r.entry.variant == rep.name), None)
    if info is None:
        return {}
    experts, used = info.expert_layout
    if not experts:
        return {"active_params": rep.parameters, "expert_count": 0}
    return {"active_params": None, "expert_count": experts, "experts_per_token": used,
            "active_reason": f"GGUF: {experts} experts, {used} per token; the expert tensors' share is not read"}


@dataclass
class GGUFRows:
    """GGUF rows of repos read and not yet stored (the header pass stores them with its batches)."""

    files: list[dict[str, Any]] = field(default_factory=list)
    types: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)

    def add(self, repo: GGUFRepo, *, figures: bool) -> None:
        """Rows of one repo; with `figures`, the model's own figures too (GGUF-only repos)."""
        files, types = file_rows(repo)
        self.files.extend(files)
        self.types.extend(types)
        if figures:
            self.models.append(model_figures(repo, files, types))

    def __len__(self) -> int:
        return len(self.models)

    def store(self, db: Any) -> tuple[int, int]:
        """Write and forget the rows; how many GGUF-only models got exact figures, and how many none
        (no variant could be read: their estimate stays, and they count as unreadable)."""
        exact = sum(1 for m in self.models if m["weights_source"] == "header")
        stored = (exact, len(self.models) - exact)
        if self.files or self.models:
            gguf_store.store_gguf(db, self.files, self.types, self.models)
        self.files, self.types, self.models = [], [], []
        return stored
