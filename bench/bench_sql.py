"""Benchmark: `hubcensus sql` streaming, time to first bytes and peak RSS of the CLI process.

    .venv/bin/python bench/bench_sql.py                      # both scenarios of issue 13
    .venv/bin/python bench/bench_sql.py --rows 20000000 --first-rows 100000000

Scenario 1: `hubcensus sql "SELECT * FROM range(F)" --format csv` (F = --first-rows): seconds until
the first bytes reach stdout (the child is stopped after --first-timeout seconds or once timed).
Scenario 2: `SELECT * FROM range(R)` to CSV in full (R = --rows): wall seconds, bytes, peak RSS.
Targets: first bytes < 1 s, peak RSS < 500 MB. The CLI runs as a child process against an empty
hubcensus database in a temporary directory (`--hubcensus` picks another executable, e.g. an old venv).
"""

from __future__ import annotations

import argparse
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hubcensus.db.connection import open_database


def _command(hubcensus: str | None, statement: str, db: Path, fmt: str) -> list[str]:
    base = [hubcensus] if hubcensus else [sys.executable, "-m", "hubcensus"]
    return [*base, "sql", statement, "--db", str(db), "--format", fmt]


def first_bytes(cmd: list[str], timeout: float) -> tuple[float | None, int, float]:
    """Seconds until the child's first stdout bytes (None: none within `timeout`), its peak RSS (KB)
    and the CPU seconds it used until then (interpreter start included; killed right after)."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    took = time.monotonic() - started if ready and proc.stdout.read1(1) else None  # type: ignore[attr-defined]
    proc.kill()
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = -9
    return took, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def full_run(cmd: list[str]) -> tuple[float, int, int, int]:
    """Wall seconds, stdout bytes, exit code and peak RSS (KB) of one complete run."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    total = 0
    while chunk := proc.stdout.read1(1 << 20):  # type: ignore[attr-defined]
        total += len(chunk)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.monotonic() - started, total, proc.returncode, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--first-rows", type=int, default=100_000_000)
    parser.add_argument("--first-timeout", type=float, default=60.0)
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--hubcensus", default=None, help="hubcensus executable [default: this checkout]")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sql-") as tmp:
        db_path = Path(tmp) / "empty.duckdb"
        open_database(db_path).close()
        for fmt in ("csv", "json", "table"):
            took, rss, cpu = first_bytes(
                _command(args.hubcensus, f"SELECT * FROM range({args.first_rows})", db_path, fmt),
                args.first_timeout,
            )
            shown = f"{took:.2f} s" if took is not None else f"none within {args.first_timeout:g} s"
            print(f"first bytes of range({args.first_rows:,}) --format {fmt}: {shown} "
                  f"({cpu:.2f} s CPU, peak RSS by then {rss / 1024:.0f} MB; load average {os.getloadavg()[0]:.1f})")  # fmt: skip
        wall, size, code, rss = full_run(
            _command(args.hubcensus, f"SELECT * FROM range({args.rows})", db_path, "csv")
        )
        print(f"range({args.rows:,}) to csv: {wall:.1f} s, {size / 1e6:.0f} MB written, exit {code}, "
              f"peak RSS {rss / 1024:.0f} MB (target < 500 MB)")  # fmt: skip


if __name__ == "__main__":
    main()
