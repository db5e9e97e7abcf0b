"""Benchmark: database write costs at Hub scale, without HTTP.

    .venv/bin/python bench/bench_store.py --models 2000000

Fills a DuckDB file through SQL with N models and their history, header files
(2 per model with weights) and file dtypes, then times under the crawl's memory
limit:
- a listing page staged (the per-page cost of a walk) against a page staged and
  merged at once (the per-page cost before staging), and one 50,000-row merge;
- `store_headers` for 100 and for 1,000 models (the header pass's batch);
- streaming every header-pass candidate (`pending`), the whole-Hub selection.
Prints the figures, the ratios, and the peak RSS.
Target: a staged page costs the same at any table size (well under the
merged-per-page cost); streaming the candidates stays inside the memory limit.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hubcensus.crawler.run import CrawlOptions
from hubcensus.db import listing_store, store
from hubcensus.db.connection import open_database
from hubcensus.db.header_queue import Selection, pending

SEEN = datetime(2026, 11, 1)
FILL = [
    """INSERT INTO models (model_id, author, created_at, last_modified, sha, downloads, likes, tags, weight_files,
                           hub_total_params, weights_source, dominant_dtype, first_seen, last_seen, last_run_id)
       SELECT 'org' || (i % 50000) || '/model-' || i, 'org' || (i % 50000),
              TIMESTAMP '2022-01-01' + to_seconds(i * 30), TIMESTAMP '2022-01-01' + to_seconds(i * 30),
              md5(i::VARCHAR) || 'abcdefgh', (i * 7919) % 100000, i % 97, ['transformers', 'safetensors'],
              CASE WHEN i % 6 = 0 THEN [] ELSE ['model.safetensors'] END, 1000000 + i, 'hub', 'BF16',
              TIMESTAMP '2026-10-01', TIMESTAMP '2026-10-01', 1
       FROM range({n}) t(i)""",
    """INSERT INTO model_versions (model_id, sha, last_modified, first_seen, run_id, hub_total_params)
       SELECT model_id, sha, last_modified, first_seen, 1, hub_total_params FROM models""",
    """INSERT INTO model_stats SELECT model_id, first_seen, 1, downloads, downloads, likes FROM models""",
    """INSERT INTO model_dtypes SELECT model_id, 'hub', d, hub_total_params, hub_total_params * 2
       FROM models, (VALUES ('BF16'), ('F32')) v(d)""",
    """INSERT INTO safetensors_files SELECT model_id, sha, 'model-0000' || k || '.safetensors', '', 1000000000,
              80000, 300, 'pt', TIMESTAMP '2026-10-01'
       FROM models, range(2) r(k) WHERE len(weight_files) > 0""",
    """INSERT INTO file_dtypes SELECT model_id, sha, path, d, 100, 1000000, 2000000
       FROM safetensors_files, (VALUES ('BF16'), ('F32'), ('I32')) v(d)""",
]


def page_rows(start: int, count: int) -> list[dict[str, Any]]:
    """Listing rows of new models, shaped as `hubcensus.crawler.walk.listing.normalize` makes them."""
    return [
        {"model_id": f"new/model-{i}", "author": "new", "created_at": SEEN, "last_modified": SEEN,
         "sha": f"{i:040d}", "downloads": i, "likes": 1, "tags": ["safetensors"], "weights_source": "hub",
         "weight_files": ["model.safetensors"], "hub_parameters": {"BF16": 1000, "F32": 10},
         "hub_total_params": 1010, "dominant_dtype": "BF16", "weight_bytes": 2040}
        for i in range(start, start + count)
    ]  # fmt: skip


def header_rows(ids: list[tuple[str, str]]) -> tuple[list[dict], list[dict], list[dict]]:
    """`store_headers` input for these (model_id, sha) pairs: one file and one dtype each."""
    models = [{"model_id": m, "sha": s, "weights_source": "header", "dominant_dtype": "BF16",
               "quant_method": "none", "effective_params": 10, "weight_bytes": 20, "overhead_bytes": 0,
               "file_bytes": 30, "bits_per_param": 16.0, "flags": [], "header_parameters": {"BF16": 10}}
              for m, s in ids]  # fmt: skip
    files = [{"model_id": m, "sha": s, "path": "model.safetensors", "component": "", "size_bytes": 30,
              "header_bytes": 8, "tensor_count": 1, "metadata_format": "pt"} for m, s in ids]  # fmt: skip
    dtypes = [{"model_id": m, "sha": s, "path": "model.safetensors", "dtype": "BF16", "tensors": 1,
               "parameters": 10, "bytes": 20} for m, s in ids]  # fmt: skip
    return models, files, dtypes


def timed(fn: Any, *args: Any, **kwargs: Any) -> float:
    started = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=2_000_000, help="models to fill the database with")
    parser.add_argument("--memory-limit-mb", type=int, default=CrawlOptions().memory_limit_mb,
                        help="DuckDB memory_limit (the crawl's default)")  # fmt: skip
    parser.add_argument("--merge-rows", type=int, default=CrawlOptions().merge_rows,
                        help="rows staged before the timed merge (the crawl's merge_rows)")  # fmt: skip
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp, open_database(Path(tmp) / "store.duckdb") as db:
        con = db.con
        con.execute(f"SET memory_limit = '{args.memory_limit_mb}MB'")
        started = time.perf_counter()
        for sql in FILL:
            con.execute(sql.format(n=args.models))
        con.execute("CHECKPOINT")
        sizes = con.execute(
            "SELECT (SELECT count(*) FROM models), (SELECT count(*) FROM safetensors_files), "
            "(SELECT count(*) FROM file_dtypes)"
        ).fetchone()
        print(f"filled in {time.perf_counter() - started:.0f}s: {sizes[0]:,} models, {sizes[1]:,} files, "
              f"{sizes[2]:,} file dtypes; DuckDB memory limit {args.memory_limit_mb} MB")  # fmt: skip
        run = store.start_run(db, mode="full", endpoint="bench", version="bench")

        merged_each = [
            timed(listing_store.store_listing_page, db, page_rows(k * 1000, 1000), run_id=run, seen_at=SEEN)
            for k in range(3)
        ]
        staged = [
            timed(listing_store.stage_listing_page, db, page_rows(k * 1000, 1000), run_id=run, seen_at=SEEN)
            for k in range(3, 3 + args.merge_rows // 1000)
        ]
        merge = timed(listing_store.merge_staged, db)
        per_page_merge = merge / len(staged)
        stage_ms = 1000 * sum(staged) / len(staged)
        merged_ms = 1000 * sum(merged_each) / len(merged_each)
        print(f"listing page, merged at once   {merged_ms:7.0f} ms per page (the write path before staging)")
        print(f"listing page, staged           {stage_ms:7.0f} ms per page, + {merge:.1f}s per "
              f"{args.merge_rows:,}-row merge = {stage_ms + 1000 * per_page_merge:.0f} ms per page "
              f"({(stage_ms + 1000 * per_page_merge) / merged_ms:.2f}x)")  # fmt: skip

        ids = con.execute("SELECT model_id, sha FROM models USING SAMPLE 1100 ROWS").fetchall()
        for size, chosen in ((100, ids[:100]), (1000, ids[100:1100])):
            seconds = timed(store.store_headers, db, *header_rows(chosen))
            print(f"store_headers, {size:5} models    {seconds:7.2f} s ({1000 * seconds / size:.1f} ms per model)")

        started = time.perf_counter()
        count, candidates = pending(db, Selection("changed"))
        streamed = sum(1 for _ in candidates)
        seconds = time.perf_counter() - started
        print(f"deep candidates streamed       {streamed:,} of {count:,} in {seconds:.1f}s "
              f"({streamed / seconds:,.0f} per s)")  # fmt: skip
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS                       {rss_mb:,.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
