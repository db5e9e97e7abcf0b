"""An HF_TOKEN reaches the Hub and nothing else: not the database, the logs, nor the reports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("hf_env")
TOKEN = "hf_SeCrEtTokenThatMustNeverBeStored0123456789"


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubcensus", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_token_is_sent_but_never_written(fakehub_server, tmp_path: Path) -> None:
    hub = fakehub_server(synthetic=120, seed=5)
    gated = [t for t in (hub.catalog.truth(i) for i in hub.catalog.ids()) if t["gated"] and t["files"]]
    assert gated, "the catalog should hold gated repos with safetensors"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUBCENSUS_"))}
    env.update(HF_TOKEN=TOKEN, HF_HUB_DISABLE_PROGRESS_BARS="1", PYTHONUNBUFFERED="1")
    db = tmp_path / "census.duckdb"
    crawl = _run("crawl", "--db", str(db), "--endpoint", hub.url, "--deep", "changed", env=env)
    assert crawl.returncode == 0, crawl.stderr
    explain = _run("explain", gated[0]["id"], "--db", str(db), "--json", env=env)
    report = _run("report", "--db", str(db), "--out", str(tmp_path / "report"), env=env)
    status = _run("status", "--db", str(db), env=env)
    for result in (explain, report, status):
        assert result.returncode == 0, result.stderr

    # The token worked: gated headers were read (fakehub answers 401 without one).
    assert f'"effective_parameters": {gated[0]["effective_parameters"]}' in explain.stdout
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert db in written and any(p.suffix == ".html" for p in written)
    for path in written:
        assert TOKEN.encode() not in path.read_bytes(), path
    for result in (crawl, explain, report, status):
        assert TOKEN not in result.stdout + result.stderr
