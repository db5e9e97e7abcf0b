"""The two torch.save layouts, read from the bytes at hand (pure: bytes in, a header or a range request out).

`parse_checkpoint(pieces, path=..., file_size=...)` returns a `PickleHeader`, or a `NeedRange` naming the
bytes still missing; the caller reads them, adds them to `pieces` and calls again.

- zip (torch >= 1.6): `<prefix>/data.pkl` stored (method 0; anything compressed is refused, never
  inflated) and `<prefix>/data/<key>` records. When `data.pkl` is the first entry its pickle is walked
  from the first bytes (it ends at its STOP: local headers carry no sizes); else the end records and the
  central directory (a suffix read) say where it is, and the referenced storage records are checked
  against it. Without the directory, the storages must fit in the file after the pickle.
- legacy (pre-1.6): five pickles (magic number, protocol 1001, sys_info, the object, the storage keys),
  then per storage an int64 element count and its raw bytes: `end of keys + sum(8 + bytes)` must not
  exceed the file size (fewer is a warning) and the first count must match its storage.
"""

from __future__ import annotations

from dataclasses import dataclass

from hubcensus.crawler.formats.pickle_walk import PickleError, Truncated, Walked, walk
from hubcensus.crawler.formats.torch_pickle import PickleHeader, build_header
from hubcensus.crawler.formats.torch_values import StorageRec, on_call, on_persid
from hubcensus.crawler.formats.zip_layout import (
    LOCAL_SIG,
    Entry,
    Local,
    central_directory,
    end_records,
    local_header,
)

MAX_PICKLE_BYTES = 64_000_000
"""Longest pickle we read (data.pkl or the legacy head): a longer one is an error."""
SUFFIX_BYTES = 131_072
"""Bytes of the suffix read that looks for the end records and central directory."""
MIN_READ = 262_144
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LFS = b"version https://git-lfs"


@dataclass(frozen=True)
class NeedRange:
    """Bytes [start, end) of the file are needed to go on."""

    start: int
    end: int
    reason: str


class Pieces:
    """Known byte ranges of one file (merged when they touch)."""

    def __init__(self, first: bytes = b"") -> None:
        self._parts: list[tuple[int, bytes]] = [(0, first)] if first else []

    def add(self, start: int, body: bytes) -> None:
        for i, (s, b) in enumerate(self._parts):
            if s <= start <= s + len(b):
                merged = b[: start - s] + body
                if len(merged) > len(b):
                    self._parts[i] = (s, merged)
                return
        self._parts.append((start, body))

    def get(self, start: int, end: int) -> memoryview | None:
        """Bytes [start, end) if one known range holds them all."""
        for s, b in self._parts:
            if s <= start and end <= s + len(b):
                return memoryview(b)[start - s : end - s]
        return None

    def run(self, start: int) -> memoryview:
        """The known bytes from `start` on (empty if none)."""
        for s, b in self._parts:
            if s <= start < s + len(b):
                return memoryview(b)[start - s :]
        return memoryview(b"")

    @property
    def nbytes(self) -> int:
        return sum(len(b) for _, b in self._parts)


def parse_checkpoint(pieces: Pieces, *, path: str, file_size: int | None) -> PickleHeader | NeedRange:
    """Parse a torch.save file from the known pieces, or say which bytes are missing."""
    head = bytes(pieces.run(0)[:32])
    if len(head) < 4 and (file_size is None or file_size > len(head)):
        return NeedRange(0, MIN_READ, "the first bytes")
    if head.startswith(LOCAL_SIG):
        return _zip(pieces, path, file_size)
    if head.startswith(_LFS):
        raise PickleError(f"{path}: a Git LFS pointer, not the weights")
    if head[:1] == b"\x80":
        return _legacy(pieces, path, file_size)
    if head.startswith(b"PK"):
        raise PickleError(f"{path}: a zip that does not start with a local file header")
    raise PickleError(f"{path}: not a torch checkpoint (starts with {head[:8]!r})")


def _grow(have: int, start: int, file_size: int | None, what: str, path: str) -> NeedRange:
    """More of a pickle of unknown length that starts at `start`: four times what we have."""
    if have - start >= MAX_PICKLE_BYTES:
        raise PickleError(f"{path}: {what} is longer than the cap of {MAX_PICKLE_BYTES:,} bytes")
    end = min(start + MAX_PICKLE_BYTES, max(4 * have, have + MIN_READ))
    if file_size is not None:
        if have >= file_size:
            raise PickleError(f"{path}: {what} cut short by the end of the file ({file_size:,} bytes)")
        end = min(end, file_size)
    return NeedRange(have, end, f"the rest of {what}")


def _walk(buf: memoryview, path: str) -> Walked:
    return walk(buf, 0, on_call=on_call, on_persid=on_persid)


def _zip(pieces: Pieces, path: str, file_size: int | None) -> PickleHeader | NeedRange:
    first = pieces.run(0)
    loc = local_header(first, 0)
    if isinstance(loc, int):
        if file_size is not None and loc > file_size:
            raise PickleError(f"{path}: zip local header cut short")
        return NeedRange(len(first), loc, "the first zip header")
    if _is_data_pkl(loc.entry.name):
        return _zip_entry(pieces, loc, None, path, file_size, first_entry=True)
    if file_size is None:
        raise PickleError(f"{path}: data.pkl is not the first entry and the file size is unknown")
    tail_start = max(0, file_size - SUFFIX_BYTES)
    tail = pieces.get(tail_start, file_size)
    if tail is None:
        return NeedRange(tail_start, file_size, "the zip end records")
    cd_offset, cd_size, count = end_records(tail, tail_start)
    if cd_offset + cd_size > file_size:
        raise PickleError(f"{path}: zip central directory runs past the file size {file_size:,}")
    cd = pieces.get(cd_offset, cd_offset + cd_size)
    if cd is None:
        return NeedRange(cd_offset, cd_offset + cd_size, "the zip central directory")
    entries = central_directory(cd, count)
    found = [e for e in entries if _is_data_pkl(e.name)]
    if len(found) != 1:
        raise PickleError(f"{path}: zip holds {len(found)} data.pkl entries, not one")
    e = found[0]
    if e.method != 0:
        raise PickleError(f"{path}: {e.name} is {e.method_name}: refused, never inflated")
    csize = e.csize or 0
    if csize > MAX_PICKLE_BYTES:
        raise PickleError(f"{path}: {e.name} is {csize:,} bytes, over the cap of {MAX_PICKLE_BYTES:,}")
    buf = pieces.run(e.offset)
    loc = local_header(buf, e.offset)
    if isinstance(loc, int) or len(buf) < loc.data_start - e.offset + csize:
        need = loc if isinstance(loc, int) else loc.data_start - e.offset + csize
        end = min(file_size, e.offset + max(need, 30 + len(e.name.encode()) + 1024 + csize))
        if end < e.offset + need:
            raise PickleError(f"{path}: {e.name} runs past the file size {file_size:,}")
        return NeedRange(e.offset, end, f"the entry {e.name}")
    head = 22 + cd_size + (loc.data_start - e.offset) + csize
    return _zip_entry(pieces, loc, (e, entries, head), path, file_size, first_entry=False)


def _is_data_pkl(name: str) -> bool:
    return name == "data.pkl" or (name.endswith("/data.pkl") and name.count("/") == 1)


def _zip_entry(
    pieces: Pieces,
    loc: Local,
    directory: tuple[Entry, list[Entry], int] | None,
    path: str,
    file_size: int | None,
    *,
    first_entry: bool,
) -> PickleHeader | NeedRange:
    e = loc.entry if directory is None else directory[0]
    if loc.entry.method != 0 or e.method != 0:
        raise PickleError(f"{path}: {e.name} is {loc.entry.method_name if loc.entry.method else e.method_name}"
                          ": refused, never inflated")  # fmt: skip
    buf = pieces.run(loc.data_start)
    if e.csize is not None:
        if e.csize > MAX_PICKLE_BYTES:
            raise PickleError(f"{path}: {e.name} is {e.csize:,} bytes, over the cap of {MAX_PICKLE_BYTES:,}")
        if len(buf) < e.csize:
            if file_size is not None and loc.data_start + e.csize > file_size:
                raise PickleError(f"{path}: {e.name} runs past the file size {file_size:,}")
            return NeedRange(loc.data_start + len(buf), loc.data_start + e.csize, f"the rest of {e.name}")
        buf = buf[: e.csize]
    try:
        walked = _walk(buf, path)
    except Truncated:
        if e.csize is not None and len(buf) >= e.csize:
            raise PickleError(f"{path}: {e.name} pickle cut short ({e.csize:,} bytes)") from None
        return _grow(loc.data_start + len(buf), loc.data_start, file_size, e.name, path)
    except PickleError as err:
        raise PickleError(f"{path}: {e.name}: {err}") from None
    prefix = e.name[: -len("data.pkl")]
    end = loc.data_start + walked.end
    header = build_header(walked.value, walked.globals, path=path, container="zip",
                          header_len=end if directory is None else directory[2], file_size=file_size)  # fmt: skip
    _check_zip_storages(header, directory[1] if directory else None, prefix, end, path, file_size)
    if not first_entry:
        header.warnings.append(f"{e.name} is not the first zip entry")
    return header


def _check_zip_storages(
    header: PickleHeader,
    entries: list[Entry] | None,
    prefix: str,
    pickle_end: int,
    path: str,
    size: int | None,
) -> None:
    if entries is not None:
        by_name = {e.name: e for e in entries}
        for key, nbytes in header.storage_sizes.items():
            rec = by_name.get(f"{prefix}data/{key}")
            if rec is None:
                raise PickleError(f"{path}: storage {key} has no record {prefix}data/{key}")
            if rec.method != 0:
                raise PickleError(f"{path}: storage record {rec.name} is {rec.method_name}")
            if rec.csize is not None and rec.csize < nbytes:
                raise PickleError(
                    f"{path}: storage {key} needs {nbytes:,} bytes, its record holds {rec.csize:,}"
                )
    elif size is not None and pickle_end + header.storage_bytes > size:
        raise PickleError(
            f"{path}: storages need {header.storage_bytes:,} bytes but the file holds {size - pickle_end:,} "
            "after data.pkl"
        )


def _legacy(pieces: Pieces, path: str, file_size: int | None) -> PickleHeader | NeedRange:
    buf = pieces.run(0)
    pos, values = 0, []
    try:
        for i in range(5):
            w = walk(buf, pos, on_call=on_call, on_persid=on_persid)
            if i == 0 and w.value != LEGACY_MAGIC:
                raise PickleError("a pickle without torch's magic number")
            if i == 1 and w.value != 1001:
                raise PickleError(f"legacy protocol {w.value!r}, not 1001")
            values.append(w)
            pos = w.end
    except Truncated:
        return _grow(len(buf), 0, file_size, "the legacy head", path)
    except PickleError as err:
        raise PickleError(f"{path}: {err}") from None
    main, keys = values[3], values[4].value
    if not isinstance(keys, list) or not all(isinstance(k, str | int) for k in keys):
        raise PickleError(f"{path}: legacy storage key list is not a list of keys")
    sys_info = values[2].value
    warnings = []
    if isinstance(sys_info, dict) and sys_info.get("little_endian") is False:
        warnings.append("big-endian checkpoint")
    header = build_header(main.value, sorted(set(main.globals) | set(values[2].globals)), path=path,
                          container="legacy", header_len=pos, file_size=file_size, warnings=warnings)  # fmt: skip
    sizes = header.storage_sizes
    keys = [str(k) for k in keys]
    missing = sorted(set(sizes) - set(keys))
    if missing:
        raise PickleError(f"{path}: storage {missing[0]} is missing from the legacy key list")
    unknown = [k for k in keys if k not in sizes]
    if unknown:
        header.warnings.append(f"{len(unknown)} stored storages no tensor references (sizes unknown)")
        return header
    end = pos + sum(8 + sizes[k] for k in keys)
    if file_size is not None:
        if end > file_size:
            raise PickleError(
                f"{path}: storages need {end - pos:,} bytes but the file holds {file_size - pos:,}"
            )
        if end < file_size:
            header.warnings.append(f"{file_size - end:,} trailing bytes after the storages")
    first = pieces.get(pos, pos + 8)
    if keys and first is not None:
        count = int.from_bytes(first, "little")
        rec: StorageRec = header.storage_recs[keys[0]]
        if count != rec.numel:
            raise PickleError(
                f"{path}: storage {keys[0]} holds {count:,} elements, the pickle says {rec.numel:,}"
            )
    return header
