"""Synthetic pickle weights: `torch.save` files (real bytes, zero data) for the safetensors components of a repo.

A `PickleStyle` says how an old repo saved its weights: zip or legacy format, the torch generation
(which records the zip holds), the archive prefix (the file's stem, or `archive`), tied embeddings stored
once (`lm_head.weight` a view of `model.embed_tokens.weight`'s storage). `pickle_set` turns components into
`pytorch_model.bin` / sharded `pytorch_model-0000k-of-0000n.bin` + `pytorch_model.bin.index.json` /
`diffusion_pytorch_model.bin` files with the layouts' names and shapes; `ckpt_file` a Lightning-style root
`.ckpt` (`{"state_dict": ..., "global_step", "epoch"}`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from hubcensus.fakehub import layouts
from hubcensus.fakehub.layouts import ARCHS, Tensor
from hubcensus.fakehub.specs import Component
from hubcensus.fakehub.torch_write import T, TorchFile, plan


@dataclass(frozen=True)
class PickleStyle:
    """How a repo's torch.save files were written."""

    legacy: bool = False
    generation: str = "1.6"  # zip record set: "1.6", "2.1", "2.4"
    stem_prefix: bool = True  # archive prefix = file stem (torch.save(path)); else "archive" (a buffer)
    tied_shared: bool = False  # tied embeddings saved as a view of one storage


def bin_name(safetensors_path: str) -> str:
    """`model(-k-of-n).safetensors` -> `pytorch_model(-k-of-n).bin`; diffusers' names keep their stem."""
    folder, _, name = safetensors_path.rpartition("/")
    stem = name.removesuffix(".safetensors")
    if stem == "model" or stem.startswith("model-"):
        stem = "pytorch_" + stem
    return (folder + "/" if folder else "") + stem + ".bin"


def _spec(tensors: tuple[Tensor, ...], tied: bool) -> dict[str, T]:
    out = {t.name: T(t.dtype, t.shape) for t in tensors}
    if tied and "model.embed_tokens.weight" in out and "lm_head.weight" not in out:
        emb = out["model.embed_tokens.weight"]
        out["lm_head.weight"] = T(emb.dtype, emb.shape, "model.embed_tokens.weight")
    return out


@lru_cache(maxsize=512)
def torch_file(tensors: tuple[Tensor, ...], path: str, style: PickleStyle, single: bool, seed: str = "") -> TorchFile:
    """The TorchFile of one weight file (a state dict with `_metadata` when whole, a plain dict per shard,
    as transformers writes them)."""
    stem = path.rpartition("/")[2].rpartition(".")[0]
    tied = style.tied_shared and single
    return plan(_spec(tensors, tied), legacy=style.legacy, prefix=stem if style.stem_prefix else "archive",
                generation=style.generation, metadata=single, seed=seed or path)


def file_truth(f: TorchFile, role: str) -> dict[str, Any]:
    """The truth entry of one pickle file."""
    return {"size": f.size, "format": f.format, "tensors": f.tensors, "storages": f.storages,
            "parameters_by_dtype": dict(f.by_dtype), "tensor_elements": f.tensor_elements, "role": role}


@lru_cache(maxsize=1024)
def pickle_set(comps: tuple[Component, ...], style: PickleStyle) -> tuple[dict[str, TorchFile], dict[str, bytes]]:
    """The .bin files (path -> TorchFile) and index files (path -> bytes) of a set of components."""
    from hubcensus.fakehub.specs import component_files

    files: dict[str, TorchFile] = {}
    smalls: dict[str, bytes] = {}
    for c in comps:
        wfs, index = component_files(c)
        single = len(wfs) == 1
        tied = style.tied_shared and ARCHS[c.arch].tied
        st = PickleStyle(style.legacy, style.generation, style.stem_prefix, tied)
        for wf in wfs:
            files[bin_name(wf.path)] = torch_file(wf.tensors, bin_name(wf.path), st, single)
        if index is not None:
            wmap = {t.name: bin_name(wf.path).rpartition("/")[2] for wf in wfs for t in wf.tensors}
            total = sum(t.nbytes for wf in wfs for t in wf.tensors)
            path = c.folder + bin_name(c.stem + ".safetensors") + ".index.json"
            smalls[path] = json.dumps({"metadata": {"total_size": total}, "weight_map": wmap}, indent=2).encode()
    return files, smalls


@lru_cache(maxsize=64)
def ckpt_file(comps: tuple[Component, ...], style: PickleStyle, name: str) -> TorchFile:
    """A root Lightning/CompVis-style checkpoint holding every component under `state_dict`."""
    prefix = {"unet/": "model.diffusion_model.", "vae/": "first_stage_model.",
              "text_encoder/": "cond_stage_model.transformer."}
    sd: dict[str, T] = {}
    for c in comps:
        for t in layouts.layout(c.arch, "vae" if c.scheme == "vae" else c.scheme, c.dtype):
            sd[prefix.get(c.folder, c.folder.replace("/", ".")) + t.name] = T(t.dtype, t.shape)
    obj = {"epoch": 6, "global_step": 470000, "pytorch-lightning_version": "1.4.2", "state_dict": sd}
    stem = name.rpartition(".")[0]
    return plan(obj, legacy=style.legacy, prefix=stem if style.stem_prefix else "archive", generation=style.generation,
                seed=name)


SD_ERA_END = "2022-10-01"  # diffusers pipelines before this shipped .bin only


def style_for(born_iso: str, u: float) -> PickleStyle:
    """The torch.save style of a repo born at `born_iso` (u uniform in [0, 1) per repo)."""
    legacy = born_iso < "2020-07-01" and u < 0.6  # torch 1.6 (2020-07) made zip the default
    gen = "1.6" if born_iso < "2023-10-01" else "2.1" if born_iso < "2024-07-01" else "2.4"
    return PickleStyle(legacy, gen, stem_prefix=u % 0.1 >= 0.02, tied_shared=u % 0.25 < 0.1)


def pickle_mode(kind: str, born_iso: str, u: float) -> tuple[str | None, bool]:
    """(None | "only" | "both", root .ckpt too) for a repo of a kind."""
    if kind == "bin":
        return "only", False
    if kind == "sd":
        if born_iso < SD_ERA_END:
            return ("only", u < 0.15) if u < 0.5 else (None, False)
        return ("both", False) if born_iso < "2023-06-01" and u < 0.4 else (None, False)
    if kind in ("llm", "encoder", "st") and born_iso < "2023-06-01" and u < 0.3:
        return "both", False
    return None, False
