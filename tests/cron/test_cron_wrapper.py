"""The cron wrapper: flock, log rotation, crawl then report, `latest` symlink (with a stand-in binary)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "cron" / "hubcensus-cron.sh"

STAND_IN = """#!/usr/bin/env bash
# Records its arguments; `crawl` can be made to wait for a file or to fail.
echo "$*" >> "$CALLS"
if [ "$1" = crawl ]; then
    touch "$STARTED"
    while [ -n "${HOLD:-}" ] && [ ! -e "$HOLD" ]; do sleep 0.05; done
    echo "crawl summary line"
    exit "${CRAWL_RC:-0}"
fi
if [ "$1" = report ]; then mkdir -p "$3" && echo report > "$3/report.md"; fi
"""


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    stand_in = tmp_path / "hubcensus"
    stand_in.write_text(STAND_IN)
    stand_in.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBCENSUS_", "HF_"))}
    env.update(HUBCENSUS_HOME=str(tmp_path / "home"), HUBCENSUS_BIN=str(stand_in),
               CALLS=str(tmp_path / "calls"), STARTED=str(tmp_path / "started"), **extra)  # fmt: skip
    return env


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)


def test_crawl_then_report_with_latest_link_and_log(tmp_path: Path) -> None:
    env = _env(tmp_path)
    result = _run(env)
    assert result.returncode == 0, result.stderr
    home = tmp_path / "home"
    calls = (tmp_path / "calls").read_text().splitlines()
    day = time.strftime("%Y-%m-%d", time.gmtime())
    assert calls == ["crawl --deep-minutes 240", f"report --out {home}/reports/{day}"]
    assert os.readlink(home / "reports" / "latest") == day
    assert (home / "reports" / "latest" / "report.md").read_text() == "report\n"
    (log,) = (home / "logs").iterdir()
    text = log.read_text()
    assert "crawl summary line" in text and "crawl exited 0" in text and "report exited 0" in text


def test_failed_crawl_skips_report_and_exits_nonzero(tmp_path: Path) -> None:
    result = _run(_env(tmp_path, CRAWL_RC="75", HUBCENSUS_DEEP_MINUTES="30", HUBCENSUS_CRAWL_ARGS="--full"))
    assert result.returncode == 75
    assert "failed with exit 75" in result.stderr
    assert (tmp_path / "calls").read_text().splitlines() == ["crawl --deep-minutes 30 --full"]
    assert not (tmp_path / "home" / "reports" / "latest").exists()


def test_logs_are_rotated_keeping_n(tmp_path: Path) -> None:
    logs = tmp_path / "home" / "logs"
    logs.mkdir(parents=True)
    old = [logs / f"hubcensus-2020010{i}T000000Z.log" for i in range(1, 6)]
    for path in old:
        path.write_text("old\n")
    (logs / "unrelated.txt").write_text("keep me\n")
    assert _run(_env(tmp_path, HUBCENSUS_KEEP_LOGS="3")).returncode == 0
    names = sorted(p.name for p in logs.iterdir())
    assert names[:2] == [old[3].name, old[4].name]
    assert len([n for n in names if n.startswith("hubcensus-")]) == 3
    assert "unrelated.txt" in names


def test_second_concurrent_run_is_refused_cleanly_and_first_finishes(tmp_path: Path) -> None:
    hold = tmp_path / "hold"
    env = _env(tmp_path, HOLD=str(hold))
    first = subprocess.Popen(
        ["bash", str(SCRIPT)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "started").exists():
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        second = _run(env)
        assert second.returncode == 0
        assert "another run holds the lock" in second.stderr
    finally:
        hold.touch()
        _out, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    assert (tmp_path / "calls").read_text().splitlines()[0] == "crawl --deep-minutes 240"
    assert len((tmp_path / "calls").read_text().splitlines()) == 2
