"""fakehub.torch_write: real torch.save bytes without torch, compared with real files written by torch."""

from __future__ import annotations

import io
import pickletools
import struct
import zipfile
import zlib
from collections import OrderedDict
from pathlib import Path

import pytest
from hubcensus.fakehub.crc_zeros import crc32_zeros
from hubcensus.fakehub.torch_pickle import STORAGES
from hubcensus.fakehub.torch_write import T, plan, torch_save_bytes

PICKLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "pickle"
CLASS_DTYPE = {cls: d for d, (cls, _) in STORAGES.items()}


def fixture(rel: str) -> bytes:
    p = PICKLE / rel
    if not p.exists():
        pytest.skip(f"{p} absent (../shared/fixtures/pickle is written by others)")
    return p.read_bytes()


ALLOWED = {"collections OrderedDict", "torch._utils _rebuild_tensor_v2"} | {f"torch {c}" for c in CLASS_DTYPE}
PUSH_ARG = {"BINUNICODE", "SHORT_BINUNICODE", "BININT", "BININT1", "BININT2", "LONG1", "BINFLOAT", "BINBYTES",
            "SHORT_BINBYTES"}


class Refused(Exception):
    """The pickle names a global or opcode beyond plain tensors and containers."""


def _apply(func: tuple[str, str], args: tuple):
    """What a REDUCE of an allowed global stands for, as plain data (nothing named is imported or called)."""
    if func[1] == "collections OrderedDict":
        return OrderedDict()
    storage, off, size = args[:3]  # torch._utils _rebuild_tensor_v2(storage, offset, size, stride, ...)
    return (storage, off, tuple(size))


def walk(pkl: bytes):
    """The object a torch data.pkl describes, built from `pickletools.genops` with a stack of plain values:
    tensors as ((dtype, key, numel), offset, shape); never unpickled."""
    stack: list = []
    marks: list[int] = []
    memo: dict = {}

    def since_mark() -> list:
        m = marks.pop()
        items = stack[m:]
        del stack[m:]
        return items

    for op, arg, _ in pickletools.genops(pkl):
        n = op.name
        if n == "GLOBAL":
            if arg not in ALLOWED:
                raise Refused(arg)
            stack.append(("global", arg))
        elif n in PUSH_ARG:
            stack.append(arg)
        elif n in ("BINPUT", "LONG_BINPUT"):
            memo[arg] = stack[-1]
        elif n in ("BINGET", "LONG_BINGET"):
            stack.append(memo[arg])
        elif n == "MARK":
            marks.append(len(stack))
        elif n in ("EMPTY_DICT", "EMPTY_LIST", "EMPTY_TUPLE", "NONE", "NEWTRUE", "NEWFALSE"):
            stack.append({"EMPTY_DICT": {}, "EMPTY_LIST": [], "EMPTY_TUPLE": (), "NONE": None, "NEWTRUE": True,
                          "NEWFALSE": False}[n])
        elif n in ("TUPLE1", "TUPLE2", "TUPLE3"):
            k = int(n[-1])
            items = tuple(stack[-k:])
            del stack[-k:]
            stack.append(items)
        elif n == "TUPLE":
            stack.append(tuple(since_mark()))
        elif n == "BINPERSID":  # ('storage', torch.XStorage, key, location, numel)
            pid = stack.pop()
            stack.append((CLASS_DTYPE[pid[1][1].split()[1]], pid[2], pid[4]))
        elif n == "REDUCE":
            args = stack.pop()
            stack.append(_apply(stack.pop(), args))
        elif n == "SETITEM":
            v = stack.pop()
            k = stack.pop()
            stack[-1][k] = v
        elif n == "SETITEMS":
            items = since_mark()
            stack[-1].update(zip(items[::2], items[1::2], strict=True))
        elif n == "APPENDS":
            stack[-1].extend(since_mark())
        elif n == "BUILD":  # an OrderedDict's attributes: `_metadata`
            for k, v in stack.pop().items():
                setattr(stack[-1], k, v)
        elif n == "STOP":
            return stack.pop()
        elif n != "PROTO":
            raise Refused(n)
    raise Refused("no STOP")


def spec_of(pkl: bytes):
    """(spec for plan, metadata or None) of a real data.pkl; shares resolved by storage key."""
    obj = walk(pkl)
    first: dict[str, str] = {}

    def conv(v, path):
        if isinstance(v, tuple) and len(v) == 3 and isinstance(v[0], tuple):
            (dtype, key, _), off, shape = v
            share = first.setdefault(key, path)
            return T(dtype, shape, None if share == path else share, off)
        if isinstance(v, dict):
            kids = [(k, conv(x, f"{path}.{k}" if path else k)) for k, x in v.items()]
            return OrderedDict(kids) if isinstance(v, OrderedDict) else dict(kids)
        return v

    return conv(obj, ""), getattr(obj, "_metadata", None)


def ops(pkl: bytes) -> list[str]:
    return [op.name for op, _, _ in pickletools.genops(pkl)]


@pytest.mark.parametrize("name", ["float32", "float16", "bfloat16", "int8", "uint8", "empty", "state_dict",
                                  "nested_dict", "checkpoint"])
def test_zip_rebuilds_burn_fixtures_byte_for_byte(name: str) -> None:
    real = fixture(f"burn/{name}.pt")
    zr = zipfile.ZipFile(io.BytesIO(real))
    pkl = zr.read(f"{name}/data.pkl")
    try:
        spec, meta = spec_of(pkl)
    except Refused:
        pytest.skip(f"{name}.pt names globals beyond plain tensors")
    f = plan(spec, prefix=name, metadata=meta or False)
    ours = f.to_bytes()
    assert len(ours) == len(real) == f.size
    zo = zipfile.ZipFile(io.BytesIO(ours))
    assert zo.namelist() == zr.namelist()
    assert zo.read(f"{name}/data.pkl") == pkl
    for a, b in zip(zo.infolist(), zr.infolist(), strict=True):
        assert (a.header_offset, a.file_size, a.flag_bits, a.compress_type) == (
            b.header_offset, b.file_size, b.flag_bits, b.compress_type)
        got = zo.read(a.filename)  # zipfile checks each CRC
        if "/data/" in a.filename:
            assert got == bytes(a.file_size)
        elif "serialization_id" in a.filename:
            assert got.isdigit() and len(got) == 40
        else:
            assert got == zr.read(b.filename)
    # everything but storage bytes, their CRCs and the serialization id is the same byte for byte
    same = sum(x == y for x, y in zip(ours, real, strict=True))
    assert same >= len(real) - sum(i.file_size + 8 for i in zr.infolist() if "data/" in i.filename) - 60


def test_mnist_generation_21_layout_and_pickle() -> None:
    real = fixture("burn/mnist.pt")
    zr = zipfile.ZipFile(io.BytesIO(real))
    pkl = zr.read("mnist/data.pkl")
    spec, meta = spec_of(pkl)
    f = plan(spec, prefix="mnist", generation="2.1", metadata=meta or False, location="mps")  # saved on a Mac
    assert f.size == len(real) == 1_513_258
    assert (f.tensors, f.storages, f.by_dtype) == (20, 20, {"F32": 376_938, "I64": 2})
    zo = zipfile.ZipFile(io.BytesIO(f.to_bytes()))
    assert zo.namelist() == zr.namelist()
    assert [i.header_offset for i in zo.infolist()] == [i.header_offset for i in zr.infolist()]
    assert zo.read("mnist/data.pkl") == pkl


def test_legacy_rebuilds_picklescan_layout() -> None:
    real = fixture("picklescan/pytorch_model.bin")
    f = io.BytesIO(real)
    real_pickles = []
    for _ in range(5):
        start = f.tell()
        list(pickletools.genops(f))
        real_pickles.append(real[start:f.tell()])
    spec, meta = spec_of(real_pickles[3])
    ours = plan(spec, legacy=True, metadata=meta)
    assert ours.size == len(real) == 244_862  # storage keys have the same 15 digits
    assert (ours.tensors, ours.by_dtype) == (38, {"F32": 59_114})
    data = ours.to_bytes()
    g = io.BytesIO(data)
    mine = []
    for _ in range(5):
        start = g.tell()
        list(pickletools.genops(g))
        mine.append(data[start:g.tell()])
    assert mine[:3] == real_pickles[:3]  # magic number, protocol 1001, sys_info: byte for byte
    assert ops(mine[3]) == ops(real_pickles[3]) and len(mine[3]) == len(real_pickles[3])
    assert ops(mine[4]) == ops(real_pickles[4])
    # then per storage (sorted keys): int64 numel + raw bytes, ending at the file size
    end = g.tell()
    first = struct.unpack("<q", data[end:end + 8])[0]
    assert first == struct.unpack("<q", real[end:end + 8])[0] == 57_992


def test_shared_storage_counts_once_and_views_at_offsets() -> None:
    tensors = {"emb.weight": ("F16", (10, 4)), "lm_head.weight": ("F16", (10, 4)), "tail": T("F16", (5,), "emb.weight", 35)}
    f = plan({**tensors, "lm_head.weight": T("F16", (10, 4), "emb.weight")})
    assert (f.tensors, f.storages, f.by_dtype, f.tensor_elements) == (3, 1, {"F16": 40}, 85)
    z = zipfile.ZipFile(io.BytesIO(f.to_bytes()))
    assert [n for n in z.namelist() if "/data/" in n] == ["archive/data/0"]
    assert z.getinfo("archive/data/0").file_size == 80
    text = io.StringIO()
    pickletools.dis(z.read("archive/data.pkl"), out=text)
    assert text.getvalue().count("BINPERSID") == 3 and text.getvalue().count("'0'") == 1  # key once, then BINGET
    b = torch_save_bytes(tensors, shared={"lm_head.weight": "emb.weight"})
    assert len(zipfile.ZipFile(io.BytesIO(b)).namelist()) == 7


def test_huge_file_is_described_lazily_with_zip64() -> None:
    # a 14 GB state dict: 3 storages of 4.6 GB (sizes and offsets past 2^32) + a small one
    spec = {f"w{k}": ("F32", (1_150_000_000,)) for k in range(3)} | {"b": ("F32", (3,))}
    f = plan(spec, prefix="pytorch_model", metadata=True)
    assert f.size > 13_800_000_000
    head, size, tail = f.describe()
    assert size == f.size and head.startswith(b"PK\x03\x04") and tail.endswith(b"\0\0")
    assert len(head) < 4096 and len(tail) < 4096
    # the end records point at the central directory; its entries carry ZIP64 extras
    end = tail[-22:]
    assert struct.unpack("<I", end[16:20])[0] == 0xFFFFFFFF  # cd offset past 4 GiB: in the ZIP64 record
    z64 = tail[-22 - 20 - 56:-22 - 20]
    assert z64[:4] == b"PK\x06\x06" and struct.unpack("<Q", z64[48:56])[0] == f.tail_start
    # a local header deep in the file is real: data/1 starts after data/0's 4.6 GB and descriptor
    cd = io.BytesIO(tail)
    offsets = {}
    while cd.read(4) == b"PK\x01\x02":
        fields = struct.unpack("<HHHHHHIIIHHHHHII", cd.read(42))
        name = cd.read(fields[9]).decode()
        extra = cd.read(fields[10])
        ofs = fields[15]
        if ofs == 0xFFFFFFFF:
            ofs = struct.unpack("<Q", extra[-8:])[0]
        offsets[name] = (ofs, fields[8], extra)
    ofs1, usize, extra = offsets["pytorch_model/data/1"]
    assert usize == 0xFFFFFFFF and ofs1 > 2**32 and extra[:2] == b"\x01\x00"
    lh = f.read(ofs1, ofs1 + 200)
    assert lh[:4] == b"PK\x03\x04" and struct.unpack("<H", lh[6:8])[0] == 0x0808
    n_len, x_len = struct.unpack("<HH", lh[26:30])
    assert (ofs1 + 30 + n_len + x_len) % 64 == 0  # data 64-byte aligned past the ZIP64 extra
    assert lh[30 + n_len:30 + n_len + 4] == struct.pack("<HH", 1, 24)
    desc = f.read(ofs1 - 24, ofs1)  # data/0's 24-byte ZIP64 descriptor precedes it
    assert desc[:4] == b"PK\x07\x08" and struct.unpack("<IQQ", desc[4:])[1:] == (4_600_000_000,) * 2
    assert struct.unpack("<I", desc[4:8])[0] == crc32_zeros(4_600_000_000)


def test_small_zip64_file_opens_in_zipfile() -> None:
    # ZIP64 local/central extras and descriptors are exercised at 4.3 GB above; here zipfile reads the lot
    f = plan({"a": ("BF16", (3, 5)), "b": ("I64", (2,)), "c": {"d": ("BOOL", (7,))}}, prefix="x", generation="1.6")
    z = zipfile.ZipFile(io.BytesIO(f.to_bytes()))
    assert z.namelist() == ["x/data.pkl", "x/data/0", "x/data/1", "x/data/2", "x/version"]
    assert [z.getinfo(n).file_size for n in z.namelist()[1:4]] == [30, 16, 7]
    assert z.testzip() is None


def test_reads_at_any_offset_equal_the_whole() -> None:
    for legacy in (False, True):
        f = plan({f"t{k}": ("F32", (k + 1, 3)) for k in range(6)}, legacy=legacy, metadata=True)
        whole = f.to_bytes()
        assert len(whole) == f.size
        for a in range(0, f.size, 37):
            for n in (1, 9, 100, 1000):
                assert f.read(a, a + n) == whole[a:a + n]


def test_crc32_zeros_matches_zlib() -> None:
    for n in (0, 1, 65_535, 65_536, 1_000_003):
        assert crc32_zeros(n) == zlib.crc32(bytes(n))
        assert crc32_zeros(n, 0xDEADBEEF) == zlib.crc32(bytes(n), 0xDEADBEEF)
