"""A full disk and a read-only directory: one line naming the cause and the path, exit 1, the ledger says so.

The database lives on a small tmpfs mounted for the test (root only: skipped where `mount` fails);
the crawl is `python -m hubcensus crawl` against fakehub on 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest
from hubcensus.db import store
from hubcensus.db.connection import lock_path, open_database
from hubcensus.fakehub.faults import FaultConfig

from hubcensus.commands_crawl import status_lines
from hubcensus.exits import ExitCode

pytestmark = pytest.mark.usefixtures("hf_env")
MODELS = 3000


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Factory: `tmpfs("2m")` mounts a tmpfs of that size in tmp_path (unmounted after the test)."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        where = tmp_path / f"fs{len(mounted)}"
        where.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                              capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _env() -> dict[str, str]:
    """This environment without our settings, tokens or endpoint; unbuffered output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBCENSUS_", "HF_TOKEN", "HF_ENDPOINT"))}
    return {**env, "PYTHONUNBUFFERED": "1"}


def _crawl(db: Path, url: str, *more: str) -> subprocess.CompletedProcess[str]:
    args = ["crawl", "--db", str(db), "--endpoint", url, "--deep", "none", "--page-size", "500", *more]
    return subprocess.run([sys.executable, "-m", "hubcensus", *args], env=_env(), capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def _query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_full_disk_is_one_line_failed_in_the_ledger_and_resumes_exactly(
    fakehub_server, tmpfs, tmp_path: Path
) -> None:
    hub = fakehub_server(synthetic=MODELS, seed=21)
    small = tmpfs("2m")
    db = small / "h.duckdb"
    done = _crawl(db, hub.url)
    assert done.returncode == ExitCode.FAILED, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("hubcensus: no space left on device writing ")
    assert str(db) in lines[0]
    roomy = tmp_path / "roomy"
    roomy.mkdir()
    for part in small.iterdir():  # the database and its WAL, moved to a disk with room
        shutil.copy2(part, roomy / part.name)
    moved = roomy / db.name
    line = lines[0].removeprefix("hubcensus: ")
    ((status, message),) = _query(moved, "SELECT status, message FROM crawl_runs")
    noted = roomy / "h.duckdb.failed"  # where the row itself could not be written: the next run reads it
    note = noted.read_text() if noted.exists() else None
    print("ledger row after the failure:", status, "; noted for the next run:", note)
    assert (status, message) == ("failed", line) or (
        status == "running" and note and note.endswith(f"\n1\t{line}\n")
    ), (
        status,
        message,
        note,
        sorted(p.name for p in small.iterdir()),
    )
    again = _crawl(moved, hub.url)
    assert again.returncode == ExitCode.OK, again.stderr
    runs = _query(moved, "SELECT run_id, status, message FROM crawl_runs ORDER BY run_id")
    assert runs == [(1, "failed", line), (2, "ok", None)] and not noted.exists()
    assert _query(moved, "SELECT count(*) FROM models WHERE deleted_at IS NULL") == [(MODELS,)]
    assert _query(moved, "SELECT count(*), count(DISTINCT model_id) FROM model_versions") == [
        (MODELS, MODELS)
    ]


def test_read_only_directory_is_one_line_and_exit_1(fakehub_server, tmpfs) -> None:
    hub = fakehub_server(synthetic=50, seed=22)
    small = tmpfs("8m")
    db = small / "h.duckdb"
    open_database(db).close()  # a new, migrated database, then its filesystem turns read-only
    remount = subprocess.run(["mount", "-o", "remount,ro", str(small)], capture_output=True, text=True)
    if remount.returncode != 0:
        pytest.skip(f"cannot remount read-only: {remount.stderr.strip()}")
    done = _crawl(db, hub.url)
    assert done.returncode == ExitCode.FAILED
    assert done.stderr.strip().splitlines() == [f"hubcensus: read-only file system writing {db}"]
    assert _query(db, "SELECT count(*) FROM crawl_runs") == [(0,)]


def test_database_deleted_under_a_running_crawl_is_one_line_and_not_recreated(
    fakehub_server, tmp_path
) -> None:
    hub = fakehub_server(synthetic=1500, seed=23, faults=FaultConfig(latency_ms=60))
    db = tmp_path / "d.duckdb"
    args = ["crawl", "--db", str(db), "--endpoint", hub.url, "--deep", "none", "--page-size", "100"]
    proc = subprocess.Popen([sys.executable, "-m", "hubcensus", *args], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:  # pages may be stored in batches: the first line at page >= 2
        page = re.search(r" page (\d+): ", line)
        if page and int(page.group(1)) >= 2:
            assert int(page.group(1)) < 15, "the walk ended before the file could be deleted"
            db.unlink()
            break
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.FAILED
    assert err.strip().splitlines() == [f"hubcensus: the database file {db} was deleted during the crawl"]
    assert not db.exists()  # never silently recreated as an empty file


def test_a_row_the_disk_refused_is_failed_with_its_line_in_status_and_the_next_run(tmp_path: Path) -> None:
    path = tmp_path / "n.duckdb"
    db = open_database(path)
    run_id = store.start_run(db, mode="full", endpoint="http://127.0.0.1:9", version="test")
    line = f"no space left on device writing {path}.wal"
    assert db.lock is not None
    db.lock.note_failure(run_id, line)  # what _close does when neither try could write the row
    db.close()
    assert not lock_path(path).exists() and (tmp_path / "n.duckdb.failed").exists()
    with open_database(path, read_only=True) as reader:
        assert any(f"#{run_id} full failed " in t and t.endswith(f": {line}") for t in status_lines(reader))
    db = open_database(path)
    try:
        store.start_run(db, mode="full", endpoint="http://127.0.0.1:9", version="test")
    finally:
        db.close()
    assert _query(path, "SELECT run_id, status, message FROM crawl_runs ORDER BY run_id") == [
        (1, "failed", line),
        (2, "running", None),
    ]
    assert not (tmp_path / "n.duckdb.failed").exists()
