"""The house rules of DESIGN.md, checked on the source: who may import whom, and where SQL lives."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SQL = re.compile(r"\b(SELECT\b.+\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(OR|TABLE|VIEW|TEMP)|ALTER\s+TABLE)\b",
                 re.IGNORECASE | re.DOTALL)  # fmt: skip


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("db", ("hubcensus.crawler", "hubcensus.analysis", "hubcensus.fakehub")),
        ("analysis", ("hubcensus.crawler", "hubcensus.fakehub")),
        ("crawler/formats", ("hubcensus.db", "hubcensus.crawler.hub", "httpx2", "duckdb", "sqlalchemy")),
        ("crawler/counting", ("hubcensus.db", "hubcensus.crawler.hub", "httpx2", "duckdb", "sqlalchemy")),
        ("fakehub", ("hubcensus.crawler", "hubcensus.db", "hubcensus.analysis")),
    ],
)
def test_rooms_import_only_what_they_may(folder: str, forbidden: tuple[str, ...]) -> None:
    bad = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in _modules(folder)
        for name in _imports(path)
        if name.startswith(forbidden)
    }
    assert not bad


def test_the_network_door_knows_no_tables() -> None:
    assert not {name for name in _imports(ROOT / "crawler" / "hub.py") if name.startswith("hubcensus.db")}


def test_sql_lives_in_db_and_analysis() -> None:
    found = []
    for folder in ("crawler", "hubcensus", "fakehub"):
        for path in _modules(folder):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found
