"""Benchmark: PyTorch pickle checkpoints in a real crawl (walk + header pass) of fakehub.

    .venv/bin/python bench/bench_pickle.py --synthetic 3000

fakehub runs as a child process (`--synthetic N --hostile-pickle`: pickle-only and both-format repos
with real torch.save bytes, and the hostile pickle repos), so the peak RSS printed is the crawler's own.
Every range read of the client is counted per file. Prints:
- resolver requests per pickle file read (goal 1.0-1.1: one range read covers data.pkl / the legacy head);
- bytes read per pickle file against the file's size (goal <= 0.003x on files over 100 MB), i.e. against
  downloading it;
- the hostile repos: each recorded (a fetch_errors row, or the unsafe-globals flag), none executed (the
  posix.system payload's sentinel file never appears), and the crawl's peak RSS (goal < 1 GB).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hubcensus.crawler.hub import make_client
from hubcensus.crawler.run import CrawlOptions, crawl
from hubcensus.db.connection import open_database

SENTINEL = Path("/tmp/hubcensus-pickle-payload-ran")  # fakehub/hostile_pickle.py: the payload would touch it
BIG = 100_000_000


def _serve(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "hubcensus.fakehub", "serve", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("fakehub listening on "):
        proc.terminate()
        raise SystemExit(f"fakehub did not start: {line!r}")
    return proc, line.removeprefix("fakehub listening on ")


def _counting(client: Any) -> dict[tuple[str, str], list[int]]:
    """Wrap `client.read_range`: per (model, path) [reads, bytes read]."""
    reads: dict[tuple[str, str], list[int]] = {}
    original = client.read_range

    def read_range(model_id: str, path: str, start: int, end: int, revision: str = "main") -> Any:
        got = original(model_id, path, start, end, revision)
        entry = reads.setdefault((model_id, path), [0, 0])
        entry[0] += 1
        entry[1] += len(got.body)
        return got

    client.read_range = read_range
    return reads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic", type=int, default=3000, help="synthetic catalog size")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    SENTINEL.unlink(missing_ok=True)
    proc, url = _serve(["--synthetic", str(args.synthetic), "--seed", str(args.seed), "--hostile-pickle"])
    try:
        client = make_client(url, None)
        reads = _counting(client)
        with tempfile.TemporaryDirectory() as tmp:
            db = open_database(Path(tmp) / "bench.duckdb")
            try:
                started = time.monotonic()
                summary = crawl(db, client, CrawlOptions(deep="changed"), handle_signals=False)
                wall = time.monotonic() - started
                con = db.con
                files = con.execute(
                    "SELECT model_id, path, size_bytes, pickle_container FROM safetensors_files "
                    "WHERE file_format = 'pickle'"
                ).fetchall()
                hostile = con.execute(
                    "SELECT m.model_id, m.flags, (SELECT count(*) FROM fetch_errors e WHERE e.model_id = m.model_id), "
                    "(SELECT any_value(message) FROM fetch_errors e WHERE e.model_id = m.model_id) "
                    "FROM models m WHERE m.model_id LIKE 'fakehub-hostile-pickle/%' ORDER BY 1"
                ).fetchall()
                formats = dict(con.execute("SELECT weight_format, count(*) FROM models GROUP BY 1").fetchall())
                years = con.execute(
                    "SELECT year(created_month) AS y, weight_format, sum(models)::INT FROM v_weight_format_by_month "
                    "WHERE year(created_month) <= 2022 GROUP BY ALL ORDER BY 1, 2"
                ).fetchall()
                families = con.execute(
                    "SELECT year(created_month) AS y, dtype_family, sum(models)::INT FROM v_dtype_by_month "
                    "WHERE year(created_month) <= 2022 GROUP BY ALL ORDER BY 1, 2"
                ).fetchall()
            finally:
                db.close()
        expect = {m: json.load(urllib.request.urlopen(f"{url}/_fakehub/truth?id={m}"))["hostile_expect"]
                  for m, *_ in hostile}  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"crawl of fakehub --synthetic {args.synthetic} --seed {args.seed} --hostile-pickle: {wall:.1f}s, "
          f"{summary.models_seen} models seen")  # fmt: skip
    print(f"weight_format of the models: {formats}")
    for label, rows in (("weight format", years), ("storage format (dtype_family)", families)):
        by_year: dict[int, list[str]] = {}
        for year, key, count in rows:
            by_year.setdefault(year, []).append(f"{key} {count}")
        print(f"new models by year and {label}, through 2022: "
              + "; ".join(f"{y}: {', '.join(v)}" for y, v in sorted(by_year.items())))  # fmt: skip
    per_file = [reads[(m, p)] for m, p, _, _ in files if (m, p) in reads]
    n = len(per_file)
    requests = sum(r[0] for r in per_file)
    containers = {c: sum(1 for *_, k in files if k == c) for c in ("zip", "legacy")}
    print(f"pickle files read: {n} ({containers}); resolver requests per pickle file: {requests / n:.3f} "
          f"(goal 1.0-1.1; {sum(1 for r in per_file if r[0] > 1)} files needed more than one read)")  # fmt: skip
    sized = [(reads[(m, p)][1], s) for m, p, s, _ in files if (m, p) in reads and s]
    big = [b / s for b, s in sized if s > BIG]
    print(f"bytes read per pickle file / file size: median {statistics.median(b / s for b, s in sized):.5f}x "
          f"over all {len(sized)} files; over 100 MB ({len(big)} files): median {statistics.median(big):.6f}x, "
          f"max {max(big):.6f}x (goal <= 0.003x)" if big else "no pickle file over 100 MB")  # fmt: skip
    print(f"bytes read for all pickle files: {sum(b for b, _ in sized):,} of {sum(s for _, s in sized):,} "
          f"({sum(b for b, _ in sized) / sum(s for _, s in sized):.6f}x of downloading them)")
    print("hostile pickle repos:")
    recorded = 0
    for model_id, flags, errors, message in hostile:
        flag = next((f for f in flags or [] if f.startswith("pickle-unsafe-globals:")), None)
        ok = (errors == 1) if expect[model_id] == "unreadable" else (flag is not None and errors == 0)
        recorded += ok
        what = f"fetch_errors: {message}" if errors else f"flag: {flag}"
        print(f"  {'ok ' if ok else 'BAD'} {model_id}: {what[:150]}")
    print(f"recorded: {recorded}/{len(hostile)}; payload executed: {SENTINEL.exists()} (sentinel {SENTINEL})")
    print(f"peak RSS of the crawling process: {rss_mb:.0f} MB (goal < 1024 MB)")


if __name__ == "__main__":
    main()
