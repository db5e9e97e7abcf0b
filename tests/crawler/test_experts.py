"""Active parameters per token (`counting.experts`) on real MoE artifacts, with shapes rebuilt from index
names (or the config alone) and config dims (`moe_shapes`), compared with the published figures."""

from __future__ import annotations

import pytest
from builders import GptOssConfig, file_header, gpt_oss_tensors
from hubcensus.crawler.counting.experts import Active, active_parameters, moe_fields, read_moe_config, tally
from hubcensus.crawler.counting.quant import Shape, classify, read_config
from hubcensus.crawler.counting.weights import analyze
from moe_shapes import (
    REALDATA,
    deepseek_v3_names,
    granite_moe_names,
    index_names,
    load,
    numel,
    qwen3_moe_names,
    shapes,
)


def _need(rel: str) -> None:
    if not (REALDATA / rel).exists():
        pytest.skip(f"real artifact {rel} absent from ../shared/realdata")


def _run(table: dict[str, Shape], cfg: dict) -> Active:
    verdicts = classify(table, read_config(cfg))
    return active_parameters(
        tally((n, table[n].shape, v.effective) for n, v in verdicts.items() if not v.overhead), cfg
    )


def _close(computed: int, published: float, unit: float) -> bool:
    """Within 1% of the published figure, or within one unit of its last stated digit."""
    return abs(computed - published) <= max(0.01 * published, unit)


@pytest.mark.parametrize(
    ("model", "total", "active", "expected_active"),
    [
        ("mistralai__Mixtral-8x7B-v0.1", 46_702_792_704, 12_879_925_248, 12.9e9),
        ("mistralai__Mixtral-8x7B-Instruct-v0.1", 46_702_792_704, 12_879_925_248, 12.9e9),
        ("microsoft__WizardLM-2-8x22B", 140_620_634_112, 39_152_031_744, 39e9),
    ],
)
def test_mixtral_family_from_index(model: str, total: int, active: int, expected_active: float) -> None:
    _need(f"models/{model}/model.safetensors.index.json")
    cfg = load(f"models/{model}/config.json")
    table = shapes(index_names(model), cfg)
    # the rebuilt shapes are the checkpoint's: BF16 bytes = the index's total_size
    assert 2 * numel(table) == load(f"models/{model}/model.safetensors.index.json")["metadata"]["total_size"]
    a = _run(table, cfg)
    print(f"{model}: {a.total / 1e9:.2f}B total, {a.active / 1e9:.2f}B active ({a.layout})")
    assert (a.total, a.active, a.expert_count, a.experts_per_token, a.shared_experts) == (total, active, 8, 2, 0)
    assert a.layout == "2 of 8 experts" and a.reason is None
    assert abs(a.active - expected_active) <= 0.01 * expected_active


def test_gpt_oss_20b_card_leaves_the_input_embedding_out() -> None:
    model = "openai__gpt-oss-20b"
    _need(f"models/{model}/model.safetensors.index.json")
    cfg = load(f"models/{model}/config.json")
    table = shapes(index_names(model), cfg)
    index = load(f"models/{model}/model.safetensors.index.json")
    stored = sum((1 if s.dtype == "U8" else 2) * numel({"t": s}) for s in table.values())
    assert stored == index["metadata"]["total_size"]  # MXFP4 blocks/scales U8, the rest BF16
    a = _run(table, cfg)
    without_input_embedding = a.active - a.embedding_params
    print(f"gpt-oss-20b: {a.total / 1e9:.2f}B total, {a.active / 1e9:.3f}B active, "
          f"{without_input_embedding / 1e9:.3f}B without the input embedding ({a.layout})")  # fmt: skip
    assert (a.total, a.active, a.embedding_params) == (20_914_757_184, 4_187_440_704, 579_133_440)
    assert a.layout == "4 of 32 experts"
    assert abs(a.total - 20.91e9) <= 0.01 * 20.91e9
    assert abs(without_input_embedding - 3.61e9) <= 0.01 * 3.61e9  # the card: 3.61B active, 20.91B total


def test_deepseek_r1_from_config_mtp_left_out() -> None:
    _need("models/deepseek-ai__DeepSeek-R1/config.json")
    cfg = load("models/deepseek-ai__DeepSeek-R1/config.json")
    a = _run(shapes(deepseek_v3_names(cfg), cfg), cfg)
    main = a.total - a.mtp_params
    print(f"DeepSeek-R1: {main / 1e9:.2f}B total without MTP ({a.total / 1e9:.2f}B with), "
          f"{a.active / 1e9:.2f}B active, {(a.active - a.embedding_params) / 1e9:.2f}B without the input embedding")  # fmt: skip
    assert (a.total, a.mtp_params, a.active) == (684_489_845_504, 13_463_426_304, 37_552_297_472)
    assert a.layout == "8 of 256 experts + 1 shared"
    assert any(f.startswith("mtp_excluded") for f in a.flags)
    assert abs(main - 671e9) <= 0.01 * 671e9
    assert _close(a.active, 37e9, 1e9)  # published "37B": 37.55B here (+1.5%), 36.63B without the input embedding
    assert _close(a.active - a.embedding_params, 37e9, 0.5e9)


def test_qwen3_30b_a3b_from_config() -> None:
    _need("configs/Qwen__Qwen3-30B-A3B.json")
    cfg = load("configs/Qwen__Qwen3-30B-A3B.json")
    a = _run(shapes(qwen3_moe_names(cfg), cfg), cfg)
    print(f"Qwen3-30B-A3B: {a.total / 1e9:.2f}B total, {a.active / 1e9:.3f}B active ({a.layout})")
    assert (a.total, a.active, a.layout) == (30_532_122_624, 3_353_032_704, "8 of 128 experts")
    non_embedding = a.total - 2 * a.embedding_params
    assert abs(non_embedding - 29.9e9) <= 0.01 * 29.9e9  # the card's "Non-Embedding: 29.9B"
    assert abs(a.total - 30.5e9) <= 0.01 * 30.5e9
    assert _close(a.active, 3.3e9, 0.1e9)  # published "3.3B" (one decimal): 3.35B here (+1.6%)


def test_granite_moe_from_config_matches_its_single_file() -> None:
    model = "ibm-granite__granite-3.1-1b-a400m-instruct"
    _need(f"models/{model}/config.json")
    cfg = load(f"models/{model}/config.json")
    table = shapes(granite_moe_names(cfg), cfg)
    pointer = (REALDATA / f"models/{model}/lfs_pointers.txt").read_text()
    size = int(pointer.split("size ")[1].split()[0])
    header = size - 2 * numel(table)
    assert 0 < header < 64_000  # the file is these BF16 tensors plus a header of this many bytes
    a = _run(table, cfg)
    print(f"granite-3.1-1b-a400m: {a.total / 1e9:.3f}B total, {a.active / 1e6:.1f}M active ({a.layout}, tied embedding)")
    assert (a.total, a.active, a.layout) == (1_334_628_352, 428_658_688, "8 of 32 experts")
    assert abs(a.total - 1.3e9) <= 0.05e9
    assert _close(a.active, 400e6, 100e6)  # the name's "a400m" (one digit): 428.7M here (+7.2%)


def test_config_reading_nested_and_keys() -> None:
    cfg = {"model_type": "llama4", "text_config": {"num_local_experts": 16, "num_experts_per_tok": 1,
           "num_hidden_layers": 48}, "vision_config": {"num_hidden_layers": 34}}  # fmt: skip
    m = read_moe_config(cfg)
    assert (m.experts, m.top_k, m.layers) == (16, 1, 48)
    assert moe_fields({"n_routed_experts": 64, "vocab_size": 5}) == {"n_routed_experts": 64}
    assert read_moe_config({"shared_expert_intermediate_size": 5632, "num_experts": 60}).shared == 1
    q = read_moe_config({"num_hidden_layers": 4, "decoder_sparse_step": 2, "mlp_only_layers": [3]})
    assert q.moe_layers() == {1}


def _tiny(layers: int = 2, experts: int = 4) -> dict[str, Shape]:
    out = {"model.embed_tokens.weight": Shape("BF16", (100, 8)), "lm_head.weight": Shape("BF16", (100, 8))}
    for n in range(layers):
        out[f"model.layers.{n}.mlp.gate.weight"] = Shape("BF16", (experts, 8))
        for x in range(experts):
            out[f"model.layers.{n}.mlp.experts.{x}.up_proj.weight"] = Shape("BF16", (16, 8))
    return out


def test_rule_cannot_tell_gives_a_reason() -> None:
    names = _tiny()
    no_top_k = _run(names, {"num_experts": 4})
    assert no_top_k.active is None and no_top_k.reason == "experts in tensor names but no top_k in the config"
    mismatch = _run(names, {"num_experts": 8, "num_experts_per_tok": 2})
    assert mismatch.active is None and mismatch.reason == "config says 8 experts, tensor names show 4"
    no_names = _run({"model.embed_tokens.weight": Shape("BF16", (100, 8))}, {"num_experts": 8})
    assert no_names.active is None and "no tensor name shows an expert" in (no_names.reason or "")
    ok = _run(names, {"num_experts": 4, "num_experts_per_tok": 1, "num_hidden_layers": 2})
    routed = 2 * 4 * 16 * 8
    assert (ok.expert_params, ok.active) == (routed, 1600 + 64 + routed // 4)


def test_dense_model_active_is_effective() -> None:
    table = {"model.embed_tokens.weight": Shape("BF16", (100, 8)),
             "model.layers.0.mlp.gate_proj.weight": Shape("BF16", (16, 8))}  # fmt: skip
    a = _run(table, {"num_hidden_layers": 1})
    assert (a.active, a.total, a.expert_count, a.layout) == (928, 928, 0, None)


def test_quantized_experts_count_unpacked_through_analyze() -> None:
    """A gpt-oss-shaped header (MXFP4 experts): active counts the experts' effective parameters."""
    cfg = GptOssConfig()
    header = file_header("model.safetensors", gpt_oss_tensors(cfg))
    weights = analyze([header], {"quantization_config": {"quant_method": "mxfp4"}})
    assert weights.effective_parameters == cfg.parameter_count()
    a = active_parameters(weights.experts, {"num_local_experts": 4, "num_experts_per_tok": 2, "num_hidden_layers": 2})
    h, i, e = cfg.hidden, cfg.intermediate, cfg.experts
    routed = cfg.layers * e * (2 * i * h + 2 * i + i * h + h)
    assert a.expert_params == routed
    assert a.active == cfg.parameter_count() - routed + routed * 2 // 4


def test_a_crawl_stores_active_params_as_the_truth_says(fakehub_server, tmp_path) -> None:
    """fakehub -> header pass (with its config.json reads) -> DuckDB: active_params of every readable repo,
    MoE (`moe-20b`, MXFP4 or not) and dense, equals the generator's truth."""
    from datetime import datetime

    from hubcensus.crawler.deep import run_deep
    from hubcensus.crawler.hub import make_client
    from hubcensus.db import listing_store, store
    from hubcensus.db.connection import open_database
    from hubcensus.fakehub.layouts import ARCHS

    hub = fakehub_server(synthetic=300, seed=3)
    catalog = hub.catalog
    truths = [t for t in (catalog.truth(i) for i in catalog.ids()) if t and not t["deleted"] and not t["private"]
              and not t["disabled"] and not t["gated"] and not t["hostile"]
              and any(f.endswith(".safetensors") for f in t["file_sizes"] or {})]  # fmt: skip
    moe = [t for t in truths if t["arch"] == "moe-20b"]
    assert moe, "the catalog has MoE repos"
    db = open_database(tmp_path / "moe.duckdb")
    run = store.start_run(db, mode="full", endpoint=hub.url, version="test")
    rows = [{"model_id": t["id"], "sha": t["sha"], "downloads": i, "weight_files": list(t["file_sizes"]),
             "quant_config": t["config"], "pipeline_tag": t["pipeline_tag"],
             "architecture": ARCHS[t["arch"]].architecture, "model_type": ARCHS[t["arch"]].model_type,
             "weights_source": "hub"} for i, t in enumerate(truths)]  # fmt: skip
    listing_store.store_listing_page(db, rows, run_id=run, seen_at=datetime(2026, 11, 1))
    run_deep(db, make_client(hub.url, None), run_id=run, selection="changed", workers=2)
    got = {m: (a, e, k) for m, a, e, k in db.con.execute(
        "SELECT model_id, active_params, expert_count, experts_per_token FROM v_models").fetchall()}  # fmt: skip
    for t in truths:
        layout = (32, 4) if t["arch"] == "moe-20b" else (0, None)
        assert got[t["id"]] == (t["active_parameters"], *layout), t["id"]
    assert all(t["active_parameters"] < t["effective_parameters"] for t in moe)
    dense = [t for t in truths if t["arch"] != "moe-20b"]
    assert dense and all(t["active_parameters"] == t["effective_parameters"] for t in dense)
    db.close()
    from hubcensus.analysis.explain import explain, render

    info = explain(tmp_path / "moe.duckdb", moe[0]["id"])
    assert info is not None and info["active_parameters"] == moe[0]["active_parameters"]
    assert (info["experts"]["expert_count"], info["experts"]["layout"]) == (32, "4 of 32 experts")
    assert 0 < info["experts"]["expert_bytes"] < info["weight_bytes"]
    text = render(info)
    assert f"{info['active_parameters'] / 1e9:.1f}B active per token (4 of 32 experts)" in text
