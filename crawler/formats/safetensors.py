"""Bounded, validating parser for safetensors headers (pure: bytes in, dataclasses out).

A safetensors file is `u64 LE n` + `n` bytes of JSON + tensor data. The JSON maps
tensor name -> {"dtype", "shape", "data_offsets": [begin, end]} plus an optional
"__metadata__" string map. We never trust the length prefix or the JSON: the prefix
is capped before anything else is read, every entry is type-checked, byte lengths
must match shape x dtype width, and offsets must not overlap or run past the file.

Tensors are kept column-wise (`TensorTable`), so a header of a million tensors costs
about the size of its names plus ~40 bytes per tensor.
"""

from __future__ import annotations

import gc
import json
import math
from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hubcensus.crawler.formats.tensor_table import Columns, Tensor, TensorTable

from hubcensus.dtypes import DTYPE_BITS

MAX_HEADER_BYTES = 25_000_000
"""Longest header we read, like huggingface_hub (`SAFETENSORS_MAX_HEADER_LENGTH`): a longer one is an
error before any of it is downloaded."""
MAX_TENSORS = 2_000_000
_MAX_DIM = 2**63 - 1
_MAX_OFFSET = 2**64 - 1
_KEYS = ("dtype", "shape", "data_offsets")


__all__ = [
    "FileHeader",
    "HeaderError",
    "NeedBytes",
    "Tensor",
    "TensorTable",
    "parse_header",
    "read_length_prefix",
    "split_prefix",
]


class HeaderError(ValueError):
    """A safetensors header that cannot be trusted; the message is one line."""


class _Row(int):
    """Row index of a well-formed tensor entry, as returned by the JSON object hook."""

    __slots__ = ()


_ROW = _Row(-1)  # fast-mode marker: "this value was a tensor entry, now a row"


class _Obj:
    """Any other JSON object, kept as its pairs (the top-level object has a million of them)."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs


@dataclass(frozen=True)
class NeedBytes:
    """The header did not fit in the prefix: fetch `range_header` and call `parse_header`."""

    header_len: int

    @property
    def range_header(self) -> str:
        """HTTP Range value whose whole body is the header."""
        return f"bytes=8-{self.header_len + 7}"


@dataclass
class FileHeader:
    """One parsed safetensors file. `file_size` is the size the Hub stated (None when none was given):
    never rebuilt from 8 + header_len + data_end, which trailing bytes or an unpadded header break."""

    path: str
    header_len: int
    data_end: int
    file_size: int | None
    metadata: dict[str, Any] | None
    tensors: TensorTable
    warnings: list[str] = field(default_factory=list)
    unknown_dtypes: list[str] = field(default_factory=list)

    def dtype_totals(self) -> dict[str, tuple[int, int]]:
        """dtype -> (elements, bytes): the element counts are the Hub's `safetensors.parameters`."""
        return self.tensors.totals()

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (no per-tensor rows)."""
        totals = self.dtype_totals()
        fmt = self.metadata.get("format") if isinstance(self.metadata, dict) else None
        return {
            "path": self.path,
            "header_len": self.header_len,
            "data_end": self.data_end,
            "file_size": self.file_size,
            "tensor_count": len(self.tensors),
            "format": fmt if isinstance(fmt, str) else None,
            "metadata": self.metadata,
            "parameters": {d: v[0] for d, v in sorted(totals.items())},
            "bytes": {d: v[1] for d, v in sorted(totals.items())},
            "warnings": list(self.warnings),
            "unknown_dtypes": list(self.unknown_dtypes),
        }


def read_length_prefix(first8: bytes, *, max_header_bytes: int = MAX_HEADER_BYTES) -> int:
    """Header length n from the first 8 bytes; rejects 0 and anything above the cap."""
    if len(first8) < 8:
        raise HeaderError(f"length prefix needs 8 bytes, got {len(first8)}")
    n = int.from_bytes(first8[:8], "little")
    if n == 0:
        raise HeaderError("header length is 0")
    if n > max_header_bytes:
        raise HeaderError(f"header length {n:,} exceeds the cap of {max_header_bytes:,} bytes")
    return n


def split_prefix(
    prefix: bytes,
    *,
    path: str,
    file_size: int | None = None,
    max_header_bytes: int = MAX_HEADER_BYTES,
    max_tensors: int = MAX_TENSORS,
) -> FileHeader | NeedBytes:
    """Parse the header from the first bytes of a file, or say which range is still needed."""
    n = read_length_prefix(prefix, max_header_bytes=max_header_bytes)
    if file_size is not None and 8 + n > file_size:
        raise HeaderError(f"{path}: header length {n:,} runs past the file size {file_size:,}")
    if len(prefix) < 8 + n:
        return NeedBytes(n)
    return parse_header(
        prefix[8 : 8 + n], path=path, header_len=n, file_size=file_size, max_tensors=max_tensors
    )


def parse_header(
    header_json: bytes,
    *,
    path: str,
    header_len: int,
    file_size: int | None = None,
    max_tensors: int = MAX_TENSORS,
) -> FileHeader:
    """Validate and parse the JSON header (the n bytes after the length prefix)."""
    if len(header_json) < header_len:
        raise HeaderError(f"{path}: header cut short: {len(header_json):,} of {header_len:,} bytes")
    if file_size is not None and 8 + header_len > file_size:
        raise HeaderError(f"{path}: header length {header_len:,} runs past the file size {file_size:,}")
    try:
        text = str(memoryview(header_json)[:header_len], "utf-8")
    except UnicodeDecodeError as e:
        raise HeaderError(f"{path}: header is not valid UTF-8 (byte {e.start})") from None
    warnings: list[str] = []
    cols = Columns()
    found = _collect(_decode(text, cols, max_tensors, path, exact=False), cols, path, warnings)
    if found is None:  # duplicate names or entries nested in odd places: decode again, keeping every pair
        cols, warnings = Columns(), []
        found = _collect(_decode(text, cols, max_tensors, path, exact=True), cols, path, warnings)
        assert found is not None
    del text
    metadata, names, order = found
    if cols.extra_keys:
        warnings.append(f"{cols.extra_keys} tensor entries carry keys besides dtype/shape/data_offsets")
    identity = order is None or (len(order) == len(cols.codes) and all(r == i for i, r in enumerate(order)))
    begin = np.frombuffer(cols.begin, dtype=np.uint64)
    end = np.frombuffer(cols.end, dtype=np.uint64)
    if not identity and order is not None:
        idx = np.frombuffer(order, dtype=np.uint32) if len(order) else np.zeros(0, dtype=np.intp)
        begin, end = begin[idx], end[idx]
    data_end = _check_offsets(begin, end, names, path, warnings)
    if file_size is not None:
        room = file_size - 8 - header_len
        if data_end > room:
            raise HeaderError(
                f"{path}: tensor data ends at {data_end:,} but the file holds {room:,} data bytes"
            )
        if data_end < room:
            warnings.append(f"{room - data_end:,} trailing bytes after the tensor data")
    used = {cols.dtypes[c] for c in set(cols.codes)}
    unknown = sorted(d for d in used if d not in DTYPE_BITS)
    if unknown:
        warnings.append(f"unknown dtypes (bytes counted from offsets): {', '.join(unknown)}")
    table = cols.table(names, None if identity else order)
    return FileHeader(path, header_len, data_end, file_size, metadata, table, warnings, unknown)


def _decode(text: str, cols: Columns, max_tensors: int, path: str, *, exact: bool) -> Any:
    """JSON-decode `text`; well-formed tensor entries go straight into `cols` as they complete.

    The fast mode returns plain dicts with a shared `_ROW` marker per entry; the exact
    mode keeps every object's pairs (duplicates included) and the row index of each entry.
    """
    bits_of = DTYPE_BITS.get
    code_of = cols.codes_by_dtype.get
    codes, dims, dim_end = cols.codes, cols.dims, cols.dim_end
    add_code, add_dims, add_dim_end = codes.append, dims.extend, dim_end.append
    add_begin, add_end, add_numel = cols.begin.append, cols.end.append, cols.numel.append

    def add_row(d: dict[str, Any]) -> bool:
        dtype, shape, offsets = d.get("dtype"), d.get("shape"), d.get("data_offsets")
        if (
            type(dtype) is not str
            or type(shape) is not list
            or type(offsets) is not list
            or len(offsets) != 2
        ):
            return False
        begin, end = offsets
        if type(begin) is not int or type(end) is not int or not 0 <= begin <= end <= _MAX_OFFSET:
            return False
        numel = 1
        for x in shape:
            if type(x) is not int or not 0 <= x <= _MAX_DIM:
                return False
            numel *= x
        bits = bits_of(dtype)
        if numel > _MAX_DIM or (bits is not None and (numel * bits + 7) // 8 != end - begin):
            return False
        if len(codes) >= max_tensors:
            raise HeaderError(f"{path}: more than {max_tensors:,} tensors")
        if len(d) != 3:
            cols.extra_keys += 1
        code = code_of(dtype)
        if code is None:
            cols.add(dtype, shape, begin, end, numel)
            return True
        add_code(code)
        add_dims(shape)
        add_dim_end(len(dims))
        add_begin(begin)
        add_end(end)
        add_numel(numel)
        return True

    def fast(d: dict[str, Any]) -> Any:
        return _ROW if 3 <= len(d) <= 64 and add_row(d) else d

    def pairs_hook(pairs: list[tuple[str, Any]]) -> _Row | _Obj:
        if 3 <= len(pairs) <= 64 and add_row(dict(pairs)):
            return _Row(len(codes) - 1)
        return _Obj(pairs)

    decoder = json.JSONDecoder(object_pairs_hook=pairs_hook) if exact else json.JSONDecoder(object_hook=fast)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of short-lived containers: cyclic GC passes would dominate the time
    try:
        top = decoder.decode(text)
    except json.JSONDecodeError as e:
        raise HeaderError(f"{path}: header is not valid JSON ({e.msg} at char {e.pos})") from None
    except RecursionError:
        raise HeaderError(f"{path}: header JSON is nested too deeply") from None
    except HeaderError:
        raise
    except ValueError:  # e.g. an integer literal of thousands of digits
        raise HeaderError(f"{path}: header JSON has a number too long to read") from None
    finally:
        if gc_was_enabled:
            gc.enable()
    if not isinstance(top, _Obj | dict):
        kind = "a single tensor entry" if isinstance(top, _Row) else f"a JSON {type(top).__name__}"
        raise HeaderError(f"{path}: header is {kind}, not an object of tensors")
    return top


def _entry_problem(value: Any) -> str:
    """Why a top-level value is not an acceptable tensor entry."""
    d = dict(value.pairs) if isinstance(value, _Obj) else value
    if not isinstance(d, dict):
        return f"entry is a JSON {type(value).__name__}, not an object"
    missing = [k for k in _KEYS if k not in d]
    if missing:
        return f"missing {', '.join(missing)}"
    dtype, shape, offsets = d["dtype"], d["shape"], d["data_offsets"]
    if type(dtype) is not str:
        return "dtype is not a string"
    if type(shape) is not list or not all(type(x) is int and 0 <= x <= _MAX_DIM for x in shape):
        return f"shape {_short(shape)} is not a list of non-negative integers"
    if math.prod(shape) > _MAX_DIM:
        return f"shape {_short(shape)} has too many elements"
    if (
        type(offsets) is not list
        or len(offsets) != 2
        or not all(type(x) is int for x in offsets)
        or not 0 <= offsets[0] <= offsets[1] <= _MAX_OFFSET
    ):
        return f"data_offsets {_short(offsets)} is not [begin, end] with 0 <= begin <= end"
    bits = DTYPE_BITS.get(dtype)
    want = None if bits is None else (math.prod(shape) * bits + 7) // 8
    if want is not None and want != offsets[1] - offsets[0]:
        return (
            f"{offsets[1] - offsets[0]:,} bytes in data_offsets but shape {shape} of {dtype} needs {want:,}"
        )
    return f"entry has {len(d)} keys"


def _collect(
    top: dict[str, Any] | _Obj, cols: Columns, path: str, warnings: list[str]
) -> tuple[dict[str, Any] | None, list[str], array | None] | None:
    """Metadata, tensor names in order and (exact mode) the row of each; None asks for exact mode."""
    metadata: dict[str, Any] | None = None
    names: list[str] = []
    exact = isinstance(top, _Obj)
    order: array | None = array("I") if exact else None
    seen: set[str] = set()
    for name, value in top.pairs if isinstance(top, _Obj) else top.items():
        if name == "__metadata__":
            metadata = _metadata(value, warnings)
            continue
        if value is _ROW:
            names.append(name)
            continue
        if order is not None and type(value) is _Row:
            if name in seen:
                raise HeaderError(f"{path}: duplicate tensor name {_short(name)}")
            seen.add(name)
            order.append(value)
            names.append(name)
            continue
        raise HeaderError(f"{path}: tensor {_short(name)}: {_entry_problem(value)}")
    if not exact and len(names) != len(cols.codes):
        return None
    return metadata, names, order


def _metadata(value: Any, warnings: list[str]) -> dict[str, Any] | None:
    """`__metadata__` should be a str -> str map; anything else is tolerated with a warning."""
    if not isinstance(value, _Obj | dict):
        warnings.append(f"__metadata__ is a JSON {type(value).__name__}, not an object; ignored")
        return None
    plain = _plain(value)
    if not all(isinstance(v, str) for v in plain.values()):
        warnings.append("__metadata__ has non-string values")
    return plain


def _plain(value: Any) -> Any:
    """Undo the decoder's wrappers for values kept verbatim (metadata)."""
    if isinstance(value, _Obj | dict):
        return {k: _plain(v) for k, v in (value.pairs if isinstance(value, _Obj) else value.items())}
    if isinstance(value, _Row):
        return "<tensor entry>"
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _check_offsets(
    begin: np.ndarray, end: np.ndarray, names: list[str], path: str, warnings: list[str]
) -> int:
    """Reject overlaps, warn on gaps, return the end of the data (max end)."""
    if not len(begin):
        return 0
    nonempty = np.flatnonzero(end > begin)
    if len(nonempty):
        b, e = begin[nonempty], end[nonempty]
        idx = np.argsort(b, kind="stable")
        b, e = b[idx], e[idx]
        reach = np.maximum.accumulate(e)
        bad = np.flatnonzero(b[1:] < reach[:-1])
        if len(bad):
            j = int(bad[0]) + 1
            other = int(np.flatnonzero(e[:j] > b[j])[0])
            raise HeaderError(
                f"{path}: tensor {_short(names[int(nonempty[idx[j]])])} at {int(b[j]):,} overlaps "
                f"{_short(names[int(nonempty[idx[other]])])} ending at {int(e[other]):,}"
            )
        gaps = b[1:] - e[:-1]
        first = int(b[0])
        n_gaps = int(np.count_nonzero(gaps)) + (first > 0)
        if n_gaps:
            total = int(gaps.sum(dtype=np.uint64)) + first
            warnings.append(
                f"{n_gaps} gaps between tensors ({total:,} unused bytes; data starts at {first:,})"
            )
    return int(end.max())


def _short(value: Any, limit: int = 80) -> str:
    """repr() cut to one short line for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
