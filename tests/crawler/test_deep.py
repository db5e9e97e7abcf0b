"""The header pass through real HTTP: fakehub serves the files, our plan reads them, DuckDB stores them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hubcensus.crawler.deep import read_model, run_deep
from hubcensus.crawler.files.headers import FIRST_READ_BYTES, read_repo_headers
from hubcensus.crawler.hub import CrawlInterrupted, make_client
from hubcensus.db import listing_store, store
from hubcensus.db.connection import open_database
from hubcensus.db.header_queue import Candidate, Selection, parse_selection, pending
from hubcensus.fakehub.pytest_plugin import FIXTURES_HUB

SEED = 3


def _files(truth: dict[str, Any]) -> list[str]:
    return list((truth.get("file_sizes") or {}).keys())


def _readable(catalog: Any) -> list[dict[str, Any]]:
    truths = [catalog.truth(model_id) for model_id in catalog.ids()]
    return [
        t
        for t in truths
        if not t["gated"] and not t["hostile"] and any(f.endswith(".safetensors") for f in _files(t))
    ]


def test_every_model_read_equals_the_catalog_truth(fakehub_server) -> None:
    hub = fakehub_server(synthetic=400, seed=SEED)
    client = make_client(hub.url, None)
    truths = _readable(hub.catalog)
    methods = set()
    for truth in truths:
        candidate = Candidate(
            truth["id"], truth["sha"], _files(truth), truth["config"], truth["hub_safetensors"]
        )
        headers, weights = read_model(client, candidate)
        assert weights.storage_parameters == truth["parameters_by_dtype"], truth["id"]
        assert weights.effective_parameters == truth["effective_parameters"], truth["id"]
        assert weights.method == truth["quant_method"], truth["id"]
        assert {f.path: (f.file_size, f.header_len) for f in headers.files} == {
            path: (info["size"], info["header_len"]) for path, info in truth["files"].items()
        }
        methods.add(weights.method)
    assert {"none", "gptq", "awq", "fp8", "bnb-4bit", "mxfp4", "mlx"} <= methods
    routes = hub.stats.snapshot()["by_route"]
    assert routes["resolve_head"] == 0  # file names came from the siblings: no probes
    assert routes.get("safetensors_metadata", 0) == 0 and routes["other"] == 0  # only routes HUB_API.md lists
    read = [info for t in truths for info in t["files"].values()]
    large = sum(1 for info in read if 8 + info["header_len"] > FIRST_READ_BYTES)
    # one range GET per weight file, a second only past the first read; shard names from the siblings
    assert routes["resolve_get"] == len(read) + large


def test_real_fixture_is_read_byte_exact(fakehub_server) -> None:
    hub = fakehub_server(repos=[FIXTURES_HUB])
    client = make_client(hub.url, None)
    info = client.get_json("/api/models/sentence-transformers/all-MiniLM-L6-v2")
    headers = read_repo_headers(client, info["id"], ["model.safetensors"], info["sha"])
    (header,) = headers.files
    assert (header.file_size, header.header_len, len(header.tensors)) == (90_868_376, 11_408, 104)
    assert header.dtype_totals() == {"F32": (22_713_216, 90_852_864), "I64": (512, 4096)}
    assert header.metadata == {"format": "pt"}


def test_shards_the_siblings_do_not_show_are_read_from_the_index(fakehub_server) -> None:
    hub = fakehub_server(synthetic=400, seed=SEED)
    client = make_client(hub.url, None)
    truth = next(t for t in _readable(hub.catalog) if any(f.endswith(".index.json") for f in _files(t)))
    index = next(f for f in _files(truth) if f.endswith(".index.json"))
    candidate = Candidate(truth["id"], truth["sha"], [index], truth["config"], None)  # shards not listed
    headers, weights = read_model(client, candidate)
    assert weights.effective_parameters == truth["effective_parameters"]
    assert sorted(f.path for f in headers.files) == sorted(truth["files"])
    assert "total_size" in headers.index_metadata[""]
    large = sum(1 for info in truth["files"].values() if 8 + info["header_len"] > FIRST_READ_BYTES)
    assert hub.stats.snapshot()["by_route"]["resolve_get"] == 1 + len(truth["files"]) + large


def _listing_rows(truths: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "model_id": t["id"],
            "sha": t["sha"],
            "downloads": i,
            "gated": t["gated"] or None,
            "weight_files": _files(t),
            "quant_config": t["config"],
            "hub_parameters": (t["hub_safetensors"] or {}).get("parameters"),
            "hub_total_params": (t["hub_safetensors"] or {}).get("total"),
            "weights_source": "hub",
        }
        for i, t in enumerate(truths)
    ]


def _listed(path: Path, endpoint: str, truths: list[dict[str, Any]]) -> tuple[Any, int]:
    """A fresh database holding the listing rows of `truths`, and its run id."""
    db = open_database(path)
    run = store.start_run(db, mode="full", endpoint=endpoint, version="test")
    listing_store.store_listing_page(db, _listing_rows(truths), run_id=run, seen_at=datetime(2026, 11, 1))
    return db, run


def test_run_deep_stores_exact_figures_and_records_hostile_files(fakehub_server, tmp_path: Path) -> None:
    hub = fakehub_server(synthetic=60, seed=SEED, hostile=True)
    catalog = hub.catalog
    truths = _readable(catalog)
    hostile = [catalog.truth(model_id) for model_id in catalog.hostile_ids]
    db, run = _listed(tmp_path / "deep.duckdb", hub.url, truths + hostile)
    client = make_client(hub.url, None)

    summary = run_deep(db, client, run_id=run, selection="changed", workers=4)

    assert (summary.models, summary.stored, summary.unreadable, summary.failed) == (
        len(truths) + len(hostile), len(truths), len(hostile), 0,
    )  # fmt: skip
    stored = dict(
        db.con.execute(
            "SELECT model_id, effective_params FROM models WHERE weights_source = 'header'"
        ).fetchall()
    )
    assert stored == {t["id"]: t["effective_parameters"] for t in truths}
    files = db.con.execute("SELECT count(*), sum(size_bytes) FROM safetensors_files").fetchone()
    assert files == (
        sum(len(t["files"]) for t in truths),
        sum(info["size"] for t in truths for info in t["files"].values()),
    )
    errors = db.con.execute("SELECT model_id, kind FROM fetch_errors ORDER BY model_id").fetchall()
    assert errors == sorted((t["id"], "header") for t in hostile)
    flagged = db.con.execute(
        "SELECT count(*) FROM models WHERE deep_sha = sha AND flags[1] LIKE 'unreadable_header:%'"
    ).fetchone()[0]
    assert flagged == len(hostile)

    before = hub.stats.snapshot()["requests"]
    again = run_deep(db, client, run_id=run, selection="changed")
    assert (again.models, hub.stats.snapshot()["requests"]) == (0, before)
    db.close()


def test_gated_models_wait_for_a_token(fakehub_server, tmp_path: Path) -> None:
    hub = fakehub_server(synthetic=300, seed=SEED)
    truths = [hub.catalog.truth(model_id) for model_id in hub.catalog.ids()]
    gated = [
        t
        for t in truths
        if t["gated"] and not t["hostile"] and any(f.endswith(".safetensors") for f in _files(t))
    ]
    readable = _readable(hub.catalog)
    assert gated and readable
    db, run = _listed(tmp_path / "gated.duckdb", hub.url, gated + readable)

    anonymous = run_deep(db, make_client(hub.url, None), run_id=run, selection="changed")

    assert (anonymous.models, anonymous.stored, anonymous.gated_skipped) == (
        len(readable),
        len(readable),
        len(gated),
    )
    assert db.con.execute("SELECT count(*) FROM fetch_errors").fetchone() == (0,)  # no 401 was asked for
    left = db.con.execute("SELECT model_id FROM models WHERE deep_sha IS NULL ORDER BY 1").fetchall()
    assert left == sorted((t["id"],) for t in gated)

    with_token = run_deep(db, make_client(hub.url, "hf_" + "x" * 34), run_id=run, selection="changed")

    assert (with_token.models, with_token.stored, with_token.gated_skipped) == (len(gated), len(gated), 0)
    stored = dict(
        db.con.execute("SELECT model_id, effective_params FROM models WHERE gated IS NOT NULL").fetchall()
    )
    assert stored == {t["id"]: t["effective_parameters"] for t in gated}
    db.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("changed", Selection("changed")),
        ("ALL", Selection("all")),
        ("none", Selection("none")),
        ("top:25", Selection("top", 25)),
    ],
)
def test_selection_forms(text: str, expected: Selection) -> None:
    assert parse_selection(text) == expected


@pytest.mark.parametrize("text", ["top:0", "top:x", "some", ""])
def test_bad_selection_is_one_clear_line(text: str) -> None:
    with pytest.raises(ValueError, match="--deep must be none, changed, all or top:N"):
        parse_selection(text)


def test_storage_counts_agree_with_huggingface_hub_on_the_same_files(fakehub_server, monkeypatch) -> None:
    from huggingface_hub import HfApi

    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    hub = fakehub_server(synthetic=400, seed=SEED)
    api = HfApi(endpoint=hub.url, token=False)
    client = make_client(hub.url, None)
    roots = [
        t
        for t in _readable(hub.catalog)
        if {"model.safetensors", "model.safetensors.index.json"} & set(_files(t))
    ]
    by_kind: dict[str, list[dict]] = {}
    for truth in roots:
        by_kind.setdefault(truth["kind"], []).append(truth)
    assert len(by_kind) >= 8  # every kind of weights the catalog has, three repos of each (plain, sharded,
    for truth in [t for group in by_kind.values() for t in group[:3]]:  # quantized, pipelines...)
        theirs = api.get_safetensors_metadata(truth["id"], revision=truth["sha"]).parameter_count
        _, weights = read_model(
            client, Candidate(truth["id"], truth["sha"], _files(truth), truth["config"], None)
        )
        root = weights.components[""]
        assert root.storage_parameters == theirs, truth["id"]


def test_pending_streams_in_chunks_most_downloaded_first(fakehub_server, tmp_path: Path) -> None:
    hub = fakehub_server(synthetic=120, seed=SEED)
    truths = _readable(hub.catalog)
    db, _run = _listed(tmp_path / "pending.duckdb", hub.url, truths)
    by_downloads = [t["id"] for t in reversed(truths)]  # _listing_rows gives downloads = position

    count, whole = pending(db, Selection("changed"), chunk=1000)
    assert (count, [c.model_id for c in whole]) == (len(truths), by_downloads)
    count, chunked = pending(db, Selection("changed"), chunk=7)
    first = next(chunked)
    assert (first.model_id, first.sha, first.weight_files) == (
        truths[-1]["id"],
        truths[-1]["sha"],
        _files(truths[-1]),
    )
    assert [first.model_id, *(c.model_id for c in chunked)] == by_downloads
    assert db.con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'deep_todo'"
    ).fetchone() == (0,)
    count, top = pending(db, Selection("top", 5), chunk=2)
    assert (count, [c.model_id for c in top]) == (5, by_downloads[:5])
    db.close()


def test_a_stopped_pass_keeps_what_it_read(fakehub_server, tmp_path: Path) -> None:
    hub = fakehub_server(synthetic=200, seed=SEED)
    truths = _readable(hub.catalog)
    db, run = _listed(tmp_path / "stopped.duckdb", hub.url, truths)
    client = make_client(hub.url, None)
    read_before_stop: list[int] = []

    def stop_after_ten(summary) -> None:  # type: ignore[no-untyped-def]
        if summary.unreadable + summary.failed == 0 and not client.stop.is_set():
            read_before_stop.append(1)
            if len(read_before_stop) == 10:
                client.stop.set()

    with pytest.raises(CrawlInterrupted):
        run_deep(db, client, run_id=run, selection="changed", workers=2, on_model=stop_after_ten)

    exact = db.con.execute("SELECT count(*) FROM models WHERE weights_source = 'header'").fetchone()[0]
    assert 10 <= exact < len(truths)  # nothing stored before the stop (batch of 1,000), all of it after
    files = db.con.execute("SELECT count(DISTINCT model_id) FROM safetensors_files").fetchone()[0]
    assert files == exact
    db.close()


def test_a_spent_time_budget_leaves_the_rest_for_the_next_run(fakehub_server, tmp_path: Path) -> None:
    hub = fakehub_server(synthetic=80, seed=SEED)
    truths = _readable(hub.catalog)
    db, run = _listed(tmp_path / "budget.duckdb", hub.url, truths)
    client = make_client(hub.url, None)
    before = hub.stats.snapshot()["requests"]

    spent = run_deep(db, client, run_id=run, selection="changed", minutes=0)

    assert (spent.models, spent.stored, spent.left) == (len(truths), 0, len(truths))
    assert hub.stats.snapshot()["requests"] == before
    later = run_deep(db, client, run_id=run, selection="changed", minutes=60)
    assert (later.models, later.stored, later.left) == (len(truths), len(truths), 0)
    db.close()


def test_a_deep_pass_with_a_token_never_sends_it_to_the_cdn(fakehub_server, tmp_path: Path) -> None:
    """Against fakehub's CDN listener (LFS files answer resolve with a 302 to another port)."""
    hub = fakehub_server(synthetic=120, seed=SEED)
    if "cdn" not in hub.stats.snapshot():
        pytest.skip("this fakehub serves LFS bytes itself (no CDN listener)")
    truths = [t for t in _readable(hub.catalog) if not t["gated"]]
    db, run = _listed(tmp_path / "cdn.duckdb", hub.url, truths)
    client = make_client(hub.url, "hf_deep_pass_token")
    summary = run_deep(db, client, run_id=run, selection="changed", workers=4)
    assert summary.stored == len(truths)
    stats = hub.stats.snapshot()
    read = sum(len(t["files"]) for t in truths)
    assert stats["cdn"]["requests"] >= read > 0 and stats["cdn"]["with_authorization"] == 0
    assert client.offhost == stats["cdn"]["requests"]  # the CDN hop is never counted as a Hub request
    assert client.counters()["requests_resolvers"] == stats["by_bucket"]["resolvers"]
    assert stats["by_route"]["other"] == 0  # every request went to a route the Hub has
    db.close()


def test_a_repo_renamed_after_the_walk_is_renamed_by_the_header_pass(fakehub_server, tmp_path: Path) -> None:
    import shutil

    from hubcensus.crawler.run import CrawlOptions, crawl

    shutil.copytree(FIXTURES_HUB, tmp_path / "hub")  # a server of its own: the rename changes it
    hub = fakehub_server(repos=[tmp_path / "hub"])
    old, new = "sentence-transformers/all-MiniLM-L6-v2", "acme-org/all-MiniLM-L6-v2"
    db = open_database(tmp_path / "renamed.duckdb")
    try:
        crawl(db, make_client(hub.url, None), CrawlOptions(deep="none"), handle_signals=False)
        hub.rename(old, new)  # the old name's /resolve/ now answers 307 to the new one
        run = store.start_run(db, mode="deep", endpoint=hub.url, version="test")
        summary = run_deep(db, make_client(hub.url, None), run_id=run, selection="changed")
        assert summary.stored == 1
        con = db.con
        assert con.execute("SELECT model_id, weights_source FROM models").fetchall() == [(new, "header")]
        assert con.execute("SELECT old_id, new_id FROM model_renames").fetchall() == [(old, new)]
        assert con.execute("SELECT DISTINCT model_id FROM safetensors_files").fetchall() == [(new,)]
    finally:
        db.close()
