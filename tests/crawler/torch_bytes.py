"""A tiny pickle assembler for torch.save-shaped test inputs (byte level, no torch, nothing executed).

Import as `from torch_bytes import ...` (pytest puts tests/crawler on sys.path).
"""

from __future__ import annotations

import io
import pickle
import zipfile

MARK, TUPLE, REDUCE, STOP = b"(", b"t", b"R", b"."


def glob(module: str, name: str) -> bytes:
    """GLOBAL opcode."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def text(s: str) -> bytes:
    """BINUNICODE."""
    raw = s.encode()
    return b"X" + len(raw).to_bytes(4, "little") + raw


def num(n: int) -> bytes:
    """An int (BININT or LONG1)."""
    if 0 <= n < 2**31:
        return b"J" + n.to_bytes(4, "little", signed=True)
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def tup(*items: bytes) -> bytes:
    return MARK + b"".join(items) + TUPLE


def ints(values: tuple[int, ...]) -> bytes:
    return tup(*(num(v) for v in values))


def storage(key: str, cls: str, numel: int) -> bytes:
    """A persistent id `('storage', torch.cls, key, 'cpu', numel)` + BINPERSID."""
    return tup(text("storage"), glob("torch", cls), text(key), text("cpu"), num(numel)) + b"Q"


def tensor(
    key: str,
    cls: str,
    numel: int,
    size: tuple[int, ...],
    *,
    offset: int = 0,
    stride: tuple[int, ...] | None = None,
    dtype: str | None = None,
) -> bytes:
    """`_rebuild_tensor_v2` (or `_v3` with `dtype`) on storage `key`; contiguous stride by default."""
    if stride is None:
        acc, out = 1, []
        for n in reversed(size):
            out.append(acc)
            acc *= n
        stride = tuple(reversed(out))
    args = [
        storage(key, cls, numel),
        num(offset),
        ints(size),
        ints(stride),
        b"\x89",
        glob("collections", "OrderedDict") + b")R",
    ]
    fn = "_rebuild_tensor_v2"
    if dtype is not None:
        fn = "_rebuild_tensor_v3"
        args.append(glob("torch", dtype))
    return glob("torch._utils", fn) + tup(*args) + REDUCE


def dict_of(*pairs: tuple[str, bytes]) -> bytes:
    """An EMPTY_DICT filled by SETITEMS."""
    return b"}" + MARK + b"".join(text(k) + v for k, v in pairs) + b"u"


def pickle_of(body: bytes) -> bytes:
    return b"\x80\x02" + body + STOP


def zip_checkpoint(
    data_pkl: bytes,
    storages: dict[str, bytes],
    *,
    prefix: str = "archive",
    first: list[tuple[str, bytes]] | None = None,
    method: int = zipfile.ZIP_STORED,
) -> bytes:
    """A torch-like zip: optional entries before `data.pkl`, then data/<key> records and `version`."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, body in first or []:
            z.writestr(f"{prefix}/{name}", body, compress_type=zipfile.ZIP_STORED)
        z.writestr(f"{prefix}/data.pkl", data_pkl, compress_type=method)
        for key, body in storages.items():
            z.writestr(f"{prefix}/data/{key}", body, compress_type=zipfile.ZIP_STORED)
        z.writestr(f"{prefix}/version", b"3\n", compress_type=zipfile.ZIP_STORED)
    return buf.getvalue()


def legacy_checkpoint(main: bytes, storages: dict[str, tuple[int, bytes]]) -> bytes:
    """The pre-1.6 layout: magic, protocol, sys_info, `main`, sorted keys, then per storage numel + bytes."""
    keys = sorted(storages)
    head = (
        pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
        + pickle.dumps(1001, protocol=2)
        + pickle.dumps({"protocol_version": 1001, "little_endian": True, "type_sizes": {}}, protocol=2)
        + main
        + pickle.dumps(keys, protocol=2)
    )
    return head + b"".join(storages[k][0].to_bytes(8, "little") + storages[k][1] for k in keys)
