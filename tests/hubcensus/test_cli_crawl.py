"""`hubcensus crawl|status|demo` through the real CLI, against fakehub on 127.0.0.1.

The kill, lock and signal tests run the crawl as a child process (`python -m hubcensus crawl ...`)
against an in-process fakehub with latency, and wait for its per-page log lines, never for time.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from hubcensus.db.connection import lock_path, open_database
from hubcensus.fakehub.app import RunningHub
from hubcensus.fakehub.faults import FaultConfig
from typer.testing import CliRunner

from hubcensus.cli import app
from hubcensus.exits import ExitCode

pytestmark = pytest.mark.usefixtures("hf_env")
runner = CliRunner()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBCENSUS_", "HF_TOKEN", "HF_ENDPOINT"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Child:
    """`python -m hubcensus crawl ...` whose stdout lines are read as they come."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "hubcensus", "crawl", *args], env=_env(),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        self.lines: list[str] = []

    def wait_for_page(self, n: int) -> int:
        """Read log lines until one reports page >= n (pages may be stored in batches); returns it."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            match = re.search(r" page (\d+): ", line)
            if match and int(match.group(1)) >= n:
                return int(match.group(1))
        raise AssertionError(f"child ended before page {n}: {self.lines} {self.proc.stderr.read()}")  # type: ignore[union-attr]

    def finish(self) -> tuple[int, list[str], str]:
        out, err = self.proc.communicate(timeout=120)
        return self.proc.returncode, self.lines + out.splitlines(), err


def _models(path: Path) -> dict[str, str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return dict(con.execute("SELECT model_id, sha FROM models WHERE deleted_at IS NULL").fetchall())
    finally:
        con.close()


def _committed(path: Path) -> set[str]:
    """Models stored in `models` or committed to `listing_stage` (staged with their cursor)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        sql = "SELECT model_id FROM models UNION SELECT model_id FROM listing_stage"
        return {m for (m,) in con.execute(sql).fetchall()}
    finally:
        con.close()


def _truth(hub: RunningHub) -> dict[str, str]:
    return {m: hub.catalog.truth(m)["sha"] for m in hub.catalog.ids()}


def test_help_teaches_with_examples() -> None:
    result = runner.invoke(app, ["crawl", "--help"])
    assert result.exit_code == 0
    for text in ("Examples", "hubcensus crawl --full", "--author", "--token", "--limit", "75", "resumes"):
        assert text in result.output
    assert "hubcensus status" in runner.invoke(app, ["status", "--help"]).output
    assert "DEMO DATA" in runner.invoke(app, ["demo", "--help"]).output


def test_crawl_then_status_plain_lines_and_summary_last(fakehub_server, tmp_path: Path) -> None:
    hub = fakehub_server(synthetic=400, seed=11)
    db = tmp_path / "h.duckdb"
    result = runner.invoke(app, ["crawl", "--db", str(db), "--endpoint", hub.url, "--page-size", "200"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[-1].startswith(
        "run 1 ok: full, 2 pages, 400 models seen (400 new, 0 updated, 0 renamed, 0 no longer public)"
    )
    assert any(" full page 2: 400 models" in line for line in lines)
    assert _models(db) == _truth(hub)
    status = runner.invoke(app, ["status", "--db", str(db)])
    assert status.exit_code == 0
    assert "rows: models 400, deleted 0, model_versions 400" in status.output
    assert "#1 full ok" in status.output and "freshness: last successful run 1 (full)" in status.output
    truths = [hub.catalog.truth(model_id) for model_id in hub.catalog.ids()]
    with_weights = [t for t in truths if t["weight_format"] in ("safetensors", "both", "pickle")]  # pickles too
    gated = sum(1 for t in with_weights if t["gated"])
    assert 0 < gated < len(with_weights)
    # the synthetic catalog's GGUF-only repos serve real GGUF headers: read like the safetensors ones
    gguf_only = [t for t in truths if t["weight_format"] == "gguf"]
    assert gguf_only and not any(t["gated"] for t in gguf_only)
    assert (
        f"headers: {len(with_weights) - gated + len(gguf_only)} models read (exact figures), 0 unreadable, "
        f"{gated} waiting ({gated} of them gated: read only with a token)" in status.output
    )
    again = runner.invoke(app, ["crawl", "--db", str(db)], env={"HF_ENDPOINT": hub.url})
    assert again.exit_code == 0
    assert again.output.splitlines()[-1].startswith("run 2 ok: incremental, 1 pages")


def test_errors_are_one_line_with_exit_codes(fakehub_server, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["status", "--db", str(tmp_path / "none.duckdb")])
    assert missing.exit_code == ExitCode.DATABASE and "no database at" in missing.output
    hub = fakehub_server(synthetic=10, seed=1)
    db = tmp_path / "f.duckdb"
    not_a_hub = runner.invoke(app, ["crawl", "--db", str(db), "--endpoint", hub.url + "/not-a-hub"])
    assert not_a_hub.exit_code == ExitCode.FAILED
    assert len(not_a_hub.output.strip().splitlines()) == 1 and "404" in not_a_hub.output
    assert not db.exists() and not lock_path(db).exists()  # nothing on disk before the Hub answered
    started = time.monotonic()
    offline = runner.invoke(app, ["crawl", "--db", str(db), "--endpoint", "http://127.0.0.1:9/" + "x" * 300])
    assert offline.exit_code == ExitCode.FAILED and time.monotonic() - started < 15
    line = offline.output.strip()
    assert len(line.splitlines()) == 1 and len(line) < 250 and "hubcensus demo" in line
    assert not db.exists()
    assert (
        runner.invoke(app, ["crawl", "--db", str(db), "--endpoint", hub.url, "--deep", "none"]).exit_code == 0
    )
    started = time.monotonic()  # an existing database, an endpoint that does not answer: the same fast line
    offline = runner.invoke(app, ["crawl", "--db", str(db), "--endpoint", "http://127.0.0.1:9/" + "x" * 300])
    assert offline.exit_code == ExitCode.FAILED and time.monotonic() - started < 15
    line = offline.output.strip().splitlines()[-1]
    assert line.startswith("hubcensus: ") and len(line) < 250 and "hubcensus demo" in line
    with duckdb.connect(str(db), read_only=True) as con:
        (status, message) = con.execute("SELECT status, message FROM crawl_runs ORDER BY run_id DESC LIMIT 1").fetchone()
    assert status == "failed" and len(message) < 250  # the ledger says so too, briefly
    held = open_database(db)
    try:
        busy = runner.invoke(app, ["crawl", "--db", str(db), "--endpoint", hub.url])
    finally:
        held.close()
    assert busy.exit_code == ExitCode.BUSY
    assert "another hubcensus run holds the write lock" in busy.output
    assert len(busy.output.strip().splitlines()) == 1
    assert not lock_path(db).exists()  # a released writer leaves no lock file behind


def test_sigkill_mid_walk_resumes_with_nothing_lost_or_doubled(fakehub_server, tmp_path: Path) -> None:
    hub = fakehub_server(synthetic=3000, seed=12, faults=FaultConfig(latency_ms=40))
    db = tmp_path / "k.duckdb"
    child = Child("--full", "--db", str(db), "--endpoint", hub.url, "--page-size", "200", "--deep", "none")
    child.wait_for_page(4)
    child.proc.kill()
    child.proc.wait(timeout=30)
    assert child.proc.returncode == -signal.SIGKILL
    merged, committed = _models(db), _committed(db)
    assert 800 <= len(committed) < 3000 and set(merged) <= set(committed)
    status = runner.invoke(app, ["status", "--db", str(db)])
    staged = len(committed) - len(merged)
    assert (f"staged: {staged} listing rows" in status.output) == (staged > 0), status.output
    assert re.search(r"#1 full killed .*: the process ended without closing the run", status.output)
    assert "removed a stale lock file" in status.output and not lock_path(db).exists()
    # the listing resume is under test, not the header pass (3000 models at 40 ms: minutes on a busy machine)
    resumed = Child("--full", "--db", str(db), "--endpoint", hub.url, "--page-size", "200", "--deep", "none")
    code, lines, err = resumed.finish()
    assert code == 0, err
    assert f"full (resumed), {15 - len(committed) // 200} pages" in lines[-1]
    # the killed run's staged pages are merged by the resumed run, which counts them as new
    assert f"({3000 - len(merged)} new, 0 updated, 0 renamed, 0 no longer public)" in lines[-1]
    assert _models(db) == _truth(hub)
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*), count(DISTINCT model_id) FROM model_versions").fetchone() == (
            3000,
            3000,
        )
        assert con.execute("SELECT count(*) FROM model_stats").fetchone() == (3000,)
        runs = con.execute("SELECT status FROM crawl_runs ORDER BY run_id").fetchall()
    finally:
        con.close()
    assert runs == [("killed",), ("ok",)]
    assert not lock_path(db).exists()  # the kill -9 left one; the next run's release removed it
    assert hub.stats.snapshot()["by_route"]["list"] <= 15 + 5 + 2  # + pages fetched ahead of the kill


def test_concurrent_run_is_refused_and_first_unharmed_then_sigterm(fakehub_server, tmp_path: Path) -> None:
    hub = fakehub_server(synthetic=2000, seed=13, faults=FaultConfig(latency_ms=30))
    db = tmp_path / "c.duckdb"
    # the lock and the stop are under test, not the header pass
    first = Child("--db", str(db), "--endpoint", hub.url, "--page-size", "100", "--deep", "none")
    first.wait_for_page(2)
    first.proc.send_signal(signal.SIGSTOP)  # hold it mid-walk, whatever the machine's speed
    try:
        second = subprocess.run([sys.executable, "-m", "hubcensus", "crawl", "--db", str(db), "--endpoint", hub.url],
                                env=_env(), capture_output=True, text=True, timeout=60)  # fmt: skip
    finally:
        first.proc.send_signal(signal.SIGCONT)
    assert second.returncode == 75
    assert "holds the write lock" in second.stderr and len(second.stderr.strip().splitlines()) == 1
    code, lines, err = first.finish()
    assert code == 0, err
    assert lines[-1].startswith("run 1 ok: full, 20 pages, 2000 models seen (2000 new")
    assert _models(db) == _truth(hub)

    hub.set_epoch(3)
    third = Child("--full", "--db", str(db), "--endpoint", hub.url, "--page-size", "100", "--deep", "none")
    third.wait_for_page(2)
    third.proc.send_signal(signal.SIGSTOP)
    third.proc.send_signal(signal.SIGTERM)
    third.proc.send_signal(signal.SIGCONT)
    code, lines, _ = third.finish()
    assert code == 130
    assert lines[-1].startswith("run 2 interrupted: full")
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT status FROM crawl_runs WHERE run_id = 2").fetchone() == ("interrupted",)
        assert con.execute("SELECT count(*) FROM crawl_state WHERE key = 'full.cursor'").fetchone() == (1,)
        # a graceful stop merges what it staged: the pages it walked are in models, nothing is left staged
        assert con.execute("SELECT count(*) FROM listing_stage").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM models WHERE last_run_id = 2").fetchone()[0] >= 200
    finally:
        con.close()


def test_demo_says_demo_data(tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    result = runner.invoke(app, ["demo", "--models", "200", "--db", str(db), "--out", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    assert "DEMO DATA" in result.output and "demo data, not the Hub" in result.output
    assert len(_models(db)) == 200
    markdown = (tmp_path / "rep" / "report.md").read_text(encoding="utf-8").splitlines()
    assert "demo data from a synthetic Hub" in markdown[0] and "200 synthetic models" in markdown[0]
    html = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    assert html.index("demo data from a synthetic Hub") < html.index("<h1>")
    follow = result.output.splitlines()[result.output.splitlines().index("next, explore it:") + 1 :]
    assert follow and all(f"--db {db}" in line for line in follow)
    for line in follow:  # every printed command works as printed
        args = shlex.split(line)[1:]
        if args[0] != "report":
            done = runner.invoke(app, args)
            assert done.exit_code == 0, (line, done.output)
            assert "demo data from a synthetic Hub" in done.output or args[0] != "status"


def test_deep_minutes_budget_then_no_budget(fakehub_server, tmp_path: Path) -> None:
    hub = fakehub_server(synthetic=300, seed=14)
    db = tmp_path / "b.duckdb"
    spent = runner.invoke(app, ["crawl", "--db", str(db), "--endpoint", hub.url, "--deep-minutes", "0"])
    assert spent.exit_code == 0, spent.output
    left = re.search(r"; (\d+) models' headers left for the next run \(time budget\)", spent.output)
    assert left and int(left.group(1)) > 0
    unlimited = runner.invoke(app, ["crawl", "--db", str(db), "--endpoint", hub.url, "--deep-minutes", "inf"])
    assert unlimited.exit_code == 0, unlimited.output
    assert "left for the next run" not in unlimited.output
    con = duckdb.connect(str(db), read_only=True)
    try:
        ledger = con.execute(
            "SELECT headers_fetched, headers_left, errors FROM crawl_runs ORDER BY run_id"
        ).fetchall()
    finally:
        con.close()
    (first_fetched, first_left, _), (fetched, now_left, unreadable) = ledger
    assert (first_fetched, first_left, now_left) == (0, int(left.group(1)), 0)
    # every model left over was tried: read exactly, or unreadable (the catalog's placeholder GGUF repos)
    assert fetched + unreadable == int(left.group(1)) and fetched > 0
    assert f"header pass: {fetched} models' headers" in unlimited.output.splitlines()[-1]
