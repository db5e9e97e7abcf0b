"""The pickle half of `torch.save`: the exact opcode stream torch's pickler writes for a state dict.

torch pickles with the standard library's pickler (protocol 2) and a `persistent_id` hook, so this
module drives `pickle._Pickler` (the pure-Python one: same bytes as the C one at protocol 2) with
stand-in objects that pickle as torch's globals without importing torch:
`torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, OrderedDict())`,
storages as BINPERSID `('storage', torch.FloatStorage, key, 'cpu', numel)` (legacy: `, None` view),
`collections.OrderedDict` state dicts carrying `_metadata` through BUILD.
"""

from __future__ import annotations

import io
import math
import pickle
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

# safetensors dtype -> (torch storage class, element size)
STORAGES: dict[str, tuple[str, int]] = {
    "F32": ("FloatStorage", 4), "F16": ("HalfStorage", 2), "BF16": ("BFloat16Storage", 2),
    "F64": ("DoubleStorage", 8), "I64": ("LongStorage", 8), "I32": ("IntStorage", 4),
    "I16": ("ShortStorage", 2), "I8": ("CharStorage", 1), "U8": ("ByteStorage", 1), "BOOL": ("BoolStorage", 1),
}
MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
SYS_INFO = {"protocol_version": PROTOCOL_VERSION, "little_endian": True,
            "type_sizes": {"short": 2, "int": 4, "long": 4}}


class Global:
    """Pickles as `GLOBAL module\\nname` (memoized like a real class); calling it is refused."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args: Any) -> Any:  # save_reduce requires a callable; nothing ever runs it
        raise TypeError(f"{self.module}.{self.name} is a stand-in")


REBUILD_V2 = Global("torch._utils", "_rebuild_tensor_v2")
_STORAGE_GLOBALS = {d: Global("torch", cls) for d, (cls, _) in STORAGES.items()}


@dataclass(eq=False)
class Storage:
    """One storage: key (zip record name / legacy id), dtype, elements."""

    key: str
    dtype: str
    numel: int

    @property
    def nbytes(self) -> int:
        return self.numel * STORAGES[self.dtype][1]


@dataclass(eq=False)
class TensorRef:
    """A tensor view of a storage (contiguous strides unless given)."""

    storage: Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...] | None = None

    def __reduce_ex__(self, proto: int) -> tuple[Any, ...]:
        stride = self.stride if self.stride is not None else contiguous(self.shape)
        return (REBUILD_V2, (self.storage, self.offset, tuple(self.shape), tuple(stride), False, OrderedDict()))


def contiguous(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Row-major strides of a shape."""
    out, acc = [], 1
    for n in reversed(shape):
        out.append(acc)
        acc *= n
    return tuple(reversed(out))


class _TorchPickler(pickle._Pickler):  # type: ignore[name-defined, misc]
    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def __init__(self, f: io.BytesIO, legacy: bool, location: str) -> None:
        super().__init__(f, protocol=2)
        self.legacy, self.location = legacy, location

    def save_fake_global(self, obj: Global) -> None:
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)

    dispatch[Global] = save_fake_global

    def persistent_id(self, obj: Any) -> tuple[Any, ...] | None:
        if isinstance(obj, Storage):
            pid = ("storage", _STORAGE_GLOBALS[obj.dtype], obj.key, self.location, obj.numel)
            return (*pid, None) if self.legacy else pid
        return None


def dumps(obj: Any, legacy: bool = False, location: str = "cpu") -> bytes:
    """Pickle `obj` (plain containers, `TensorRef`s) exactly as torch.save's pickler would
    (`location`: the device tag torch stores per storage, 'cpu', 'cuda:0', 'mps')."""
    buf = io.BytesIO()
    _TorchPickler(buf, legacy, location).dump(obj)
    return buf.getvalue()


def plain_dumps(obj: Any) -> bytes:
    """A plain protocol-2 pickle (legacy magic number, protocol, sys_info, key list)."""
    buf = io.BytesIO()
    pickle._Pickler(buf, protocol=2).dump(obj)  # type: ignore[attr-defined]
    return buf.getvalue()


def module_metadata(names: list[str]) -> OrderedDict:
    """The `_metadata` torch's `state_dict()` attaches: every module prefix (root '' first) -> {'version': 1}."""
    meta: OrderedDict = OrderedDict()
    meta[""] = {"version": 1}
    for name in names:
        parts = name.split(".")[:-1]
        for k in range(1, len(parts) + 1):
            p = ".".join(parts[:k])
            if p not in meta:
                meta[p] = {"version": 1}
    return meta


def numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape)
