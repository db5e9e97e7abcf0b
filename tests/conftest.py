"""Shared test setup: the fakehub fixtures (`fakehub_server`, `fakehub_subprocess`, `hf_env`...) and `db`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hubcensus.db.connection import Database, open_database

pytest_plugins = ["hubcensus.fakehub.pytest_plugin"]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A new, migrated census database, open for writing (closed after the test)."""
    database = open_database(tmp_path / "census.duckdb")
    yield database
    database.close()
