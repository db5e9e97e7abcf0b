"""The CLI contract: exit codes, one `hubcensus: ...` line per error, the token's order, sql output.

Real files throughout: a corrupt file, a DuckDB file damaged in the middle, a DuckDB file that is
not ours, paths that cannot be written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest
from hubcensus.db.connection import open_database
from typer.testing import CliRunner

from hubcensus import settings
from hubcensus.cli import app
from hubcensus.exits import ExitCode

runner = CliRunner()
NOWHERE = "http://127.0.0.1:9"

READERS = (
    ["status"],
    ["report", "--out", "{tmp}/r"],
    ["sql", "SELECT count(*) FROM models"],
    ["export", "--parquet", "{tmp}/p"],
    ["explain", "org/m"],
)


def _run(args: list[str], tmp: Path, db: Path) -> object:
    return runner.invoke(app, [a.format(tmp=tmp) for a in args] + ["--db", str(db)])


def _one_line_error(result: object) -> str:
    out = result.output  # type: ignore[attr-defined]
    assert out.startswith("hubcensus: ") and len(out.strip().splitlines()) == 1, out
    assert "Traceback" not in out
    return out


def test_exit_codes_are_the_documented_ones() -> None:
    assert {c.name: int(c) for c in ExitCode} == {
        "OK": 0, "FAILED": 1, "USAGE": 2, "DATABASE": 3, "BUSY": 75, "INTERRUPTED": 130,
    }  # fmt: skip
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for code in ExitCode:
        assert f"| {int(code)} |" in readme, code


def test_a_corrupt_file_named_like_a_lock_is_exit_3_for_every_command(tmp_path: Path) -> None:
    folder = tmp_path / "clock"
    folder.mkdir()
    db = folder / "blocklist.duckdb"
    db.write_bytes(b"not a database, whatever its name says " * 100)
    for args in (*READERS, ["crawl", "--endpoint", NOWHERE]):
        result = _run(list(args), tmp_path, db)  # an existing file is checked before any request
        assert result.exit_code == ExitCode.DATABASE, (args, result.output)
        assert "not a valid DuckDB" in _one_line_error(result)


def test_corrupt_file_is_exit_3_for_crawl_too(fakehub_server, tmp_path: Path) -> None:
    hub = fakehub_server(synthetic=5, seed=1)
    db = tmp_path / "blocklist.duckdb"
    db.write_bytes(b"\x00garbage" * 500)
    result = runner.invoke(app, ["crawl", "--db", str(db), "--endpoint", hub.url, "--deep", "none"])
    assert result.exit_code == ExitCode.DATABASE
    _one_line_error(result)
    assert db.read_bytes() == b"\x00garbage" * 500  # never overwritten


def _damaged(tmp_path: Path) -> Path:
    """A real census file whose `models` blocks were overwritten in the middle."""
    path = tmp_path / "damaged.duckdb"
    with open_database(path) as db:
        db.con.execute(
            "INSERT INTO models (model_id, author, created_at, sha, downloads, weight_files) "
            "SELECT 'org/m' || i, 'org', TIMESTAMP '2024-01-01' + INTERVAL (i) MINUTE, md5(i::VARCHAR), i, "
            "['model.safetensors'] FROM range(200000) t(i)"
        )
    size = path.stat().st_size
    with path.open("r+b") as handle:
        for fraction in (0.3, 0.5, 0.7):
            handle.seek(int(size * fraction))
            handle.write(os.urandom(64 << 10))
    return path


def test_a_file_damaged_in_the_middle_is_exit_3_never_a_traceback_or_a_report(tmp_path: Path) -> None:
    db = _damaged(tmp_path)
    for args in (["report", "--out", "{tmp}/r"], ["export", "--parquet", "{tmp}/p"],
                 ["sql", "SELECT sum(hash(COLUMNS(*))) FROM models"]):  # fmt: skip
        result = _run(list(args), tmp_path, db)
        assert result.exit_code == ExitCode.DATABASE, (args, result.output)
        _one_line_error(result)
    assert not (tmp_path / "r" / "report.html").exists()


def test_a_duckdb_file_that_is_not_a_census_is_exit_3(tmp_path: Path) -> None:
    db = tmp_path / "other.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE t AS SELECT 1 AS x")
    con.close()
    for args in READERS:
        result = _run(list(args), tmp_path, db)
        assert result.exit_code == ExitCode.DATABASE, (args, result.output)
        assert "not a hubcensus database" in _one_line_error(result)


def test_a_newer_schema_is_exit_3(tmp_path: Path) -> None:
    db = tmp_path / "newer.duckdb"
    open_database(db).close()
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO schema_migrations VALUES (9999, 'from the future', now())")
    con.close()
    result = runner.invoke(app, ["status", "--db", str(db)])
    assert result.exit_code == ExitCode.DATABASE and "9999" in _one_line_error(result)


def test_unwritable_db_path_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = runner.invoke(app, ["demo", "--db", str(blocker / "demo.duckdb"), "--models", "5"])
    assert result.exit_code == ExitCode.DATABASE, result.output
    _one_line_error(result)


def test_usage_errors_are_exit_2_in_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["crawl", "--deep", "sometimes"])
    assert result.exit_code == ExitCode.USAGE
    assert "--deep" in _one_line_error(result)
    assert runner.invoke(app, ["sql", "SELECT 1", "--format", "xml"]).exit_code == ExitCode.USAGE


def test_unexpected_error_is_one_line_and_debug_shows_the_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "census.duckdb"
    open_database(db).close()
    from hubcensus.analysis import report

    def broken(*_args: object, **_kwargs: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(report, "write_report", broken)
    plain = runner.invoke(app, ["report", "--db", str(db), "--out", str(tmp_path / "r")])
    assert plain.exit_code == ExitCode.FAILED
    assert "ZeroDivisionError: a bug" in _one_line_error(plain) and "--debug" in plain.output
    debug = runner.invoke(app, ["--debug", "report", "--db", str(db), "--out", str(tmp_path / "r")])
    assert debug.exit_code == ExitCode.FAILED and "Traceback" in debug.output


def test_token_order_flag_then_env_then_stored_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    stored = tmp_path / "token"
    stored.write_text("hf_stored_login")
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(stored))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert settings.resolve_token() == "hf_stored_login"
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    assert settings.resolve_token() == "hf_from_env"
    assert settings.resolve_token("hf_from_flag") == "hf_from_flag"
    conf = settings.load(tmp_path / "x.duckdb", NOWHERE, "hf_from_flag")
    assert conf.token == "hf_from_flag" and "hf_from" not in repr(conf)


def test_sql_table_is_capped_with_a_note_and_never_wrapped_off_a_terminal(tmp_path: Path) -> None:
    db = tmp_path / "census.duckdb"
    open_database(db).close()
    wide = "SELECT i, repeat('x', 300) AS long_text FROM range(1500) t(i)"
    result = runner.invoke(app, ["sql", wide, "--db", str(db)])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    body = [line for line in lines if "xxx" in line]
    assert len(body) == 1000 and all("x" * 300 in line for line in body)  # neither wrapped nor cut
    assert any("1000 rows shown, more not fetched" in line for line in lines)
    small = runner.invoke(app, ["sql", "SELECT 42 AS answer", "--db", str(db), "--max-rows", "5"])
    assert "42" in small.output and "1 row" in small.output and "more not fetched" not in small.output


def test_sql_csv_and_json_stream_every_row(tmp_path: Path) -> None:
    db = tmp_path / "census.duckdb"
    open_database(db).close()
    rows = 25_000  # more than one fetch batch
    as_csv = runner.invoke(app, ["sql", f"SELECT i, i * 2 AS twice FROM range({rows}) t(i)", "--db", str(db),
                                 "--format", "csv"])  # fmt: skip
    lines = as_csv.output.splitlines()
    assert lines[0] == "i,twice" and len(lines) == rows + 1 and lines[-1] == f"{rows - 1},{2 * (rows - 1)}"
    as_json = runner.invoke(
        app, ["sql", f"SELECT i FROM range({rows}) t(i)", "--db", str(db), "--format", "json"]
    )
    records = json.loads(as_json.output)
    assert len(records) == rows and records[-1] == {"i": rows - 1}
    empty = runner.invoke(app, ["sql", "SELECT 1 AS x WHERE false", "--db", str(db), "--format", "json"])
    assert json.loads(empty.output) == []
