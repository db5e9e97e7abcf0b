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

**PyTorch pickles** (``torch.save``) are weight files too: ``pytorch_model.bin`` and its
shards ``pytorch_model-0000k-of-0000n.bin`` (+ ``pytorch_model.bin.index.json``), the
``diffusion_pytorch_model.bin`` of a diffusers component, and root ``*.ckpt`` / ``*.pt`` /
``*.pth`` (not training state: ``optimizer.pt``, ``scheduler.pt``, ``rng_state.pth``...).
The rules above choose the folders over both formats; within a folder (a component), where
safetensors weights exist the pickles are an alternate ("pickle copy of the safetensors
weights"), never summed. A pickle set follows the same index / shard / variant rules
(``.bin`` for ``.safetensors``); root ``*.ckpt`` / ``*.pt`` / ``*.pth`` count only without a
``pytorch_model*.bin`` beside them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import NamedTuple

INDEX_SUFFIX = ".safetensors.index.json"
WEIGHTS_SUFFIX = ".safetensors"
PICKLE_INDEX_SUFFIX = ".bin.index.json"
PICKLE_SUFFIX = ".bin"
PIPELINE_INDEX = "model_index.json"
"""A diffusers pipeline's root file: its folders are components, not alternates."""
PICKLE_COPY = "pickle copy of the safetensors weights"
_VARIANT = re.compile(r"^(?P<stem>.+)\.(?P<variant>fp16|fp32|bf16|non_ema|ema)(?P<ext>\.safetensors|\.bin)$")
_SHARD = re.compile(r"^(?P<stem>.+)-\d{5}-of-(?P<total>\d{5})(?:\.safetensors|\.bin)$")
_PICKLE_HF = re.compile(
    r"^(?:diffusion_)?pytorch_model(?:-\d{5}-of-\d{5})?(?:\.(?:fp16|fp32|bf16|non_ema|ema))?\.bin$"
)
_PICKLE_HF_INDEX = re.compile(r"^(?:diffusion_)?pytorch_model(?:\.(?:fp16|fp32|bf16))?\.bin\.index\.json$")
_PICKLE_ROOT = (".ckpt", ".pt", ".pth")
_TRAINING_STATE = re.compile(
    r"^(?:optimizer|scheduler|scaler|rng_state|training_args|trainer_state|training_state|ema_state|"
    r"optim|lr_scheduler|random_states?)(?:[-_.].*)?\.(?:pt|pth|ckpt|bin)$",
    re.IGNORECASE,
)
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


def is_pickle_weight(path: str) -> bool:
    """A PyTorch pickle holding weights: `(diffusion_)pytorch_model*.bin` anywhere, root `*.ckpt/.pt/.pth`."""
    name = PurePosixPath(path).name
    if _PICKLE_HF.match(name):
        return True
    return "/" not in path and name.lower().endswith(_PICKLE_ROOT) and not _TRAINING_STATE.match(name)


def is_pickle_index(path: str) -> bool:
    """`pytorch_model.bin.index.json` / `diffusion_pytorch_model.bin.index.json` (any folder)."""
    return bool(_PICKLE_HF_INDEX.match(PurePosixPath(path).name))


def file_format(path: str) -> str | None:
    """'safetensors' or 'pickle' for a weight file or index of that format, 'gguf', else None."""
    if path.endswith((WEIGHTS_SUFFIX, INDEX_SUFFIX)):
        return "safetensors"
    if is_pickle_weight(path) or is_pickle_index(path):
        return "pickle"
    return "gguf" if path.lower().endswith(".gguf") else None


def weight_format(paths: list[str] | None) -> str | None:
    """What a repo's weight files are (`models.weight_format`), from the listing's siblings alone.

    'safetensors', 'pickle', 'both' (safetensors and pickle weights: the figures are the safetensors
    ones wherever a component has them), 'gguf' (GGUF and neither of the others), None (none of these).
    """
    formats = {file_format(p) for p in paths or ()}
    if "safetensors" in formats:
        return "both" if "pickle" in formats else "safetensors"
    if "pickle" in formats:
        return "pickle"
    return "gguf" if "gguf" in formats else None


@dataclass(frozen=True)
class WeightGroup:
    """The weight files of one folder: an index with its shards, or standalone files."""

    component: str
    index: str | None = None
    files: tuple[str, ...] = ()
    ignored: tuple[Ignored, ...] = field(default=())
    format: str = "safetensors"
    """'safetensors' or 'pickle' (`torch.save` files): which reader reads the files."""


def component_of(path: str) -> str:
    """Top-level folder of a repo path, '' for root files."""
    parts = PurePosixPath(path).parts
    return parts[0] if len(parts) > 1 else ""


def is_weight_file(path: str) -> bool:
    """A safetensors or PyTorch pickle weight file or index, as listed in a repo's siblings."""
    return file_format(path) in ("safetensors", "pickle")


def _is_weights(path: str) -> bool:
    """A weight file proper (not an index)."""
    return path.endswith(WEIGHTS_SUFFIX) or is_pickle_weight(path)


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
            stray += [Ignored(n, reasons[folder]) for n in names if _is_weights(n)]
    if stray:  # alternates travel with the first group, so every ignored file is reported once
        first = groups[0]
        groups[0] = replace(first, ignored=first.ignored + tuple(stray))
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
    """One folder's weight set: its safetensors files, else its pickles (a pickle beside safetensors is a copy)."""
    safetensors = [n for n in names if file_format(n) == "safetensors"]
    pickles = [n for n in names if file_format(n) == "pickle"]
    if not safetensors:
        return _pickle_group(pickles)
    group = _format_group(safetensors, INDEX_SUFFIX, WEIGHTS_SUFFIX)
    copies = tuple(Ignored(p, PICKLE_COPY) for p in pickles if is_pickle_weight(p))
    return replace(group, ignored=group.ignored + copies)


def _pickle_group(names: list[str]) -> WeightGroup:
    """A folder of pickles: the `pytorch_model*.bin` set (index, shards, variants), else the root checkpoints."""
    hf = [n for n in names if n.endswith((PICKLE_SUFFIX, PICKLE_INDEX_SUFFIX))]
    if not hf:
        group = WeightGroup(component_of(names[0]), files=tuple(names))
    else:
        group = _format_group(hf, PICKLE_INDEX_SUFFIX, PICKLE_SUFFIX)
        main = PurePosixPath(group.index or group.files[0]).name
        others = tuple(Ignored(n, f"another checkpoint beside {main}") for n in names if n not in hf)
        group = replace(group, ignored=group.ignored + others)
    return replace(group, format="pickle")


def _format_group(names: list[str], index_suffix: str, suffix: str) -> WeightGroup:
    component = component_of(names[0])
    indexes = [n for n in names if n.endswith(index_suffix)]
    weights = [n for n in names if not n.endswith(index_suffix)]
    if indexes:
        index = _preferred_index(indexes)
        stem = PurePosixPath(index).name[: -len(index_suffix)]
        shards = [w for w in weights if _shard_stem(w, suffix) == stem]
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
        if match and f"{match['stem']}{suffix}" in plain:
            skipped.append(Ignored(w, f"{match['variant']} variant of {match['stem']}{suffix}"))
        else:
            kept.append(w)
    return WeightGroup(component=component, files=tuple(kept), ignored=tuple(skipped))


def _preferred_index(indexes: list[str]) -> str:
    plain = [i for i in indexes if not re.search(r"\.(fp16|bf16|fp32)\.(safetensors|bin)\.index\.json$", i)]
    return sorted(plain or indexes, key=len)[0]


def _shard_stem(path: str, suffix: str = WEIGHTS_SUFFIX) -> str | None:
    name = PurePosixPath(path).name
    match = _SHARD.match(name)
    if match:
        return match["stem"]
    return name[: -len(suffix)] if name.endswith(suffix) else None
