"""Reading a repo's safetensors headers through the Hub's cheapest request plan.

- A single file: one range GET of ``bytes=0-100000`` (a second, ``bytes=8-{n+7}``,
  only when the header is larger), at the commit the listing saw.
- A sharded folder: one API call to ``/api/models/{id}/safetensors-metadata/{index}``
  returns every shard's header; where the Hub does not offer it (404), the index
  is read and each shard's header by range reads.
- File names come from the listing's siblings (`hubcensus.crawler.files.weightfiles`): no HEAD probes.

Every header goes through our bounded parser (`hubcensus.crawler.formats.safetensors`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Protocol
from urllib.parse import quote

from hubcensus.crawler.files.weightfiles import group_weight_files
from hubcensus.crawler.formats.safetensors import (
    MAX_HEADER_BYTES,
    FileHeader,
    HeaderError,
    NeedBytes,
    parse_header,
    split_prefix,
)
from hubcensus.crawler.hub import HubError

PREFIX_BYTES = 100_000
"""Like huggingface_hub: 97% of headers fit in the first 100 kB, so one request usually does."""
MAX_INDEX_BYTES = 50_000_000


class HeaderSource(Protocol):
    """What the plan needs from the network (`crawler.hub.HubClient` is one)."""

    def range_get(self, model_id: str, path: str, start: int, end: int, revision: str = "main") -> bytes: ...

    def get_json(self, path: str, params: Any = None) -> Any: ...


@dataclass
class RepoHeaders:
    """The parsed headers of every weight file that counts, plus what the indexes declared."""

    files: list[FileHeader] = field(default_factory=list)
    index_metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per component ('' for root): the `metadata` of its index (total_size, total_parameters...)."""
    ignored: list[str] = field(default_factory=list)


def read_file_header(
    source: HeaderSource, model_id: str, path: str, revision: str, *, max_header_bytes: int = MAX_HEADER_BYTES
) -> FileHeader:
    """One file's header: one range GET, two when the header is larger than 100 kB."""
    prefix = source.range_get(model_id, path, 0, PREFIX_BYTES, revision)
    parsed = split_prefix(prefix, path=path, max_header_bytes=max_header_bytes)
    if isinstance(parsed, NeedBytes):
        body = source.range_get(model_id, path, 8, parsed.header_len + 7, revision)
        parsed = parse_header(body, path=path, header_len=parsed.header_len)
    return parsed


def header_from_json(path: str, header: Any) -> FileHeader:
    """A header the Hub returned already decoded, re-encoded as the safetensors library writes it.

    The library writes compact JSON padded with spaces to a multiple of 8, so the
    re-encoded length is the file's header length and the file size stays exact.
    """
    if not isinstance(header, dict):
        raise HeaderError(f"{path}: the Hub's header for this shard is not a JSON object")
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    length = -(-len(raw) // 8) * 8
    return parse_header(raw.ljust(length), path=path, header_len=length)


def read_sharded(
    source: HeaderSource,
    model_id: str,
    index_path: str,
    revision: str,
    *,
    max_header_bytes: int = MAX_HEADER_BYTES,
) -> tuple[list[FileHeader], dict[str, Any] | None]:
    """All shards of one index: the Hub's one-call endpoint, else index + range reads."""
    folder = PurePosixPath(index_path).parent
    try:
        answer = source.get_json(f"/api/models/{model_id}/safetensors-metadata/{quote(index_path)}")
    except HubError as exc:
        if exc.status != 404:
            raise
        return _read_index_then_shards(source, model_id, index_path, revision, max_header_bytes)
    if not isinstance(answer, dict) or not isinstance(answer.get("headers"), dict):
        raise HeaderError(f"{index_path}: safetensors-metadata answer has no 'headers' object")
    files = [
        header_from_json(_join(folder, shard), header) for shard, header in sorted(answer["headers"].items())
    ]
    index = answer.get("index") if isinstance(answer.get("index"), dict) else {}
    return files, _metadata(index)


def _read_index_then_shards(
    source: HeaderSource, model_id: str, index_path: str, revision: str, max_header_bytes: int
) -> tuple[list[FileHeader], dict[str, Any] | None]:
    body = source.range_get(model_id, index_path, 0, MAX_INDEX_BYTES - 1, revision)
    try:
        index = json.loads(body)
    except ValueError as exc:
        raise HeaderError(f"{index_path}: index is not valid JSON ({exc})") from None
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict):
        raise HeaderError(f"{index_path}: index has no weight_map object")
    folder = PurePosixPath(index_path).parent
    shards = sorted({str(shard) for shard in weight_map.values()})
    files = [
        read_file_header(source, model_id, _join(folder, shard), revision, max_header_bytes=max_header_bytes)
        for shard in shards
    ]
    return files, _metadata(index)


def read_repo_headers(
    source: HeaderSource,
    model_id: str,
    weight_files: list[str],
    revision: str,
    *,
    max_header_bytes: int = MAX_HEADER_BYTES,
) -> RepoHeaders:
    """Every weight header of a repo, component by component (root, transformer/, unet/...)."""
    result = RepoHeaders()
    for group in group_weight_files(weight_files):
        result.ignored.extend(group.ignored)
        if group.index is None:
            for path in group.files:
                result.files.append(
                    read_file_header(source, model_id, path, revision, max_header_bytes=max_header_bytes)
                )
            continue
        files, metadata = read_sharded(
            source, model_id, group.index, revision, max_header_bytes=max_header_bytes
        )
        result.files.extend(files)
        if metadata:
            result.index_metadata[group.component] = metadata
    return result


def _join(folder: PurePosixPath, name: str) -> str:
    """A shard name from an index (relative to the index's folder) as a repo path."""
    prefix = "" if str(folder) in ("", ".") else f"{folder}/"
    return name if name.startswith(prefix) else prefix + name


def _metadata(index: Any) -> dict[str, Any] | None:
    meta = index.get("metadata") if isinstance(index, dict) else None
    return meta if isinstance(meta, dict) else None
