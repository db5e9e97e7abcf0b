"""Benchmark: a full listing crawl of a synthetic fakehub catalog, against the floors.

    .venv/bin/python bench/bench_crawl.py --models 200000 --latency-ms 50 --quota 100 --window 60
    .venv/bin/python bench/bench_crawl.py --synthetic 2000000 --latency-ms 50 --quota 1000 --window 300

fakehub runs in its own process (so the figures are the crawler's); the crawl runs
in this process. Printed: list requests used vs the floor ceil(N/1000), wall time
vs the quota floor (requests x window / quota) and vs the latency floor
(requests x latency), rows/s stored, 429s, and the crawler's peak RSS.
Targets: requests within 1% of the floor, wall within 1.2x of the quota floor
(1.5x of the latency floor without a quota), peak RSS under 1 GB. `--probe N`
also times N pages fetched without storing (what the server alone allows);
`--then-epoch K` then runs two incremental crawls against the catalog K days
later (a day's changes cost requests in proportion to them; an unchanged Hub, one).
"""

from __future__ import annotations

import argparse
import math
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hubcensus.crawler.hub import make_client
from hubcensus.crawler.run import CrawlOptions, crawl
from hubcensus.crawler.walk.listing import EXPAND
from hubcensus.db.connection import open_database


def start_fakehub(
    models: int, seed: int, latency_ms: float, quota: int | None, window: int, epoch: int = 0
) -> tuple[subprocess.Popen, str]:
    """`python -m hubcensus.fakehub serve ...` in a subprocess; returns it and its URL."""
    cmd = [
        sys.executable,
        "-m",
        "fakehub",
        "serve",
        "--port",
        "0",
        "--synthetic",
        str(models),
        "--seed",
        str(seed),
        "--epoch",
        str(epoch),
    ]
    if latency_ms:
        cmd += ["--latency-ms", f"{latency_ms:g}"]
    if quota:
        cmd += ["--quota-api", str(quota), "--window-s", str(window)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"fakehub did not start: {proc.stderr.read() if proc.stderr else ''}")
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            return proc, match.group(1)
    raise SystemExit("fakehub did not start in time")


def probe(url: str, pages: int) -> float:
    """Seconds per listing page when only fetching (latency + the server's own work), no storing."""
    client = make_client(url, None)
    next_url: str | None = client.list_url(sort="createdAt", expand=EXPAND, limit=1000)
    started, done = time.monotonic(), 0
    while next_url is not None and done < pages:
        next_url = client.list_page(next_url).next_url
        done += 1
    return (time.monotonic() - started) / max(done, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", "--synthetic", type=int, default=200_000, dest="models")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--quota", type=int, default=None, help="API requests per window (none: no quota)")
    parser.add_argument("--window", type=int, default=300, help="rate-limit window in seconds")
    parser.add_argument("--memory-limit-mb", type=int, default=CrawlOptions().memory_limit_mb,
                        help="DuckDB memory_limit of the crawl in MB (0: DuckDB's default)")  # fmt: skip
    parser.add_argument("--db", type=Path, default=None, help="DuckDB file [default: a temporary file]")
    parser.add_argument("--then-epoch", type=int, default=0, metavar="K",
                        help="after the full walk, serve the catalog K days later and run two incremental "
                        "crawls (a day's changes, then an unchanged Hub)")  # fmt: skip
    parser.add_argument("--probe", type=int, default=0, metavar="PAGES",
                        help="first time PAGES list requests without storing (no quota only): the server-bound floor")  # fmt: skip
    args = parser.parse_args(argv)

    print(f"starting fakehub: {args.models} synthetic models, {args.latency_ms:g} ms latency, "
          f"quota {args.quota or 'none'}/{args.window}s", flush=True)  # fmt: skip
    proc, url = start_fakehub(args.models, args.seed, args.latency_ms, args.quota, args.window)
    tmp = tempfile.TemporaryDirectory()
    incremental: list[str] = []
    db_path = args.db or Path(tmp.name) / "bench.duckdb"
    try:
        probe_s = probe(url, args.probe) if args.probe and not args.quota else None
        client = make_client(url, None)
        with open_database(db_path) as db:
            started = time.monotonic()
            last = [started]

            def progress(s) -> None:  # type: ignore[no-untyped-def]
                now = time.monotonic()
                if now - last[0] >= 10:
                    last[0] = now
                    print(f"  {now - started:7.1f}s  {s.pages} pages, {s.models_seen} models", flush=True)

            summary = crawl(
                db,
                client,
                CrawlOptions(full=True, memory_limit_mb=args.memory_limit_mb or None),
                on_page=progress,
            )
            wall = time.monotonic() - started
            stored = db.con.execute("SELECT count(*) FROM models").fetchone()[0]
            if args.then_epoch:
                proc.terminate()
                proc.wait(timeout=30)
                proc, url = start_fakehub(
                    args.models, args.seed, args.latency_ms, args.quota, args.window, args.then_epoch
                )
                for _ in range(2):
                    client = make_client(url, None)
                    began = time.monotonic()
                    later = crawl(db, client, CrawlOptions(memory_limit_mb=args.memory_limit_mb or None))
                    incremental.append(f"incremental, epoch {args.then_epoch}  {later.requests_api} list requests, "
                                       f"{time.monotonic() - began:.1f}s: {later.line()}")  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        tmp.cleanup()

    floor = math.ceil(args.models / 1000)
    used = summary.requests_api
    lat_floor = used * args.latency_ms / 1000
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(summary.line())
    print(f"models stored          {stored} (catalog {args.models})")
    print(f"list requests          {used} vs floor {floor} ({(used / floor - 1) * 100:+.2f}%)")
    if args.quota:
        q_floor = used * args.window / args.quota
        print(f"wall time              {wall:.1f}s vs quota floor {q_floor:.1f}s ({wall / q_floor:.2f}x)")
    if lat_floor:
        print(f"wall vs latency floor  {wall:.1f}s vs {lat_floor:.1f}s ({wall / lat_floor:.2f}x)")
    if probe_s is not None:
        fetch_floor = used * probe_s
        print(f"wall vs fetch-only     {wall:.1f}s vs {fetch_floor:.1f}s ({wall / fetch_floor:.2f}x; "
              f"{probe_s * 1000:.0f} ms per page without storing)")  # fmt: skip
    print(f"rows/s stored          {stored / wall:,.0f}")
    print(
        f"429s                   {summary.rate_limited}, retries {summary.retries}, errors {summary.errors}"
    )
    print(f"peak RSS (crawler)     {rss_mb:,.0f} MB")
    for line in incremental:
        print(line)
    return 0 if summary.status == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
