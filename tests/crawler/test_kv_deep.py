"""config.json in the header pass, through fakehub (real HTTP) into a real DuckDB file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hubcensus.crawler.counting.kv_cache import analyze_config
from hubcensus.crawler.hub import make_client
from hubcensus.crawler.run import CrawlOptions, crawl
from hubcensus.db.connection import open_database
from hubcensus.fakehub.configs import write_repo
from kv_configs import available, load
from test_kv_cache import EXPECTED

SEED = 3
FUSED = ("gpt2", "bloom", "bloom-560m")  # fused c_attn / query_key_value of MHA: not cross-checked
FAMILIES = available()  # the constructed configs, and the real ones when ../shared holds them


def _family_tensors(name: str, config: dict) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Attention projections shaped as the real checkpoint's (rows only matter), one per KV layer."""
    layout = analyze_config(config)
    tensors: dict[str, tuple[str, tuple[int, ...]]] = {"model.norm.weight": ("BF16", (8,))}
    if layout.attention == "mla":
        rows, proj = layout.kv_lora_rank + layout.qk_rope_head_dim, "kv_a_proj_with_mqa"
    else:
        rows, proj = layout.kv_heads * layout.head_dim, "k_proj"
    if name in FUSED:
        return tensors  # fused c_attn / query_key_value of MHA: not cross-checked here
    kinds = layout.attention_layers or 0
    for i in range(kinds):
        tensors[f"model.layers.{i}.self_attn.{proj}.weight"] = ("BF16", (rows, 4))
    return tensors


@pytest.fixture(scope="module")
def family_hub(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from hubcensus import fakehub

    root = tmp_path_factory.mktemp("kvrepos")
    for name in FAMILIES:
        config = load(name)
        pipeline = "image-text-to-text" if "text_config" in config else "text-generation"
        write_repo(root, f"kv/{name}", config, _family_tensors(name, config), pipeline_tag=pipeline)
    write_repo(root, "kv/encoder", {"architectures": ["BertModel"], "model_type": "bert"},
               {"w": ("F32", (2,))}, pipeline_tag="fill-mask")  # fmt: skip
    whisper = {
        "architectures": ["WhisperForConditionalGeneration"],
        "model_type": "whisper",
        "is_encoder_decoder": True,
        "encoder_layers": 4,
        "decoder_layers": 4,
        "d_model": 384,
        "decoder_attention_heads": 6,
    }
    write_repo(root, "kv/whisper", whisper,
               {"w": ("F32", (2,))}, pipeline_tag="image-to-text")  # fmt: skip
    with fakehub.start(fakehub.FakeHubConfig(repos=[str(root)])) as hub:
        yield hub


def test_every_family_is_stored_exactly(family_hub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client = make_client(family_hub.url, None)
    with open_database(tmp_path / "kv.duckdb") as db:
        summary = crawl(db, client, CrawlOptions(deep="all"), handle_signals=False)
        rows = db.con.execute(
            "SELECT model_id, kv_bytes_per_token, kv_full_bytes_per_token, kv_sliding_bytes_per_token, "
            "sliding_window, attention, max_context, rule, header_check FROM v_model_memory"
        ).fetchall()
        got = {r[0].removeprefix("kv/"): r[1:] for r in rows}
        for name in FAMILIES:
            per_token, full, sliding, window, attention, context, rule = EXPECTED[name]
            check = None if name in FUSED else "agrees"
            assert got[name] == (per_token, full, sliding, window, attention, context, rule, check), name
        assert "encoder" not in got  # not a text generator: no request
        whisper = db.con.execute("SELECT reason FROM model_configs WHERE model_id = 'kv/whisper'").fetchone()
        assert whisper == ("encoder-decoder model: not covered",)
        llama = db.con.execute(
            "SELECT kv_bytes_8k, kv_bytes_32k FROM v_model_memory WHERE model_id = 'kv/llama-3.1-8b-shape'"
        ).fetchone()
        assert llama == (2**30, 4 * 2**30)
        wanted = len(FAMILIES) + 1  # + whisper
        ledger = db.con.execute(
            "SELECT configs_fetched, headers_fetched, requests_resolvers FROM crawl_runs WHERE run_id = ?",
            [summary.run_id],
        ).fetchone()
        assert ledger[0] == wanted
        assert ledger[2] == ledger[1] + wanted  # one range read per single-file header + one per config
        again = crawl(db, client, CrawlOptions(deep="all"), handle_signals=False)
        second = db.con.execute(
            "SELECT coalesce(configs_fetched, 0) FROM crawl_runs WHERE run_id = ?", [again.run_id]
        ).fetchone()
        assert second == (0,)  # same sha: the config is not asked again


def test_synthetic_llms_serve_real_shaped_configs(fakehub_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    hub = fakehub_server(synthetic=150, seed=SEED)
    client = make_client(hub.url, None)
    with open_database(tmp_path / "syn.duckdb") as db:
        crawl(db, client, CrawlOptions(deep="all"), handle_signals=False)
        rows = db.con.execute(
            "SELECT c.model_id, c.kv_bytes_per_token, c.header_check, c.reason FROM model_configs c"
        ).fetchall()
        assert rows
        for model_id, per_token, check, reason in rows:
            truth = hub.catalog.truth(model_id)
            repo = hub.catalog.get(model_id)
            config = json.loads(repo.files["config.json"].read(0, repo.files["config.json"].size))
            assert reason is None, model_id
            assert per_token == analyze_config(config).bytes_per_token(), model_id
            headers = truth["weight_format"] in ("safetensors", "both", "pickle")  # .bin-only: pickle heads
            if truth["quant_method"] in ("none", "fp8", "bnb-8bit") and headers:
                assert check == "agrees", model_id
            if not headers:  # GGUF-only: config read by the backfill, nothing to cross-check
                assert check is None, model_id
            assert check != "disagrees", model_id


def test_configs_missing_after_the_header_pass_are_backfilled(family_hub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client = make_client(family_hub.url, None)
    with open_database(tmp_path / "old.duckdb") as db:
        crawl(db, client, CrawlOptions(deep="all"), handle_signals=False)
        before = db.con.execute(
            "SELECT * EXCLUDE (fetched_at, header_check) FROM model_configs ORDER BY model_id"
        ).fetchall()
        db.con.execute("DELETE FROM model_configs")  # a database whose headers were read before model_configs
        run = crawl(db, make_client(family_hub.url, None), CrawlOptions(deep="changed"), handle_signals=False)
        ledger = db.con.execute(
            "SELECT headers_fetched, configs_fetched, requests_resolvers FROM crawl_runs WHERE run_id = ?",
            [run.run_id],
        ).fetchone()
        assert ledger == (
            0,
            len(FAMILIES) + 1,
            len(FAMILIES) + 1,
        )  # no header re-read, one request per config
        after = db.con.execute(
            "SELECT * EXCLUDE (fetched_at, header_check) FROM model_configs ORDER BY model_id"
        ).fetchall()
        assert after == before  # the same figures; without the headers in hand there is no cross-check
        assert db.con.execute("SELECT count(header_check) FROM model_configs").fetchone() == (0,)
        again = crawl(
            db, make_client(family_hub.url, None), CrawlOptions(deep="changed"), handle_signals=False
        )
        assert db.con.execute(
            "SELECT coalesce(configs_fetched, 0), requests_resolvers FROM crawl_runs WHERE run_id = ?",
            [again.run_id],
        ).fetchone() == (0, 0)
