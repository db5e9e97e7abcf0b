"""PyTorch pickle checkpoints in the census, end to end: a real crawl (walk + header pass) of fakehub's
pickle repos over HTTP into a real DuckDB file, then explain and the views."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubcensus.analysis.explain import explain, render
from hubcensus.crawler.hub import make_client
from hubcensus.crawler.run import CrawlOptions, crawl
from hubcensus.db.connection import open_database
from hubcensus.fakehub import FakeHubConfig, start

SEED = 3
SHARED_PICKLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "pickle"


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """fakehub (400 synthetic repos with pickle-only and both-format repos, the hostile pickles) crawled once."""
    hub = start(FakeHubConfig(synthetic=400, seed=SEED, hostile_pickle=True))
    path = tmp_path_factory.mktemp("pickle") / "census.duckdb"
    db = open_database(path)
    try:
        crawl(db, make_client(hub.url, None), CrawlOptions(deep="changed"), handle_signals=False)
    finally:
        db.close()
    yield hub, path
    hub.stop()


def _truths(hub: Any, weight_format: str) -> list[dict[str, Any]]:
    truths = [hub.catalog.truth(i) for i in hub.catalog.ids()]
    return [t for t in truths if t["weight_format"] == weight_format and not t["gated"] and not t["hostile"]]


def _query(path: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    db = open_database(path, read_only=True)
    try:
        return db.con.execute(sql, params or []).fetchall()
    finally:
        db.close()


def test_pickle_only_models_get_the_truths_exact_figures(crawled) -> None:
    hub, path = crawled
    truths = _truths(hub, "pickle")
    assert len(truths) >= 20
    rows = {
        model_id: (source, fmt, effective)
        for model_id, source, fmt, effective in _query(
            path, "SELECT model_id, weights_source, weight_format, effective_params FROM models"
        )
    }
    assert {t["id"]: rows[t["id"]] for t in truths} == {
        t["id"]: ("header", "pickle", t["effective_parameters"]) for t in truths
    }
    dtypes: dict[str, dict[str, int]] = {}
    for model_id, dtype, parameters in _query(
        path, "SELECT model_id, dtype, parameters FROM model_dtypes WHERE source = 'header'"
    ):
        dtypes.setdefault(model_id, {})[dtype] = parameters
    assert {t["id"]: dtypes[t["id"]] for t in truths} == {t["id"]: t["parameters_by_dtype"] for t in truths}
    files = _query(
        path,
        "SELECT f.model_id, f.path, f.size_bytes, f.pickle_container, f.pickle_unsafe FROM safetensors_files f "
        "WHERE f.file_format = 'pickle' AND f.model_id NOT LIKE 'fakehub-hostile-pickle/%'",
    )
    expected = {
        (t["id"], p, info["size"], info["format"], ())
        for t in truths
        for p, info in t["pickle_files"].items()
        if info["role"] == "weights"
    }
    assert {(m, p, s, c, tuple(u or ())) for m, p, s, c, u in files} == expected
    assert {c for _, _, _, c, _ in files} == {"zip", "legacy"}


def test_weight_format_of_every_model_and_both_repos_count_safetensors(crawled) -> None:
    hub, path = crawled
    formats = dict(_query(path, "SELECT model_id, weight_format FROM models"))
    truths = [hub.catalog.truth(i) for i in hub.catalog.ids() if not i.startswith("fakehub-hostile-pickle/")]
    assert {t["id"]: formats.get(t["id"]) for t in truths} == {t["id"]: t["weight_format"] for t in truths}
    both = _truths(hub, "both")
    assert both
    stored = dict(_query(path, "SELECT model_id, effective_params FROM models WHERE weight_format = 'both'"))
    assert {t["id"]: stored[t["id"]] for t in both} == {t["id"]: t["effective_parameters"] for t in both}
    pickles_read = _query(
        path,
        "SELECT count(*) FROM safetensors_files f JOIN models m USING (model_id) "
        "WHERE m.weight_format = 'both' AND f.file_format = 'pickle'",
    )
    assert pickles_read == [(0,)]  # pickle copies of safetensors weights are never read nor summed
    view = _query(
        path, "SELECT weight_format, sum(models) FROM v_weight_format_by_month GROUP BY 1 ORDER BY 1"
    )
    live = [t for t in truths if not t.get("deleted") and not t.get("private")]
    counts: dict[str, int] = {}
    for t in live:
        counts[t["weight_format"]] = counts.get(t["weight_format"], 0) + 1
    assert dict(view) == {**counts, "pickle": counts["pickle"] + len(hub.catalog.hostile_pickle_ids)}


def test_hostile_pickles_are_recorded_and_the_crawl_goes_on(crawled) -> None:
    hub, path = crawled
    hostile = {i: hub.catalog.truth(i) for i in hub.catalog.hostile_pickle_ids}
    errors = _query(
        path,
        "SELECT model_id, count(*), any_value(kind), any_value(message) FROM fetch_errors "
        "WHERE model_id LIKE 'fakehub-hostile-pickle/%' GROUP BY 1 ORDER BY 1",
    )
    unreadable = sorted(i for i, t in hostile.items() if t["hostile_expect"] == "unreadable")
    assert [(m, n, k) for m, n, k, _ in errors] == [(i, 1, "header") for i in unreadable]
    for model_id, _, _, message in errors:
        assert "pytorch_model.bin" in message, (model_id, message)
    flagged = dict(
        _query(
            path, "SELECT model_id, flags FROM models WHERE model_id = 'fakehub-hostile-pickle/posix-system'"
        )
    )
    assert flagged["fakehub-hostile-pickle/posix-system"] == [
        "pickle-unsafe-globals:posix.system in pytorch_model.bin"
    ]
    assert _query(path, "SELECT model_id, pickle_unsafe FROM v_pickle_files WHERE names_unsafe_globals") == [
        ("fakehub-hostile-pickle/posix-system", ["posix.system"])
    ]
    assert _query(path, "SELECT * FROM v_pickle_unsafe_globals") == [("posix.system", 1, 1)]
    assert not Path("/tmp/hubcensus-pickle-payload-ran").exists()  # the posix.system payload never ran
    stored = _query(path, "SELECT count(*) FROM models WHERE weights_source = 'header'")[0][0]
    assert stored >= len(_truths(hub, "pickle")) + len(_truths(hub, "safetensors"))


def test_explain_a_bin_only_model_like_a_safetensors_one(crawled) -> None:
    hub, path = crawled
    truth = max(_truths(hub, "pickle"), key=lambda t: t["effective_parameters"])
    info = explain(path, truth["id"])
    assert info is not None
    assert (info["weight_format"], info["header_formats"], info["source"]) == ("pickle", ["pickle"], "header")
    assert info["effective_parameters"] == truth["effective_parameters"]
    assert {d: v["parameters"] for d, v in info["parameters_by_dtype"].items()} == truth[
        "parameters_by_dtype"
    ]
    assert info["memory"]["bf16"] == 2 * truth["effective_parameters"]
    text = render(info)
    assert "figures from the PyTorch pickle heads (exact)" in text
    assert "Memory to hold the weights" in text
    assert json.loads(json.dumps(info, default=str))["weight_format"] == "pickle"


def test_mnist_pickle_and_safetensors_give_the_same_census(tmp_path: Path) -> None:
    burn = SHARED_PICKLE / "burn"
    if not (burn / "mnist.pt").is_file() or not (burn / "mnist.safetensors").is_file():
        pytest.skip(f"real files written by others are absent: {burn} (../shared/fixtures/pickle/burn)")
    for name, file in (("mnist-pt", "mnist.pt"), ("mnist-st", "mnist.safetensors")):
        folder = tmp_path / "hub" / "burn" / name
        folder.mkdir(parents=True)
        (folder / file).symlink_to(burn / file)  # served from ../shared, never copied
    hub = start(FakeHubConfig(repos=[tmp_path / "hub"]))
    db = open_database(tmp_path / "mnist.duckdb")
    try:
        crawl(db, make_client(hub.url, None), CrawlOptions(deep="changed"), handle_signals=False)
        census = {
            model_id: rest
            for model_id, *rest in db.con.execute(
                "SELECT model_id, weights_source, effective_params, weight_bytes, dominant_dtype, bits_per_param "
                "FROM v_models ORDER BY 1"
            ).fetchall()
        }
        dtypes = db.con.execute(
            "SELECT model_id, list((dtype, parameters, bytes) ORDER BY dtype) FROM model_dtypes "
            "WHERE source = 'header' GROUP BY 1 ORDER BY 1"
        ).fetchall()
        formats = db.con.execute("SELECT model_id, weight_format FROM models ORDER BY 1").fetchall()
    finally:
        db.close()
        hub.stop()
    assert (
        census["burn/mnist-pt"]
        == census["burn/mnist-st"]
        == ["header", 376_940, 1_507_768, "F32", 1_507_768 * 8 / 376_940]
    )
    assert dtypes[0][1] == dtypes[1][1] == [("F32", 376_938, 1_507_752), ("I64", 2, 16)]
    assert formats == [("burn/mnist-pt", "pickle"), ("burn/mnist-st", "safetensors")]


def test_the_report_counts_pickles_saved_by_torch_before_1_6(crawled) -> None:
    """createdAt folds every pre-2022-03 repo into one month; the legacy container still dates a file."""
    from analysis_census import run_query

    hub, path = crawled
    truths = [hub.catalog.truth(i) for i in hub.catalog.ids()]
    weights = [
        info for t in truths if not t["gated"] and not t["hostile"]
        for info in t["pickle_files"].values() if info["role"] == "weights"
    ]  # fmt: skip
    (row,) = run_query(path, "pickle_globals")
    assert row["legacy_files"] == sum(info["format"] == "legacy" for info in weights) > 0
    assert row["pickle_files"] - row["legacy_files"] >= sum(info["format"] == "zip" for info in weights)
