"""Read-only analysis connections: the views of this version, as TEMP objects, whatever wrote the file.

A database last written by an older hubcensus (or opened read-only only since) may lack
views; `open_readonly` re-creates every view and macro of `db/views.sql` as TEMP objects
on the read-only connection (they shadow the stored ones), so analysis always sees the
definitions it was written against, and nothing is written to the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
from hubcensus.db.connection import READ_WAIT, Database, open_database
from hubcensus.db.migrations import LATEST_VERSION, views_sql

_CREATE = re.compile(r"^CREATE OR REPLACE (VIEW|MACRO)\b", re.IGNORECASE)


def temp_statements() -> list[str]:
    """Every statement of `views.sql`, rewritten to create TEMP views and macros."""
    lines = [line for line in views_sql().splitlines() if not line.lstrip().startswith("--")]
    parts = [part.strip() for part in "\n".join(lines).split(";\n")]
    return [_CREATE.sub(r"CREATE OR REPLACE TEMP \1", p.rstrip(";")) for p in parts if p.rstrip(";").strip()]


def install_temp_views(con: duckdb.DuckDBPyConnection, *, tolerant: bool = False) -> list[str]:
    """Create this version's views and macros as TEMP objects on `con`.

    `tolerant` (a file written by an older hubcensus, which a reader cannot migrate): a view
    over a table or column the file does not have yet is left out (the query using it then says the
    file is older); returns the statements left out.
    """
    skipped = []
    for statement in temp_statements():
        try:
            con.execute(statement)
        except (duckdb.CatalogException, duckdb.BinderException):
            if not tolerant:
                raise
            skipped.append(statement)
    return skipped


def lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """No file or network access beyond the open database, and no way to turn it back on."""
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def open_readonly(db_path: str | Path, *, locked: bool = False, wait: float = READ_WAIT) -> Database:
    """Open `db_path` read-only with the current views; `locked` also disables external access.

    While a crawl runs, this waits up to `wait` seconds for its write window to end; the
    crawl waits for this reader to close before it writes again.
    """
    db = open_database(db_path, read_only=True, wait=wait)
    try:
        install_temp_views(db.con, tolerant=(db.schema_version or 0) < LATEST_VERSION)
        if locked:
            lock_down(db.con)
    except BaseException:
        db.close()
        raise
    return db
