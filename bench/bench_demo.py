"""Benchmark: `hubcensus demo` end to end (fakehub, crawl, header pass, report), wall and CPU seconds.

    .venv/bin/python bench/bench_demo.py                 # the default demo (target: < 60 s on 2 cores)
    .venv/bin/python bench/bench_demo.py --models 20000  # the old default catalog size

CPU seconds (the demo and its fakehub child) are printed beside the wall time, with the load
average, so a figure taken on a busy machine can still be read.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=None, help="--models of the demo [default: its own]")
    parser.add_argument("--hubcensus", default=None, help="hubcensus executable [default: this checkout]")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        cmd = [args.hubcensus] if args.hubcensus else [sys.executable, "-m", "hubcensus"]
        cmd += ["demo", "--db", str(Path(tmp) / "demo.duckdb")]
        if args.models:
            cmd += ["--models", str(args.models)]
        load = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        report = (Path(tmp) / "hubcensus-demo-report" / "report.md").read_text(encoding="utf-8")
        labelled = "demo data from a synthetic Hub" in report.splitlines()[0]
    summary = next((line for line in done.stdout.splitlines() if line.startswith("run 1 ")), "(no summary)")
    print(summary)
    print(f"hubcensus demo: exit {done.returncode}, {wall:.1f} s wall, {cpu:.1f} s CPU (demo + fakehub), "
          f"load average {load:.1f} at start on {os.cpu_count()} cores; report labelled: {labelled} "
          "(target: < 60 s wall on 2 cores)")  # fmt: skip


if __name__ == "__main__":
    main()
