"""End-to-end crawls through fakehub (real HTTP on 127.0.0.1) into a real DuckDB file."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from hubcensus.crawler.hub import HubClient, HubError, make_client
from hubcensus.crawler.pacing import Pacer, RetryPolicy
from hubcensus.crawler.run import CrawlOptions, crawl
from hubcensus.crawler.run_summary import CrawlSummary
from hubcensus.crawler.walk.listing import parse_hub_date
from hubcensus.db import store
from hubcensus.fakehub.app import RunningHub
from hubcensus.fakehub.faults import FaultConfig

pytestmark = pytest.mark.usefixtures("hf_env")

FAST = RetryPolicy(retries=5, base=0.001, cap=0.004, rng=random.Random(0))


def _client(hub: RunningHub, retry: RetryPolicy = FAST) -> HubClient:
    return make_client(hub.url, None, timeout=10, retry=retry)


def _list_requests(hub: RunningHub) -> int:
    return hub.stats.snapshot()["by_route"]["list"]


def _alive(hub: RunningHub) -> set[str]:
    return set(hub.catalog.ids())


def _shas(db) -> dict[str, str]:
    return dict(db.con.execute("SELECT model_id, sha FROM models WHERE deleted_at IS NULL").fetchall())


def test_full_crawl_stores_exactly_the_catalog(fakehub_server, db) -> None:
    hub = fakehub_server(synthetic=2500, seed=3)
    summary = crawl(db, _client(hub), CrawlOptions())
    assert (summary.mode, summary.status, summary.complete, summary.pages) == ("full", "ok", True, 3)
    assert (summary.models_seen, summary.models_new, summary.models_updated, summary.models_deleted) == (
        2500, 2500, 0, 0)  # fmt: skip
    assert summary.requests_api == _list_requests(hub) == 3
    truth = {model_id: hub.catalog.truth(model_id) for model_id in _alive(hub)}
    assert _shas(db) == {m: t["sha"] for m, t in truth.items()}
    stored = Counter()
    for model_id, dtype, parameters in db.con.execute(
        "SELECT model_id, dtype, parameters FROM model_dtypes WHERE source = 'hub'"
    ).fetchall():
        stored[(model_id, dtype)] = parameters
    expected = Counter()
    for model_id, t in truth.items():
        for dtype, n in ((t["hub_safetensors"] or {}).get("parameters") or {}).items():
            expected[(model_id, dtype)] = n
    assert stored == expected
    per_dtype = dict(db.con.execute(
        "SELECT dtype, sum(parameters)::BIGINT FROM model_dtypes WHERE source = 'hub' GROUP BY dtype").fetchall())  # fmt: skip
    truth_per_dtype: Counter[str] = Counter()
    for (_, dtype), n in expected.items():
        truth_per_dtype[dtype] += n
    assert per_dtype == dict(truth_per_dtype)
    rows = db.con.execute(
        "SELECT model_id, created_at, last_modified, hub_total_params, gguf_total, base_models FROM models"
    ).fetchall()
    for model_id, created, modified, total, gguf_total, bases in rows:
        t = truth[model_id]
        assert created == parse_hub_date(t["created_at"]) and modified == parse_hub_date(t["last_modified"])
        assert total == (t["hub_safetensors"] or {}).get("total")
        assert gguf_total == (t["gguf"] or {}).get("total")
        assert bases == ([t["base_model"]] if t["base_model"] else None)
    counts = db.con.execute(
        "SELECT (SELECT count(*) FROM model_versions), (SELECT count(*) FROM model_stats)"
    ).fetchone()
    assert counts == (2500, 2500)
    run = db.con.execute(
        "SELECT mode, status, endpoint, pages, models_seen, models_new, requests_api, rate_limited, errors, "
        "finished_at IS NOT NULL FROM crawl_runs"
    ).fetchone()
    assert run == ("full", "ok", hub.url, 3, 2500, 2500, 3, 0, 0, True)
    assert (
        store.get_state(db, "watermark")
        == max(parse_hub_date(t["last_modified"]) for t in truth.values()).isoformat()
    )
    assert store.get_state(db, "full.cursor") is None


def _by_hub_id(hub: RunningHub) -> dict[str, str]:
    """`_id` -> sha of every listed repo."""
    return {h: hub.catalog.truth(name)["sha"] for h, name in hub.catalog.hub_ids().items()}


def _stored_shas(db) -> dict[str, str]:
    return dict(db.con.execute("SELECT hub_id, sha FROM models WHERE deleted_at IS NULL").fetchall())


def test_later_epoch_incremental_then_full_picks_up_exactly_the_changes(fakehub_server, db) -> None:
    hub = fakehub_server(synthetic=3000, seed=5)
    crawl(db, _client(hub), CrawlOptions())
    before = _by_hub_id(hub)
    hub.set_epoch(1)
    after = _by_hub_id(hub)
    new = set(after) - set(before)
    updated = {h for h in set(after) & set(before) if after[h] != before[h]}
    gone = set(before) - set(after)
    renames = {(r["_id"], r["old_id"], r["new_id"]) for r in hub.catalog.renames(since_epoch=0)}
    assert new and updated and gone and renames  # the epoch really changed things

    requests = _list_requests(hub)
    inc = crawl(db, _client(hub), CrawlOptions())
    assert (inc.mode, inc.status, inc.models_new, inc.models_updated, inc.models_deleted) == (
        "incremental", "ok", len(new), len(updated), 0)  # fmt: skip
    assert _list_requests(hub) - requests == inc.requests_api <= 2
    assert {h: s for h, s in _stored_shas(db).items() if h in after} == after
    assert db.con.execute("SELECT count(*) FROM models WHERE deleted_at IS NOT NULL").fetchone() == (0,)

    requests = _list_requests(hub)
    same = crawl(db, _client(hub), CrawlOptions())
    assert (same.mode, same.models_new, same.models_updated) == ("incremental", 0, 0)
    assert _list_requests(hub) - requests <= 2

    full = crawl(db, _client(hub), CrawlOptions(full=True))
    assert (full.mode, full.models_new, full.models_updated, full.models_deleted) == ("full", 0, 0, len(gone))
    assert full.models_renamed + inc.models_renamed == len(renames)
    stored_gone = {h for (h,) in db.con.execute("SELECT hub_id FROM models WHERE deleted_at IS NOT NULL").fetchall()}
    assert stored_gone == gone
    assert _stored_shas(db) == after
    names = hub.catalog.hub_ids()
    assert _shas(db) == {names[h]: s for h, s in after.items()}
    assert set(db.con.execute("SELECT hub_id, old_id, new_id FROM model_renames").fetchall()) == renames
    assert db.con.execute("SELECT count(*) FROM model_versions").fetchone() == (
        len(before) + len(new) + len(updated),
    )


def test_faults_and_a_tight_quota_no_429_and_unrecovered_failures_recorded(fakehub_server, db) -> None:
    hub = fakehub_server(synthetic=1500, seed=2, quota_api=8, window_s=1,
                         faults=FaultConfig(fail_rate=0.3, drop_rate=0.05, truncate_rate=0.05, seed=4))  # fmt: skip
    retry = RetryPolicy(retries=1, base=0.001, cap=0.002, rng=random.Random(1))
    summary = crawl(db, _client(hub, retry), CrawlOptions(page_size=100, page_rounds=5))
    stats = hub.stats.snapshot()
    assert summary.status == "ok"
    assert stats["429s"] == summary.rate_limited == 0
    assert summary.requests_api == stats["by_route"]["list"] > 15
    faults = sum(stats["faults"].values())
    assert faults == summary.retries + summary.errors
    assert summary.errors >= 1
    errors = db.con.execute("SELECT kind, status, target FROM fetch_errors ORDER BY seq").fetchall()
    assert len(errors) == summary.errors
    assert {kind for kind, _, _ in errors} <= {"http", "connection", "timeout", "parse"}
    assert all(target.startswith("list /api/models?") for _, _, target in errors)
    assert _shas(db) == {m: hub.catalog.truth(m)["sha"] for m in _alive(hub)}


def test_signal_mid_walk_interrupts_cleanly_and_the_next_run_resumes(fakehub_server, db) -> None:
    hub = fakehub_server(synthetic=1000, seed=7)

    def kill_after_two(s: CrawlSummary) -> None:
        if s.pages >= 2:
            os.kill(os.getpid(), signal.SIGTERM)

    one_by_one = CrawlOptions(page_size=200, batch_pages=1)
    first = crawl(db, _client(hub), one_by_one, on_page=kill_after_two)
    assert (first.status, first.pages, first.models_new) == ("interrupted", 2, 400)
    assert store.get_state(db, "full.cursor") is not None
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    second = crawl(db, _client(hub), CrawlOptions(page_size=200))
    assert (second.mode, second.resumed, second.status, second.models_new, second.models_updated) == (
        "full", True, "ok", 600, 0)  # fmt: skip
    assert second.models_deleted == 0
    assert _shas(db) == {m: hub.catalog.truth(m)["sha"] for m in _alive(hub)}
    assert db.con.execute("SELECT count(*) FROM model_versions").fetchone() == (1000,)
    assert _list_requests(hub) <= 5 + 2  # at most the pages fetched ahead when the signal came
    statuses = db.con.execute("SELECT status, message IS NOT NULL FROM crawl_runs ORDER BY run_id").fetchall()
    assert statuses == [("interrupted", True), ("ok", False)]


def test_limit_stops_a_first_walk_that_the_next_run_finishes(fakehub_server, db) -> None:
    hub = fakehub_server(synthetic=700, seed=8)
    first = crawl(db, _client(hub), CrawlOptions(limit=250, page_size=100))
    assert (first.status, first.models_seen, first.pages, first.complete) == ("ok", 250, 3, False)
    assert "--limit 250" in (first.message or "")
    second = crawl(db, _client(hub), CrawlOptions(page_size=100))
    assert (second.mode, second.resumed, second.models_new, second.complete) == ("full", True, 450, True)
    assert _list_requests(hub) == 3 + 5


def test_author_walk_is_scoped(fakehub_server, db) -> None:
    hub = fakehub_server(synthetic=2000, seed=9)
    author = Counter(m.split("/")[0] for m in _alive(hub)).most_common(1)[0][0]
    mine = {m for m in _alive(hub) if m.startswith(author + "/")}
    summary = crawl(db, _client(hub), CrawlOptions(author=author))
    assert (summary.mode, summary.models_new) == ("full", len(mine))
    assert set(_shas(db)) == mine
    assert store.get_state(db, f"author:{author}:watermark") is not None
    assert store.get_state(db, "watermark") is None


def test_client_helpers_count_buckets_and_never_leak_the_token(fakehub_server) -> None:
    hub = fakehub_server(synthetic=300, seed=1)
    model_id = next(m for m in sorted(_alive(hub)) if hub.catalog.truth(m)["files"])
    path = sorted(hub.catalog.truth(model_id)["files"])[0]
    client = make_client(hub.url, "hf_supersecret", timeout=10, retry=FAST)
    head = client.range_get(model_id, path, 0, 7)
    assert len(head) == 8
    n = int.from_bytes(head, "little")
    assert n == hub.catalog.truth(model_id)["files"][path]["header_len"]
    info = client.get_json(f"/api/models/{model_id}")
    assert info["id"] == model_id
    with pytest.raises(HubError) as caught:
        client.get_json("/api/models/nobody/nothing")
    assert caught.value.status == 404 and "hf_supersecret" not in str(caught.value)
    assert "hf_supersecret" not in repr(client)
    assert client.counters() == {"requests_api": 2, "requests_resolvers": 1, "rate_limited": 0, "retries": 0,
                                 "range_ignored": 0}


def test_database_opens_with_plain_duckdb_only(fakehub_server, db, tmp_path: Path) -> None:
    hub = fakehub_server(synthetic=200, seed=4)
    crawl(db, _client(hub), CrawlOptions())
    db.close()
    code = (
        "import sys, duckdb\n"
        f"con = duckdb.connect({str(db.path)!r}, read_only=True)\n"
        "print(con.execute('SELECT count(*), count(DISTINCT sha) FROM models').fetchone())\n"
        'print(con.execute("SELECT status FROM crawl_runs").fetchall())\n'
        "ours = sorted({m.split('.')[0] for m in sys.modules} & {'hubcensus', 'crawler', 'db', 'fakehub', 'sqlalchemy'})\n"
        "print(ours)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["(200, 200)", "[('ok',)]", "[]"]


def test_summary_line_is_one_line() -> None:
    s = CrawlSummary(run_id=3, mode="incremental", endpoint="http://127.0.0.1:1", status="ok", pages=1,
                     models_seen=10, models_new=2, models_updated=1, requests_api=1, elapsed=0.5,
                     watermark=datetime(2026, 1, 1))  # fmt: skip
    assert s.line() == (
        "run 3 ok: incremental, 1 pages, 10 models seen (2 new, 1 updated, 0 renamed, 0 no longer public), "
        "1 API requests, "
        "0 rate-limited, 0 retries, 0 errors in 0.5s"
    )


def test_deep_hook_runs_after_a_complete_listing_only(fakehub_server, db) -> None:
    hub = fakehub_server(synthetic=300, seed=6)
    calls: list[tuple[int, int, bool]] = []

    def deep(database, client, summary: CrawlSummary) -> None:
        calls.append((summary.run_id, summary.models_seen, client is not None and database is db))

    crawl(db, _client(hub), CrawlOptions(limit=100, deep="changed"), deep=deep)
    assert calls == []
    crawl(db, _client(hub), CrawlOptions(deep="changed"), deep=deep)
    crawl(db, _client(hub), CrawlOptions(), deep=deep)
    assert calls == [(2, 200, True)]


def test_the_default_deep_pass_reports_a_spent_budget_and_skipped_gated(fakehub_server, db) -> None:
    hub = fakehub_server(synthetic=300, seed=6)
    summary = crawl(db, _client(hub), CrawlOptions(deep="changed", deep_minutes=0))
    waiting = db.con.execute(
        "SELECT count(*) FILTER (WHERE gated IS NULL), count(*) FILTER (WHERE gated IS NOT NULL) FROM models "
        "WHERE len(coalesce(weight_files, [])) > 0"
    ).fetchone()
    assert (summary.status, summary.headers_fetched) == ("ok", 0)
    assert (summary.headers_left, summary.gated_skipped) == waiting and all(waiting)
    assert f"; {waiting[0]} models' headers left for the next run (time budget)" in summary.line()
    assert f"; {waiting[1]} gated models skipped (no token)" in summary.line()


def test_a_429_is_waited_out_for_the_announced_reset(fakehub_server) -> None:
    class Blind(Pacer):
        def observe(self, bucket: str, headers) -> None:  # ignores the quota: provokes 429s
            pass

    hub = fakehub_server(synthetic=50, seed=1, quota_api=2, window_s=1)
    client = make_client(hub.url, None, timeout=10, retry=FAST)
    client.pacer = Blind(sleep=client.sleep, initial_interval=0.0, margin=0.05)
    model_id = sorted(_alive(hub))[0]
    assert [client.get_json(f"/api/models/{model_id}")["id"] for _ in range(3)] == [model_id] * 3
    stats = hub.stats.snapshot()
    assert stats["429s"] == client.rate_limited >= 1
    assert stats["by_status"][200] == 3
    assert client.counters()["requests_api"] == 3 + client.rate_limited
