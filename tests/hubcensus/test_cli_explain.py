"""`hubcensus explain`: the 23.8 GB question, answered from the database or live through fakehub."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hubcensus.crawler.deep import run_deep
from hubcensus.crawler.hub import make_client
from hubcensus.crawler.walk.listing import EXPAND, normalize
from hubcensus.db import listing_store, store
from hubcensus.db.connection import open_database, utcnow
from hubcensus.fakehub.pytest_plugin import FIXTURES_HUB
from typer.testing import CliRunner

from hubcensus.cli import app
from hubcensus.exits import ExitCode

pytestmark = pytest.mark.usefixtures("hf_env")
runner = CliRunner()
NOWHERE = "http://127.0.0.1:9"  # nothing listens there: a test that reaches it fails


def _pick(catalog: Any, method: str, arch: str | None = None) -> dict[str, Any]:
    for model_id in catalog.ids():
        truth = catalog.truth(model_id)
        if truth["gated"] or truth["hostile"] or truth["quant_method"] != method:
            continue
        if arch is None or arch in (truth.get("arch") or ""):
            return truth
    raise AssertionError(f"no {method} {arch} model in the catalog")


def _explain(*args: str) -> Any:
    result = runner.invoke(app, ["explain", *args])
    return result


def test_flux_like_transformer_is_23_8_gb_because_bf16_is_2_bytes(fakehub_server, tmp_path: Path) -> None:
    hub = fakehub_server(synthetic=3000, seed=3)
    truth = _pick(hub.catalog, "none", "flux")
    absent = _explain(truth["id"], "--endpoint", hub.url, "--db", str(tmp_path / "absent.duckdb"), "--json")
    assert absent.exit_code == ExitCode.DATABASE and "no database at" in absent.output  # never online
    assert hub.stats.snapshot()["requests"] == 0
    result = _explain(
        truth["id"], "--endpoint", hub.url, "--db", str(tmp_path / "absent.duckdb"), "--json", "--live"
    )
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    transformer = {p: f for p, f in truth["files"].items() if p.startswith("transformer/")}
    params = sum(f["parameters_by_dtype"]["BF16"] for f in transformer.values())
    assert info["components"]["transformer"]["effective_parameters"] == params
    assert info["components"]["transformer"]["weight_bytes"] == 2 * params
    assert info["components"]["transformer"]["file_bytes"] == sum(f["size"] for f in transformer.values())
    assert info["components"]["transformer"]["bits_per_parameter"] == 16.0
    assert info["effective_parameters"] == truth["effective_parameters"]
    assert info["file_bytes"] == sum(f["size"] for f in truth["files"].values())
    assert info["memory"]["bf16"] == 2 * truth["effective_parameters"]
    assert info["memory"]["int4"] == (truth["effective_parameters"] + 1) // 2
    assert (info["quant_method"], info["dominant_dtype"], info["source"]) == ("none", "BF16", "header")
    assert not Path(tmp_path / "absent.duckdb").exists()  # live reads never create the user's database

    text = _explain(truth["id"], "--endpoint", hub.url, "--live").output
    words = " ".join(text.split())
    total = info["parameters_by_dtype"]["BF16"]
    assert f"BF16 {total['parameters']:,} elements x 2 bytes = {total['bytes'] / 1e9:.1f} GB (100%)" in words
    assert f"transformer {params / 1e9:.1f}B params {2 * params / 1e9:.1f} GB BF16 none" in words
    assert "cast to fp8" in words and "4-bit" in words


def test_gptq_effective_parameters_are_unpacked_and_the_hub_undercount_flagged(
    fakehub_server, tmp_path
) -> None:
    hub = fakehub_server(synthetic=3000, seed=3)
    truth = _pick(hub.catalog, "gptq")
    info = json.loads(_explain(truth["id"], "--endpoint", hub.url, "--live", "--json").output)
    assert info["effective_parameters"] == truth["effective_parameters"]
    assert info["hub_total_parameters"] == truth["hub_safetensors"]["total"] < info["effective_parameters"]
    assert info["parameters_by_dtype"]["I32"]["parameters"] == truth["parameters_by_dtype"]["I32"]
    assert any(flag.startswith("hub_undercounts_packed") for flag in info["flags"])
    assert any("qweight" in item for item in info["evidence"])
    assert info["bits_per_parameter"] == pytest.approx(
        info["weight_bytes"] * 8 / info["effective_parameters"]
    )


def test_explain_reads_the_database_without_touching_the_network(fakehub_server, tmp_path: Path) -> None:
    hub = fakehub_server(repos=[FIXTURES_HUB])
    client = make_client(hub.url, None)
    item = client.get_json("/api/models/sentence-transformers/all-MiniLM-L6-v2?" + "&".join(
        f"expand={key}" for key in (*EXPAND, "siblings")))  # fmt: skip
    path = tmp_path / "census.duckdb"
    with open_database(path) as db:
        run = store.start_run(db, mode="full", endpoint=hub.url, version="test")
        listing_store.store_listing_page(db, [normalize(item)], run_id=run, seen_at=utcnow())
        assert run_deep(db, client, run_id=run).stored == 1
    result = _explain(
        "sentence-transformers/all-MiniLM-L6-v2", "--db", str(path), "--endpoint", NOWHERE, "--json"
    )
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["parameters_by_dtype"] == {
        "F32": {"parameters": 22_713_216, "bytes": 90_852_864},
        "I64": {"parameters": 512, "bytes": 4096},
    }
    assert (info["file_bytes"], info["weight_bytes"], info["effective_parameters"]) == (
        90_868_376, 90_856_960, 22_713_728,
    )  # fmt: skip
    assert info["bits_per_parameter"] == pytest.approx(90_856_960 * 8 / 22_713_728)
    assert info["hub_parameters_by_dtype"] == {"F32": 22_713_216, "I64": 512}


def test_listing_only_model_says_it_is_an_estimate(tmp_path: Path) -> None:
    path = tmp_path / "census.duckdb"
    with open_database(path) as db:
        run = store.start_run(db, mode="full", endpoint=NOWHERE, version="test")
        row = normalize({"id": "org/m", "sha": "a" * 40, "safetensors": {"parameters": {"BF16": 12_000_000_000},
                         "total": 12_000_000_000}})  # fmt: skip
        listing_store.store_listing_page(db, [row], run_id=run, seen_at=utcnow())
    text = _explain("org/m", "--db", str(path), "--endpoint", NOWHERE).output
    assert "estimated from the Hub's listing" in text
    assert "12,000,000,000 elements x 2 bytes" in text
    assert "24.0 GB" in text


def test_unknown_model_is_one_clear_line(fakehub_server, tmp_path: Path) -> None:
    hub = fakehub_server(synthetic=10, seed=1)
    result = _explain("nobody/nothing", "--endpoint", hub.url, "--live")
    assert result.exit_code == 1
    assert result.output.startswith(f"hubcensus: nobody/nothing: no such model on {hub.url}")
    assert len(result.output.splitlines()) == 1
    path = tmp_path / "census.duckdb"
    open_database(path).close()
    local = _explain("nobody/nothing", "--db", str(path), "--endpoint", NOWHERE)
    assert local.exit_code == 1 and len(local.output.splitlines()) == 1 and "--live" in local.output


def test_explain_says_why_the_headers_could_not_be_read(tmp_path: Path) -> None:
    path = tmp_path / "census.duckdb"
    sha = "b" * 40
    with open_database(path) as db:
        run = store.start_run(db, mode="full", endpoint=NOWHERE, version="test")
        row = normalize(
            {"id": "org/refused", "sha": sha, "safetensors": {"parameters": {"BF16": 1000}, "total": 1000}}
        )
        listing_store.store_listing_page(db, [row], run_id=run, seen_at=utcnow())
        store.record_error(db, run, model_id="org/refused", target="org/refused/model.safetensors", kind="header",
                           message="header of 104857600 bytes is larger than the 25 MB cap")  # fmt: skip
        store.mark_header_unreadable(db, model_id="org/refused", sha=sha, reason="header too large")
    result = _explain("org/refused", "--db", str(path), "--endpoint", NOWHERE)
    assert result.exit_code == 0, result.output
    assert "104857600 bytes is larger than the 25 MB cap" in result.output
    assert "headers not read yet" not in result.output
    info = json.loads(_explain("org/refused", "--db", str(path), "--json").output)
    assert (info["header_error"]["kind"], info["header_error"]["status"]) == ("header", None)
