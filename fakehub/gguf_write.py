"""A minimal GGUF header writer (v1-v3, little- or big-endian) for header-only fakehub files.

`gguf.GGUFWriter` writes v3 only and wants the tensor data; fakehub needs headers of 8B-size
models (and v1/v2 files), served with zeros after the header. Layout as in ggml's docs/gguf.md:
magic, version, counts, KV pairs, tensor infos, padding to the alignment; each tensor's data is
padded to the alignment too (as llama.cpp and GGUFWriter write it). Only the ggml type table
comes from the `gguf` package.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
_FMT = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "?", U64: "Q", I64: "q", F64: "d"}


@dataclass(frozen=True)
class KV:
    """One key-value pair: `vtype` is the GGUF value type; arrays give `elem` and a list value."""

    key: str
    vtype: int
    value: Any
    elem: int | None = None


@dataclass(frozen=True)
class TensorSpec:
    """A tensor info: name, ggml dims (ne0 first) and type name ('Q4_K', 'F32', ...)."""

    name: str
    dims: tuple[int, ...]
    ggml_type: str

    @property
    def type_id(self) -> int:
        return int(GGMLQuantizationType[self.ggml_type])

    @property
    def parameters(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        block, size = GGML_QUANT_SIZES[GGMLQuantizationType[self.ggml_type]]
        return self.parameters // block * size


class Encoder:
    """Encodes GGUF values for one version and byte order."""

    def __init__(self, version: int = 3, big_endian: bool = False) -> None:
        self.version, self.e = version, ">" if big_endian else "<"
        self.count = "I" if version == 1 else "Q"

    def pack(self, fmt: str, *values: Any) -> bytes:
        return struct.pack(self.e + fmt, *values)

    def string(self, text: str | bytes) -> bytes:
        raw = text.encode() if isinstance(text, str) else text
        return self.pack(self.count, len(raw)) + raw

    def array(self, elem: int, values: Sequence[Any]) -> bytes:
        head = self.pack("I", elem) + self.pack(self.count, len(values))
        if elem == STRING:
            return head + b"".join(self.string(v) for v in values)
        if elem == ARRAY:
            return head + b"".join(self.array(e, v) for e, v in values)
        return head + struct.pack(f"{self.e}{len(values)}{_FMT[elem]}", *values)

    def kv(self, kv: KV) -> bytes:
        out = self.string(kv.key) + self.pack("I", kv.vtype)
        if kv.vtype == STRING:
            return out + self.string(kv.value)
        if kv.vtype == ARRAY:
            assert kv.elem is not None
            return out + self.array(kv.elem, kv.value)
        return out + self.pack(_FMT[kv.vtype], kv.value)

    def tensor_info(self, t: TensorSpec, offset: int) -> bytes:
        dim = "I" if self.version == 1 else "Q"
        return (self.string(t.name) + self.pack("I", len(t.dims)) + self.pack(dim * len(t.dims), *t.dims)
                + self.pack("IQ", t.type_id, offset))


def align(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment


def header_segments(kvs: Iterable[KV | tuple[bytes, int]], tensors: Sequence[TensorSpec], *, version: int = 3,
                    big_endian: bool = False, alignment: int = 32) -> tuple[list[bytes], int]:
    """(header byte segments up to the data offset, full file size). Pre-encoded KVs may be given as
    (bytes, how many KVs they hold): shared tokenizer arrays, one copy for every variant."""
    enc = Encoder(version, big_endian)
    kv_list = list(kvs)
    n_kv = sum(kv[1] if isinstance(kv, tuple) else 1 for kv in kv_list)
    head = MAGIC + enc.pack("I", version) + enc.pack(enc.count * 2, len(tensors), n_kv)
    segments = [head]
    segments += [kv[0] if isinstance(kv, tuple) else enc.kv(kv) for kv in kv_list]
    offset = 0
    infos = []
    for t in tensors:
        infos.append(enc.tensor_info(t, offset))
        offset += align(t.nbytes, alignment)
    segments.append(b"".join(infos))
    used = sum(len(s) for s in segments)
    segments.append(bytes(align(used, alignment) - used))
    return segments, align(used, alignment) + offset


MAGIC = b"GGUF"
