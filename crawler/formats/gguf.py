"""Bounded, incremental parser for GGUF headers (pure: bytes in, dataclasses out).

A GGUF file is: magic ``GGUF``, u32 version, tensor and KV counts, the KV pairs (string key,
u32 value type, value; arrays are u32 element type + count + elements), the tensor infos
(name, u32 n_dims, dims, u32 ggml type, u64 offset), padding to ``general.alignment`` and the
tensor data. Version 1 wrote counts, string lengths, array lengths and dims as u32; 2 and 3 as
u64. A file is big-endian when its version only reads right byte-swapped.

The parser is fed the byte ranges a caller has (`GGUFParser.feed`) and answers each `step()`
with `Need` (which bytes next) or the finished `GGUFInfo`. It never needs bytes it can count
over: numeric arrays are jumped by their element size, long string values by their length, and
string arrays whose (key, element type, count) a sibling file showed (`skip`) by that file's byte
length. Only a window from the current position is kept, so memory is bounded by what one read
returns. Hard limits cap the header, the counts, strings, arrays and dims; anything wrong is a
`GGUFError` whose message is one line.

The ggml type table and the file-type labels come from the `gguf` package (llama.cpp's own).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from hubcensus.crawler.formats.gguf_info import (
    ARRAY_TYPE,
    GGML_TYPES,
    STRING_TYPE,
    ArrayInfo,
    GGUFError,
    GGUFInfo,
    Need,
    Run,
    TypeTotals,
    align,
    file_type_label,
    ggml_type_name,
    short,
    skip_table,
)

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
MAX_HEADER_BYTES = 100_000_000
MAX_TENSORS = 1_000_000
MAX_KV = 100_000
MAX_STRING = 16_000_000
MAX_KEY = 65_535
MAX_ARRAY = 50_000_000
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_NESTING = 4
KEEP_STRING = 4096
"""String values up to this length are kept (architecture, names); longer ones (chat templates)
are counted over by their length, without reading them."""

# GGUF value types (gguf.GGUFValueType): fixed sizes and struct codes of the scalar ones
_SCALARS: dict[int, str] = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = STRING_TYPE, ARRAY_TYPE


class _Short(Exception):
    """Internal: the window ends before `need` bytes at `pos` (state is left at the last commit)."""

    def __init__(self, pos: int, need: int) -> None:
        self.pos, self.need = pos, need


class GGUFParser:
    """Incremental GGUF header parser over the byte ranges it is fed (see the module docstring)."""

    def __init__(
        self,
        file_size: int | None = None,
        *,
        skip: Mapping[tuple[str, int, int], Run] | None = None,
        max_header_bytes: int = MAX_HEADER_BYTES,
        max_tensors: int = MAX_TENSORS,
    ) -> None:
        self.file_size = file_size
        self.skip = dict(skip or {})
        self.max_header_bytes = max_header_bytes
        self.max_tensors = max_tensors
        self._win = bytearray()
        self._win_start = 0
        self.pos = 0
        self.bytes_fed = 0
        self._phase = 0
        self._end = "<"
        self.version = 0
        self.tensor_count = 0
        self.kv_count = 0
        self._kv_i = 0
        self._arr: list[Any] | None = None  # [key, elem_type, count, start, done]
        self._ti = 0
        self.metadata: dict[str, Any] = {}
        self.arrays: dict[str, ArrayInfo] = {}
        self.skipped: list[str] = []
        self.warnings: list[str] = []
        self._types: dict[str, TypeTotals] = {}
        self._spans: list[tuple[int, int, int]] = []  # (offset, nbytes, tensor index)
        self._names: list[str] = []
        self._seen: set[str] = set()
        self._avg_item = 16.0
        self._result: GGUFInfo | None = None

    # ---- the window --------------------------------------------------------------
    def feed(self, offset: int, data: bytes) -> None:
        """Give the parser bytes `offset`..`offset+len(data)` of the file (must cover or follow `pos`)."""
        self.bytes_fed += len(data)
        end = self._win_start + len(self._win)
        if offset == end and self._win_start <= self.pos <= end:
            del self._win[: self.pos - self._win_start]
            self._win_start = self.pos
            self._win += data
        elif offset <= self.pos <= offset + len(data):
            self._win = bytearray(memoryview(data)[self.pos - offset :])
            self._win_start = self.pos
        else:
            raise ValueError(f"fed bytes {offset}..{offset + len(data)} do not reach position {self.pos}")

    def _take(self, pos: int, n: int) -> bytes:
        rel = pos - self._win_start
        if rel < 0 or rel + n > len(self._win):
            raise _Short(pos, n)
        return bytes(self._win[rel : rel + n])

    def _unpack(self, fmt: str, pos: int) -> tuple[Any, ...]:
        full = self._end + fmt
        return struct.unpack(full, self._take(pos, struct.calcsize(full)))

    def _check_pos(self, pos: int) -> None:
        if pos > self.max_header_bytes:
            raise GGUFError(f"header runs past {self.max_header_bytes:,} bytes (the cap)")
        if self.file_size is not None and pos > self.file_size:
            raise GGUFError(f"header runs past the end of the file ({self.file_size:,} bytes)")

    # ---- stepping ----------------------------------------------------------------
    def step(self) -> Need | GGUFInfo:
        """Parse as far as the fed bytes go: the finished header, or which bytes are needed next."""
        if self._result is not None:
            return self._result
        try:
            if self._phase == 0:
                self._header()
            while self._phase == 1:
                self._kv()
            while self._phase == 2:
                self._tensor_info()
            if self._phase == 3:
                self._result = self._finish()
                self._win = bytearray()
                return self._result
        except _Short as gap:
            need_end = gap.pos + gap.need
            self._check_pos(need_end)
            win_end = self._win_start + len(self._win)
            start = win_end if self._win_start <= self.pos <= win_end else self.pos
            return Need(start, need_end - start, max(need_end - start, self._hint()))
        except (struct.error, UnicodeDecodeError, OverflowError) as exc:  # defensive: never a traceback
            raise GGUFError(f"unreadable header at byte {self.pos:,}: {type(exc).__name__}") from None
        raise AssertionError("unreachable")

    def _hint(self) -> int:
        """Bytes the parser expects to use from `pos` on (for the caller's read size)."""
        if self._arr is not None:
            return int((self._arr[2] - self._arr[4]) * self._avg_item) + 4096
        if self._phase == 2:
            return (self.tensor_count - self._ti) * 96 + 1024
        if self._phase == 1:  # the last KVs are small; the tensor infos follow
            return min(self.kv_count - self._kv_i, 32) * 256 + self.tensor_count * 80 + 4096
        return 4096

    def _header(self) -> None:
        head = bytes(self._take(0, 8))
        if head[:4] != MAGIC:
            raise GGUFError(f"bad magic {head[:4]!r} (not a GGUF file)")
        (le,) = struct.unpack("<I", head[4:8])
        (be,) = struct.unpack(">I", head[4:8])
        if 1 <= le <= 3:
            self._end = "<"
        elif 1 <= be <= 3:
            self._end = ">"
        else:
            raise GGUFError(f"unsupported GGUF version {le} (0x{le:08x})")
        self.version = le if self._end == "<" else be
        count = "I" if self.version == 1 else "Q"
        tensors, kvs = self._unpack(count * 2, 8)
        if tensors > self.max_tensors:
            raise GGUFError(f"tensor count {tensors:,} exceeds the cap of {self.max_tensors:,}")
        if kvs > MAX_KV:
            raise GGUFError(f"KV count {kvs:,} exceeds the cap of {MAX_KV:,}")
        self.tensor_count, self.kv_count = tensors, kvs
        self.pos = 8 + struct.calcsize(count * 2)
        self._phase = 1 if kvs else 2
        if self._phase == 2 and not tensors:
            self._phase = 3

    def _len_fmt(self) -> str:
        return "I" if self.version == 1 else "Q"

    def _string(self, pos: int, limit: int, what: str, *, jump: bool = False) -> tuple[str | None, int]:
        """(value, end position) of a string at `pos`; with `jump` (only where a KV ends), a string
        longer than KEEP_STRING is counted over without its bytes and its value is None."""
        fmt = self._len_fmt()
        (n,) = self._unpack(fmt, pos)
        if n > limit:
            raise GGUFError(f"{what} of {n:,} bytes exceeds the cap of {limit:,}")
        start = pos + struct.calcsize(fmt)
        end = start + n
        self._check_pos(end)
        if jump and n > KEEP_STRING:
            return None, end
        text = self._take(start, n)
        return (str(text, "utf-8", errors="replace") if n <= KEEP_STRING else None), end

    def _kv(self) -> None:
        if self._arr is not None:
            self._array_elements()
            return
        pos = self.pos
        key, pos = self._string(pos, MAX_KEY, "key")
        assert key is not None
        (vtype,) = self._unpack("I", pos)
        pos += 4
        if vtype in _SCALARS:
            fmt = _SCALARS[vtype]
            (value,) = self._unpack(fmt, pos)
            pos += struct.calcsize(fmt)
            self._commit_kv(key, value, pos)
        elif vtype == _STRING:
            value, pos = self._string(pos, MAX_STRING, f"string value of {key!r}", jump=True)
            self._commit_kv(key, value, pos)
        elif vtype == _ARRAY:
            (etype,) = self._unpack("I", pos)
            (count,) = self._unpack(self._len_fmt(), pos + 4)
            pos += 4 + struct.calcsize(self._len_fmt())
            if count > MAX_ARRAY:
                raise GGUFError(f"array {key!r} of {count:,} elements exceeds the cap of {MAX_ARRAY:,}")
            if etype not in _SCALARS and etype not in (_STRING, _ARRAY):
                raise GGUFError(f"array {key!r} has unknown element type {etype}")
            kv_start, self.pos = self.pos, pos
            self._arr = [key, etype, count, pos, 0, kv_start]
            self._array_elements()
        else:
            raise GGUFError(f"key {key!r} has unknown value type {vtype}")

    def _claim(self, key: str) -> None:
        """Refuse a key seen before (llama.cpp refuses such files too)."""
        if key in self.metadata or key in self.arrays:
            raise GGUFError(f"duplicate key {short(key)}")

    def _commit_kv(self, key: str, value: Any, pos: int) -> None:
        self._check_pos(pos)
        self._claim(key)
        self.metadata[key] = value
        self.pos = pos
        self._next_kv()

    def _next_kv(self) -> None:
        self._kv_i += 1
        if self._kv_i >= self.kv_count:
            self._phase = 2 if self.tensor_count else 3

    def _array_elements(self) -> None:
        assert self._arr is not None
        key, etype, count, start, done, kv_start = self._arr
        run = self.skip.get((key, etype, count)) if etype == _STRING else None
        if run is not None:
            self._jump(run, start)
            return
        if etype in _SCALARS:
            end = start + count * struct.calcsize(_SCALARS[etype])
        elif etype == _STRING:
            end = self._walk_strings(count - done)
        else:
            end = self._walk_nested(count - done, 1)
        self._check_pos(end)
        self._claim(key)
        self.arrays[key] = ArrayInfo(etype, count, start, end - start, kv_start)
        self.pos = end
        self._arr = None
        self._next_kv()

    def _jump(self, run: Run, start: int) -> None:
        """Jump a run of arrays a sibling file showed (the caller verifies the result by the file size)."""
        if self._kv_i + len(run.arrays) > self.kv_count:
            raise GGUFError("a skipped tokenizer run holds more KVs than the file has")
        end = start + run.nbytes
        self._check_pos(end)
        for key, etype, count, kv_start, offset, nbytes in run.arrays:
            self._claim(key)
            self.arrays[key] = ArrayInfo(etype, count, start + offset, nbytes, start + kv_start)
            self.skipped.append(key)
        self.pos = end
        self._arr = None
        self._kv_i += len(run.arrays) - 1
        self._next_kv()

    def _walk_strings(self, remaining: int) -> int:
        """Walk string elements from `pos`, committing each one; the end position when all are walked."""
        assert self._arr is not None
        fmt = self._len_fmt()
        unpack = struct.Struct(self._end + fmt).unpack_from
        lsize = struct.calcsize(fmt)
        win, base = self._win, self._win_start
        p, lim, i = self.pos - base, len(win), 0
        first = p
        try:
            while i < remaining:
                if p + lsize > lim:
                    raise _Short(base + p, lsize)
                (n,) = unpack(win, p)
                if n > MAX_STRING:
                    raise GGUFError(f"array {self._arr[0]!r}: string of {n:,} bytes exceeds the cap")
                q = p + lsize + n
                if q > lim:
                    self._check_pos(base + q)
                    raise _Short(base + p, lsize + n)
                p = q
                i += 1
        finally:
            if i:
                self._avg_item = (p - first) / i
            self.pos = base + p
            self._arr[4] += i
            self._check_pos(self.pos)
        return self.pos

    def _walk_nested(self, remaining: int, depth: int) -> int:
        """Walk array elements that are arrays (each one atomically)."""
        assert self._arr is not None
        for _ in range(remaining):
            self.pos = self._inner_array(self.pos, depth)
            self._arr[4] += 1
        return self.pos

    def _inner_array(self, pos: int, depth: int) -> int:
        if depth > MAX_NESTING:
            raise GGUFError(f"arrays nested deeper than {MAX_NESTING}")
        (etype,) = self._unpack("I", pos)
        (count,) = self._unpack(self._len_fmt(), pos + 4)
        pos += 4 + struct.calcsize(self._len_fmt())
        if count > MAX_ARRAY:
            raise GGUFError(f"nested array of {count:,} elements exceeds the cap of {MAX_ARRAY:,}")
        if etype in _SCALARS:
            end = pos + count * struct.calcsize(_SCALARS[etype])
        elif etype == _STRING:
            end = pos
            for _ in range(count):
                _, end = self._string(end, MAX_STRING, "nested string")
        elif etype == _ARRAY:
            end = pos
            for _ in range(count):
                end = self._inner_array(end, depth + 1)
        else:
            raise GGUFError(f"nested array has unknown element type {etype}")
        self._check_pos(end)
        return end

    def _tensor_info(self) -> None:
        pos = self.pos
        name, pos = self._string(pos, 65_535, "tensor name")
        (n_dims,) = self._unpack("I", pos)
        pos += 4
        if n_dims > MAX_DIMS:
            raise GGUFError(f"tensor {short(name)} has {n_dims} dims (at most {MAX_DIMS})")
        dim = "I" if self.version == 1 else "Q"
        dims = self._unpack(dim * n_dims, pos) if n_dims else ()
        pos += struct.calcsize(dim) * n_dims
        type_id, offset = self._unpack("IQ", pos)
        pos += 12
        self._check_pos(pos)
        entry = GGML_TYPES.get(type_id)
        if entry is None:
            raise GGUFError(f"tensor {short(name)} has unknown ggml type id {type_id}")
        tname, block, block_bytes = entry
        numel = 1
        for d in dims:
            numel *= d
        if numel >= 2**63 or any(d >= 2**63 for d in dims):
            raise GGUFError(f"tensor {short(name)} has too many elements ({list(dims)})")
        if dims and dims[0] % block:
            raise GGUFError(
                f"tensor {short(name)}: first dim {dims[0]} is not a multiple of {tname}'s block {block}"
            )
        nbytes = numel // block * block_bytes
        totals = self._types.setdefault(tname, TypeTotals())
        totals.tensors += 1
        totals.parameters += numel
        totals.bytes += nbytes
        if name is not None:
            if name in self._seen:
                raise GGUFError(f"duplicate tensor name {short(name)}")
            self._seen.add(name)
        self._spans.append((offset, nbytes, self._ti))
        self._names.append(name or "")
        self.pos = pos
        self._ti += 1
        if self._ti >= self.tensor_count:
            self._phase = 3

    def _finish(self) -> GGUFInfo:
        alignment = self.metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        if (
            not isinstance(alignment, int)
            or isinstance(alignment, bool)
            or alignment <= 0
            or alignment & (alignment - 1)
        ):
            raise GGUFError(f"general.alignment {alignment!r} is not a power of two")
        data_offset = align(self.pos, alignment)
        data_end, tensor_bytes = 0, 0
        prev_end, prev = 0, None
        for offset, nbytes, idx in sorted(self._spans):
            if offset < prev_end:
                raise GGUFError(
                    f"tensor {short(self._names[idx])} at {offset:,} overlaps "
                    f"{short(self._names[prev])} ending at {prev_end:,}"  # type: ignore[index]
                )
            if offset % alignment:
                raise GGUFError(
                    f"tensor {short(self._names[idx])} offset {offset:,} is not a multiple of the alignment {alignment}"
                )
            if self.file_size is not None and data_offset + offset + nbytes > self.file_size:
                raise GGUFError(
                    f"tensor {short(self._names[idx])} data ends at {data_offset + offset + nbytes:,}, "
                    f"past the file size {self.file_size:,}"
                )
            prev_end, prev = offset + nbytes, idx
            data_end = max(data_end, offset + nbytes)
            tensor_bytes += nbytes
        self._spans, self._names, self._seen = [], [], set()
        info = GGUFInfo(
            version=self.version, big_endian=self._end == ">", tensor_count=self.tensor_count,
            kv_count=self.kv_count, alignment=alignment, header_end=self.pos, data_offset=data_offset,
            data_end=data_end, tensor_bytes=tensor_bytes,
            parameters=sum(t.parameters for t in self._types.values()), metadata=self.metadata,
            arrays=self.arrays, types=dict(sorted(self._types.items())), file_size=self.file_size,
            skipped=self.skipped, warnings=self.warnings,
        )  # fmt: skip
        if self.file_size is not None and not info.matches_size(self.file_size):
            info.warnings.append(
                f"file size {self.file_size:,} is not header + tensor data ({info.expected_sizes()[0]:,})"
            )
        return info


def parse_bytes(data: bytes, file_size: int | None = None, **limits: Any) -> GGUFInfo:
    """Parse a header from bytes that start at offset 0 (a whole file or a long enough prefix)."""
    parser = GGUFParser(file_size, **limits)
    parser.feed(0, data)
    result = parser.step()
    if isinstance(result, Need):
        raise GGUFError(f"header cut short: needs bytes {result.offset:,}..{result.offset + result.length:,}")
    return result


__all__ = [
    "ArrayInfo",
    "GGUFError",
    "GGUFInfo",
    "GGUFParser",
    "Need",
    "Run",
    "TypeTotals",
    "file_type_label",
    "ggml_type_name",
    "parse_bytes",
    "skip_table",
]
