"""The crawler against a strict replay of real recorded Hub answers (../shared/fixtures/replay, see its README).

The replay answers only what was recorded: an unlisted route, an unrecorded page or an
`expand` key the listing refuses fails. Two moments: the second has renames (same `_id`),
repos gone, a repo gated.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import pytest
from hubcensus.crawler.files.weightfiles import file_format
from hubcensus.crawler.walk.listing import EXPAND, parse_hub_date
from hubcensus.fakehub.replay import LISTING_EXPAND, ReplayHub
from huggingface_hub import HfApi
from shared_data import shared_path
from typer.testing import CliRunner

from hubcensus.cli import app

pytestmark = pytest.mark.usefixtures("hf_env")
REPLAY = shared_path("fixtures", "replay")  # skips the module when ../shared is absent
ONE, TWO = REPLAY / "1-old-names", REPLAY / "2-renamed"
GPT2_ID = "621ffdc036468d709f17434d"
runner = CliRunner()


def _listing(moment: Path) -> list[dict]:
    spec = json.loads((moment / "responses.json").read_text())
    pages = [r["body_file"] for r in spec["responses"] if r["path"] == "/api/models"]
    return [item for page in pages for item in json.loads((moment / page).read_text())]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_replay_is_strict_and_the_unmodified_client_accepts_it() -> None:
    with ReplayHub(TWO) as hub:
        status, body = _get(f"{hub.url}/api/models?sort=createdAt&expand=baseModels")
        assert status == 400
        assert json.loads(body) == {"error": f'"expand" must be one of [{", ".join(LISTING_EXPAND)}]'}
        assert _get(f"{hub.url}/api/models/nobody/nothing")[0] == 404
        api = HfApi(endpoint=hub.url, token=False)
        listed = [m.id for m in api.list_models(sort="createdAt", expand=["sha"])]
        assert listed == [item["id"] for item in _listing(TWO)] and len(listed) == 15
        info = api.model_info("bert-base-uncased")  # 307 to the new name, followed by the client
        assert (info.id, info.sha) == ("google-bert/bert-base-uncased", "86b5e0934494bd15c9632b12f734a8a67f723594")
        assert hub.unmatched == ["GET /api/models/nobody/nothing"]
        pages = [r for r in hub.requests if r.startswith("GET /api/models?")]
        assert len(pages) == 1 + 3 and all("limit" not in r for r in pages[1:])


def _crawl(db: Path, moment: Path) -> list[str]:
    with ReplayHub(moment) as hub:
        result = runner.invoke(
            app, ["crawl", "--db", str(db), "--endpoint", hub.url, "--full-every", "0", "--deep", "none"]
        )
        assert result.exit_code == 0, result.output
        assert hub.unmatched == []
        assert [r for r in hub.requests if not r.startswith("GET /api/models?")] == []
    return result.output.splitlines()


def _assert_stored_exactly(con: duckdb.DuckDBPyConnection, items: list[dict]) -> None:
    cols = ("model_id", "hub_id", "author", "created_at", "last_modified", "sha", "library_name", "pipeline_tag",
            "tags", "gated", "downloads", "likes", "hub_total_params", "model_type", "architecture",
            "weight_files", "downloads_all_time")  # fmt: skip
    for item in items:
        row = con.execute(
            f"SELECT {', '.join(cols)} FROM models WHERE hub_id = ? AND deleted_at IS NULL", [item["_id"]]
        ).fetchall()
        assert len(row) == 1, item["id"]
        stored = dict(zip(cols, row[0], strict=True))
        config = item.get("config") or {}
        safetensors = item.get("safetensors") or {}
        names = [s["rfilename"] for s in item["siblings"]]
        files = [n for n in names if file_format(n) is not None]  # safetensors, pickle weights, GGUF
        if any(file_format(n) != "gguf" for n in files) and "model_index.json" in names:  # a diffusers pipeline
            files.append("model_index.json")
        files.sort()
        assert stored == {
            "model_id": item["id"], "hub_id": item["_id"], "author": item["author"],
            "created_at": parse_hub_date(item["createdAt"]), "last_modified": parse_hub_date(item["lastModified"]),
            "sha": item["sha"], "library_name": item.get("library_name"), "pipeline_tag": item.get("pipeline_tag"),
            "tags": item["tags"], "gated": item["gated"] or None, "downloads": item["downloads"],
            "likes": item["likes"], "hub_total_params": safetensors.get("total"),
            "model_type": config.get("model_type"), "architecture": (config.get("architectures") or [None])[0],
            "weight_files": files, "downloads_all_time": None,
        }, item["id"]  # fmt: skip
        dtypes = dict(con.execute(
            "SELECT dtype, parameters FROM model_dtypes WHERE model_id = ? AND source = 'hub'", [item["id"]]
        ).fetchall())  # fmt: skip
        assert dtypes == safetensors.get("parameters", {}), item["id"]


def test_two_moments_of_the_real_hub_one_row_per_id_under_its_current_name(tmp_path: Path) -> None:
    assert "baseModels" not in EXPAND
    db = tmp_path / "replay.duckdb"
    first = _crawl(db, ONE)
    assert first[-1].startswith("run 1 ok: full, 3 pages, 16 models seen (16 new, 0 updated, 0 renamed, 0 no ")
    with duckdb.connect(str(db), read_only=True) as con:
        _assert_stored_exactly(con, _listing(ONE))
    second = _crawl(db, TWO)
    assert second[-1].startswith("run 2 ok: full, 3 pages, 15 models seen (1 new, 0 updated, 4 renamed, 2 no ")
    items = _listing(TWO)
    with duckdb.connect(str(db), read_only=True) as con:
        _assert_stored_exactly(con, items)
        live = con.execute("SELECT model_id, hub_id FROM models WHERE deleted_at IS NULL ORDER BY 1").fetchall()
        assert live == sorted((i["id"], i["_id"]) for i in items)
        every = con.execute("SELECT count(*), count(DISTINCT hub_id), count(DISTINCT model_id) FROM models").fetchone()
        assert every == (17, 17, 17)
        gone = con.execute("SELECT model_id FROM models WHERE deleted_at IS NOT NULL ORDER BY 1").fetchall()
        assert gone == [("facebook/bart-large-mnli",), ("naver-clova-ix/donut-base-finetuned-docvqa",)]
        renames = con.execute("SELECT hub_id, old_id, new_id, run_id FROM model_renames ORDER BY old_id").fetchall()
        assert renames == [
            ("621ffdc036468d709f174338", "bert-base-uncased", "google-bert/bert-base-uncased", 2),
            (GPT2_ID, "gpt2", "openai-community/gpt2", 2),
            ("6698d8a0653e4babe21e1e7d", "meta-llama/Meta-Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct", 2),
            ("621ffdc036468d709f174358", "t5-small", "google-t5/t5-small", 2),
        ]  # fmt: skip
        assert con.execute("SELECT gated FROM models WHERE model_id = 'HuggingFaceH4/zephyr-7b-beta'").fetchone() == (
            "auto",)  # fmt: skip
        ledger = con.execute("SELECT mode, models_renamed, models_deleted FROM crawl_runs ORDER BY run_id").fetchall()
        assert ledger == [("full", 0, 0), ("full", 4, 2)]
        history = con.execute("SELECT DISTINCT model_id FROM model_stats WHERE model_id LIKE '%gpt2'").fetchall()
        assert history == [("openai-community/gpt2",)]
    explained = runner.invoke(app, ["explain", "gpt2", "--db", str(db), "--json"])
    assert explained.exit_code == 0, explained.output
    info = json.loads(explained.output)
    assert (info["model_id"], info["asked_as"], info["sha"]) == (
        "openai-community/gpt2", "gpt2", "607a30d783dfa663caf39e06633721c8d4cfcd7e")  # fmt: skip
    text = runner.invoke(app, ["explain", "gpt2", "--db", str(db)]).output
    assert text.splitlines()[:2] == ["openai-community/gpt2 @ 607a30d783df", "  (asked as gpt2: renamed on the Hub)"]
