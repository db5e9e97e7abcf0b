"""What torch's rebuild functions and storages mean, as plain records (pure; nothing imported or run).

`on_persid` turns a persistent id `('storage', torch.XStorage, key, location, numel[, view])` into a
`StorageRec`; `on_call` turns `torch._utils._rebuild_tensor_v2(...)` and friends into `TensorRec`s and
the plain containers (`collections.OrderedDict`, `builtins.set`, `torch.Size`...) into plain values.
Every other call stays a `Call` record. `SAFE_GLOBALS` is the set of names that may appear in a weights
file without a flag: torch's tensor, storage, dtype and rebuild names and plain containers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hubcensus.crawler.formats.pickle_walk import Call, Global, PDict, PickleError, PList

# storage class -> (dtype spelling, bytes per element)
STORAGE_DTYPES: dict[str, tuple[str, int]] = {
    "FloatStorage": ("F32", 4),
    "HalfStorage": ("F16", 2),
    "BFloat16Storage": ("BF16", 2),
    "DoubleStorage": ("F64", 8),
    "LongStorage": ("I64", 8),
    "IntStorage": ("I32", 4),
    "ShortStorage": ("I16", 2),
    "CharStorage": ("I8", 1),
    "ByteStorage": ("U8", 1),
    "BoolStorage": ("BOOL", 1),
    "ComplexFloatStorage": ("C64", 8),
    "ComplexDoubleStorage": ("C128", 16),
    "QInt8Storage": ("I8", 1),
    "QUInt8Storage": ("U8", 1),
    "QInt32Storage": ("I32", 4),
    "QUInt4x2Storage": ("QUINT4X2", 1),
    "QUInt2x4Storage": ("QUINT2X4", 1),
    "UntypedStorage": ("U8", 1),
}
# torch dtype name (as pickled: `torch float16`) -> (dtype spelling, bytes per element)
TORCH_DTYPES: dict[str, tuple[str, int]] = {
    "float32": ("F32", 4), "float": ("F32", 4), "float16": ("F16", 2), "half": ("F16", 2),
    "bfloat16": ("BF16", 2), "float64": ("F64", 8), "double": ("F64", 8),
    "int64": ("I64", 8), "long": ("I64", 8), "int32": ("I32", 4), "int": ("I32", 4),
    "int16": ("I16", 2), "short": ("I16", 2), "int8": ("I8", 1), "uint8": ("U8", 1), "bool": ("BOOL", 1),
    "uint16": ("U16", 2), "uint32": ("U32", 4), "uint64": ("U64", 8),
    "float8_e4m3fn": ("F8_E4M3", 1), "float8_e5m2": ("F8_E5M2", 1), "float8_e4m3fnuz": ("F8_E4M3FNUZ", 1),
    "float8_e5m2fnuz": ("F8_E5M2FNUZ", 1), "float8_e8m0fnu": ("F8_E8M0", 1),
    "float4_e2m1fn_x2": ("F4_X2", 1), "complex64": ("C64", 8), "cfloat": ("C64", 8),
    "complex128": ("C128", 16), "cdouble": ("C128", 16), "complex32": ("C32", 4), "chalf": ("C32", 4),
    "qint8": ("I8", 1), "quint8": ("U8", 1), "qint32": ("I32", 4),
    "bits8": ("BITS8", 1), "bits16": ("BITS16", 2), "bits1x8": ("BITS1X8", 1), "bits2x4": ("BITS2X4", 1),
    "bits4x2": ("BITS4X2", 1),
}  # fmt: skip
_TENSOR_FUNCS = {
    "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
    "torch._utils._rebuild_qtensor", "torch._utils._rebuild_meta_tensor_no_storage",
    "torch._tensor._rebuild_from_type_v2", "torch._utils._rebuild_from_type_v2",
    "torch._utils._rebuild_from_type",
}  # fmt: skip
_OTHER_TORCH = {
    "torch._utils._rebuild_sparse_tensor", "torch._utils._rebuild_nested_tensor",
    "torch._utils._rebuild_device_tensor_from_numpy", "torch._utils._rebuild_wrapper_subclass",
    "torch.Size", "torch.device", "torch.Tensor", "torch.nn.parameter.Parameter",
    "torch.serialization._get_layout", "torch.strided", "torch.sparse_coo", "torch.per_tensor_affine",
    "torch.per_channel_affine", "torch.per_tensor_symmetric", "torch.per_channel_symmetric",
    "torch.per_channel_affine_float_qparams", "torch.contiguous_format", "torch.channels_last",
    "torch.preserve_format", "torch.storage.UntypedStorage",
}  # fmt: skip
_CONTAINERS = {
    "collections.OrderedDict", "builtins.dict", "builtins.list", "builtins.set", "builtins.frozenset",
    "builtins.tuple", "builtins.bytearray", "builtins.bytes", "builtins.slice", "builtins.complex",
    "builtins.int", "builtins.float", "builtins.str", "builtins.bool", "__builtin__.set",
    "__builtin__.frozenset", "__builtin__.dict", "__builtin__.list", "__builtin__.bytearray",
    "_codecs.encode", "collections.defaultdict",
}  # fmt: skip
SAFE_GLOBALS = frozenset(
    _TENSOR_FUNCS | _OTHER_TORCH | _CONTAINERS | {f"torch.{s}" for s in STORAGE_DTYPES}
    | {f"torch.{d}" for d in TORCH_DTYPES}
)  # fmt: skip
_MAX_DIM = 2**63 - 1


@dataclass(frozen=True)
class StorageRec:
    """One storage a pickle refers to: its record key (`data/<key>` or a legacy key), dtype and size."""

    key: str
    dtype: str
    itemsize: int
    numel: int
    location: str
    view_offset: int = 0
    """Legacy storage views: the element offset of the view inside storage `key`."""

    @property
    def nbytes(self) -> int:
        return self.numel * self.itemsize


@dataclass(eq=False)
class TensorRec:
    """One tensor as torch would rebuild it (never built): storage, element offset, size, stride, dtype."""

    storage: StorageRec | None
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: str
    itemsize: int

    @property
    def numel(self) -> int:
        return math.prod(self.size)

    def span(self) -> tuple[int, int]:
        """Byte range [start, end) of its storage that the tensor's elements reach (empty for 0 elements)."""
        if self.storage is None or self.numel == 0:
            return 0, 0
        last = sum((n - 1) * st for n, st in zip(self.size, self.stride, strict=True))
        start = (self.storage.view_offset + self.offset) * self.itemsize
        return start, start + (last + 1) * self.itemsize


def on_persid(pid: Any) -> StorageRec:
    """A persistent id as torch.save writes it; anything else is an error."""
    if not isinstance(pid, tuple) or len(pid) not in (5, 6) or pid[0] != "storage":
        raise PickleError(f"persistent id is not a torch storage: {_short(pid)}")
    cls, key, location, numel = pid[1:5]
    if not isinstance(cls, Global) or cls.module not in ("torch", "torch.storage"):
        raise PickleError(f"storage class is not torch's: {_short(cls)}")
    if cls.name not in STORAGE_DTYPES:
        raise PickleError(f"unknown storage class torch.{cls.name}")
    if not isinstance(key, str | int) or not _count(numel):
        raise PickleError(f"malformed storage id {_short(pid)}")
    dtype, itemsize = STORAGE_DTYPES[cls.name]
    view = pid[5] if len(pid) == 6 else None
    if view is not None:  # legacy storage view: (view_key, offset, view_size)
        if not (isinstance(view, tuple) and len(view) == 3 and _count(view[1]) and _count(view[2])):
            raise PickleError(f"malformed storage view {_short(view)}")
        if view[1] + view[2] > numel:
            raise PickleError(f"storage view {_short(view)} runs past its storage of {numel:,}")
        return StorageRec(str(key), dtype, itemsize, numel, str(location), view_offset=view[1])
    return StorageRec(str(key), dtype, itemsize, numel, str(location))


def on_call(func: Global, args: Any) -> Any:
    """The value a call of `func` stands for: a tensor record, a plain container or a `Call` record."""
    name = func.dotted
    if name in _TENSOR_FUNCS:
        return _tensor(name, args)
    if name in ("collections.OrderedDict", "builtins.dict", "__builtin__.dict", "collections.defaultdict"):
        return PDict()
    if name in ("builtins.set", "builtins.frozenset", "__builtin__.set", "__builtin__.frozenset"):
        return PList(args[0]) if isinstance(args, tuple) and args and isinstance(args[0], list) else PList()
    if name == "torch.Size" and isinstance(args, tuple) and args and isinstance(args[0], tuple | list):
        return tuple(args[0])
    if name == "_codecs.encode" and isinstance(args, tuple) and args and isinstance(args[0], str):
        return args[0].encode("latin-1", "replace")
    return Call(func, args)


def _tensor(name: str, args: Any) -> Any:
    if not isinstance(args, tuple):
        raise PickleError(f"{name} called with {_short(args)}")
    short = name.rsplit(".", 1)[1]
    if short in ("_rebuild_parameter", "_rebuild_parameter_with_state"):
        return (
            args[0] if args and isinstance(args[0], TensorRec) else Call(Global(*name.rsplit(".", 1)), args)
        )
    if short in ("_rebuild_from_type_v2", "_rebuild_from_type"):
        if len(args) >= 3 and isinstance(args[0], Global) and isinstance(args[2], tuple):
            return on_call(args[0], args[2])
        raise PickleError(f"{name} called with {_short(args)}")
    if short == "_rebuild_meta_tensor_no_storage":
        if len(args) < 3 or not isinstance(args[0], Global) or args[0].name not in TORCH_DTYPES:
            raise PickleError(f"{name} called with {_short(args)}")
        dtype, itemsize = TORCH_DTYPES[args[0].name]
        return TensorRec(None, 0, _dims(args[1], name), _dims(args[2], name, stride=True), dtype, itemsize)
    if len(args) < 4 or not isinstance(args[0], StorageRec):
        raise PickleError(f"{name} called without a storage: {_short(args)}")
    storage = args[0]
    dtype, itemsize = storage.dtype, storage.itemsize
    if short == "_rebuild_tensor_v3":
        if len(args) < 7 or not isinstance(args[6], Global) or args[6].name not in TORCH_DTYPES:
            raise PickleError(f"{name} without a known dtype: {_short(args[6:7])}")
        dtype, itemsize = TORCH_DTYPES[args[6].name]
        if storage.itemsize != 1:
            raise PickleError(f"{name} on a typed storage {storage.dtype}")
    if not _count(args[1]):
        raise PickleError(f"{name}: storage offset {_short(args[1])} is not a count")
    t = TensorRec(storage, args[1], _dims(args[2], name), _dims(args[3], name, stride=True), dtype, itemsize)
    if len(t.size) != len(t.stride):
        raise PickleError(f"{name}: size {t.size} and stride {t.stride} differ in length")
    if short == "_rebuild_tensor_v3" and storage.view_offset:
        raise PickleError(f"{name} on a storage view")
    start, end = t.span()
    if end > storage.nbytes + storage.view_offset * storage.itemsize or start < 0:
        raise PickleError(
            f"tensor of size {list(t.size)} at offset {t.offset:,} reaches byte {end:,} of a "
            f"{storage.nbytes:,}-byte storage"
        )
    return t


def _dims(value: Any, name: str, *, stride: bool = False) -> tuple[int, ...]:
    if not isinstance(value, tuple | list) or len(value) > 64:
        raise PickleError(f"{name}: {'stride' if stride else 'size'} {_short(value)} is not a tuple")
    for x in value:
        if type(x) is not int or not 0 <= x <= _MAX_DIM:
            raise PickleError(f"{name}: {'stride' if stride else 'size'} {_short(value)} is not integers")
    if not stride and math.prod(value) > _MAX_DIM:
        raise PickleError(f"{name}: size {_short(value)} has too many elements")
    return tuple(value)


def _count(x: Any) -> bool:
    return type(x) is int and 0 <= x <= _MAX_DIM


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
