"""Check: the census stays true to fakehub across a day (epoch 1) by `_id`, at 20,000 models.

    .venv/bin/python bench/bench_identity.py --models 20000 --seed 0 --epoch 1

Crawls epoch 0 (a full walk), moves fakehub to `--epoch`, runs an incremental crawl
(what the cron job does on most days), then the scheduled full walk (`--full-every 0`),
then one more run on the unchanged Hub. Printed per run: mode, requests, renames, no
longer public, seconds; then the comparison with fakehub's truth (live rows by name
and by `_id`, renames, no-longer-public, gating) as counts of mismatches (all 0 = true).
fakehub runs in this process, on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hubcensus.crawler.hub import make_client
from hubcensus.crawler.run import CrawlOptions, crawl
from hubcensus.db.connection import open_database
from hubcensus.fakehub.app import FakeHubConfig, start


def collapsed(events: list[dict]) -> set[tuple[str, str, str]]:
    """fakehub's rename events as a crawl between two moments sees them: per `_id`, first old -> last new.

    A model renamed twice between two crawls (A -> B -> C) is seen once, as A -> C.
    """
    chains: dict[str, tuple[str, str]] = {}
    for ev in events:  # oldest first
        first = chains.get(ev["_id"], (ev["old_id"], ""))[0]
        chains[ev["_id"]] = (first, ev["new_id"])
    return {(h, old, new) for h, (old, new) in chains.items() if old != new}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=20000, help="synthetic models at epoch 0")
    parser.add_argument("--seed", type=int, default=0, help="catalog seed")
    parser.add_argument("--epoch", type=int, default=1, help="the later day to crawl")
    args = parser.parse_args()
    hub = start(FakeHubConfig(synthetic=args.models, seed=args.seed))
    try:
        with tempfile.TemporaryDirectory() as tmp, open_database(Path(tmp) / "bench.duckdb") as db:

            def run(label: str, options: CrawlOptions) -> None:
                before = hub.stats.snapshot()["by_route"]["list"]
                started = time.perf_counter()
                s = crawl(db, make_client(hub.url, None), options, handle_signals=False)
                took = time.perf_counter() - started
                used = hub.stats.snapshot()["by_route"]["list"] - before
                print(f"{label:<28} mode={s.mode:<11} status={s.status} list requests={used:<3} seen={s.models_seen:<6} "
                      f"new={s.models_new:<5} updated={s.models_updated:<4} renamed={s.models_renamed:<3} "
                      f"no longer public={s.models_deleted:<3} {took:6.1f} s")  # fmt: skip

            run("epoch 0: first crawl", CrawlOptions())
            first = set(hub.catalog.hub_ids())
            hub.set_epoch(args.epoch)
            truth = hub.catalog.hub_ids()
            # what a crawl can see: models stored at epoch 0 and listed now, under a new name
            renames = {r for r in collapsed(hub.catalog.renames(since_epoch=0)) if r[0] in first and r[0] in truth}
            gone = first - set(truth)
            print(f"fakehub epoch {args.epoch}: {len(truth)} listed, {len(set(truth) - first)} new, {len(renames)} renamed (of {len(hub.catalog.renames(since_epoch=0))} rename events), "
                  f"{len(gone)} no longer listed (deleted or private)")  # fmt: skip
            run(f"epoch {args.epoch}: incremental", CrawlOptions())
            run(f"epoch {args.epoch}: scheduled full walk", CrawlOptions(full_every=timedelta(0)))
            run(f"epoch {args.epoch}: unchanged hub", CrawlOptions())
            con = db.con
            live = dict(con.execute("SELECT hub_id, model_id FROM models WHERE deleted_at IS NULL").fetchall())
            stored_renames = set(con.execute("SELECT hub_id, old_id, new_id FROM model_renames").fetchall())
            marked = {h for (h,) in con.execute("SELECT hub_id FROM models WHERE deleted_at IS NOT NULL").fetchall()}
            gated = dict(con.execute("SELECT model_id, gated FROM models WHERE deleted_at IS NULL").fetchall())
            want_gated = {name: hub.catalog.truth(name)["gated"] or None for name in truth.values()}
            dupes = con.execute("SELECT count(*) - count(DISTINCT hub_id), count(*) - count(DISTINCT model_id) "
                                "FROM models").fetchone()  # fmt: skip
            print(f"live rows {len(live)} vs listed {len(truth)}: by _id {len(set(live) ^ set(truth))} mismatches, "
                  f"by name {len(set(live.values()) ^ set(truth.values()))} mismatches")  # fmt: skip
            print(f"renames recorded {len(stored_renames)} of {len(renames)}: {len(stored_renames ^ renames)} mismatches")
            for line in sorted(stored_renames ^ renames)[:5]:
                print("  mismatch:", line, "recorded" if line in stored_renames else "expected")
            print(f"no longer public {len(marked)} of {len(gone)}: {len(marked ^ gone)} mismatches")
            print(f"gating: {sum(gated.get(n) != g for n, g in want_gated.items())} mismatches; "
                  f"duplicate _id rows {dupes[0]}, duplicate names {dupes[1]}")  # fmt: skip
    finally:
        hub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
