"""Benchmark: parsing one huge safetensors header (a million tensors) in bounded time and memory.

    .venv/bin/python bench/bench_parse.py              # 1,000,000 tensors (~100 MB of JSON)
    .venv/bin/python bench/bench_parse.py --tensors 250000

Builds the header in memory (MoE-style names, BF16, growing widths), parses it with
`split_prefix` as the crawler does, and prints the parse time and the memory the parse
added (tracemalloc peak, and peak RSS of the process). The crawler refuses headers over
25 MB (as huggingface_hub does; 250,000 such tensors fit, and the suite checks that
size), so the parser's own scaling is measured here with the cap lifted.
"""

from __future__ import annotations

import argparse
import resource
import struct
import time
import tracemalloc

from hubcensus.crawler.formats.safetensors import split_prefix


def header(n: int) -> tuple[bytes, int]:
    """The prefix (u64 length + JSON) of a file holding `n` BF16 tensors, and the file's size."""
    parts, end = [], 0
    for i in range(n):
        width = 1 + i % 7
        start, end = end, end + 32 * width
        parts.append(f'"layers.{i // 1000}.experts.{i % 1000}.w":{{"dtype":"BF16","shape":[16,{width}],'
                     f'"data_offsets":[{start},{end}]}}')  # fmt: skip
    body = ("{" + ",".join(parts) + "}").encode()
    return struct.pack("<Q", len(body)) + body, 8 + len(body) + end


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tensors", type=int, default=1_000_000, help="tensors in the header")
    args = parser.parse_args()
    prefix, size = header(args.tensors)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    parsed = split_prefix(prefix, path="big.safetensors", file_size=size, max_header_bytes=len(prefix))
    plain = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    del parsed
    tracemalloc.start()
    start = time.perf_counter()
    split_prefix(prefix, path="big.safetensors", file_size=size, max_header_bytes=len(prefix))
    traced = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"{args.tensors:,} tensors, header {len(prefix) / 1e6:.0f} MB")
    print(f"parse: {plain:.2f} s; peak RSS grew {max(0, after - before) / 1024:.0f} MB")
    print(f"tracemalloc peak: {peak / 1e6:.0f} MB ({peak / args.tensors:.0f} bytes per tensor), {traced:.2f} s traced")


if __name__ == "__main__":
    main()
