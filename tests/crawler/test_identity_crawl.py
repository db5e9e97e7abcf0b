"""The census stays true across fakehub epochs: identity by `_id`, renames, the scheduled full walk.

Against fakehub on 127.0.0.1 (epochs rename, delete, hide and gate repos), into a real DuckDB file.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from hubcensus.crawler.hub import HubClient, make_client
from hubcensus.crawler.pacing import RetryPolicy
from hubcensus.crawler.run import CrawlOptions, crawl
from hubcensus.db import store
from hubcensus.db.connection import open_database, utcnow
from hubcensus.fakehub.app import RunningHub
from hubcensus.fakehub.faults import FaultConfig

from tests.hubcensus.test_cli_crawl import Child

pytestmark = pytest.mark.usefixtures("hf_env")
FAST = RetryPolicy(retries=5, base=0.001, cap=0.004, rng=random.Random(0))


def _client(hub: RunningHub) -> HubClient:
    return make_client(hub.url, None, timeout=10, retry=FAST)


def _list_requests(hub: RunningHub) -> int:
    return hub.stats.snapshot()["by_route"]["list"]


def _visible_renames(hub: RunningHub, stored_before: set[str]) -> set[tuple[str, str, str]]:
    """fakehub's renames as a crawl between two moments sees them: per `_id` stored before and listed
    now, first old name -> last new name (A -> B -> C in between is seen as A -> C)."""
    chains: dict[str, tuple[str, str]] = {}
    for ev in hub.catalog.renames(since_epoch=0):  # oldest first
        chains[ev["_id"]] = (chains.get(ev["_id"], (ev["old_id"], ""))[0], ev["new_id"])
    listed = hub.catalog.hub_ids()
    return {(h, old, new) for h, (old, new) in chains.items() if h in stored_before and h in listed and old != new}


def _check_true_to_the_hub(con, hub: RunningHub, renames: set[tuple], gone: set[str]) -> None:
    """Live rows == the Hub by name and by `_id`; renames recorded; gone `_id`s marked; gating as listed."""
    truth = hub.catalog.hub_ids()
    live = dict(con.execute("SELECT hub_id, model_id FROM models WHERE deleted_at IS NULL").fetchall())
    assert live == truth
    assert set(con.execute("SELECT hub_id, old_id, new_id FROM model_renames").fetchall()) == renames
    marked = {h for (h,) in con.execute("SELECT hub_id FROM models WHERE deleted_at IS NOT NULL").fetchall()}
    assert marked == gone
    gated = dict(con.execute("SELECT model_id, gated FROM models WHERE deleted_at IS NULL").fetchall())
    assert gated == {name: hub.catalog.truth(name)["gated"] or None for name in truth.values()}
    assert con.execute("SELECT count(*) - count(DISTINCT hub_id), count(*) - count(DISTINCT model_id) "
                       "FROM models").fetchone() == (0, 0)  # fmt: skip


def test_epoch_one_scheduled_full_walk_then_an_unchanged_hub_costs_two_requests(fakehub_server, db) -> None:
    hub = fakehub_server(synthetic=2000, seed=21)
    first = crawl(db, _client(hub), CrawlOptions())
    assert (first.mode, first.models_new) == ("full", 2000)
    before = set(hub.catalog.hub_ids())
    hub.set_epoch(1)
    after = set(hub.catalog.hub_ids())
    renames = _visible_renames(hub, before)
    gated_changed = sum(
        1 for h, name in hub.catalog.hub_ids().items()
        if h in before and bool(hub.catalog.truth(name)["gated"]) != bool(
            db.con.execute("SELECT gated FROM models WHERE hub_id = ?", [h]).fetchone()[0])
    )  # fmt: skip
    assert renames and before - after and gated_changed  # the day really renamed, removed and gated

    full = crawl(db, _client(hub), CrawlOptions(full_every=timedelta(0), merge_rows=300))  # renames deferred
    assert (full.mode, full.status, full.models_renamed, full.models_deleted) == (
        "full", "ok", len(renames), len(before - after))  # fmt: skip
    _check_true_to_the_hub(db.con, hub, renames, before - after)
    ledger = db.con.execute("SELECT models_renamed, models_deleted FROM crawl_runs WHERE run_id = ?",
                            [full.run_id]).fetchone()  # fmt: skip
    assert ledger == (len(renames), len(before - after))

    requests = _list_requests(hub)
    again = crawl(db, _client(hub), CrawlOptions())  # the default schedule: the full walk is fresh
    assert (again.mode, again.models_new, again.models_updated, again.models_renamed) == ("incremental", 0, 0, 0)
    assert _list_requests(hub) - requests == again.requests_api <= 2


def test_the_schedule_decides_the_mode(fakehub_server, db) -> None:
    hub = fakehub_server(synthetic=300, seed=22)
    assert crawl(db, _client(hub), CrawlOptions(full_every=None)).mode == "full"  # empty database
    completed = store.get_state(db, "full.completed_at")
    assert completed is not None
    assert crawl(db, _client(hub), CrawlOptions()).mode == "incremental"
    store.set_state(db, {"full.completed_at": (utcnow() - timedelta(days=8)).isoformat()})
    assert crawl(db, _client(hub), CrawlOptions()).mode == "full"  # older than 7 days
    assert crawl(db, _client(hub), CrawlOptions(full_every=timedelta(hours=12))).mode == "incremental"
    store.set_state(db, {"full.completed_at": None})  # a database from before the schedule
    assert crawl(db, _client(hub), CrawlOptions(full_every=None)).mode == "incremental"
    assert crawl(db, _client(hub), CrawlOptions()).mode == "full"


def test_kill_9_during_the_scheduled_full_walk_loses_no_rename_or_deletion(fakehub_server, tmp_path: Path) -> None:
    hub = fakehub_server(synthetic=2000, seed=23, faults=FaultConfig(latency_ms=40))
    path = tmp_path / "killed.duckdb"
    with open_database(path) as database:
        crawl(database, _client(hub), CrawlOptions())
    before = set(hub.catalog.hub_ids())
    hub.set_epoch(3)
    renames = _visible_renames(hub, before)
    gone = before - set(hub.catalog.hub_ids())
    assert len(renames) >= 3 and gone
    args = ("--db", str(path), "--endpoint", hub.url, "--deep", "none", "--page-size", "100")
    child = Child(*args, "--full-every", "0")
    child.wait_for_page(6)
    child.proc.kill()
    child.proc.wait(timeout=30)
    with duckdb.connect(str(path), read_only=True) as con:
        cursor = con.execute("SELECT value FROM crawl_state WHERE key = 'full.cursor'").fetchone()
        assert cursor is not None  # the walk was cut short
    resumed = Child(*args)  # the default schedule: the unfinished walk is resumed first
    code, lines, err = resumed.finish()
    assert code == 0, err
    assert " full (resumed), " in lines[-1]
    with duckdb.connect(str(path), read_only=True) as con:
        _check_true_to_the_hub(con, hub, renames, gone)
        runs = con.execute("SELECT mode, status FROM crawl_runs ORDER BY run_id").fetchall()
        assert runs == [("full", "ok"), ("full", "killed"), ("full", "ok")]  # kill -9: found by the next run
