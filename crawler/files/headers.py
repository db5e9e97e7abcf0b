"""Reading a repo's safetensors headers through documented routes only: range reads of `/resolve/`.

- Every weight file (single or shard) is read by one range GET of its first
  `FIRST_READ_BYTES`, at the commit the listing saw; a second GET fetches the rest of
  the header only when it is longer. The Hub has no route that returns several
  headers at once (HUB_API.md): one read per file is the floor.
- Shard names come from the listing's siblings; the index
  (`model.safetensors.index.json`) is read only when the siblings do not show a
  complete `NAME-0000k-of-0000n` set.
- File sizes are the ones the Hub states with every range read (`Content-Range`),
  never rebuilt from the header: writers before safetensors 0.3 did not pad it.
- A header longer than `MAX_HEADER_BYTES` (25 MB, huggingface_hub's limit) is a
  recorded error before a byte of it is downloaded; longer reads share one
  `MemoryBudget` across threads.

Every header goes through our bounded parser (`hubcensus.crawler.formats.safetensors`).

PyTorch pickles (`torch.save`: `pytorch_model.bin` and its shards, `diffusion_pytorch_model.bin`,
root `*.ckpt`/`*.pt`/`*.pth`) are read the same way, file by file, by the pickle reader
(`hubcensus.crawler.files.pickles`: one range read in the common case, never executed); their
shards come from the siblings or the `pytorch_model.bin.index.json` like safetensors shards.
"""

from __future__ import annotations

import json
import re
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Protocol

from hubcensus.crawler.files.budget import MemoryBudget, give_back
from hubcensus.crawler.files.weightfiles import Ignored, WeightGroup, group_weight_files
from hubcensus.crawler.formats.safetensors import (
    MAX_HEADER_BYTES,
    FileHeader,
    HeaderError,
    NeedBytes,
    parse_header,
    split_prefix,
)
from hubcensus.crawler.hub import Ranged

FIRST_READ_BYTES = 262_144
"""Bytes of the first range read of every file (`Range: bytes=0-262143`).

A header costs about 100-130 bytes per tensor (name, dtype, shape, offsets), so this
holds ~2,000 tensors: a whole dense model of any size in one file (Llama-3-70B has 723
tensors), GPTQ shards (5 tensors per linear) and the MoE shards that overflow
huggingface_hub's 100 kB first read (nvidia/GLM-5-NVFP4 shards: 852 tensors, 100,000
bytes of header; 20,000 bytes for Qwen3-4B). The quota counts requests, not bytes: a
second request costs a resolver call, while 162 kB more per read is ~2.7 MB/s at the
free plan's 5,000 resolver calls per 5 minutes. bench/bench_headers.py prints the share
of headers that fit."""
MAX_INDEX_BYTES = 50_000_000
PARSE_COST = 6
"""Peak bytes of memory per header byte while a header is held and parsed: the body (1) and the parse
(~4 measured by tracemalloc on a 24 MB header of 285k tensors; ~5 for a million tensors in
tests/crawler/test_safetensors_format.py). The parsed header then keeps ~1.3 per byte."""
ANALYZE_COST = 5
"""Peak bytes per header byte while a parsed header is counted (`counting.weights.analyze`: ~3.3 on
top of the ~1.3 the parsed header keeps)."""
_SHARD = re.compile(r"^(?P<stem>.+)-(?P<k>\d{5})-of-(?P<n>\d{5})\.(?:safetensors|bin)$")


class HeaderSource(Protocol):
    """What the plan needs from the network (`crawler.hub.HubClient` is one)."""

    def read_range(
        self, model_id: str, path: str, start: int, end: int, revision: str = "main"
    ) -> Ranged: ...


@dataclass
class RepoHeaders:
    """The parsed headers of every weight file that counts, plus what the indexes declared."""

    files: list[FileHeader] = field(default_factory=list)
    index_metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per component ('' for root): the `metadata` of its index, when the index was read."""
    ignored: list[Ignored] = field(default_factory=list)
    """Weight files outside the weight set, with the reason (alternate copies, variants, pickle copies...)."""


def read_file_header(
    source: HeaderSource,
    model_id: str,
    path: str,
    revision: str,
    *,
    budget: MemoryBudget | None = None,
    max_header_bytes: int = MAX_HEADER_BYTES,
) -> FileHeader:
    """One file's header: one range GET, two when the header is longer than the first read."""
    first = source.read_range(model_id, path, 0, FIRST_READ_BYTES - 1, revision)
    parsed = split_prefix(first.body, path=path, file_size=first.total, max_header_bytes=max_header_bytes)
    if not isinstance(parsed, NeedBytes):
        return parsed
    n, have = parsed.header_len, len(first.body)
    with budget.hold(PARSE_COST * n) if budget is not None else nullcontext():
        rest = source.read_range(model_id, path, have, n + 7, revision)
        body = first.body[8:] + rest.body
        del first
        try:
            return parse_header(body, path=path, header_len=n, file_size=rest.total)
        finally:
            del body
            give_back()


def long_header_bytes(headers: RepoHeaders) -> int:
    """Bytes of the headers that needed a second read (what `ANALYZE_COST` multiplies)."""
    return sum(h.header_len for h in headers.files if 8 + h.header_len > FIRST_READ_BYTES)


def shard_names(group: WeightGroup) -> list[str] | None:
    """The shards of an indexed group as the siblings show them, if they form a complete set.

    `NAME-0000k-of-0000n`: k in 1..n, or 0..n-1 / 0..n (openai/gpt-oss-20b publishes
    model-00000..00002-of-00002). Anything else: None, and the index is read.
    """
    found = [_SHARD.match(PurePosixPath(f).name) for f in group.files]
    if not group.files or any(m is None for m in found):
        return None
    totals = {int(m["n"]) for m in found if m}
    numbers = sorted(int(m["k"]) for m in found if m)
    if len(totals) != 1:
        return None
    n = totals.pop()
    if numbers in (list(range(1, n + 1)), list(range(n)), list(range(n + 1))):
        return list(group.files)
    return None


def read_index(
    source: HeaderSource, model_id: str, index_path: str, revision: str
) -> tuple[list[str], dict[str, Any] | None]:
    """Shard paths named by an index, and its `metadata`."""
    body = source.read_range(model_id, index_path, 0, MAX_INDEX_BYTES - 1, revision).body
    try:
        index = json.loads(body)
    except ValueError as exc:
        raise HeaderError(f"{index_path}: index is not valid JSON ({exc})") from None
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict):
        raise HeaderError(f"{index_path}: index has no weight_map object")
    folder = PurePosixPath(index_path).parent
    meta = index.get("metadata")
    return sorted({_join(folder, str(s)) for s in weight_map.values()}), meta if isinstance(
        meta, dict
    ) else None


def read_repo_headers(
    source: HeaderSource,
    model_id: str,
    weight_files: list[str],
    revision: str,
    *,
    budget: MemoryBudget | None = None,
    max_header_bytes: int = MAX_HEADER_BYTES,
) -> RepoHeaders:
    """Every weight header of a repo, component by component (root, transformer/, unet/...)."""
    from hubcensus.crawler.files.pickles import read_pickle_header  # it builds on this module's read sizes

    result = RepoHeaders()
    for group in group_weight_files(weight_files):
        result.ignored.extend(group.ignored)
        paths: list[str] | None = list(group.files)
        if group.index is not None:
            paths = shard_names(group)
            if paths is None:
                paths, metadata = read_index(source, model_id, group.index, revision)
                if metadata:
                    result.index_metadata[group.component] = metadata
        for path in paths:
            if group.format == "pickle":
                result.files.append(read_pickle_header(source, model_id, path, revision, budget=budget))
                continue
            result.files.append(
                read_file_header(
                    source, model_id, path, revision, budget=budget, max_header_bytes=max_header_bytes
                )
            )
    return result


def _join(folder: PurePosixPath, name: str) -> str:
    """A shard name from an index (relative to the index's folder) as a repo path."""
    prefix = "" if str(folder) in ("", ".") else f"{folder}/"
    return name if name.startswith(prefix) else prefix + name
