"""Which files of a repo hold its weights: pure selection from the repo's file list.

One weight set per model; every other safetensors file is kept as *ignored, with a
reason* (``explain`` lists them), never summed:

1. **A diffusers pipeline** (a root ``model_index.json``): each folder is a component
   (``transformer``, ``unet``, ``text_encoder_2``...); weight files at the root beside
   it are single-file copies of the pipeline (FLUX.1-dev's ``flux1-dev.safetensors``,
   SDXL's ``sd_xl_base_1.0.safetensors``) and are ignored.
2. **Any other repo**: the root's weight files are the model. Weight files in
   subfolders (``original/``, ``checkpoint-*/``, ``onnx/``, ``openvino/``...) are
   alternates ("alternate copy in original/"): openai/gpt-oss-20b ships the
   reference implementation's copy of the same weights in ``original/``.
3. **No root weights** (and not a pipeline): exactly one folder counts: folders whose
   name does not mark an alternate (``original``, ``onnx``, ``openvino``,
   ``checkpoint-N``...) first, then the latest ``checkpoint-N``, then the shallowest,
   then the first by name. The other folders are alternates.

Within the chosen folder: with a safetensors index, only the shards it names count
(``consolidated.safetensors`` beside Mistral's shards is a duplicate); without one,
every ``*.safetensors`` counts except precision variants (``x.fp16.safetensors``)
when the plain file is there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import NamedTuple

INDEX_SUFFIX = ".safetensors.index.json"
WEIGHTS_SUFFIX = ".safetensors"
PIPELINE_INDEX = "model_index.json"
"""A diffusers pipeline's root file: its folders are components, not alternates."""
_VARIANT = re.compile(r"^(?P<stem>.+)\.(?P<variant>fp16|fp32|bf16|non_ema|ema)\.safetensors$")
_SHARD = re.compile(r"^(?P<stem>.+)-\d{5}-of-(?P<total>\d{5})\.safetensors$")
_ALTERNATE_FOLDER = re.compile(
    r"^(original|onnx|openvino|ov|coreml|tflite|mlx|gguf|legacy|old|backup|ckpt|checkpoints?|"
    r"checkpoint[-_]\d+|global_step\d+|step[-_]?\d+|epoch[-_]?\d+|runs|_.*)$",
    re.IGNORECASE,
)
_CHECKPOINT_STEP = re.compile(r"(?:checkpoint|global_step|step|epoch)[-_]?(\d+)$", re.IGNORECASE)


class Ignored(NamedTuple):
    """A safetensors file that is not part of the weight set, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class WeightGroup:
    """The weight files of one folder: an index with its shards, or standalone files."""

    component: str
    index: str | None = None
    files: tuple[str, ...] = ()
    ignored: tuple[Ignored, ...] = field(default=())


def component_of(path: str) -> str:
    """Top-level folder of a repo path, '' for root files."""
    parts = PurePosixPath(path).parts
    return parts[0] if len(parts) > 1 else ""


def is_weight_file(path: str) -> bool:
    """A safetensors weight file or index, as listed in a repo's siblings."""
    return path.endswith(WEIGHTS_SUFFIX) or path.endswith(INDEX_SUFFIX)


def is_pipeline(paths: list[str]) -> bool:
    """Whether the repo is a diffusers pipeline (a root `model_index.json`)."""
    return PIPELINE_INDEX in paths


def group_weight_files(paths: list[str]) -> list[WeightGroup]:
    """The weight set of a repo, per folder; files outside it are carried as `ignored` with a reason."""
    folders: dict[str, list[str]] = {}
    for path in sorted(set(paths)):
        if is_weight_file(path):
            folders.setdefault(_folder(path), []).append(path)
    if not folders:
        return []
    if is_pipeline(paths):
        counted = {f for f in folders if f}
        why = "single-file copy beside the diffusers pipeline"
        reasons = {"": why} if counted else {}
        if not counted:  # a model_index.json with only root weights: the root is all there is
            counted = {""}
    else:
        chosen = "" if "" in folders else _choose_folder(list(folders))
        counted = {chosen}
        reasons = {f: f"alternate copy in {f}/" for f in folders if f != chosen}
    groups: list[WeightGroup] = []
    stray: list[Ignored] = []
    for folder, names in sorted(folders.items()):
        if folder in counted:
            groups.append(_group(folder, names))
        else:
            stray += [Ignored(n, reasons[folder]) for n in names if n.endswith(WEIGHTS_SUFFIX)]
    if stray:  # alternates travel with the first group, so every ignored file is reported once
        first = groups[0]
        groups[0] = WeightGroup(first.component, first.index, first.files, first.ignored + tuple(stray))
    return groups


def _folder(path: str) -> str:
    parent = str(PurePosixPath(path).parent)
    return "" if parent == "." else parent


def _choose_folder(folders: list[str]) -> str:
    """The one folder that counts when the root has no weights (rule 3 of the module docstring)."""

    def key(folder: str) -> tuple[int, int, int, str]:
        name = PurePosixPath(folder).name
        step = _CHECKPOINT_STEP.search(name)
        return (
            1 if _ALTERNATE_FOLDER.match(name) else 0,
            -int(step.group(1)) if step else 0,
            folder.count("/"),
            folder,
        )

    return min(folders, key=key)


def _group(folder: str, names: list[str]) -> WeightGroup:
    component = component_of(names[0])
    indexes = [n for n in names if n.endswith(INDEX_SUFFIX)]
    weights = [n for n in names if n.endswith(WEIGHTS_SUFFIX)]
    if indexes:
        index = _preferred_index(indexes)
        stem = PurePosixPath(index).name[: -len(INDEX_SUFFIX)]
        shards = [w for w in weights if _shard_stem(w) == stem]
        ignored = [
            Ignored(w, f"not a shard of {PurePosixPath(index).name}") for w in weights if w not in shards
        ]
        ignored += [
            Ignored(i, f"second index beside {PurePosixPath(index).name}") for i in indexes if i != index
        ]
        return WeightGroup(component=component, index=index, files=tuple(shards), ignored=tuple(ignored))
    plain = {PurePosixPath(w).name for w in weights if not _VARIANT.match(PurePosixPath(w).name)}
    kept, skipped = [], []
    for w in weights:
        match = _VARIANT.match(PurePosixPath(w).name)
        if match and f"{match['stem']}.safetensors" in plain:
            skipped.append(Ignored(w, f"{match['variant']} variant of {match['stem']}.safetensors"))
        else:
            kept.append(w)
    return WeightGroup(component=component, files=tuple(kept), ignored=tuple(skipped))


def _preferred_index(indexes: list[str]) -> str:
    plain = [i for i in indexes if not re.search(r"\.(fp16|bf16|fp32)\.safetensors\.index\.json$", i)]
    return sorted(plain or indexes, key=len)[0]


def _shard_stem(path: str) -> str | None:
    name = PurePosixPath(path).name
    match = _SHARD.match(name)
    if match:
        return match["stem"]
    return name[: -len(WEIGHTS_SUFFIX)] if name.endswith(WEIGHTS_SUFFIX) else None
