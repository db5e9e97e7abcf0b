"""Benchmark: the header pass's request plan vs huggingface_hub's `get_safetensors_metadata` loop.

    .venv/bin/python bench/bench_headers.py --models 3000 --quota-resolvers 600 --window 10

Both read the same models of a mixed synthetic fakehub catalog (single-file and
sharded, root weights only: the client's loop cannot see diffusers subfolders),
through real HTTP; fakehub counts the requests per rate-limit bucket (API: 1,000 per
5 minutes on a free account, resolvers: 5,000). Our plan uses documented routes only
(range reads of `/resolve/`, HUB_API.md): one read per file, a second only for a
header longer than the first read. Then our header pass reads every model with
safetensors (subfolders included) under a resolver quota, printing headers/s against
the quota floor and the 429s it drew. Target: zero 429s, and fewer requests than the
naive loop in each bucket.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from hubcensus.crawler.deep import read_model, run_deep
from hubcensus.crawler.files.headers import FIRST_READ_BYTES
from hubcensus.crawler.hub import make_client
from hubcensus.crawler.walk.listing import normalize
from hubcensus.db import listing_store, store
from hubcensus.db.connection import open_database, utcnow
from hubcensus.db.header_queue import Candidate
from hubcensus.fakehub.app import FakeHubConfig, start
from huggingface_hub import HfApi


def _root_weight_models(catalog: Any, limit: int) -> list[dict[str, Any]]:
    chosen = []
    for model_id in catalog.ids():
        truth = catalog.truth(model_id)
        names = list(truth.get("file_sizes") or {})
        if truth["gated"] or truth.get("hostile"):
            continue
        if "model.safetensors" in names or "model.safetensors.index.json" in names:
            chosen.append(truth)
        if len(chosen) >= limit:
            break
    return chosen


def compare_plans(models: int, seed: int, sample: int) -> None:
    """Requests per model and per bucket: huggingface_hub's loop vs our plan, on the same models."""
    hub = start(FakeHubConfig(synthetic=models, seed=seed))
    try:
        truths = _root_weight_models(hub.catalog, sample)
        api = HfApi(endpoint=hub.url, token=False)
        before = hub.stats.snapshot()["by_bucket"]
        for truth in truths:
            api.get_safetensors_metadata(truth["id"], revision=truth["sha"])
        after = hub.stats.snapshot()["by_bucket"]
        naive = {b: after[b] - before[b] for b in ("api", "resolvers")}
        client = make_client(hub.url, None)
        before = hub.stats.snapshot()
        for truth in truths:
            names = list(truth["file_sizes"])
            read_model(client, Candidate(truth["id"], truth["sha"], names, truth["config"], None))
        after = hub.stats.snapshot()
        ours = {b: after["by_bucket"][b] - before["by_bucket"][b] for b in naive}
        unlisted = after["by_route"]["other"] - before["by_route"]["other"]  # fakehub's unrouted paths
    finally:
        hub.stop()
    n = len(truths)
    sharded = sum(1 for t in truths if "model.safetensors.index.json" in t["file_sizes"])
    headers = [info["header_len"] for t in truths for info in t["files"].values() if info["header_len"]]
    print(f"models compared: {n} ({sharded} sharded, {n - sharded} single-file), {len(headers)} weight files")
    for limit in (100_000, FIRST_READ_BYTES):
        fit = sum(1 for h in headers if 8 + h <= limit)
        print(f"  headers fitting a first read of {limit:,} bytes: {fit / len(headers):.1%}")
    print(f"{'requests per model':<44}{'API':>8}{'resolvers':>11}{'total':>8}")
    for label, counts in (("huggingface_hub get_safetensors_metadata", naive), ("hubcensus plan", ours)):
        print(
            f"{label:<44}{counts['api'] / n:>8.2f}{counts['resolvers'] / n:>11.2f}{sum(counts.values()) / n:>8.2f}"
        )
    for bucket in ("api", "resolvers"):
        ratio = f"{ours[bucket] / naive[bucket]:.2f}" if naive[bucket] else "n/a (naive: 0)"
        print(f"ratio ours/naive, {bucket} bucket: {ratio} ({ours[bucket]} vs {naive[bucket]} requests)")
    total = sum(ours.values()) / sum(naive.values())
    print(
        f"ratio ours/naive, all requests: {total:.2f}; calls to routes HUB_API.md does not list: {unlisted}"
    )


def deep_under_quota(models: int, seed: int, quota: int, window: int, workers: int) -> None:
    """The whole header pass over the catalog under a resolver quota: headers/s and 429s."""
    hub = start(
        FakeHubConfig(synthetic=models, seed=seed, quota_resolvers=quota, quota_api=quota, window_s=window)
    )
    try:
        client = make_client(hub.url, None)
        with tempfile.TemporaryDirectory() as tmp, open_database(Path(tmp) / "bench.duckdb") as db:
            run = store.start_run(db, mode="bench", endpoint=hub.url, version="bench")
            rows = []
            for model_id in hub.catalog.ids():
                truth = hub.catalog.truth(model_id)
                item = {"id": model_id, "sha": truth["sha"], "siblings": [{"rfilename": n} for n in truth["file_sizes"]],
                        "config": truth["config"], "gated": truth["gated"]}  # fmt: skip
                rows.append(normalize(item))
            listing_store.store_listing_page(db, rows, run_id=run, seen_at=utcnow())
            before = hub.stats.snapshot()
            started = time.monotonic()
            summary = run_deep(db, client, run_id=run, selection="changed", workers=workers)
            wall = time.monotonic() - started
            after = hub.stats.snapshot()
    finally:
        hub.stop()
    resolver = after["by_bucket"]["resolvers"] - before["by_bucket"]["resolvers"]
    api = after["by_bucket"]["api"] - before["by_bucket"]["api"]
    floor = max(resolver / quota, api / quota) * window
    print(
        f"header pass: {summary.models} models ({summary.stored} stored, {summary.unreadable} unreadable, "
        f"{summary.failed} failed), {resolver} resolver + {api} API requests in {wall:.1f}s"
    )
    print(
        f"headers/s: {summary.stored / wall:.1f} models/s; quota floor {floor:.1f}s, wall/floor {wall / floor:.2f}"
    )
    print(f"429s drawn: {after['429s'] - before['429s']} (target 0)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=3000, help="synthetic catalog size")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sample", type=int, default=300, help="models for the plan comparison")
    parser.add_argument(
        "--quota-resolvers", type=int, default=600, help="resolver (and API) quota per window"
    )
    parser.add_argument("--window", type=int, default=10, help="rate-limit window in seconds")
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    compare_plans(args.models, args.seed, args.sample)
    deep_under_quota(args.models, args.seed, args.quota_resolvers, args.window, args.workers)


if __name__ == "__main__":
    main()
