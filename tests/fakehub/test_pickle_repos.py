"""Pickle weights through fakehub's HTTP: synthetic `.bin` range reads and the hostile pickle repos' bytes.

Pickles are only walked with `pickletools.genops` (or counted byte by byte); nothing is ever unpickled."""

from __future__ import annotations

import io
import itertools
import os
import pickletools
import struct
import zipfile
import zlib
from collections.abc import Iterator

import pytest
from hubcensus.fakehub.crc_zeros import crc32_zeros
from hubcensus.fakehub.hostile_pickle import SENTINEL
from huggingface_hub import get_session

from hubcensus import fakehub

ORG = "fakehub-hostile-pickle"
BIN = "pytorch_model.bin"


@pytest.fixture(scope="module")
def hub() -> Iterator[fakehub.RunningHub]:
    with fakehub.start(fakehub.FakeHubConfig(synthetic=300, seed=1, hostile_pickle=True)) as h:
        yield h


def fetch(hub: fakehub.RunningHub, repo: str, path: str, rng: str | None = None) -> tuple[bytes, int]:
    """(body, total size) of a file through /resolve/: LFS files 302 to the CDN, which answers the range
    with 206 and Content-Range `bytes a-b/TOTAL`; small files answer 200 at resolve."""
    s = get_session()
    r = s.get(f"{hub.url}/{repo}/resolve/main/{path}", follow_redirects=False)
    if r.status_code == 200:
        return r.content, int(r.headers["Content-Length"])
    assert r.status_code == 302 and r.headers["Location"].startswith(hub.cdn_url)
    total = int(r.headers["X-Linked-Size"])
    r = s.get(r.headers["Location"], headers={"Range": f"bytes={rng or '0-'}"})
    assert r.status_code == 206
    a, b = (int(x) for x in r.headers["Content-Range"].removeprefix("bytes ").split("/")[0].split("-"))
    assert r.headers["Content-Range"].endswith(f"/{total}") and len(r.content) == b - a + 1
    return r.content, total


def whole(hub: fakehub.RunningHub, name: str) -> bytes:
    body, total = fetch(hub, f"{ORG}/{name}", BIN)
    assert len(body) == total == hub.catalog.truth(f"{ORG}/{name}")["pickle_files"][BIN]["size"]
    return body


def data_pkl_start(head: bytes) -> int:
    """Offset of the first zip entry's data (data.pkl): after the local header's name and extra."""
    assert head[:4] == b"PK\x03\x04"
    n_len, x_len = struct.unpack("<HH", head[26:30])
    assert head[30:30 + n_len].endswith(b"/data.pkl")
    return 30 + n_len + x_len


def op_args(pkl: bytes) -> list[tuple[str, object]]:
    return [(op.name, arg) for op, arg, _ in pickletools.genops(pkl)]


def test_synthetic_bin_range_reads_return_the_writers_bytes(hub: fakehub.RunningHub) -> None:
    cat = hub.catalog
    model = next(i for i in cat.ids() if cat.truth(i)["weight_format"] == "pickle"
                 and 500_000_000 < cat.truth(i)["pickle_files"].get(BIN, {}).get("size", 0) < 2**32)
    truth = cat.truth(model)["pickle_files"][BIN]
    writer = cat.lookup(model).repo.files[BIN]
    head, total = fetch(hub, model, BIN, "0-65535")
    assert total == truth["size"] == writer.size and len(head) == 65_536
    assert head == writer.read(0, 65_536)
    # data.pkl is first and whole in the first 64 KiB: one persistent id per tensor, then STOP
    ops = op_args(head[data_pkl_start(head):])
    assert ops[-1][0] == "STOP"
    assert sum(name == "BINPERSID" for name, _ in ops) == truth["tensors"]
    # a range in the middle (storage zeros) and the suffix: the end of central directory record, exact offsets
    mid, _ = fetch(hub, model, BIN, f"{total // 2}-{total // 2 + 4095}")
    assert mid == writer.read(total // 2, total // 2 + 4096)
    tail, _ = fetch(hub, model, BIN, "-22")
    assert tail[:4] == b"PK\x05\x06" and tail == writer.read(total - 22, total)
    cd_size, cd_ofs = struct.unpack("<II", tail[12:20])
    assert cd_ofs + cd_size + 56 + 20 + 22 == total  # central directory, ZIP64 end record + locator, end record


def test_hostile_pickle_repos_and_truth(hub: fakehub.RunningHub) -> None:
    names = sorted(i.removeprefix(f"{ORG}/") for i in hub.catalog.hostile_pickle_ids)
    assert names == ["cut-short", "cut-short-legacy", "deflate-bomb", "lfs-pointer", "nested-lists",
                     "posix-system", "random-bytes", "storage-past-end", "storage-past-end-legacy"]
    listed = set(hub.catalog.ids())
    for name in names:
        t = hub.catalog.truth(f"{ORG}/{name}")
        assert f"{ORG}/{name}" in listed and t["hostile"] and t["weight_format"] == "pickle"
        assert t["hostile_expect"] == ("flagged" if name == "posix-system" else "unreadable")
        assert t["hub_safetensors"] is None and t["files"] == {}
    flagged = hub.catalog.truth(f"{ORG}/posix-system")
    assert flagged["unsafe_globals"] == ["posix.system"]
    assert flagged["parameters_by_dtype"] == {"F32": 105_472} == flagged["pickle_files"][BIN]["parameters_by_dtype"]
    assert flagged["pickle_files"][BIN]["tensors"] == 18


def test_posix_system_payload_beside_a_real_state_dict(hub: fakehub.RunningHub) -> None:
    data = whole(hub, "posix-system")
    pkl = zipfile.ZipFile(io.BytesIO(data)).read("pytorch_model/data.pkl")
    ops = op_args(pkl)
    k = ops.index(("GLOBAL", "posix system"))
    assert ops[k + 2] == ("BINUNICODE", f"touch {SENTINEL}") and ops[k + 6] == ("REDUCE", None)
    assert sum(name == "BINPERSID" for name, _ in ops) == 18
    assert {a for n, a in ops if n == "GLOBAL"} == {"collections OrderedDict", "posix system",
                                                    "torch._utils _rebuild_tensor_v2", "torch FloatStorage"}
    assert not os.path.exists(SENTINEL)


def test_deflate_bomb_is_small_on_the_wire_and_inflates_past_a_gigabyte(hub: fakehub.RunningHub) -> None:
    data = whole(hub, "deflate-bomb")
    assert len(data) < 3_000_000
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo("archive/data.pkl")  # the directory only: nothing inflated
    assert (info.compress_type, info.file_size, info.CRC) == (8, 2**31, crc32_zeros(2**31))
    start = data_pkl_start(data)
    assert struct.unpack("<H", data[8:10])[0] == 8  # the local header says deflated too
    stream = data[start:start + info.compress_size]
    # a bounded read: 16 MiB of zeros out, input left over, not at the end of the stream
    d = zlib.decompressobj(-15)
    out = d.decompress(stream, 16 << 20)
    assert out == bytes(16 << 20) and d.unconsumed_tail and not d.eof
    # the stream is one deflate block repeated n times + a final empty block: find the period, then
    # inflate 3 copies + the end (bounded) to see each copy is exactly 1 MiB, so the whole is n MiB
    period = stream.find(stream[:64], 1)
    n = len(stream) // period
    end = stream[n * period:]
    assert stream[:n * period] == stream[:period] * n and len(end) < 16
    d = zlib.decompressobj(-15)
    got = d.decompress(stream[:period] * 3 + end, 8 << 20)
    assert d.eof and got == bytes(3 << 20)
    assert n * (1 << 20) == info.file_size > 10**9


def test_nested_lists_cut_short_and_storage_claims(hub: fakehub.RunningHub) -> None:
    pkl = zipfile.ZipFile(io.BytesIO(whole(hub, "nested-lists"))).read("pytorch_model/data.pkl")
    n = 1_000_000  # PROTO 2, EMPTY_LIST, (MARK EMPTY_LIST) x n-1, APPENDS x n-1, STOP: no arguments anywhere
    assert pkl == b"\x80\x02]" + b"(]" * (n - 1) + b"e" * (n - 1) + b"."
    first = [op.name for op, _, _ in itertools.islice(pickletools.genops(pkl), 5)]
    assert first == ["PROTO", "EMPTY_LIST", "MARK", "EMPTY_LIST", "MARK"]

    cut = whole(hub, "cut-short")
    assert b"PK\x05\x06" not in cut and b"PK\x01\x02" not in cut  # no central directory
    with pytest.raises(ValueError, match=r"exhausted before seeing STOP|but only \d+ remain"):
        list(pickletools.genops(cut[data_pkl_start(cut):]))
    legacy = io.BytesIO(whole(hub, "cut-short-legacy"))
    magic = [list(pickletools.genops(legacy)) for _ in range(3)]
    assert magic[0][1][1] == 0x1950A86A20F9469CFC6C and magic[1][1][1] == 1001
    with pytest.raises(ValueError, match=r"exhausted before seeing STOP|but only \d+ remain"):
        list(pickletools.genops(legacy))

    for name in ("storage-past-end", "storage-past-end-legacy"):
        data = whole(hub, name)
        if name.endswith("legacy"):
            g = io.BytesIO(data)
            for _ in range(3):
                list(pickletools.genops(g))
            start = g.tell()
            list(pickletools.genops(g))
            pkl = data[start:g.tell()]
        else:
            z = zipfile.ZipFile(io.BytesIO(data))
            pkl = z.read("pytorch_model/data.pkl")
            assert z.getinfo("pytorch_model/data/0").file_size == 256_000
        ints = [a for n_, a in op_args(pkl) if n_ == "LONG1"]
        assert ints == [2**40] and len(data) < 4 * 2**40  # one storage claims 4 TiB of F32


def test_lfs_pointer_and_random_bytes(hub: fakehub.RunningHub) -> None:
    s = get_session()
    r = s.get(f"{hub.url}/{ORG}/lfs-pointer/resolve/main/{BIN}", follow_redirects=False)
    assert r.status_code == 200  # a regular git file: served at resolve, no CDN hop
    lines = r.content.decode().splitlines()
    assert lines[0] == "version https://git-lfs.github.com/spec/v1" and lines[2] == "size 438007808"
    assert lines[1].startswith("oid sha256:") and len(lines[1]) == 75 and len(r.content) == 134
    noise = whole(hub, "random-bytes")
    assert len(noise) == 1 << 20 and noise[:2] not in (b"PK", b"\x80\x02")
    assert len(zlib.compress(noise)) > len(noise)  # incompressible
