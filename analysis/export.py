"""`hubcensus export --parquet DIR`: every table (and `v_models`) as one Parquet file, for sharing.

Written by DuckDB's own COPY from a read-only connection, readable by DuckDB, pyarrow,
pandas and polars. JSON columns are written as plain strings so every reader agrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from hubcensus.analysis.connect import open_readonly
from hubcensus.db import schema

EXTRA_VIEWS = ("v_models",)


@dataclass(frozen=True)
class Exported:
    """One written file."""

    name: str
    rows: int
    path: Path


def _select(table: sa.Table) -> str:
    columns = [
        f'CAST("{c.name}" AS VARCHAR) AS "{c.name}"' if isinstance(c.type, sa.JSON) else f'"{c.name}"'
        for c in table.columns
    ]
    return f"SELECT {', '.join(columns)} FROM {table.name}"


def export_parquet(db_path: str | Path, out_dir: str | Path) -> list[Exported]:
    """Write `<table>.parquet` for every census table and `v_models.parquet` into `out_dir`."""
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    tables = [t for t in schema.metadata.sorted_tables if t.name not in schema.INTERNAL_TABLES]
    queries = [(t.name, _select(t)) for t in tables]
    queries += [(view, f"SELECT * FROM {view}") for view in EXTRA_VIEWS]
    written: list[Exported] = []
    db = open_readonly(db_path)
    try:
        con = db.con
        existing = {
            name for (name,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        for name, select in queries:
            if name not in existing:
                continue
            path = out / f"{name}.parquet"
            target = str(path).replace("'", "''")
            con.execute(f"COPY ({select}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
            (rows,) = con.execute(f"SELECT count(*) FROM {name}").fetchone()
            written.append(Exported(name=name, rows=int(rows), path=path))
    finally:
        db.close()
    return written
