"""Readers while a crawl runs, and a ledger that tells the truth when the crawl is stopped.

The crawl is a child process (`python -m hubcensus crawl`) against an in-process fakehub with
latency; readers are the real CLI and plain `duckdb.connect(read_only=True)`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from hubcensus.db.connection import lock_path
from hubcensus.fakehub.faults import FaultConfig
from typer.testing import CliRunner

from hubcensus.cli import app

pytestmark = pytest.mark.usefixtures("hf_env")
runner = CliRunner()
ANSWER_WITHIN = 30.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBCENSUS_", "HF_TOKEN", "HF_ENDPOINT"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _wait_for(proc: subprocess.Popen, pattern: str, seen: list[str]) -> str:
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line.rstrip("\n"))
        if re.search(pattern, line):
            return line
    raise AssertionError(
        f"crawl ended before {pattern!r}: {seen} {proc.stderr.read() if proc.stderr else ''}"
    )


def _timed(args: list[str]) -> tuple[float, object]:
    started = time.monotonic()
    result = runner.invoke(app, args)
    return time.monotonic() - started, result


def test_readers_answer_mid_crawl_and_sigint_in_the_header_pass_leaves_a_true_ledger(
    fakehub_server, tmp_path: Path
) -> None:
    hub = fakehub_server(synthetic=2500, seed=21, faults=FaultConfig(latency_ms=40))
    db = tmp_path / "r.duckdb"
    cmd = [
        sys.executable,
        "-m",
        "hubcensus",
        "crawl",
        "--db",
        str(db),
        "--endpoint",
        hub.url,
        "--page-size",
        "100",
    ]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    try:
        _wait_for(proc, r" page [3-9]\d*: ", seen)
        took, status = _timed(["status", "--db", str(db)])
        assert status.exit_code == 0 and took < ANSWER_WITHIN, status.output  # type: ignore[attr-defined]
        assert re.search(r"#1 full running", status.output)  # type: ignore[attr-defined]
        took, count = _timed(
            ["sql", "SELECT count(*) FROM listing_stage", "--db", str(db), "--format", "csv"]
        )
        assert count.exit_code == 0 and took < ANSWER_WITHIN  # type: ignore[attr-defined]
        assert int(count.output.splitlines()[1]) >= 100  # type: ignore[attr-defined]

        deadline = time.monotonic() + ANSWER_WITHIN  # plain DuckDB gets in between two write windows
        while True:
            try:
                con = duckdb.connect(str(db), read_only=True)
                break
            except duckdb.IOException:
                assert time.monotonic() < deadline, "plain duckdb never got the file between windows"
                time.sleep(0.05)
        assert con.execute("SELECT count(*) FROM crawl_runs WHERE status = 'running'").fetchone() == (1,)
        con.close()

        _wait_for(proc, r"header pass: ", seen)
        stored = 0
        deadline = time.monotonic() + 120
        while stored == 0:  # the first header batch is in the file (read mid-crawl, too)
            assert time.monotonic() < deadline
            time.sleep(0.5)
            took, read = _timed(["sql", "SELECT count(*) FROM models WHERE weights_source = 'header'",
                                 "--db", str(db), "--format", "csv"])  # fmt: skip
            assert read.exit_code == 0 and took < ANSWER_WITHIN, read.output  # type: ignore[attr-defined]
            stored = int(read.output.splitlines()[1])  # type: ignore[attr-defined]
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert not lock_path(db).exists()
    con = duckdb.connect(str(db), read_only=True)
    try:
        (headers,) = con.execute("SELECT count(*) FROM models WHERE weights_source = 'header'").fetchone()
        run = con.execute("SELECT status, headers_fetched, message FROM crawl_runs").fetchall()
    finally:
        con.close()
    assert headers >= stored > 0
    assert run[0][:2] == ("interrupted", headers)  # headers fetched = what was stored
    assert "header pass" in run[0][2] and "full walk" not in run[0][2]
