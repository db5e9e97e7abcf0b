"""PyTorch `torch.save` checkpoints as census headers: which tensors count, under which names (pure).

The pickle is walked, never executed (`pickle_walk`); torch's rebuild calls become `TensorRec`s
(`torch_values`). This module turns the walked root into a `PickleHeader`:

**Which tensors count (the model subtree).** The root may be a tensor (named ''), a flat state dict
(HF `pytorch_model.bin`), or a checkpoint dict. From the root, while the current dict holds no tensor
directly and has one of `MODEL_KEYS` (first match in that order) whose value is a dict or object holding
tensors, we descend into it (Lightning/SD `.ckpt` -> `state_dict`; research checkpoints -> `model`,
`model_state_dict`, `module`...). Every other key beside the one taken is skipped. At the dict we stop
in, keys in `OPTIMIZER_KEYS` (optimizer state, schedulers, EMA copies) are skipped too. Skipped tensors
are reported per key path in `skipped` as (tensors, elements). Names are the dict keys from the counted
subtree down, joined with '.' (list items by index; `_parameters`/`_buffers`/`_modules` of pickled
`nn.Module`s are transparent).

**Aliases (tied weights, views).** A tensor that is an exact alias of one already kept (same storage,
offset, size, stride and dtype: the same tensor saved under two names) is dropped and counted in
`aliases`. Other tensors are kept with numel = prod(size); a kept tensor's `nbytes` is numel x itemsize,
except when its byte span overlaps a span of an earlier kept tensor of the same storage: then it is the
bytes of its span not covered before (storage bytes counted once). So two 10-element F32 views into one
100-element storage give 20 elements and 80 bytes (what a safetensors conversion stores), while
`storage_bytes` (400) is what the file holds.

`loaded` gives dtype -> (tensors, elements) over every tensor occurrence in the file, aliases and
skipped ones included: what `torch.load` would show.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hubcensus.crawler.formats.pickle_walk import Call, Global, PDict, PickleError, PList, Truncated
from hubcensus.crawler.formats.safetensors import FileHeader, HeaderError, TensorTable
from hubcensus.crawler.formats.tensor_table import Tensor
from hubcensus.crawler.formats.torch_values import SAFE_GLOBALS, StorageRec, TensorRec

from hubcensus.dtypes import DTYPE_BITS

__all__ = ["HeaderError", "PickleError", "PickleHeader", "Truncated", "build_header"]

MAX_TENSORS = 2_000_000
MAX_DEPTH = 200
MODEL_KEYS = (
    "state_dict", "model_state_dict", "model", "module", "net", "network", "model_state",
    "generator", "weights", "params",
)  # fmt: skip
OPTIMIZER_KEYS = frozenset(
    {"optimizer", "optimizer_states", "optimizer_state_dict", "optimizer_state", "opt", "optim",
     "scheduler", "lr_scheduler", "lr_schedulers", "scaler", "amp", "callbacks", "ema", "model_ema",
     "ema_state_dict", "state_dict_ema", "discriminator", "optimizer_g", "optimizer_d"}
)  # fmt: skip
_TRANSPARENT = frozenset({"_parameters", "_buffers", "_modules"})


@dataclass
class PickleHeader(FileHeader):
    """One parsed torch.save checkpoint, counted like a safetensors header (`tensors`: the model subtree,
    aliases dropped). `header_len`: bytes of the file parsed (the head); `data_end`: bytes of the
    storages the file's tensors reference."""

    container: str = "zip"
    """'zip' (torch >= 1.6) or 'legacy'."""
    globals: list[str] = field(default_factory=list)
    """Every name the pickle refers to (`module.name`), sorted."""
    unsafe_globals: list[str] = field(default_factory=list)
    """Names outside torch's tensor/storage/dtype/rebuild set and plain containers (never run)."""
    skipped: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Key path -> (tensors, elements) outside the counted model subtree (optimizer state...)."""
    aliases: int = 0
    """Tensors dropped as exact aliases of a kept tensor (tied weights saved twice)."""
    loaded: dict[str, tuple[int, int]] = field(default_factory=dict)
    """dtype -> (tensors, elements) over every tensor in the file, as torch.load shows them."""
    storage_bytes: int = 0
    """Bytes of the distinct storages the file's tensors reference (what the file holds)."""
    storages: int = 0
    storage_recs: dict[str, StorageRec] = field(default_factory=dict, repr=False, compare=False)
    """Storage key -> its record (dtype, elements), for the container checks."""

    @property
    def storage_sizes(self) -> dict[str, int]:
        """Storage key -> bytes."""
        return {k: s.nbytes for k, s in self.storage_recs.items()}


def build_header(
    root: Any,
    names: list[str],
    *,
    path: str,
    container: str,
    header_len: int,
    file_size: int | None,
    warnings: list[str] | None = None,
) -> PickleHeader:
    """Count the walked root (see the module docstring) into a `PickleHeader`."""
    warnings = list(warnings or [])
    subtree, _prefix, skipped_roots = _model_subtree(root)
    loaded: dict[str, list[int]] = {}
    skipped: dict[str, tuple[int, int]] = {}
    storages: dict[str, StorageRec] = {}
    kept: list[tuple[str, TensorRec]] = []
    for key_path, value in skipped_roots:
        found = list(_tensors(value, []))
        if found:
            skipped[".".join(key_path)] = (len(found), sum(t.numel for _, t in found))
        for _, t in found:
            _note(t, loaded, storages, warnings)
    for name, t in _tensors(subtree, []):
        _note(t, loaded, storages, warnings)
        kept.append((name, t))
        if len(kept) > MAX_TENSORS:
            raise PickleError(f"{path}: more than {MAX_TENSORS:,} tensors")
    rows, aliases = _dedup(kept)
    if not rows and not skipped:
        warnings.append("no tensors found")
    unknown = sorted({r.dtype for r in rows if r.dtype not in DTYPE_BITS})
    if unknown:
        warnings.append(f"dtypes outside the safetensors vocabulary: {', '.join(unknown)}")
    unsafe = [g for g in names if g not in SAFE_GLOBALS]
    return PickleHeader(
        path=path,
        header_len=header_len,
        data_end=sum(s.nbytes for s in storages.values()),
        file_size=file_size,
        metadata={"format": "pt"},
        tensors=TensorTable.from_tensors(rows),
        warnings=warnings,
        unknown_dtypes=unknown,
        container=container,
        globals=list(names),
        unsafe_globals=unsafe,
        skipped=skipped,
        aliases=aliases,
        loaded={d: (v[0], v[1]) for d, v in sorted(loaded.items())},
        storage_bytes=sum(s.nbytes for s in storages.values()),
        storages=len(storages),
        storage_recs=storages,
    )


def _note(
    t: TensorRec, loaded: dict[str, list[int]], storages: dict[str, StorageRec], warnings: list[str]
) -> None:
    e = loaded.setdefault(t.dtype, [0, 0])
    e[0] += 1
    e[1] += t.numel
    s = t.storage
    if s is None:
        return
    have = storages.get(s.key)
    if have is None:
        storages[s.key] = s
    elif have.nbytes != s.nbytes:
        warnings.append(f"storage {s.key} is referenced with {have.nbytes:,} and {s.nbytes:,} bytes")
        if s.nbytes > have.nbytes:
            storages[s.key] = s


def _holds_tensor(value: Any) -> bool:
    return next(_tensors(value, []), None) is not None


def _model_subtree(root: Any) -> tuple[Any, list[str], list[tuple[list[str], Any]]]:
    """The value whose tensors count, its key path, and the (key path, value) pairs skipped beside it."""
    value, prefix = root, []
    skipped: list[tuple[list[str], Any]] = []
    for _ in range(4):
        if not isinstance(value, dict) or any(isinstance(v, TensorRec) for v in value.values()):
            break
        pick = next(
            (k for k in MODEL_KEYS if isinstance(value.get(k), dict | Call) and _holds_tensor(value[k])), None
        )
        if pick is None:
            break
        skipped.extend(([*prefix, str(k)], v) for k, v in value.items() if k != pick)
        value, prefix = value[pick], [*prefix, pick]
    if isinstance(value, dict) and any(k in OPTIMIZER_KEYS for k in value):
        skipped.extend(([*prefix, str(k)], v) for k, v in value.items() if k in OPTIMIZER_KEYS)
        value = PDict({k: v for k, v in value.items() if k not in OPTIMIZER_KEYS})
    return value, prefix, skipped


def _children(value: Any) -> list[tuple[str | None, Any]]:
    """Named children of a container (None: a transparent level that adds nothing to the name)."""
    if isinstance(value, dict):
        return [(_name(k), v) for k, v in value.items()]
    if isinstance(value, PList | tuple):
        return [(str(i), v) for i, v in enumerate(value)]
    if isinstance(value, Call):
        out: list[tuple[str | None, Any]] = []
        for i, item in enumerate(value.items):
            if isinstance(item, tuple) and len(item) == 2:
                out.append((_name(item[0]), item[1]))
            else:
                out.append((str(i), item))
        state = value.state
        parts = state if isinstance(state, tuple) else (state,)
        for part in parts:
            if isinstance(part, dict):
                out.extend((None if k in _TRANSPARENT else _name(k), v) for k, v in part.items())
            elif part is not None:
                out.append((None, part))
        if not isinstance(value.func, Global) or value.func.dotted not in SAFE_GLOBALS:
            out.append((None, value.args))
        return out
    return []


def _name(k: Any) -> str:
    if isinstance(k, tuple) and len(k) == 2 and k[0] == "<object>":
        return "<object>"
    return k if isinstance(k, str) else str(k)


def _tensors(root: Any, base: list[str]) -> Iterator[tuple[str, TensorRec]]:
    """Every tensor under `root` with its dotted name, depth first in pickle order; iterative (no recursion),
    each container visited once (memo references may share or even cycle)."""
    seen: set[int] = set()
    stack: list[tuple[Any, list[str]]] = [(root, base)]
    while stack:
        value, parts = stack.pop()
        if isinstance(value, TensorRec):
            yield ".".join(parts), value
            continue
        if not isinstance(value, dict | PList | tuple | Call) or id(value) in seen:
            continue
        seen.add(id(value))
        if len(parts) > MAX_DEPTH:
            raise PickleError(f"pickle nests containers more than {MAX_DEPTH} deep")
        kids = _children(value)
        stack.extend((v, parts if k is None else [*parts, k]) for k, v in reversed(kids))


def _dedup(kept: list[tuple[str, TensorRec]]) -> tuple[list[Tensor], int]:
    """Tensor rows with exact aliases dropped and overlapping storage bytes counted once."""
    rows: list[Tensor] = []
    exact: set[tuple[Any, ...]] = set()
    spans: dict[str, list[list[int]]] = {}
    aliases = 0
    for name, t in kept:
        s = t.storage
        full = t.numel * t.itemsize
        if s is None:
            rows.append(Tensor(name, t.dtype, t.size, 0))
            continue
        sig = (s.key, s.view_offset, t.offset, t.size, t.stride, t.dtype)
        if sig in exact and t.numel:
            aliases += 1
            continue
        exact.add(sig)
        start, end = t.span()
        covered = spans.setdefault(s.key, [])
        fresh = _add_span(covered, start, end)
        rows.append(Tensor(name, t.dtype, t.size, full if fresh == end - start else fresh))
    return rows, aliases


def _add_span(covered: list[list[int]], start: int, end: int) -> int:
    """Merge [start, end) into the sorted disjoint spans `covered`; return how many of its bytes were new."""
    if end <= start:
        return 0
    i = bisect.bisect_left(covered, [start, start])
    if i and covered[i - 1][1] >= start:
        i -= 1
    j, overlap, lo, hi = i, 0, start, end
    while j < len(covered) and covered[j][0] <= end:
        a, b = covered[j]
        overlap += max(0, min(b, end) - max(a, start))
        lo, hi = min(lo, a), max(hi, b)
        j += 1
    covered[i:j] = [[lo, hi]]
    return (end - start) - overlap
