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
from hubcensus.db import schema

Migration = tuple[int, str, Callable[[sa.Connection], None]]


def _create(*tables: sa.Table) -> Callable[[sa.Connection], None]:
    def run(conn: sa.Connection) -> None:
        for table in tables:
            table.create(conn, checkfirst=True)

    return run


def _add_columns(table: sa.Table, *names: str) -> Callable[[sa.Connection], None]:
    """ALTER TABLE ... ADD COLUMN for columns of `table` that a database made before them lacks."""

    def run(conn: sa.Connection) -> None:
        rows = conn.exec_driver_sql(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", (table.name,)
        )
        have = {name for (name,) in rows}
        for name in names:
            if name not in have:
                column = table.c[name]
                kind = column.type.compile(dialect=conn.dialect)
                conn.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN "{name}" {kind}')

    return run


def _steps(*steps: Callable[[sa.Connection], None]) -> Callable[[sa.Connection], None]:
    """Several steps as one migration (they run in its transaction, in order)."""

    def run(conn: sa.Connection) -> None:
        for step in steps:
            step(conn)

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
    (4, "header pass budget counters", _add_columns(schema.crawl_runs, "headers_left", "gated_skipped")),
    (
        5,
        "identity by the Hub's _id: models.hub_id (filled by the next walk), model_renames, renamed counter",
        _steps(
            _add_columns(schema.models, "hub_id"),
            _add_columns(schema.listing_stage, "hub_id"),
            _add_columns(schema.crawl_runs, "models_renamed"),
            _create(schema.model_renames),
        ),
    ),
    (
        6,
        "model configs (KV cache): model_configs, crawl_runs.configs_fetched",
        _steps(_create(schema.model_configs), _add_columns(schema.crawl_runs, "configs_fetched")),
    ),
    (7, "GGUF header tables", _create(schema.gguf_files, schema.gguf_types)),
    (
        8,
        "weight formats: models.weight_format, pickle files in safetensors_files",
        _steps(
            _add_columns(schema.models, "weight_format"),
            _add_columns(schema.listing_stage, "weight_format"),
            _add_columns(schema.safetensors_files, "file_format", "pickle_container", "pickle_globals", "pickle_unsafe"),
        ),
    ),
    (
        9,
        "active parameters: models.active_params and the expert layout, model_configs.moe",
        _steps(
            _add_columns(schema.models, "active_params", "expert_count", "experts_per_token", "shared_experts",
                         "expert_params", "active_reason"),
            _add_columns(schema.model_configs, "moe"),
        ),
    ),
    (10, "range ignored counter", _add_columns(schema.crawl_runs, "range_ignored")),
]

LATEST_VERSION = max(version for version, _, _ in MIGRATIONS)


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
    return resources.files("hubcensus.db").joinpath("views.sql").read_text(encoding="utf-8")


def apply_views(conn: sa.Connection) -> None:
    """Create or replace every view in `views.sql` (statements separated by ';' at line end)."""
    for statement in _split_sql(views_sql()):
        conn.exec_driver_sql(statement)


def _split_sql(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";\n") if part.strip().rstrip(";").strip()]
