"""Which files of a repo hold its weights: pure selection from the repo's file list.

A repo's weights are grouped per folder (``""`` for the root, ``transformer``,
``unet``, ``text_encoder_2``...). In a folder with a safetensors index, only the
shards that index names count (``consolidated.safetensors`` beside Mistral's
shards is a duplicate, not more weights). Without an index, every
``*.safetensors`` counts, except precision variants (``x.fp16.safetensors``)
when the plain file is present: those are alternatives, not extra weights.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

INDEX_SUFFIX = ".safetensors.index.json"
WEIGHTS_SUFFIX = ".safetensors"
_VARIANT = re.compile(r"^(?P<stem>.+)\.(?P<variant>fp16|fp32|bf16|non_ema|ema)\.safetensors$")
_SHARD = re.compile(r"^(?P<stem>.+)-\d{5}-of-(?P<total>\d{5})\.safetensors$")


@dataclass(frozen=True)
class WeightGroup:
    """The weight files of one folder: an index with its shards, or standalone files."""

    component: str
    index: str | None = None
    files: tuple[str, ...] = ()
    ignored: tuple[str, ...] = field(default=())


def component_of(path: str) -> str:
    """Top-level folder of a repo path, '' for root files."""
    parts = PurePosixPath(path).parts
    return parts[0] if len(parts) > 1 else ""


def is_weight_file(path: str) -> bool:
    """A safetensors weight file or index, as listed in a repo's siblings."""
    return path.endswith(WEIGHTS_SUFFIX) or path.endswith(INDEX_SUFFIX)


def group_weight_files(paths: list[str]) -> list[WeightGroup]:
    """Group a repo's safetensors files and indexes into what counts, per folder."""
    folders: dict[str, list[str]] = {}
    for path in sorted(set(paths)):
        if is_weight_file(path):
            folders.setdefault(str(PurePosixPath(path).parent), []).append(path)
    groups: list[WeightGroup] = []
    for _folder, names in sorted(folders.items()):
        component = component_of(names[0])
        indexes = [n for n in names if n.endswith(INDEX_SUFFIX)]
        weights = [n for n in names if n.endswith(WEIGHTS_SUFFIX)]
        if indexes:
            index = _preferred_index(indexes)
            stem = PurePosixPath(index).name[: -len(INDEX_SUFFIX)]
            shards = [w for w in weights if _shard_stem(w) == stem]
            ignored = tuple(sorted(set(weights) - set(shards)) + [i for i in indexes if i != index])
            groups.append(WeightGroup(component=component, index=index, files=tuple(shards), ignored=ignored))
            continue
        plain = {PurePosixPath(w).name for w in weights if not _VARIANT.match(PurePosixPath(w).name)}
        kept, ignored_list = [], []
        for w in weights:
            match = _VARIANT.match(PurePosixPath(w).name)
            if match and f"{match['stem']}.safetensors" in plain:
                ignored_list.append(w)
            else:
                kept.append(w)
        groups.append(WeightGroup(component=component, files=tuple(kept), ignored=tuple(ignored_list)))
    return groups


def _preferred_index(indexes: list[str]) -> str:
    plain = [i for i in indexes if not re.search(r"\.(fp16|bf16|fp32)\.safetensors\.index\.json$", i)]
    return sorted(plain or indexes, key=len)[0]


def _shard_stem(path: str) -> str | None:
    name = PurePosixPath(path).name
    match = _SHARD.match(name)
    if match:
        return match["stem"]
    return name[: -len(WEIGHTS_SUFFIX)] if name.endswith(WEIGHTS_SUFFIX) else None
