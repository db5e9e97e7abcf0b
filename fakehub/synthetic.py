"""A seeded synthetic catalog of N models, generated lazily by index, evolving by epoch.

Per-index attributes needed for listing and sorting live in numpy arrays; everything else
(names, layouts, files, headers) is derived on demand from a counter-based hash of (seed, index).
"""

from __future__ import annotations

import hashlib
import json
import struct
import threading
from functools import lru_cache
from typing import Any

import numpy as np
from hubcensus.fakehub import layouts
from hubcensus.fakehub.epochs import DAY_MS, NOW0, EpochTable, evolve, now_ms  # noqa: F401 - now_ms re-exported
from hubcensus.fakehub.layouts import LLM_ARCHS
from hubcensus.fakehub.naming import ARCH_LIST, Naming
from hubcensus.fakehub.pickle_repos import (
    PickleStyle,
    ckpt_file,
    file_truth,
    pickle_mode,
    pickle_set,
    style_for,
)
from hubcensus.fakehub.repo import Repo, RepoFile, bytes_reader, iso, lfs_file, parse_iso, small_file
from hubcensus.fakehub.rng import hash64_np, rand, split3_np
from hubcensus.fakehub.specs import (
    ERA_WEIGHTS,
    KIND_INDEX,
    KINDS,
    LLM_WEIGHTS,
    N_ORGS_HINT,
    Component,
    Kind,
    component_files,
    components,
    config_for,
    config_json,
    flip_dtype,
    gguf_file,
    org_name,
    tags_for,
)

T_START = parse_iso("2019-01-01T00:00:00.000Z")
SENTINEL = parse_iso("2022-03-02T23:29:04.000Z")
PADDED_FROM = parse_iso("2023-03-01T00:00:00.000Z")  # safetensors >= 0.3 pads headers to 8; older writers did not
N_ORGS = N_ORGS_HINT
YEARS = np.array([parse_iso(f"{y}-01-01T00:00:00.000Z") for y in range(2020, 2027)], dtype=np.int64)
DERIVED = ("gptq", "awq", "bnb4", "bnb8", "fp8", "nvfp4", "ct", "mlx", "gguf")
BIN_ARCHS = ("tiny", "0.5b", "1b")
ARCH_CODES = {a: k for k, a in enumerate(ARCH_LIST)}
DTYPES = ("F32", "F16", "BF16")
FIXED_ARCH = {"encoder": "bert-base", "st": "minilm", "timm": "vit-b16", "sd": "sd15", "flux": "flux",
              "mxfp4": "moe-20b"}


class SyntheticSource(Naming):
    """N seeded models (plus new ones per epoch), built lazily by index."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n, self.seed = n, seed
        self.new_per_epoch = max(1, n // 200) if n else 0
        self._rows = 0
        self.born = self.created = self.modified0 = np.zeros(0, np.int64)
        self.kind = np.zeros(0, np.int8)
        self.org = self.downloads = self.likes = self.trending = np.zeros(0, np.int32)
        self.llm_rows = np.zeros(0, np.int64)
        self._tables: dict[int, EpochTable] = {}
        self._names: dict[int, str] = {}
        self._ids: dict[int, tuple[str, str]] = {}  # index -> (first id, `_id`)
        self._mids: dict[int, str] = {}
        self._org_names = [org_name(c) for c in range(N_ORGS)]
        self._lock = threading.Lock()

    def rows(self, epoch: int) -> int:
        """How many indices exist (alive or not) at an epoch."""
        return self.n + epoch * self.new_per_epoch

    def _ensure(self, rows: int) -> None:
        if rows <= self._rows:
            return
        s, n = self.seed, self.n
        idx = np.arange(rows, dtype=np.int64)
        u_born, u_mod, u_kind = split3_np(hash64_np(s, idx, 0))
        u_org, u_dl, u_like = split3_np(hash64_np(s, idx, 1))
        old = idx < n
        span = NOW0 - T_START
        born = np.where(old, T_START + (span * u_born ** (1 / 2.2)).astype(np.int64), 0)
        ep = np.where(old, 0, (idx - n) // max(self.new_per_epoch, 1) + 1)
        born = np.where(old, born, NOW0 + (ep - 1) * DAY_MS + 1 + (u_born * (DAY_MS - 2)).astype(np.int64))
        self.born = born
        self.created = np.where(born < SENTINEL, SENTINEL, born)
        self.modified0 = np.where(old, born + ((NOW0 - born) * u_mod ** 3).astype(np.int64), born)
        year = np.searchsorted(YEARS, born, side="right")  # 0 -> 2019 ... 7 -> 2026
        cum = np.array([np.cumsum(w) / sum(w) for w in (ERA_WEIGHTS[y] for y in range(2019, 2027))])
        kind = np.zeros(rows, np.int8)
        for y in range(len(cum)):
            sel = year == y
            kind[sel] = np.searchsorted(cum[y], u_kind[sel], side="right").clip(0, len(KINDS) - 1)
        self.kind = kind
        self.org = (N_ORGS * u_org ** 3).astype(np.int32)
        self.downloads = (np.exp(u_dl * 14) - 1).astype(np.int32)
        self.likes = (np.exp(u_like * 9) - 1).astype(np.int32)
        self.trending = (np.exp(u_dl * u_like * 6) - 1).astype(np.int32)
        order = np.argsort(born, kind="stable")
        is_llm = self.kind[order] == KIND_INDEX["llm"]
        self.llm_rows = order[is_llm]  # plain LLMs by birth
        before = np.empty(rows, np.int64)  # how many plain LLMs were born before each row
        before[order] = np.cumsum(is_llm) - is_llm
        self._details(idx, year, before)
        self._rows = rows

    def _details(self, idx: np.ndarray, year: np.ndarray, before: np.ndarray) -> None:
        """Vectorised per-index choices: architecture, quantized base, plain dtype, gating."""
        u_arch, u_dtype, u_gate = split3_np(hash64_np(self.seed, idx, 2))
        u_base = split3_np(hash64_np(self.seed, idx, 3))[0]
        kind = self.kind

        def choose(u: np.ndarray, names: tuple[str, ...], weights: tuple[float, ...]) -> np.ndarray:
            cum = np.cumsum(weights) / sum(weights)
            codes = np.array([ARCH_CODES[a] for a in names], np.int8)
            return codes[np.searchsorted(cum, u, side="right").clip(max=len(names) - 1)]

        own = choose(u_arch, LLM_ARCHS, LLM_WEIGHTS)
        derived = np.isin(kind, [KIND_INDEX[k] for k in DERIVED])
        n_llm = len(self.llm_rows)
        base = np.full(len(idx), -1, np.int64)
        if n_llm:
            k = np.where(before == 0, n_llm, before)
            pick_at = np.minimum((u_base * k).astype(np.int64), k - 1)
            base = np.where(derived, self.llm_rows[pick_at], -1)
        arch = np.where(base >= 0, own[np.maximum(base, 0)], own)
        arch = np.where(kind == KIND_INDEX["bin"], choose(u_arch, BIN_ARCHS, (50, 30, 20)), arch)
        for name, a in FIXED_ARCH.items():
            arch = np.where(kind == KIND_INDEX[name], ARCH_CODES[a], arch)
        self.arch, self.base = arch.astype(np.int8), base
        three = lambda lo, hi: np.where(u_dtype < lo, 0, np.where(u_dtype < hi, 1, 2))  # noqa: E731
        self.dtype0 = np.where(year < 2, np.where(u_dtype < 0.9, 0, 1),  # F32 / F16 / BF16 by era
                               np.where(year < 4, np.where(u_dtype < 0.6, 0, 1),
                                        np.where(year < 5, three(0.15, 0.6), three(0.08, 0.25)))).astype(np.int8)
        transformers = np.array([k.library == "transformers" for k in KINDS])[kind]
        self.gated = np.where(transformers & (u_gate < 0.04), np.where(u_gate < 0.03, 1, 2), 0).astype(np.int8)

    def table(self, epoch: int) -> EpochTable:
        """The per-row state at an epoch (deterministic; the last few are cached)."""
        got = self._tables.get(epoch)
        if got is not None:
            return got
        with self._lock:
            return self._tables.get(epoch) or self._build_table(epoch)

    def _build_table(self, epoch: int) -> EpochTable:
        rows = self.rows(epoch)
        self._ensure(rows)
        if len(self._tables) >= 3:
            self._tables.pop(next(iter(self._tables)))
        t = evolve(self.seed, self.rows, epoch, self.modified0[:rows], self.org[:rows], self.gated[:rows])
        self._tables[epoch] = t
        return t

    def warm(self) -> None:
        """Build every weight template once (headers, sizes, counts) so first pages are fast."""
        for kind in KINDS:
            archs = [FIXED_ARCH[kind.name]] if kind.name in FIXED_ARCH else list(LLM_ARCHS)
            for arch in archs:
                for dtype in ("F32", "F16", "BF16"):
                    _weights(tuple(components(kind, arch, dtype)))

    def _pickles(self, i: int, sp: dict[str, Any]) -> dict[str, Any] | None:
        """The torch.save files of index i (None: no pickle weights)."""
        kind: Kind = sp["kind"]
        u = rand(self.seed, i, 7)
        mode, ckpt = pickle_mode(kind.name, sp["born"], u)
        if mode is None:
            return None
        return _pickle_overlay(kind, sp["arch"], sp["dtype"], mode, ckpt, style_for(sp["born"], u))

    # ---- per-index details -------------------------------------------------------------
    def spec(self, i: int, epoch: int) -> dict[str, Any]:
        """Everything derived for index i at an epoch (kind, arch, dtype, base, gated, versions)."""
        t = self.table(epoch)
        kind = KINDS[int(self.kind[i])]
        base = int(self.base[i])
        arch = ARCH_LIST[self.arch[i]]
        flips = int(t.flips[i])
        if kind.scheme == "bin":  # pre-safetensors checkpoints: F32 early, F16 later (never BF16)
            dtype = "F16" if DTYPES[self.dtype0[i]] != "F32" else "F32"
        elif kind.scheme in ("gptq", "awq"):
            dtype = "F16"
        elif kind.scheme != "none" or kind.name == "flux":
            dtype = "BF16"
        else:
            dtype = DTYPES[self.dtype0[i]]
            if flips % 2:
                dtype = flip_dtype(dtype)
        gated: bool | str = (False, "auto", "manual")[t.gated[i]]
        return {"kind": kind, "arch": arch, "dtype": dtype, "base": None if base < 0 else self.id_of(base, t),
                "base_hub_id": None if base < 0 else self.hub_id(base), "id": self.id_of(i, t),
                "gated": gated, "version": int(t.version[i]), "flips": flips, "alive": bool(t.alive[i]),
                "private": i in t.private_set, "disabled": i in t.disabled_set, "modified": int(t.modified[i]),
                "padded": bool(self.born[i] >= PADDED_FROM or flips > 0), "born": iso(int(self.born[i]))}

    def repo(self, i: int, epoch: int) -> Repo:
        """The Repo of index i at an epoch (files built lazily)."""
        sp = self.spec(i, epoch)
        kind: Kind = sp["kind"]
        tpl = _template(kind, sp["arch"], sp["dtype"], sp["padded"])
        sizes, smalls, prefix = tpl["sizes"], tpl["smalls"], tpl["prefix"]
        pk = self._pickles(i, sp)
        torch_files: dict[str, Any] = {}
        if pk is not None:
            sizes = {p: n for p, n in sizes.items() if p not in pk["drop"]} | pk["sizes"]
            sizes = {p: sizes[p] for p in sorted(sizes)}
            smalls = smalls | pk["smalls"]
            torch_files = pk["files"]
        relation = "quantized" if sp["base"] else None
        seed, flips = self.seed, sp["flips"]

        def files() -> dict[str, RepoFile]:
            out: dict[str, RepoFile] = {}
            for p, size in sizes.items():
                if p in smalls:
                    out[p] = small_file(p, smalls[p])
                    continue
                sha = hashlib.sha256(f"fakehub:{seed}:{i}:{flips}:{p}".encode()).hexdigest()
                if p in torch_files:
                    out[p] = lfs_file(p, size, sha, torch_files[p].read)
                    continue
                magic = prefix.get(p) or (b"GGUF\x03\0\0\0" if p.endswith(".gguf") else b"PK\x03\x04")
                out[p] = lfs_file(p, size, sha, bytes_reader(magic, size))
            return out

        downloads = int(self.downloads[i])
        return Repo(
            id=sp["id"], sha=hashlib.sha1(f"fakehub:{seed}:{i}:{sp['version']}".encode()).hexdigest(),
            created_ms=int(self.created[i]), modified_ms=sp["modified"], library_name=kind.library,
            pipeline_tag=kind.pipeline, tags=tags_for(kind, sp["arch"], sp["base"], relation),
            gated=sp["gated"], downloads=downloads, downloads_all_time=downloads * 7,
            likes=int(self.likes[i]), trending_score=int(self.trending[i]), config=tpl["config"],
            base_models={"relation": relation, "models": [{"id": sp["base"], "_id": sp["base_hub_id"]}]}
            if relation else None,
            gguf=tpl["gguf"], safetensors=None if pk is not None and pk["mode"] == "only" else tpl["hub"],
            file_sizes=sizes, files_factory=files, hub_id=self.hub_id(i),
            private=sp["private"], disabled=sp["disabled"])

    def truth(self, i: int, epoch: int) -> dict[str, Any]:
        """The generator's ground truth for index i at an epoch."""
        sp = self.spec(i, epoch)
        repo = self.repo(i, epoch)
        kind: Kind = sp["kind"]
        w = _weights(tuple(components(kind, sp["arch"], sp["dtype"])))
        files = _template(kind, sp["arch"], sp["dtype"], sp["padded"])["files"]
        eff, by = w["effective"], w["by_dtype"]
        pk = self._pickles(i, sp)
        fmt = "gguf" if kind.scheme == "gguf" else "safetensors"
        if kind.scheme == "gguf":
            eff = repo.gguf["total"] if repo.gguf else 0
        if pk is not None:
            fmt = "pickle" if pk["mode"] == "only" else "both"
            if pk["mode"] == "only":
                files = {}
                by, eff = pk["by_dtype"], sum(pk["by_dtype"].values())
        pickle_only = pk is not None and pk["mode"] == "only"
        active = None if kind.scheme == "gguf" else eff if pickle_only else sum(
            layouts.active_count(c.arch, c.scheme, c.dtype) for c in components(kind, sp["arch"], sp["dtype"])
        )
        return {"weight_format": fmt, "pickle_files": pk["truth"] if pk else {}, "id": repo.id, "sha": repo.sha,
                "created_at": iso(repo.created_ms),
                "last_modified": iso(repo.modified_ms), "library_name": repo.library_name,
                "pipeline_tag": repo.pipeline_tag, "tags": repo.tags, "gated": repo.gated,
                "files": files, "file_sizes": repo.file_sizes, "parameters_by_dtype": by,
                "hub_safetensors": repo.safetensors, "effective_parameters": eff,
                "quant_method": kind.quant_method, "base_model": sp["base"], "deleted": not sp["alive"],
                "kind": kind.name, "arch": sp["arch"], "dtype": sp["dtype"], "gguf": repo.gguf,
                "config": repo.config, "version": sp["version"], "hostile": None, "_id": repo.object_id,
                "private": sp["private"], "disabled": sp["disabled"], "former_ids": self.former_ids(i, epoch),
                "active_parameters": active}


@lru_cache(maxsize=4096)
def _weights(comps: tuple) -> dict[str, Any]:
    """Files, sizes, prefixes and parameter accounting of a set of weight components."""
    sizes: dict[str, int] = {}
    prefix: dict[str, bytes] = {}
    files: dict[str, dict[str, Any]] = {}
    by: dict[str, int] = {}
    hub: dict[str, int] = {}
    eff = 0
    for c in comps:
        wfs, index = component_files(c)
        for wf in wfs:
            fb, fe, _ = layouts.counts(wf.tensors)
            sizes[wf.path], prefix[wf.path] = wf.size, wf.prefix
            files[wf.path] = {"size": wf.size, "header_len": len(wf.prefix) - 8, "tensors": len(wf.tensors),
                              "parameters_by_dtype": fb}
            eff += fe
            for d, n in fb.items():
                by[d] = by.get(d, 0) + n
                if c.folder == "" and c.stem == "model":
                    hub[d] = hub.get(d, 0) + n
        if index is not None:
            sizes[index[0]] = len(index[1])
    return {"sizes": sizes, "prefix": prefix, "files": files, "by_dtype": by, "effective": eff,
            "hub": {"parameters": hub, "total": sum(hub.values())} if hub else None,
            "index": {c.folder + c.stem: component_files(c)[1] for c in comps}}


@lru_cache(maxsize=2048)
def _template(kind: Kind, arch: str, dtype: str, padded: bool = True) -> dict[str, Any]:
    """What every repo of one (kind, arch, dtype) shares: sorted file sizes, small files, prefixes, summaries,
    per-file truth. `padded=False`: headers as safetensors < 0.3 wrote them (JSON not padded to 8 bytes).

    Shared objects: callers must not mutate them.
    """
    if not padded:
        return _unpadded(_template(kind, arch, dtype, True))
    comps = tuple(components(kind, arch, dtype))
    weights = _weights(comps)
    sizes = dict(weights["sizes"])
    gguf = None
    prefix = weights["prefix"]
    if kind.scheme == "gguf":
        gguf, path, header, sizes[path] = gguf_file(arch)
        prefix = {**prefix, path: header}
    smalls = _small_files(config_json(kind, arch, dtype), kind)
    smalls.update(index_files(comps))
    sizes.update({p: len(data) for p, data in smalls.items()})
    return {"sizes": {p: sizes[p] for p in sorted(sizes)}, "smalls": smalls, "prefix": prefix,
            "files": weights["files"],
            "hub": weights["hub"], "config": {} if kind.scheme == "gguf" else config_for(kind, arch, dtype)[1],
            "gguf": gguf}


def _unpadded(tpl: dict[str, Any]) -> dict[str, Any]:
    """The template with every safetensors header's trailing pad spaces removed (sizes shrink to match)."""
    prefix, sizes, files = dict(tpl["prefix"]), dict(tpl["sizes"]), dict(tpl["files"])
    for p, pre in tpl["prefix"].items():
        if not p.endswith(".safetensors"):
            continue
        raw = pre[8:].rstrip(b" ")
        prefix[p] = struct.pack("<Q", len(raw)) + raw
        sizes[p] -= len(pre) - len(prefix[p])
        files[p] = {**files[p], "size": sizes[p], "header_len": len(raw)}
    return {**tpl, "prefix": prefix, "sizes": sizes, "files": files}


def _small_files(cfg: bytes, kind: Kind) -> dict[str, bytes]:
    out = {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.gguf filter=lfs diff=lfs merge=lfs -text\n",
           "README.md": f"---\nlibrary_name: {kind.library}\n---\n# Model card\n\nGenerated by fakehub.\n".encode()}
    if kind.scheme != "gguf":  # GGUF-only repos ship no config.json (the listing's `config` is {})
        out["model_index.json" if kind.library == "diffusers" else "config.json"] = cfg
    if kind.library == "diffusers":
        out.update(_diffusers_configs(kind))
    return out


@lru_cache(maxsize=8)
def _diffusers_configs(kind: Kind) -> dict[str, bytes]:
    return {f"{c.folder}config.json": json.dumps({"_class_name": c.arch}).encode()
            for c in components(kind, "tiny", "BF16")}


def index_files(comps: tuple) -> dict[str, bytes]:
    """Index json files (path -> bytes) of a set of components."""
    return {v[0]: v[1] for v in _weights(comps)["index"].values() if v is not None}



@lru_cache(maxsize=2048)
def _pickle_overlay(kind: Kind, arch: str, dtype: str, mode: str, ckpt: bool, style: PickleStyle) -> dict[str, Any]:
    """What pickle weights add to (mode "both") or replace in (mode "only") a template's files."""
    comps = tuple(components(kind, arch, dtype)) or (Component("", "model", arch, "none", dtype),)
    files, smalls = pickle_set(comps, style)
    files = dict(files)
    role = "weights" if mode == "only" else "alternate"
    truth = {p: file_truth(f, role) for p, f in files.items()}
    if ckpt:
        name = "v1-5-pruned-emaonly.ckpt" if kind.name == "sd" else "model.ckpt"
        files[name] = ckpt_file(comps, style, name)
        truth[name] = file_truth(files[name], "alternate")
    drop: set[str] = set()
    if mode == "only":
        for c in comps:
            wfs, index = component_files(c)
            drop |= {wf.path for wf in wfs} | ({index[0]} if index else set())
    by: dict[str, int] = {}
    for p, f in files.items():
        if truth[p]["role"] == "weights":
            for d, n in f.by_dtype.items():
                by[d] = by.get(d, 0) + n
    return {"mode": mode, "files": files, "smalls": smalls, "drop": drop, "truth": truth, "by_dtype": by,
            "sizes": {p: f.size for p, f in files.items()} | {p: len(b) for p, b in smalls.items()}}
