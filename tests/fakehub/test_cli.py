"""`python -m hubcensus.fakehub serve`: the URL line, the stats/truth endpoints, clean SIGTERM."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from huggingface_hub import HfApi


def test_help_teaches() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hubcensus.fakehub", "serve", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for flag in (
        "--repos",
        "--synthetic",
        "--seed",
        "--epoch",
        "--latency-ms",
        "--quota-api",
        "--quota-resolvers",
        "--window-s",
        "--fail-rate",
        "--drop-rate",
        "--truncate-rate",
        "fakehub listening on",
    ):
        assert flag in out


def test_serve_subprocess(fakehub_subprocess, fixtures_hub: Path, hf_env) -> None:
    hub = fakehub_subprocess(
        "--synthetic", "100", "--seed", "3", "--hostile", "--repos", str(fixtures_hub), "--quota-api", "50"
    )
    assert hub.url.startswith("http://127.0.0.1:")
    models = list(HfApi(endpoint=hub.url).list_models(expand=["sha"]))
    assert len(models) == 100 + 6 + 1
    with urllib.request.urlopen(f"{hub.url}/_fakehub/stats") as r:
        stats = json.loads(r.read())
        assert "RateLimit" not in r.headers
    assert stats["by_route"]["list"] == 1 and stats["by_bucket"]["api"] == 1
    with urllib.request.urlopen(f"{hub.url}/_fakehub/truth?id=sentence-transformers/all-MiniLM-L6-v2") as r:
        assert json.loads(r.read())["parameters_by_dtype"] == {"F32": 22713216, "I64": 512}
    assert hub.stop() == 0


def test_subprocess_renames_and_truth_by_hub_id(fakehub_subprocess) -> None:
    hub = fakehub_subprocess("--synthetic", "3000", "--seed", "2", "--epoch", "1")
    with urllib.request.urlopen(f"{hub.url}/_fakehub/renames?since=0") as r:
        renames = json.loads(r.read())
    assert renames and {x["epoch"] for x in renames} == {1}
    with urllib.request.urlopen(f"{hub.url}/_fakehub/truth?_id={renames[0]['_id']}") as r:
        t = json.loads(r.read())
    assert t["id"] == renames[0]["new_id"] and t["former_ids"] == [renames[0]["old_id"]]
