"""Ordered, recorded schema migrations.

Each migration runs once, inside a transaction, and is recorded in
`schema_migrations`. Add a new one by appending to `MIGRATIONS`; never edit
one that has shipped. Views (`views.sql`) are re-applied after migrating,
since `CREATE OR REPLACE VIEW` is idempotent and cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources

import sqlalchemy as sa

from db import schema

Migration = tuple[int, str, Callable[[sa.Connection], None]]


def _create(*tables: sa.Table) -> Callable[[sa.Connection], None]:
    def run(conn: sa.Connection) -> None:
        for table in tables:
            table.create(conn, checkfirst=True)

    return run


MIGRATIONS: list[Migration] = [
    (
        1,
        "listing tables and run ledger",
        _create(
            schema.models,
            schema.model_dtypes,
            schema.model_versions,
            schema.model_stats,
            schema.crawl_runs,
            schema.crawl_state,
            schema.fetch_errors,
        ),
    ),
    (2, "safetensors header tables", _create(schema.safetensors_files, schema.file_dtypes)),
    (3, "listing staging tables", _create(schema.listing_stage, schema.listing_stage_dtypes)),
]

LATEST_VERSION = MIGRATIONS[-1][0]


def applied_versions(conn: sa.Connection) -> set[int]:
    """Versions already recorded in `schema_migrations`."""
    schema.schema_migrations.create(conn, checkfirst=True)
    return set(conn.execute(sa.select(schema.schema_migrations.c.version)).scalars())


def migrate(conn: sa.Connection) -> list[int]:
    """Apply every pending migration in order, then (re)create the views; return what ran."""
    done = applied_versions(conn)
    ran: list[int] = []
    for version, name, run in MIGRATIONS:
        if version in done:
            continue
        run(conn)
        conn.execute(
            schema.schema_migrations.insert().values(
                version=version, name=name, applied_at=datetime.now(UTC).replace(tzinfo=None)
            )
        )
        ran.append(version)
    apply_views(conn)
    return ran


def views_sql() -> str:
    """The text of `db/views.sql`."""
    return resources.files("db").joinpath("views.sql").read_text(encoding="utf-8")


def apply_views(conn: sa.Connection) -> None:
    """Create or replace every view in `views.sql` (statements separated by ';' at line end)."""
    for statement in _split_sql(views_sql()):
        conn.exec_driver_sql(statement)


def _split_sql(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";\n") if part.strip().rstrip(";").strip()]
