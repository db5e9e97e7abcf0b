"""Hostile pickle repos (`--hostile-pickle`; ids under `fakehub-hostile-pickle/`): `pytorch_model.bin` files
that name code to run, inflate to gigabytes, nest a million lists, stop mid-pickle, claim storages past the
file's end, are a Git LFS pointer committed as the weights, or are random bytes.

Every file but `posix-system` is unreadable (truth `hostile_expect` "unreadable": one fetch_errors row);
`posix-system` is a real state dict whose pickle also calls `posix.system` (readable, flagged with
`unsafe_globals`). Nothing here ever unpickles anything.
"""

from __future__ import annotations

import hashlib
import json
import random
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from hubcensus.fakehub.crc_zeros import crc32_zeros
from hubcensus.fakehub.hostile import static_repo
from hubcensus.fakehub.ondisk import static_truth
from hubcensus.fakehub.pickle_repos import file_truth
from hubcensus.fakehub.repo import Repo, RepoFile, bytes_reader, lfs_file, lfs_pointer, parse_iso, small_file
from hubcensus.fakehub.torch_pickle import (
    MAGIC_NUMBER,
    PROTOCOL_VERSION,
    SYS_INFO,
    Global,
    numel,
    plain_dumps,
)
from hubcensus.fakehub.torch_write import T, TorchFile, _zip, plan

ORG = "fakehub-hostile-pickle"
WEIGHTS = "pytorch_model.bin"
SENTINEL = "/tmp/hubcensus-pickle-payload-ran"  # the posix-system payload would create it; it must never exist
PAYLOAD = f"touch {SENTINEL}"
BOMB_SIZE = 1 << 31  # the deflated data.pkl inflates to 2 GiB of zeros
BOMB_CHUNK = 1 << 20  # ... made of full-flushed 1 MiB blocks (each ~1 KB deflated, all identical)
NESTED = 1_000_000
CLAIM = 1 << 40  # elements the storage-past-end pickle claims for one storage (4 TiB of F32)
CLAIMED = "bert.embeddings.word_embeddings.weight"
CONFIG = {"architectures": ["BertForMaskedLM"], "model_type": "bert"}


def state() -> dict[str, T]:
    """A small BERT-shaped state dict (F32)."""
    out = {CLAIMED: T("F32", (1000, 64)), "bert.embeddings.position_embeddings.weight": T("F32", (128, 64))}
    for k in range(2):
        for part, shape in (("query", (64, 64)), ("key", (64, 64)), ("value", (64, 64)), ("output", (64, 64))):
            out[f"bert.encoder.layer.{k}.attention.{part}.weight"] = T("F32", shape)
            out[f"bert.encoder.layer.{k}.attention.{part}.bias"] = T("F32", (shape[0],))
    return out


class _Call:
    """Pickles as `GLOBAL posix system`, the payload string, TUPLE1, REDUCE (what `os.system(cmd)` pickles to)."""

    def __reduce_ex__(self, proto: int) -> tuple[Any, ...]:
        return (Global("posix", "system"), (PAYLOAD,))


@dataclass
class Case:
    """One hostile weight file: what is wrong, the expected outcome, the served file and its truth entry."""

    why: str
    expect: str  # "unreadable" | "flagged"
    file: RepoFile
    entry: dict[str, Any] = field(default_factory=dict)


def _sha(name: str) -> str:
    return hashlib.sha256(f"fakehub-hostile-pickle:{name}".encode()).hexdigest()


def _lfs(name: str, data: bytes) -> RepoFile:
    return lfs_file(WEIGHTS, len(data), _sha(name), bytes_reader(data))


def _torch_file(name: str, f: TorchFile) -> RepoFile:
    return lfs_file(WEIGHTS, f.size, _sha(name), f.read)


def _bad(why: str, size: int, fmt: str | None) -> dict[str, Any]:
    return {"size": size, "format": fmt, "tensors": None, "storages": None, "parameters_by_dtype": None,
            "tensor_elements": None, "role": "weights", "error": why}


@lru_cache(maxsize=1)
def bomb_stream() -> tuple[bytes, bytes]:
    """(one full-flushed deflate block of BOMB_CHUNK zeros, the final empty block): the raw deflate stream of
    BOMB_SIZE zeros is `block * (BOMB_SIZE // BOMB_CHUNK) + end` (~2 MB; built without inflating anything)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(BOMB_CHUNK)) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(bytes(BOMB_CHUNK)) + c.flush(zlib.Z_FULL_FLUSH)
    assert block == again  # a full flush resets the state: every block is the same bytes
    return block, c.flush(zlib.Z_FINISH)


def _common(f: TorchFile) -> dict[str, Any]:
    return {"tensors": f.tensors, "storages": f.storages, "by_dtype": f.by_dtype, "pickle": f.pickle,
            "tensor_elements": f.tensor_elements}


@lru_cache(maxsize=1)
def bomb_file() -> TorchFile:
    """A torch zip whose `archive/data.pkl` is deflated (method 8): ~2 MB on the wire, 2 GiB inflated."""
    good = plan(state(), generation="1.6")
    block, end = bomb_stream()
    stream = block * (BOMB_SIZE // BOMB_CHUNK) + end
    records: list[tuple[str, int, bytes | None]] = [("data.pkl", BOMB_SIZE, None)]
    sizes = [numel(t.shape) * 4 for t in state().values()]
    records += [(f"data/{k}", sizes[k], None) for k in sorted(range(len(sizes)), key=str)]
    records.append(("version", 2, b"3\n"))
    return _zip("archive", records, _common(good), {"data.pkl": (stream, BOMB_SIZE, crc32_zeros(BOMB_SIZE))})


def nested_pickle(n: int = NESTED) -> bytes:
    """PROTO 2, n EMPTY_LISTs each after a MARK (the first bare), n-1 APPENDS, STOP: n lists nested n deep."""
    return b"\x80\x02]" + b"(]" * (n - 1) + b"e" * (n - 1) + b"."


def _zip_bytes(name: str, records: list[tuple[str, int, bytes | None]]) -> TorchFile:
    empty = {"tensors": 0, "storages": 0, "by_dtype": {}, "pickle": records[0][2] or b"", "tensor_elements": 0}
    return _zip(name, records, empty)


def _cut_zip() -> bytes:
    whole = plan(state(), prefix="pytorch_model", metadata=True).to_bytes()
    n_len, x_len = int.from_bytes(whole[26:28], "little"), int.from_bytes(whole[28:30], "little")
    start = 30 + n_len + x_len  # data.pkl's first byte
    pkl_len = len(plan(state(), metadata=True).pickle)
    return whole[:start + pkl_len // 2]


def _cut_legacy() -> bytes:
    whole = plan(state(), legacy=True, metadata=True)
    before = len(plain_dumps(MAGIC_NUMBER) + plain_dumps(PROTOCOL_VERSION) + plain_dumps(SYS_INFO))
    return whole.to_bytes()[:before + len(whole.pickle) // 2]


def cases() -> dict[str, Case]:
    """Repo name -> its hostile case."""
    out: dict[str, Case] = {}
    flagged = plan({"config": _Call(), **state()}, prefix="pytorch_model", metadata=True)
    out["posix-system"] = Case(
        "data.pkl calls posix.system (a shell command) beside a real state dict", "flagged",
        _torch_file("posix-system", flagged), file_truth(flagged, "weights") | {"unsafe_globals": ["posix.system"]})
    bomb = bomb_file()
    why = f"archive/data.pkl is deflated (method 8): {bomb.size:,} bytes on the wire inflate to {BOMB_SIZE:,}"
    out["deflate-bomb"] = Case(why, "unreadable", _torch_file("deflate-bomb", bomb), _bad(why, bomb.size, "zip"))
    nested = _zip_bytes("pytorch_model", [("data.pkl", 3 * NESTED + 1, nested_pickle()), ("version", 2, b"3\n")])
    why = f"data.pkl is {NESTED:,} nested lists (no state dict)"
    out["nested-lists"] = Case(why, "unreadable", _torch_file("nested-lists", nested), _bad(why, nested.size, "zip"))
    cut = _cut_zip()
    why = "file ends halfway through data.pkl (no STOP, no central directory)"
    out["cut-short"] = Case(why, "unreadable", _lfs("cut-short", cut), _bad(why, len(cut), "zip"))
    cut = _cut_legacy()
    why = "legacy file ends halfway through the main pickle"
    out["cut-short-legacy"] = Case(why, "unreadable", _lfs("cut-short-legacy", cut), _bad(why, len(cut), "legacy"))
    for legacy in (False, True):
        name = "storage-past-end" + ("-legacy" if legacy else "")
        f = plan(state(), legacy=legacy, prefix="pytorch_model", metadata=True, claim={CLAIMED: CLAIM})
        why = f"a storage claims {CLAIM:,} F32 elements; the file holds {f.size:,} bytes"
        out[name] = Case(why, "unreadable", _torch_file(name, f), _bad(why, f.size, "legacy" if legacy else "zip"))
    pointer = lfs_pointer(_sha("the-real-weights"), 438_007_808)
    why = "pytorch_model.bin is a Git LFS pointer committed as a regular file"
    out["lfs-pointer"] = Case(why, "unreadable", small_file(WEIGHTS, pointer), _bad(why, len(pointer), None))
    noise = random.Random(16).randbytes(1 << 20)
    why = "pytorch_model.bin is 1 MiB of random bytes"
    out["random-bytes"] = Case(why, "unreadable", _lfs("random-bytes", noise), _bad(why, len(noise), None))
    return out


def _truth(repo: Repo, case: Case) -> dict[str, Any]:
    t = static_truth(repo, hostile=case.why)
    by = (case.entry.get("parameters_by_dtype") or {}) if case.expect == "flagged" else {}
    t.update(weight_format="pickle", pickle_files={WEIGHTS: case.entry}, hostile_expect=case.expect,
             unsafe_globals=case.entry.get("unsafe_globals", []), parameters_by_dtype=dict(by),
             effective_parameters=sum(by.values()))
    return t


def hostile_pickle_repos() -> list[tuple[Repo, Any]]:
    """Static (Repo, truth function) pairs for every hostile pickle file."""
    out = []
    created = parse_iso("2021-03-01T00:00:00.000Z")
    tags = ["transformers", "pytorch", "bert", "fill-mask"]
    for k, (name, case) in enumerate(cases().items()):
        files = {"config.json": small_file("config.json", json.dumps(CONFIG).encode()), WEIGHTS: case.file}
        repo = static_repo(f"{ORG}/{name}", files, created + k * 1000, dict(CONFIG), list(tags), "fill-mask",
                           case.file.etag().encode())
        out.append((repo, (lambda r=repo, c=case: _truth(r, c))))
    return out
