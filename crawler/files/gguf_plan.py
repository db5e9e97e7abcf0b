"""Which GGUF files a repo holds and the cheapest way to read their headers (pure planning + reads).

- The file list: the listing's siblings, each file's exact size from the `Content-Range` of its
  first read (free, in the resolvers bucket); without siblings, one API call,
  `GET /api/models/{id}/revision/{sha}?blobs=true` (every sibling with `size`, unpaginated).
- Variants: a file's variant is its path without the split suffix (`-00001-of-00003`) and
  `.gguf`; shards of one variant share it. `mmproj-*.gguf` is a vision projector, not a variant
  of the model's weights.
- Order: first shards and single files before later shards, projectors last, so the first file
  read in full carries the tokenizer the others share.
- Reads: the first file is read from byte 0 in reads sized by what the parser expects to need
  (numeric arrays and long strings are counted over, not fetched). Every later file starts with a
  small prefix and jumps each string array whose (key, element type, count) a file already read
  showed, by that file's byte length; the result is accepted only if the data offset plus the
  aligned tensor bytes equal the file's stated size exactly, else the file is read again in full.

All bytes go through the caller's `range_get` (`crawler.hub.HubClient`: the only network door).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Protocol

from hubcensus.crawler.formats.gguf import GGUFError, GGUFInfo, GGUFParser, Need, Run, skip_table

FIRST_FULL = 1 << 18
"""First read of a file with nothing to skip: the KVs before the tokenizer and a good part of it."""
FIRST_SKIP = 16_384
"""First read of a file that may skip a sibling's tokenizer: the KVs before the tokenizer arrays."""
MIN_READ = 16_384
MAX_READ = 8 << 20
MAX_READS = 64
"""Reads per file at most (a header that keeps asking for more is an error)."""

_SPLIT = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)


class ByteSource(Protocol):
    """What the reads need from the network (`crawler.hub.HubClient` is one)."""

    def range_get(self, model_id: str, path: str, start: int, end: int, revision: str = "main") -> bytes: ...


@dataclass(frozen=True)
class GGUFEntry:
    """One .gguf file of a repo with its exact size (None: the first read's `Content-Range` states it)."""

    path: str
    size: int | None

    @property
    def variant(self) -> str:
        return variant_of(self.path)[0]

    @property
    def split(self) -> tuple[int, int]:
        _, index, count = variant_of(self.path)
        return index, count

    @property
    def is_projector(self) -> bool:
        return is_projector(self.path)


@dataclass
class FileRead:
    """The outcome of reading one file's header."""

    entry: GGUFEntry
    info: GGUFInfo | None = None
    error: str | None = None
    bytes_read: int = 0
    requests: int = 0
    skipped: list[str] = field(default_factory=list)
    fell_back: bool = False


def is_gguf(path: str) -> bool:
    return path.lower().endswith(".gguf")


def is_projector(path: str) -> bool:
    """A vision projector (`mmproj-*.gguf`, `*mmproj*.gguf`): not a variant of the model's weights."""
    return "mmproj" in PurePosixPath(path).name.lower()


def variant_of(path: str) -> tuple[str, int, int]:
    """(variant, split index from 1, split count) from a file name; unsplit files are 1 of 1."""
    folder = str(PurePosixPath(path).parent)
    prefix = "" if folder in ("", ".") else folder + "/"
    name = PurePosixPath(path).name
    m = _SPLIT.match(name)
    if m:
        return prefix + m["stem"], int(m["index"]), int(m["count"])
    return prefix + (name[:-5] if name.lower().endswith(".gguf") else name), 1, 1


def entries_from_info(info: Any) -> list[GGUFEntry]:
    """The .gguf siblings (with sizes) of a `blobs=true` model-info answer."""
    siblings = info.get("siblings") if isinstance(info, Mapping) else None
    out = []
    for s in siblings if isinstance(siblings, list) else []:
        if not isinstance(s, Mapping):
            continue
        path, size = s.get("rfilename"), s.get("size")
        lfs = s.get("lfs")
        if isinstance(lfs, Mapping) and isinstance(lfs.get("size"), int):
            size = lfs["size"]
        if isinstance(path, str) and is_gguf(path) and isinstance(size, int) and size >= 0:
            out.append(GGUFEntry(path, size))
    return out


def read_order(entries: Iterable[GGUFEntry]) -> list[GGUFEntry]:
    """Projectors last, later shards after first shards and single files, then by path."""
    return sorted(entries, key=lambda e: (e.is_projector, e.split[0] > 1, e.path))


class SkipTable:
    """Tokenizer runs seen so far, by (key, element type, count); runs that differ between files drop out."""

    def __init__(self) -> None:
        self.known: dict[tuple[str, int, int], Run] = {}
        self._bad: set[tuple[str, int, int]] = set()

    def learn(self, info: GGUFInfo) -> None:
        for key, nbytes in skip_table(info).items():
            if key in self._bad:
                continue
            if self.known.get(key, nbytes) != nbytes:
                self._bad.add(key)
                del self.known[key]
            else:
                self.known[key] = nbytes


def read_header(
    source: ByteSource,
    model_id: str,
    entry: GGUFEntry,
    revision: str,
    read: FileRead,
    *,
    skip: Mapping[tuple[str, int, int], Run] | None = None,
    first: int = FIRST_FULL,
) -> GGUFInfo:
    """One file's header (bytes and requests are added to `read`); GGUFError when it cannot be trusted.

    Without a known size, the first read's stated size (`Content-Range`) is the file's (`read.entry`
    is updated): no listing call is needed.
    """
    size = entry.size
    parser = GGUFParser(size, skip=skip)
    offset, length = 0, first
    for _ in range(MAX_READS):
        end = offset + length - 1 if size is None else min(size, offset + length) - 1
        if end < offset:
            raise GGUFError(f"header runs past the end of the file ({size:,} bytes)")
        data, stated = _read(source, model_id, entry.path, offset, end, revision)
        read.requests += 1
        read.bytes_read += len(data)
        if size is None:
            if stated is None:
                raise GGUFError("the Hub stated no size for this file")
            size = stated
            read.entry = GGUFEntry(entry.path, size)
            parser = GGUFParser(size, skip=skip)
            end = min(end, size - 1)
            if end < offset:
                raise GGUFError(f"header runs past the end of the file ({size:,} bytes)")
        if len(data) != end - offset + 1:
            raise GGUFError(f"asked for bytes {offset:,}-{end:,}, got {len(data):,} bytes")
        parser.feed(offset, data)
        result = parser.step()
        if not isinstance(result, Need):
            return result
        offset = result.offset
        length = max(result.length, min(MAX_READ, max(result.hint + result.hint // 8, MIN_READ)))
    raise GGUFError(f"header still incomplete after {MAX_READS} reads")


def _read(
    source: ByteSource, model_id: str, path: str, start: int, end: int, revision: str
) -> tuple[bytes, int | None]:
    """(bytes, the file size the Hub stated or None) through `read_range` when the source has it."""
    read_range = getattr(source, "read_range", None)
    if read_range is None:
        return source.range_get(model_id, path, start, end, revision), None
    answer = read_range(model_id, path, start, end, revision)
    return answer.body, answer.total


def read_repo_files(
    source: ByteSource, model_id: str, entries: Iterable[GGUFEntry], revision: str
) -> list[FileRead]:
    """Read every file's header, cheapest first-to-last; per-file errors are kept, not raised."""
    table = SkipTable()
    out = []
    for entry in read_order(entries):
        read = FileRead(entry)
        hints = dict(table.known)
        try:
            info = read_header(
                source, model_id, entry, revision, read, skip=hints, first=FIRST_SKIP if hints else FIRST_FULL
            )
            if info.skipped and (read.entry.size is None or not info.matches_size(read.entry.size)):
                raise GGUFError("skipped arrays did not line up with the file size")
        except GGUFError as exc:
            if not hints:
                read.error = str(exc)
                out.append(read)
                continue
            read.fell_back = True
            try:
                info = read_header(source, model_id, read.entry, revision, read)
            except GGUFError as again:
                read.error = str(again)
                out.append(read)
                continue
        read.info, read.skipped = info, list(info.skipped)
        if not info.skipped:
            table.learn(info)
        out.append(read)
    return out
