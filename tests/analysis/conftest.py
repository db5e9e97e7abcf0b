"""Fixtures: the known census database (see analysis_census.py) and an empty one."""

from __future__ import annotations

from pathlib import Path

import pytest
from analysis_census import build_census
from hubcensus.db.connection import open_database


@pytest.fixture(scope="session")
def census_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The known database (read-only use only)."""
    return build_census(tmp_path_factory.mktemp("census") / "census.duckdb")


@pytest.fixture
def empty_db(tmp_path: Path) -> Path:
    """A migrated database with no models."""
    path = tmp_path / "empty.duckdb"
    open_database(path).close()
    return path
