"""The GGUF pass end to end: fakehub's GGUF repos crawled over real HTTP into a real DuckDB file,
stored exactly as their specs say; hostile files are recorded errors; reads stay cheap."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hubcensus.analysis import queries
from hubcensus.analysis.connect import install_temp_views
from hubcensus.analysis.explain import explain, render
from hubcensus.analysis.headline import fmt_bytes
from hubcensus.analysis.report import write_report
from hubcensus.crawler.gguf_pass import representative, variants
from hubcensus.crawler.hub import make_client
from hubcensus.crawler.run import CrawlOptions, crawl
from hubcensus.db.connection import open_database
from hubcensus.fakehub.app import FakeHubConfig, start
from hubcensus.fakehub.gguf_repos import ORG


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, int]]:
    """One crawl (listing + headers) of a hub holding only the GGUF repos."""
    path = tmp_path_factory.mktemp("gguf") / "census.duckdb"
    with start(FakeHubConfig(gguf=True)) as hub:
        truths = {model_id: hub.catalog.truth(model_id) for model_id in hub.catalog.ids()}
        with open_database(path) as db:
            summary = crawl(db, make_client(hub.url, None), CrawlOptions(full=True, deep="all"),
                            handle_signals=False)  # fmt: skip
        routes = hub.stats.snapshot()["by_route"]
    assert summary.status == "ok", summary
    return path, truths, routes


def _rows(path: Path, sql: str, *args: Any) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, list(args)).fetchall()


def test_every_file_is_stored_as_its_spec_says(crawled) -> None:
    path, truths, _ = crawled
    n_files = 0
    stored = {
        (r[0], r[1]): r[2:]
        for r in _rows(
            path,
            """SELECT model_id, path, status, error, version, tensor_count, parameters, tensor_bytes,
                      size_bytes, file_type_label, architecture FROM gguf_files""",
        )
    }
    by_type: dict[tuple[str, str], dict[str, tuple[int, int, int]]] = {}
    for model_id, file_path, t, a, b, c in _rows(
        path, "SELECT model_id, path, ggml_type, tensors, parameters, bytes FROM gguf_types"
    ):
        by_type.setdefault((model_id, file_path), {})[t] = (a, b, c)
    for model_id, truth in truths.items():
        for file_path, want in truth["gguf_files"].items():
            n_files += 1
            status, error, version, tensors, params, tbytes, size, label, arch = stored[(model_id, file_path)]
            assert size == truth["file_sizes"][file_path]
            if want["status"] == "error":
                assert (status, version, tensors) == ("error", None, None), file_path
                assert error and "\n" not in error
                continue
            assert status == "ok", (file_path, error)
            assert (version, tensors, params, tbytes, label, arch) == (
                want["version"], want["tensor_count"], want["parameters"], want["tensor_bytes"],
                want["file_type_label"], want["architecture"],
            ), file_path  # fmt: skip
            assert by_type[(model_id, file_path)] == want["types"], file_path
    assert n_files == len(stored) == 41


def test_variants_join_shards_and_model_figures_follow_the_rule(crawled) -> None:
    path, truths, _ = crawled
    mixtral = f"{ORG}/Mixtral-8x7B-Instruct-GGUF"
    rows = _rows(
        path,
        "SELECT variant, files, split_count, complete, parameters, file_type_label, round(bits_per_weight, 3) "
        "FROM v_gguf_variants WHERE model_id = ? ORDER BY variant",
        mixtral,
    )
    files = truths[mixtral]["gguf_files"]
    q4 = [f for p, f in files.items() if "Q4_K_M" in p]
    assert [r[:6] for r in rows] == [
        ("Mixtral-8x7B-Instruct-Q2_K", 1, 1, True, q4[0]["parameters"] + q4[1]["parameters"] + q4[2]["parameters"],
         "Q2_K"),
        ("Mixtral-8x7B-Instruct-Q4_K_M", 3, 3, True, sum(f["parameters"] for f in q4), "Q4_K_M"),
        ("Mixtral-8x7B-Instruct-Q8_0", 2, 2, True, sum(f["parameters"] for f in q4), "Q8_0"),
    ]  # fmt: skip
    want_bits = sum(f["tensor_bytes"] for f in q4) * 8 / sum(f["parameters"] for f in q4)
    ((method, dominant, params, bits, source),) = _rows(
        path,
        "SELECT quant_method, dominant_dtype, effective_params, bits_per_param, weights_source "
        "FROM models WHERE model_id = ?",
        mixtral,
    )
    assert (method, dominant, params, source) == ("gguf", "Q4_K", sum(f["parameters"] for f in q4), "header")
    assert bits == pytest.approx(want_bits)
    layouts = dict(
        (model_id, (active, effective, experts, top_k, reason is not None))
        for model_id, active, effective, experts, top_k, reason in _rows(
            path, "SELECT model_id, active_params, effective_params, expert_count, experts_per_token, active_reason "
            "FROM models WHERE quant_method = 'gguf' AND weights_source = 'header'"
        )
    )
    assert layouts.pop(mixtral) == (None, params, 8, 2, True)  # MoE: the expert share is not read, said so
    assert layouts and all(active == effective and experts == 0 for active, effective, experts, _, _ in
                           layouts.values())  # dense GGUF: active = effective
    gemma = f"{ORG}/gemma-3-4b-it-GGUF"
    projector = _rows(path, "SELECT is_projector, architecture FROM v_gguf_variants WHERE variant LIKE 'mmproj%'")
    assert projector == [(True, "clip")]
    ((dominant,),) = _rows(path, "SELECT dominant_dtype FROM models WHERE model_id = ?", gemma)
    assert dominant == "Q4_K"
    ((flags, source),) = _rows(
        path, "SELECT flags, weights_source FROM models WHERE model_id = ?", f"{ORG}/hostile-GGUF"
    )
    assert source == "hub" and any(f.startswith("unreadable_gguf") for f in flags)


def test_representative_without_q4_k_m_is_the_median() -> None:
    rows = [
        {"variant": v, "path": f"{v}.gguf", "split_count": 1, "size_bytes": b, "status": "ok",
         "file_type_label": v, "parameters": 100, "tensor_bytes": b}
        for v, b in [("Q2_K", 30), ("Q8_0", 106), ("F16", 200), ("Q5_K_S", 70)]
    ]  # fmt: skip
    assert representative(variants(rows, [])).name == "Q5_K_S"


def test_reads_are_cheap(crawled) -> None:
    path, _, routes = crawled
    llama = f"{ORG}/Llama-3.1-8B-Instruct-GGUF"
    per_file = _rows(
        path, "SELECT bytes_read FROM gguf_files WHERE model_id = ? ORDER BY bytes_read DESC", llama
    )
    header = per_file[0][0]
    assert header > 7_000_000  # the one full read: the 128k-token tokenizer + merges
    assert all(b < 100_000 for (b,) in per_file[1:])  # the 11 others skip it
    assert routes["resolve_head"] == 0
    assert routes["model_info"] == 0  # names from the listing's siblings, sizes from Content-Range: no API call


def test_explain_lists_the_variants(crawled) -> None:
    path, truths, _ = crawled
    llama = f"{ORG}/Llama-3.1-8B-Instruct-GGUF"
    info = explain(path, llama)
    assert info is not None
    found = {v["variant"]: v for v in info["gguf_variants"]}
    files = truths[llama]["gguf_files"]
    assert len(found) == len(files) == 12
    q4 = found["Llama-3.1-8B-Instruct-Q4_K_M"]
    want = files["Llama-3.1-8B-Instruct-Q4_K_M.gguf"]
    assert (q4["file_type_label"], q4["size_bytes"], q4["parameters"], q4["tensor_bytes"]) == (
        "Q4_K_M", truths[llama]["file_sizes"]["Llama-3.1-8B-Instruct-Q4_K_M.gguf"], want["parameters"],
        want["tensor_bytes"],
    )  # fmt: skip
    assert q4["dominant_type"] == "Q4_K" and q4["type_mix"].startswith("Q4_K ")
    bits = [v["bits_per_weight"] for v in info["gguf_variants"]]
    assert bits == sorted(bits) and bits[0] < 3 and bits[-1] == pytest.approx(16, abs=0.01)
    text = render(info)
    assert "figures from the GGUF headers (exact)" in text
    assert sum(1 for line in text.splitlines() if line.startswith("  Llama-3.1-8B-Instruct-")) == 12
    assert f"{want['parameters']:,}" in text  # the representative (Q4_K_M) gives the model's figures
    hostile = explain(path, f"{ORG}/hostile-GGUF")
    assert hostile is not None and len(hostile["gguf_errors"]) == 12


def test_report_gguf_sections(crawled, tmp_path: Path) -> None:
    path, _, _ = crawled
    copy = tmp_path / "c.duckdb"
    shutil.copy(path, copy)
    with open_database(copy) as db:  # the base models, released before their GGUF repos
        db.con.execute(
            "INSERT INTO models (model_id, created_at, last_modified, sha, tags) VALUES "
            "('meta-llama/Llama-3.1-8B-Instruct', TIMESTAMP '2024-07-18 12:00:00', TIMESTAMP '2024-07-18 12:00:00', "
            "'a', ['transformers']), ('google/gemma-3-4b-it', TIMESTAMP '2025-03-01 09:00:00', "
            "TIMESTAMP '2025-03-01 09:00:00', 'b', ['transformers'])"
        )
        db.con.execute(  # the base's KV cache: 32 layers x 8 KV heads x 128 x (K, V) x 2 bytes per token
            "INSERT INTO model_configs (model_id, sha, rule, attention, layers, kv_heads, head_dim, max_context, "
            "kv_bytes_per_token, kv_full_bytes_per_token, kv_sliding_bytes_per_token) VALUES "
            "('meta-llama/Llama-3.1-8B-Instruct', 'a', 'gqa', 'gqa', 32, 8, 128, 131072, 131072, 131072, 0)"
        )
    info = explain(copy, f"{ORG}/Llama-3.1-8B-Instruct-GGUF", context=8192)
    assert info is not None and info["gguf_kv"]["bytes"] == 8192 * 131072
    assert info["gguf_kv"]["from"] == "meta-llama/Llama-3.1-8B-Instruct"
    q4 = next(v for v in info["gguf_variants"] if v["file_type_label"] == "Q4_K_M")
    text = render(info)
    assert "to run: + KV cache 1.1 GB (8,192 tokens x 1, bf16" in text
    (line,) = [x for x in text.splitlines() if x.startswith("  Llama-3.1-8B-Instruct-Q4_K_M ")]
    assert line.split()[2:5] == [*fmt_bytes(q4["size_bytes"]).split(), fmt_bytes(q4["tensor_bytes"] + 2**30).split()[0]]
    with duckdb.connect(str(copy), read_only=True) as con:
        install_temp_views(con)
        data = {name: queries.run(con, name) for name in queries.QUERIES if name.startswith("gguf_")}
    assert data["gguf_first_delay"] == [
        {"month": "2024-07", "bases": 1, "gguf_repos": 1, "median_days": 5.9, "p90_days": 5.9,
         "share_within_7_days": 1.0},
        {"month": "2025-03", "bases": 1, "gguf_repos": 1, "median_days": 12.0, "p90_days": 12.0,
         "share_within_7_days": 0.0},
    ]  # fmt: skip
    july = [r for r in data["gguf_file_types_by_month"] if r["month"] == "2024-07"]
    assert sum(r["variants"] for r in july) == 12 and sum(r["share"] for r in july) == pytest.approx(1, abs=1e-3)
    named = {r["file_type"] for r in data["gguf_file_types_by_month"]}
    assert len(named - {"other"}) == 10 and "other" in named and "Q4_K_M" in named  # the 10 most common
    assert sum(r["variants"] for r in data["gguf_bits_histogram"]) == 12 + 5 + 3 + 2 + 1 + 2
    by_format = {(r["month"], r["format"]): r["models"] for r in data["gguf_vs_safetensors_by_month"]}
    assert by_format == {("2023-09", "GGUF"): 1, ("2023-12", "GGUF"): 1, ("2024-07", "GGUF"): 1,
                         ("2025-03", "GGUF"): 1}  # fmt: skip
    result = write_report(copy, tmp_path / "out", formats=["csv", "md"])
    names = {p.name for p in result.files}
    assert {"gguf_file_types_by_month.csv", "gguf_bits_per_weight.csv", "gguf_vs_safetensors.csv",
            "gguf_first_delay.csv"} <= names  # fmt: skip
    assert "Time from a base model's release to its first GGUF" in (tmp_path / "out" / "report.md").read_text()
