"""`hubcensus explain --context/--batch/--kv-dtype`: weights + KV cache, from the database and live."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hubcensus.crawler.hub import make_client
from hubcensus.crawler.run import CrawlOptions, crawl
from hubcensus.db.connection import open_database
from hubcensus.fakehub.configs import write_repo
from kv_configs import load
from typer.testing import CliRunner

from hubcensus.cli import app

pytestmark = pytest.mark.usefixtures("hf_env")
runner = CliRunner()
FAMILIES = ("llama-3-8b", "deepseek-r1", "gpt-oss-20b", "bloom-560m")  # kv_configs.py: three real (../shared)


@pytest.fixture(scope="module")
def census(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from hubcensus import fakehub

    root = tmp_path_factory.mktemp("kvexplain")
    for name in FAMILIES:
        write_repo(root, f"kv/{name}", load(name), {"model.norm.weight": ("BF16", (4096,))})
    with fakehub.start(fakehub.FakeHubConfig(repos=[str(root)])) as hub:
        path = tmp_path_factory.mktemp("kvdb") / "kv.duckdb"
        with open_database(path) as db:
            crawl(db, make_client(hub.url, None), CrawlOptions(deep="all"), handle_signals=False)
        yield hub, path


def _json(db: Path, model: str, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["explain", model, "--db", str(db), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_llama_anchor_8k_is_one_gib(census: Any) -> None:
    _, db = census
    info = _json(db, "kv/llama-3-8b", "--context", "8192")
    cache = info["kv_cache"]
    assert {k: cache[k] for k in ("bytes_per_token", "bytes", "context", "batch", "dtype", "rule")} == {
        "bytes_per_token": 131_072, "bytes": 2**30, "context": 8192, "batch": 1, "dtype": "bf16",
        "rule": "llama-style",
    }  # fmt: skip
    run = info["memory_to_run"]
    assert run["weights_bytes"] == 8192
    assert (run["kv_bytes"], run["total_bytes"]) == (2**30, 2**30 + 8192)
    assert cache["past_max_context"] is False


def test_batch_and_kv_dtype_scale_and_gpu_table(census: Any) -> None:
    _, db = census
    info = _json(db, "kv/llama-3-8b", "--context", "32768", "--batch", "4", "--kv-dtype", "fp8")
    assert info["kv_cache"]["bytes_per_token"] == 65_536
    assert info["kv_cache"]["bytes"] == 4 * 32768 * 65_536 == 8 * 2**30
    assert info["kv_cache"]["past_max_context"] is True
    big = _json(db, "kv/llama-3-8b", "--context", "1000000", "--batch", "2", "--kv-dtype", "f32")
    assert big["memory_to_run"]["kv_bytes"] == 1_000_000 * 262_144 * 2
    assert [(g["gib"], g["as_stored"], g["4bit"]) for g in big["memory_to_run"]["gpus"]] == [
        (24, False, False), (48, False, False), (80, False, False), (141, False, False)
    ]  # fmt: skip
    small = _json(db, "kv/llama-3-8b")
    assert [g["as_stored"] for g in small["memory_to_run"]["gpus"]] == [True, True, True, True]


def test_mla_and_sliding_and_no_context_limit(census: Any) -> None:
    _, db = census
    ds = _json(db, "kv/deepseek-r1", "--context", "1000")["kv_cache"]
    assert (ds["bytes_per_token"], ds["bytes"], ds["uncompressed_bytes_per_token"]) == (
        70_272,
        70_272_000,
        4_997_120,
    )
    assert ds["attention"] == "mla"
    oss = _json(db, "kv/gpt-oss-20b", "--context", "32768")["kv_cache"]
    assert oss["bytes"] == 24_576 * 32768 + 24_576 * 128
    bloom = _json(db, "kv/bloom-560m")["kv_cache"]
    assert (bloom["context"], bloom["bytes"], bloom["max_context"]) == (8192, 98_304 * 8192, None)


def test_text_says_past_max_context_and_rule(census: Any) -> None:
    _, db = census
    result = runner.invoke(app, ["explain", "kv/llama-3-8b", "--db", str(db), "--context", "16384"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "past the model's max context (8,192)" in text
    assert "rule: llama-style (gqa)" in text
    assert "32 KV layers x 8 KV heads x head_dim 128 x 2 (K and V): 131,072 bytes per token" in text
    assert "24 GB fits fits fits" in text


@pytest.mark.parametrize("args", [["--kv-dtype", "int3"], ["--batch", "0"], ["--context", "-5"]])
def test_bad_options_are_one_clear_line(census: Any, args: list[str]) -> None:
    _, db = census
    result = runner.invoke(app, ["explain", "kv/llama-3-8b", "--db", str(db), *args])
    assert result.exit_code == 2  # usage
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_live_reads_the_config_too(census: Any, tmp_path: Path) -> None:
    hub, _ = census
    result = runner.invoke(app, ["explain", "kv/gpt-oss-20b", "--live", "--endpoint", hub.url, "--json",
                                 "--db", str(tmp_path / "absent.duckdb")])  # fmt: skip
    assert result.exit_code == 0, result.output
    cache = json.loads(result.output)["kv_cache"]
    assert (cache["bytes_per_token"], cache["bytes"]) == (49_152, 24_576 * 8192 + 24_576 * 128)
    assert not (tmp_path / "absent.duckdb").exists()
