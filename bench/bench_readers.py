"""Benchmark: readers while a crawl runs: how long `status` and `sql` take, and plain DuckDB's way in.

    .venv/bin/python bench/bench_readers.py --models 20000 --latency-ms 50

A fakehub child (latency per request) serves a synthetic catalog; a crawl child walks it
and reads its headers; meanwhile this script runs `hubcensus status` and `hubcensus sql`
one after the other (each a fresh process) and plain `duckdb.connect(read_only=True)`,
until the crawl ends. Printed: readers run, their exit codes, median and worst latency
(target: every reader answers, worst < 30 s), how long plain DuckDB waited for a gap
between write windows, and the crawl's wall time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb


def _fakehub(models: int, latency_ms: float) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "hubcensus.fakehub", "serve", "--port", "0", "--synthetic", str(models),
           "--latency-ms", f"{latency_ms:g}"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    return proc, line.rsplit(" ", 1)[-1]


def _plain_duckdb(path: Path, limit: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        try:
            duckdb.connect(str(path), read_only=True).close()
            return time.monotonic() - started
        except duckdb.Error:
            time.sleep(0.02)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=20_000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--page-size", type=int, default=200)
    args = parser.parse_args()
    hub, url = _fakehub(args.models, args.latency_ms)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("HF_TOKEN", None)
    base = [sys.executable, "-m", "hubcensus"]
    with tempfile.TemporaryDirectory(prefix="bench-readers-") as tmp:
        db = Path(tmp) / "r.duckdb"
        started = time.monotonic()
        crawl = subprocess.Popen([*base, "crawl", "--db", str(db), "--endpoint", url, "--page-size",
                                  str(args.page_size)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=env)  # fmt: skip
        assert crawl.stdout is not None
        for line in crawl.stdout:
            if " page " in line:
                break
        latencies: dict[str, list[float]] = {"status": [], "sql": []}
        codes: list[int] = []
        plain: list[float | None] = []
        queries = {"status": ["status"], "sql": ["sql", "SELECT count(*) FROM models", "--format", "csv"]}
        while crawl.poll() is None:
            for name, argv in queries.items():
                began = time.monotonic()
                done = subprocess.run([*base, *argv, "--db", str(db)], capture_output=True, env=env)
                if crawl.poll() is not None:
                    break
                latencies[name].append(time.monotonic() - began)
                codes.append(done.returncode)
            if crawl.poll() is None:
                plain.append(_plain_duckdb(db, 30.0))
        wall = time.monotonic() - started
        last = (crawl.stdout.read() or "").strip().splitlines()
    hub.terminate()
    hub.wait()
    print(last[-1] if last else "(no crawl summary)")
    for name, values in latencies.items():
        if values:
            print(f"{name:<7} {len(values)} runs mid-crawl: median {statistics.median(values):.2f} s, "
                  f"worst {max(values):.2f} s (target < 30 s)")  # fmt: skip
    print(f"reader exit codes: {sorted(set(codes))} ({codes.count(0)}/{len(codes)} ok)")
    waited = [p for p in plain if p is not None]
    if plain:
        print(f"plain duckdb read_only: {len(waited)}/{len(plain)} got in; waited median "
              f"{statistics.median(waited) if waited else float('nan'):.2f} s, worst "
              f"{max(waited) if waited else float('nan'):.2f} s")  # fmt: skip
    print(f"crawl wall {wall:.1f} s with readers; exit {crawl.returncode}")


if __name__ == "__main__":
    main()
