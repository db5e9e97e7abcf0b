"""A pure-Python `torch.save` writer: the exact bytes torch writes, described lazily for any file size.

Both formats (HUB_API.md "PyTorch pickle checkpoints"):
- zip (torch >= 1.6, miniz via caffe2 `PyTorchStreamWriter`): stored entries `<prefix>/data.pkl`, then
  (by torch generation) `.format_version`, `.storage_alignment`, `byteorder`, `data/<key>` in string order,
  `version`, `.data/serialization_id`; local headers with zero crc/sizes and flag bit 3 (0x0808; 0x0800 for
  an empty record, which has no descriptor), an `FB` extra field padding data to 64 bytes, a ZIP64 extra
  (uncompressed size, 0, header offset) where size or offset reach 2^32-1, data descriptors (24 bytes
  then), central directory, ZIP64 end record + locator, end record.
- legacy (< 1.6): pickles of the magic number, protocol 1001, sys_info, the object, the sorted storage
  keys; then per storage its int64 element count and raw bytes.

Storage data is zeros and never materialised: `plan(...)` returns a `TorchFile` whose `read(start, end)`
computes local headers and descriptors by offset, so a 14 GB file costs O(tensors) memory.
"""

from __future__ import annotations

import bisect
import hashlib
import struct
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hubcensus.fakehub.crc_zeros import crc32_zeros
from hubcensus.fakehub.torch_pickle import (
    MAGIC_NUMBER,
    PROTOCOL_VERSION,
    STORAGES,
    SYS_INFO,
    Storage,
    TensorRef,
    dumps,
    module_metadata,
    numel,
    plain_dumps,
)

U32 = 0xFFFFFFFF
ALIGN = 64
GENERATIONS = ("1.6", "2.1", "2.4")  # record sets: data.pkl+data+version / +byteorder+serialization_id / +format


@dataclass(frozen=True)
class T:
    """A tensor to write: dtype (F32, F16, BF16, I64, ...), shape, optionally a view of another tensor's
    storage (`share` = that tensor's dotted path) at an element `offset`."""

    dtype: str
    shape: tuple[int, ...]
    share: str | None = None
    offset: int = 0


@dataclass
class TorchFile:
    """A described torch.save file: exact size, range reader, parts and what it holds."""

    size: int
    format: str  # "zip" | "legacy"
    head_len: int  # bytes before the first storage's data (zip: through data.pkl and small records)
    tail_start: int  # where the central directory begins (legacy: size)
    tensors: int
    storages: int
    by_dtype: dict[str, int]  # storage elements per dtype (shared storages once)
    tensor_elements: int  # sum of numel over tensors (views of one storage each counted)
    pickle: bytes
    _read: Any = field(repr=False, default=None)

    def read(self, start: int, end: int) -> bytes:
        """Bytes [start, end) (end clipped to the size)."""
        end = min(end, self.size)
        return self._read(start, end) if start < end else b""

    def describe(self) -> tuple[bytes, int, bytes]:
        """(head bytes, total size, tail bytes): the real head and the real central directory/end records."""
        return self.read(0, self.head_len), self.size, self.read(self.tail_start, self.size)

    def to_bytes(self) -> bytes:
        return self.read(0, self.size)


def _is_leaf(v: Any) -> bool:
    return isinstance(v, T) or (isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str)
                                and v[0] in STORAGES and isinstance(v[1], tuple | list))


def _leaves(obj: Any, path: str, out: list[tuple[str, T]]) -> None:
    if _is_leaf(obj):
        out.append((path, obj if isinstance(obj, T) else T(obj[0], tuple(obj[1]))))
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            _leaves(v, f"{path}.{k}" if path else str(k), out)
    elif isinstance(obj, list | tuple):
        for k, v in enumerate(obj):
            _leaves(v, f"{path}.{k}" if path else str(k), out)


def _storages(leaves: list[tuple[str, T]], legacy: bool, claim: Mapping[str, int]) -> dict[str, TensorRef]:
    """One TensorRef per leaf path; tensors sharing a storage get one Storage (keys in pickle order)."""
    spec = dict(leaves)

    def root(p: str) -> str:
        seen = set()
        while spec[p].share is not None:
            if p in seen or spec[p].share not in spec:
                raise ValueError(f"bad share chain at {p}")
            seen.add(p)
            p = spec[p].share  # type: ignore[assignment]
        return p

    need: dict[str, int] = {}
    for p, t in leaves:
        r = root(p)
        if spec[r].dtype != t.dtype:
            raise ValueError(f"{p} shares {r}'s storage with another dtype")
        need[r] = max(need.get(r, 0), t.offset + numel(t.shape))
    made: dict[str, Storage] = {}
    heap = 140_000_000_000_000
    out: dict[str, TensorRef] = {}
    for p, t in leaves:
        r = root(p)
        if r not in made:
            key = str(heap) if legacy else str(len(made))
            made[r] = Storage(key, t.dtype, claim.get(r, need[r]))
            made[r].record_numel = need[r]  # type: ignore[attr-defined]
            heap += (need[r] * STORAGES[t.dtype][1] + 63) // 64 * 64 + 64
        out[p] = TensorRef(made[r], t.offset, tuple(t.shape))
    return out


def _rebuild(obj: Any, path: str, refs: dict[str, TensorRef]) -> Any:
    if _is_leaf(obj):
        return refs[path]
    if isinstance(obj, Mapping):
        kids = [(k, _rebuild(v, f"{path}.{k}" if path else str(k), refs)) for k, v in obj.items()]
        return OrderedDict(kids) if isinstance(obj, OrderedDict) else dict(kids)
    if isinstance(obj, list | tuple):
        kids = [_rebuild(v, f"{path}.{k}" if path else str(k), refs) for k, v in enumerate(obj)]
        return type(obj)(kids)
    return obj


def plan(obj: Any, *, legacy: bool = False, prefix: str = "archive", generation: str = "2.4",
         metadata: bool | Mapping[str, Any] = False, seed: str = "",
         claim: Mapping[str, int] | None = None, location: str = "cpu") -> TorchFile:
    """Describe the torch.save file of `obj`: nested dicts/lists of tensors (`T` or `(dtype, shape)`) and
    plain values. `metadata=True`: the root is an OrderedDict with torch's module `_metadata` (what
    `model.state_dict()` saves; a mapping: that `_metadata`). `claim`: root tensor path -> element count
    the pickle states for its storage instead of the real one (hostile files). `seed` varies the
    serialization id; `location` is the device tag of every storage."""
    leaves: list[tuple[str, T]] = []
    _leaves(obj, "", leaves)
    refs = _storages(leaves, legacy, claim or {})
    root = _rebuild(obj, "", refs)
    if metadata:
        od = OrderedDict(root.items())
        meta = metadata if isinstance(metadata, Mapping) else module_metadata([p for p, _ in leaves])
        od._metadata = meta  # type: ignore[attr-defined]
        root = od
    stores: dict[str, Storage] = {}
    for r in refs.values():
        stores.setdefault(r.storage.key, r.storage)
    by: dict[str, int] = {}
    for s in stores.values():
        by[s.dtype] = by.get(s.dtype, 0) + s.record_numel  # type: ignore[attr-defined]
    pkl = dumps(root, legacy, location)
    keys = sorted(stores)
    common = {"tensors": len(leaves), "storages": len(stores), "by_dtype": by, "pickle": pkl,
              "tensor_elements": sum(numel(t.shape) for _, t in leaves)}
    if legacy:
        return _legacy(pkl, [stores[k] for k in keys], common)
    sid = hashlib.sha256(f"fakehub-serialization:{seed}".encode()).hexdigest()
    records: list[tuple[str, int, bytes | None]] = [("data.pkl", len(pkl), pkl)]
    if generation == "2.4":
        records += [(".format_version", 1, b"1"), (".storage_alignment", 2, b"64")]
    if generation in ("2.1", "2.4"):
        records.append(("byteorder", 6, b"little"))
    records += [(f"data/{k}", stores[k].record_numel * STORAGES[stores[k].dtype][1], None)  # type: ignore[attr-defined]
                for k in keys]
    records.append(("version", 2, b"3\n"))
    if generation in ("2.1", "2.4"):
        records.append((".data/serialization_id", 40, str(int(sid, 16))[:40].rjust(40, "0").encode()))
    return _zip(prefix, records, common)


# ---- legacy ----------------------------------------------------------------------------------

def _legacy(pkl: bytes, stores: list[Storage], common: dict[str, Any]) -> TorchFile:
    head = (plain_dumps(MAGIC_NUMBER) + plain_dumps(PROTOCOL_VERSION) + plain_dumps(SYS_INFO) + pkl
            + plain_dumps([s.key for s in stores]))
    starts, sizes, off = [], [], len(head)
    for s in stores:
        n = s.record_numel  # type: ignore[attr-defined]
        starts.append(off)
        sizes.append(n)
        off += 8 + n * STORAGES[s.dtype][1]
    total = off

    def read(a: int, b: int) -> bytes:
        parts = [head[a:b]] if a < len(head) else []
        k = max(bisect.bisect_right(starts, a) - 1, 0)
        while k < len(starts) and starts[k] < b:
            lo = starts[k]
            seg_end = starts[k + 1] if k + 1 < len(starts) else total
            x, y = max(a, lo), min(b, seg_end)
            if x < y:
                cnt = struct.pack("<q", sizes[k])
                piece = cnt[max(x - lo, 0):max(min(y - lo, 8), 0)]
                parts.append(piece + bytes(y - x - len(piece)))
            k += 1
        return b"".join(parts)

    return TorchFile(total, "legacy", len(head), total, _read=read, **common)


# ---- zip -------------------------------------------------------------------------------------

def _z64(size: int | None, comp: int | None, ofs: int | None) -> bytes:
    vals = [v for v in (size, comp, ofs) if v is not None]
    return struct.pack("<HH", 1, 8 * len(vals)) + b"".join(struct.pack("<Q", v) for v in vals)


@dataclass(frozen=True)
class _Entry:
    name: bytes
    size: int
    offset: int  # local header
    data: bytes | None  # None: zeros
    crc: int
    method: int = 0
    comp: int = -1  # compressed size (stored: = size)

    @property
    def big(self) -> bool:
        return self.size >= U32 or self.offset >= U32

    def extra(self) -> bytes:
        """The local header's extra: ZIP64 (size, 0, offset as needed) then the FB padding field."""
        z = b""
        if self.big:
            z = _z64(self.size if self.size >= U32 else None, 0 if self.size >= U32 else None,
                     self.offset if self.offset >= U32 else None)
        start = self.offset + 30 + len(self.name) + len(z) + 4
        pad = -start % ALIGN
        return z + b"FB" + struct.pack("<H", pad) + b"Z" * pad

    def header(self) -> bytes:
        extra = self.extra()
        flags = 0x0808 if self.size else 0x0800
        return (struct.pack("<IHHHHHIIIHH", 0x04034B50, 20 if self.method else 0, flags, self.method, 0, 0, 0, 0, 0,
                            len(self.name), len(extra)) + self.name + extra)

    @property
    def csize(self) -> int:
        return self.size if self.comp < 0 else self.comp

    def descriptor(self) -> bytes:
        if not self.size:
            return b""
        if self.big:
            return struct.pack("<IIQQ", 0x08074B50, self.crc, self.csize, self.size)
        return struct.pack("<IIII", 0x08074B50, self.crc, self.csize, self.size)

    def length(self) -> int:
        return len(self.header()) + self.csize + len(self.descriptor())

    def central(self) -> bytes:
        z = b""
        if self.big:
            z = _z64(self.size if self.size >= U32 else None, self.csize if self.size >= U32 else None,
                     self.offset if self.offset >= U32 else None)
        flags = 0x0808 if self.size else 0x0800
        return (struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0, 20 if self.method else 0, flags, self.method, 0, 0,
                            self.crc, min(self.csize, U32), min(self.size, U32), len(self.name), len(z), 0, 0, 0, 0,
                            min(self.offset, U32)) + self.name + z)

    def read(self, a: int, b: int) -> bytes:
        """Bytes [a, b) relative to the local header."""
        head = self.header()
        data_end = len(head) + self.csize
        out = [head[a:b]] if a < len(head) else []
        x, y = max(a, len(head)), min(b, data_end)
        if x < y:
            out.append(self.data[x - len(head):y - len(head)] if self.data is not None else bytes(y - x))
        if b > data_end:
            out.append(self.descriptor()[max(a - data_end, 0):b - data_end])
        return b"".join(out)


def end_records(n: int, cd_ofs: int, cd_size: int) -> bytes:
    """ZIP64 end of central directory record + locator + end record, as miniz writes them."""
    z64 = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 0x031E, 0x2D, 0, 0, n, n, cd_size, cd_ofs)
    loc = struct.pack("<IIQI", 0x07064B50, 0, cd_ofs + cd_size, 1)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, min(n, 0xFFFF), min(n, 0xFFFF), min(cd_size, U32),
                      min(cd_ofs, U32), 0)
    return z64 + loc + end


def zip_entries(prefix: str, records: list[tuple[str, int, bytes | None]],
                deflated: dict[str, tuple[bytes, int, int]] | None = None) -> tuple[list[_Entry], int]:
    """Entries laid out from offset 0; `deflated` name -> (stream, uncompressed size, crc) overrides."""
    entries, off = [], 0
    for name, size, data in records:
        full = f"{prefix}/{name}".encode()
        if deflated and name in deflated:
            stream, usize, crc = deflated[name]
            e = _Entry(full, usize, off, stream, crc, 8, len(stream))
        else:
            crc = zlib.crc32(data) if data is not None else crc32_zeros(size)
            e = _Entry(full, size, off, data, crc)
        entries.append(e)
        off += e.length()
    return entries, off


def _zip(prefix: str, records: list[tuple[str, int, bytes | None]], common: dict[str, Any],
         deflated: dict[str, tuple[bytes, int, int]] | None = None) -> TorchFile:
    entries, cd_ofs = zip_entries(prefix, records, deflated)
    cd = b"".join(e.central() for e in entries)
    tail = cd + end_records(len(entries), cd_ofs, len(cd))
    total = cd_ofs + len(tail)
    starts = [e.offset for e in entries]
    first_storage = next((e for e in entries if e.data is None), None)
    head_len = first_storage.offset + len(first_storage.header()) if first_storage else cd_ofs

    def read(a: int, b: int) -> bytes:
        parts = []
        k = max(bisect.bisect_right(starts, a) - 1, 0)
        while k < len(entries) and starts[k] < b:
            e = entries[k]
            hi = starts[k + 1] if k + 1 < len(entries) else cd_ofs
            if a < hi:
                parts.append(e.read(max(a - e.offset, 0), min(b, hi) - e.offset))
            k += 1
        if b > cd_ofs:
            parts.append(tail[max(a - cd_ofs, 0):b - cd_ofs])
        return b"".join(parts)

    return TorchFile(total, "zip", head_len, cd_ofs, _read=read, **common)


def torch_save_bytes(tensors: Any, *, legacy: bool = False, prefix: str = "archive",
                     shared: Mapping[str, str] | None = None, generation: str = "2.4",
                     metadata: bool | Mapping[str, Any] = False) -> bytes:
    """The bytes `torch.save(obj, f)` writes for a small in-memory object: `tensors` is a (nested) dict of
    `name -> (dtype, shape)` (dtypes F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL) or `T`, plus plain
    values; `shared` maps a tensor's dotted path to the tensor whose storage it views (tied weights)."""
    if shared:
        tensors = _with_shares(tensors, "", shared)
    return plan(tensors, legacy=legacy, prefix=prefix, generation=generation, metadata=metadata).to_bytes()


def _with_shares(obj: Any, path: str, shared: Mapping[str, str]) -> Any:
    if _is_leaf(obj):
        t = obj if isinstance(obj, T) else T(obj[0], tuple(obj[1]))
        return T(t.dtype, t.shape, shared[path], t.offset) if path in shared else t
    if isinstance(obj, Mapping):
        kids = [(k, _with_shares(v, f"{path}.{k}" if path else str(k), shared)) for k, v in obj.items()]
        return OrderedDict(kids) if isinstance(obj, OrderedDict) else dict(kids)
    return obj
