"""Benchmark: GGUF header bytes, ours vs the `@huggingface/gguf` strategy, over the same HTTP.

    .venv/bin/python bench/bench_gguf.py [--repos DIR]

Both read every .gguf file of fakehub's GGUF repos (`--gguf`; plus on-disk repos with `--repos`)
through real HTTP on 127.0.0.1:
- `@huggingface/gguf` (packages/gguf/src/gguf.ts): `bytes=0-1999999`, then the next 2 MB chunk
  whenever less than 500 kB remain before a KV or tensor info (or a value runs past the buffer),
  at most 50 MB; one file at a time, nothing shared between files;
- ours (`crawler.files.gguf_plan`): one `blobs=true` call per repo, the first file read in full
  (numeric arrays and long strings counted over), later variants jump the tokenizer a sibling showed.
Prints bytes and requests per file, per repo and the ratio; checks that both give identical
results (tensor count, parameters, per-type tensors/parameters/bytes). Goal: <= 0.25x the bytes on
repos with 5+ variants.
"""

from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gguf as ggufpy
from hubcensus.crawler.files.gguf_plan import entries_from_info, read_repo_files
from hubcensus.crawler.hub import make_client
from hubcensus.fakehub.app import FakeHubConfig, start

CHUNK = 2 * 10**6
LEEWAY = 5 * 10**5
TOTAL_MAX = 50 * 10**6
_SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


class _HFRangeView:
    """The `RangeView` of @huggingface/gguf: contiguous 2 MB chunks from byte 0."""

    def __init__(self, client: Any, model_id: str, path: str, size: int) -> None:
        self.client, self.model_id, self.path, self.size = client, model_id, path, size
        self.buf = bytearray()
        self.chunk = 0
        self.requests = 0

    def fetch_chunk(self) -> None:
        start = self.chunk * CHUNK
        if start >= self.size or start >= TOTAL_MAX:
            raise ValueError("header runs past the file (or 50 MB)")
        end = min(self.size, (self.chunk + 1) * CHUNK) - 1
        self.buf += self.client.range_get(self.model_id, self.path, start, end)
        self.requests += 1
        self.chunk += 1

    def if_needed(self, offset: int) -> None:
        if len(self.buf) - offset < LEEWAY:
            self.fetch_chunk()

    def need(self, end: int) -> None:
        while len(self.buf) < end:  # a value ran past the buffer (RangeError): next chunk, retry
            self.fetch_chunk()


def hf_read(client: Any, model_id: str, path: str, size: int) -> tuple[dict[str, Any], int, int]:
    """(result, bytes, requests) of one file read the @huggingface/gguf way."""
    r = _HFRangeView(client, model_id, path, size)
    r.fetch_chunk()
    (v_le,) = struct.unpack_from("<I", r.buf, 4)
    e = "<" if v_le & 0xFFFF else ">"
    (version,) = struct.unpack_from(e + "I", r.buf, 4)
    n = "I" if version == 1 else "Q"
    ns = struct.calcsize(n)
    tensor_count, kv_count = struct.unpack_from(e + n * 2, r.buf, 8)
    off = 8 + 2 * ns

    def size_at(o: int) -> int:
        r.need(o + ns)
        return struct.unpack_from(e + n, r.buf, o)[0]

    def string_end(o: int) -> int:
        end = o + ns + size_at(o)
        r.need(end)
        return end

    def value_end(vtype: int, o: int) -> int:
        if vtype in _SCALAR:
            end = o + struct.calcsize(e + _SCALAR[vtype])
            r.need(end)
            return end
        if vtype == 8:
            return string_end(o)
        r.need(o + 4)
        (etype,) = struct.unpack_from(e + "I", r.buf, o)
        count = size_at(o + 4)
        o += 4 + ns
        for _ in range(count):
            o = value_end(etype, o)
        return o

    for _ in range(kv_count):
        r.if_needed(off)
        off = string_end(off)
        r.need(off + 4)
        (vtype,) = struct.unpack_from(e + "I", r.buf, off)
        off = value_end(vtype, off + 4)
    types: dict[str, list[int]] = {}
    params = 0
    for _ in range(tensor_count):
        r.if_needed(off)
        off = string_end(off)
        r.need(off + 4)
        (n_dims,) = struct.unpack_from(e + "I", r.buf, off)
        off += 4
        dims = [size_at(off + k * ns) for k in range(n_dims)]
        off += ns * n_dims
        r.need(off + 12)
        type_id, _ = struct.unpack_from(e + "IQ", r.buf, off)
        off += 12
        numel = 1
        for d in dims:
            numel *= d
        qt = ggufpy.GGMLQuantizationType(type_id)
        block, nbytes = ggufpy.GGML_QUANT_SIZES[qt]
        row = types.setdefault(qt.name, [0, 0, 0])
        row[0] += 1
        row[1] += numel
        row[2] += numel // block * nbytes
        params += numel
    result = {"tensor_count": tensor_count, "parameters": params, "types": {k: tuple(v) for k, v in types.items()}}
    return result, len(r.buf), r.requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repos", action="append", default=[], help="also read on-disk repos (fakehub --repos)")
    parser.add_argument("--quiet", action="store_true", help="per-repo lines only")
    args = parser.parse_args()
    totals = {"hf": 0, "ours": 0, "hf5": 0, "ours5": 0, "files": 0, "ours_req": 0, "hf_req": 0}
    mismatches = 0
    with start(FakeHubConfig(gguf=True, repos=args.repos)) as hub:
        client = make_client(hub.url, None)
        print(f"{'repo / file':64s} {'hf bytes':>12s} {'req':>4s} {'our bytes':>12s} {'req':>4s} {'ratio':>6s}")
        for model_id in hub.catalog.ids():
            info = client.get_json(f"/api/models/{model_id}/revision/main", {"blobs": "true"})
            entries = entries_from_info(info)
            if not entries:
                continue
            ours = {r.entry.path: r for r in read_repo_files(client, model_id, entries, "main")}
            repo_hf = repo_ours = 0
            readable = [e for e in entries if ours[e.path].info is not None]
            variants = {e.variant for e in readable if not e.is_projector}
            for entry in readable:
                mine = ours[entry.path]
                theirs, hf_bytes, hf_req = hf_read(client, model_id, entry.path, entry.size)
                assert mine.info is not None
                got = {"tensor_count": mine.info.tensor_count, "parameters": mine.info.parameters,
                       "types": {k: (t.tensors, t.parameters, t.bytes) for k, t in mine.info.types.items()}}
                if got != theirs:
                    mismatches += 1
                    print(f"  MISMATCH {entry.path}")
                repo_hf += hf_bytes
                repo_ours += mine.bytes_read
                totals["hf_req"] += hf_req
                totals["ours_req"] += mine.requests
                totals["files"] += 1
                if not args.quiet:
                    print(f"  {entry.path[:62]:62s} {hf_bytes:>12,} {hf_req:>4} {mine.bytes_read:>12,} "
                          f"{mine.requests:>4} {mine.bytes_read / hf_bytes:>6.3f}")
            totals["ours_req"] += 1  # the blobs=true listing
            if not readable:
                continue
            print(f"{model_id[:58]:58s} {len(variants):>3}v {repo_hf:>12,}      {repo_ours:>12,}      "
                  f"{repo_ours / repo_hf:>6.3f}")
            totals["hf"] += repo_hf
            totals["ours"] += repo_ours
            if len(variants) >= 5:
                totals["hf5"] += repo_hf
                totals["ours5"] += repo_ours
    files = max(totals["files"], 1)
    print()
    print(f"files read: {totals['files']}; results identical: {mismatches == 0} ({mismatches} mismatches)")
    print(f"bytes per file: hf {totals['hf'] / files:,.0f}, ours {totals['ours'] / files:,.0f}")
    print(f"requests per file: hf {totals['hf_req'] / files:.2f}, ours {totals['ours_req'] / files:.2f} "
          "(ours includes one blobs=true call per repo)")
    print(f"ratio (ours / hf bytes), all repos: {totals['ours'] / max(totals['hf'], 1):.3f}")
    if totals["hf5"]:
        print(f"ratio (ours / hf bytes), repos with 5+ variants: {totals['ours5'] / totals['hf5']:.3f} (goal <= 0.25)")


if __name__ == "__main__":
    main()
