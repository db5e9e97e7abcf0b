"""Benchmark: crawl peak RSS when the Hub serves huge safetensors headers (issue 13's scenario).

    .venv/bin/python bench/bench_big_headers.py                 # 8 repos claiming a 99 MB header
    .venv/bin/python bench/bench_big_headers.py --header-mb 24  # 8 repos with 24 MB headers (under the cap)
    .venv/bin/python bench/bench_big_headers.py --before        # the limits before: 100 MB cap, no budget

Eight repos whose `model.safetensors` holds a valid JSON header of `--header-mb` MB
(header-only files, hard links of one file) are served by fakehub in its own process;
`crawl --deep all` runs in a child process (8 header workers, `--memory-limit` 512 MB)
and the bench prints the child's peak RSS (`wait4`), the models stored and the header
errors recorded. `--before` re-runs the same crawl with the old limits (a 100 MB header
cap and no shared budget) patched in, for the before/after figure.
Target: peak RSS < 1 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPOS = 8

CHILD = """
import json, sys
from hubcensus.crawler import deep
from hubcensus.crawler.files import headers
from hubcensus.crawler.files.budget import MemoryBudget
from hubcensus.crawler.hub import make_client
from hubcensus.crawler.run import CrawlOptions, crawl
from hubcensus.db.connection import open_database

endpoint, db_path, before = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
if before:  # the limits before issue 13: a 100 MB cap and no budget shared by the workers
    for fn in (headers.read_file_header, headers.read_repo_headers):
        fn.__kwdefaults__["max_header_bytes"] = 100_000_000
    deep.header_budget = lambda memory_mb, stop=None: MemoryBudget(10**15)
with open_database(db_path) as db:
    summary = crawl(db, make_client(endpoint, None), CrawlOptions(full=True, deep="all", memory_limit_mb=512),
                    handle_signals=False)
    errors = db.con.execute("SELECT kind, count(*) FROM fetch_errors GROUP BY 1").fetchall()
print(json.dumps({"stored": summary.headers_fetched, "errors": dict(errors)}))
"""


def header_file(path: Path, megabytes: float) -> int:
    """A header-only safetensors file whose valid JSON header is `megabytes` MB; returns the file's size."""
    target = int(megabytes * 1_000_000)
    parts, offset, i = [], 0, 0
    length = 2
    while length < target - 200:
        entry = (f'"model.layers.{i // 1000}.mlp.experts.{i % 1000}.w":'
                 f'{{"dtype":"BF16","shape":[16,1],"data_offsets":[{offset},{offset + 32}]}}')  # fmt: skip
        parts.append(entry)
        length += len(entry) + 1
        offset += 32
        i += 1
    body = ("{" + ",".join(parts) + "}").encode()
    body += b" " * (target - len(body))
    path.write_bytes(len(body).to_bytes(8, "little") + body)
    return 8 + len(body) + offset


def build_repos(root: Path, megabytes: float) -> None:
    first = root / "big" / "h0" / "model.safetensors"
    first.parent.mkdir(parents=True)
    size = header_file(first, megabytes)
    for k in range(REPOS):
        folder = root / "big" / f"h{k}"
        folder.mkdir(parents=True, exist_ok=True)
        if k:
            os.link(first, folder / "model.safetensors")
        (folder / "hub.json").write_text(json.dumps({"file_sizes": {"model.safetensors": size}}))


def run(megabytes: float, before: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        build_repos(Path(tmp) / "hub", megabytes)
        print(f"{REPOS} repos, model.safetensors with a {megabytes:g} MB header (built in "
              f"{time.monotonic() - started:.1f}s)")  # fmt: skip
        server = subprocess.Popen(
            [sys.executable, "-m", "hubcensus.fakehub", "serve", "--repos", str(Path(tmp) / "hub")],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            endpoint = server.stdout.readline().split()[-1]
            started = time.monotonic()
            child = subprocess.Popen(
                [sys.executable, "-c", CHILD, endpoint, str(Path(tmp) / "big.duckdb"), "1" if before else "0"],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            out = child.stdout.read()
            _, status, usage = os.wait4(child.pid, 0)
            wall = time.monotonic() - started
        finally:
            server.terminate()
            server.wait()
    result = json.loads(out.strip().splitlines()[-1]) if status == 0 else {"stored": "?", "errors": "?"}
    label = "before (100 MB cap, no budget)" if before else "now (25 MB cap, shared budget)"
    peak = usage.ru_maxrss / 1024  # kB on Linux
    print(f"{label}: crawl peak RSS {peak:,.0f} MB in {wall:.1f}s; headers stored {result['stored']}, "
          f"errors {result['errors']}; target < 1,024 MB -> {'OK' if peak < 1024 else 'MISSED'}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--header-mb", type=float, default=99.0, help="header size of each repo's file")
    parser.add_argument("--before", action="store_true", help="also run with the old limits, for comparison")
    args = parser.parse_args()
    run(args.header_mb, before=False)
    if args.before:
        run(args.header_mb, before=True)


if __name__ == "__main__":
    main()
