"""Renames: a model is its Hub `_id` (`models.hub_id`); its `model_id` is a name that can change.

Every table keeps a `model_id` column (the SQL interface). A rename moves that
name in `models` and in every other table of `schema.metadata` that has a
`model_id` column (so tables added later are covered without a change here), and
appends a row to `model_renames`, all in one transaction. What may stand in the way:

- the new name is held by a row without `hub_id` (a row stored before migration 5,
  or from a source that gave no `_id`): by name it is the same model, so the old
  row's history is folded into it (rows whose key already exists there are dropped);
- the new name is held by another `_id` that is not itself moving away (the name
  was reused): that row is moved aside to `{name}@{hub_id}` (never a Hub name: `@`
  is not allowed in repo names) until a walk sees where it went, or a completed
  full walk marks it no longer public.

`current_model_id` answers which row a name means today, following `model_renames`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa
from hubcensus.db import schema
from hubcensus.db.arrow import rollback
from hubcensus.db.connection import Database, utcnow

Move = tuple[str | None, str, str]
"""(hub_id or None, old model_id, new model_id)."""

PLACEHOLDER = "@"
"""Separates a displaced row's last name from its hub_id: `org/name@621ffdc0...`."""


def model_id_tables(con: Any) -> list[str]:
    """Tables of `schema.metadata` with a `model_id` column that exist in the database (staging excluded)."""
    existing = {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    return [
        table.name
        for table in schema.metadata.sorted_tables
        if "model_id" in table.c and table.name in existing and table.name not in schema.INTERNAL_TABLES
    ]


def real_name(model_id: str, hub_id: str | None) -> str:
    """The Hub name behind a displaced row's placeholder (`name@hub_id` -> `name`)."""
    suffix = f"{PLACEHOLDER}{hub_id}"
    return model_id[: -len(suffix)] if hub_id and model_id.endswith(suffix) else model_id


def _move(con: Any, mapping: dict[str, str]) -> None:
    """Rename `old -> new` in every model_id table at once (one UPDATE per table; swaps work)."""
    if not mapping:
        return
    table = pa.table({"old_id": list(mapping), "new_id": list(mapping.values())})
    con.register("rename_map", table)
    try:
        for name in model_id_tables(con):
            con.execute(
                f"UPDATE {name} SET model_id = r.new_id FROM rename_map r WHERE {name}.model_id = r.old_id"
            )
    finally:
        con.unregister("rename_map")


def _fold(con: Any, old: str, new: str) -> None:
    """Merge the rows of `old` into those of `new` (the same model under its current name)."""
    for name in model_id_tables(con):
        if name == "models":
            continue
        key = [c for c in schema.UNIQUE_KEYS.get(name, ()) if c != "model_id"]
        if key:
            cols = ", ".join(key)
            con.execute(
                f"DELETE FROM {name} WHERE model_id = ? AND ({cols}) IN "
                f"(SELECT {cols} FROM {name} WHERE model_id = ?)",
                [old, new],
            )
        con.execute(f"UPDATE {name} SET model_id = ? WHERE model_id = ?", [new, old])
    con.execute(
        """
        UPDATE models SET hub_id = coalesce(models.hub_id, o.hub_id), first_seen = least(models.first_seen, o.first_seen)
        FROM (SELECT hub_id, first_seen FROM models WHERE model_id = ?) o WHERE models.model_id = ?
        """,
        [old, new],
    )
    con.execute("DELETE FROM models WHERE model_id = ?", [old])


def _one(con: Any, sql: str, params: list[Any]) -> tuple | None:
    """The first row of a query, with the result consumed (DuckDB wants it before other work)."""
    rows = con.execute(sql, params).fetchall()
    return rows[0] if rows else None


def _free_name(con: Any, name: str, hub_id: str) -> str:
    base = f"{name}{PLACEHOLDER}{hub_id}"
    candidate, n = base, 1
    while _one(con, "SELECT 1 FROM models WHERE model_id = ?", [candidate]):
        n += 1
        candidate = f"{base}~{n}"
    return candidate


def displace(con: Any, names: Sequence[str]) -> dict[str, str]:
    """Move rows holding `names` aside to `{name}@{hub_id}` (rows without hub_id are left); return the moves."""
    if not names:
        return {}
    rows = con.execute(
        "SELECT model_id, hub_id FROM models WHERE hub_id IS NOT NULL AND model_id IN (SELECT unnest(?))",
        [list(names)],
    ).fetchall()
    mapping = {model_id: _free_name(con, real_name(model_id, hub_id), hub_id) for model_id, hub_id in rows}
    _move(con, mapping)
    return mapping


def rename_many(con: Any, moves: Sequence[Move], *, seen_at: datetime, run_id: int | None) -> int:
    """Apply renames inside the caller's transaction and record them in `model_renames`; return how many.

    Each move names a row that exists under `old`. Moves are applied together, so
    chains and swaps between models work.
    """
    moves = [(h, o, n) for h, o, n in moves if o != n]
    if not moves:
        return 0
    vacated = {o for _, o, _ in moves}
    wanted = {n: (h, o) for h, o, n in moves}
    holders = con.execute(
        "SELECT model_id, hub_id FROM models WHERE model_id IN (SELECT unnest(?))", [list(wanted)]
    ).fetchall()
    folds: list[tuple[str, str]] = []
    in_the_way: list[str] = []
    for name, holder_hub in holders:
        if name in vacated:
            continue
        hub_id, old = wanted[name]
        if holder_hub is None or hub_id is None or holder_hub == hub_id:
            folds.append((old, name))
        else:
            in_the_way.append(name)
    displace(con, in_the_way)
    for old, new in folds:
        _fold(con, old, new)
    folded = {old for old, _ in folds}
    _move(con, {o: n for _, o, n in moves if o not in folded})
    con.executemany(
        "INSERT INTO model_renames (hub_id, old_id, new_id, seen_at, run_id) VALUES (?, ?, ?, ?, ?)",
        [[h, real_name(o, h), n, seen_at, run_id] for h, o, n in moves if real_name(o, h) != n],
    )
    return len(moves)


def rename_model(
    db: Database,
    old_id: str,
    new_id: str,
    *,
    hub_id: str | None = None,
    run_id: int | None = None,
    seen_at: datetime | None = None,
) -> bool:
    """Record that `old_id` now answers as `new_id` (a 3xx redirect of a per-model request): one transaction.

    For the header pass and any per-model request: when `/api/models/{old_id}` (or
    `/resolve/`) redirects to `new_id`, call this with the name that was asked and
    the name it landed on (and the `_id` if the answer carried one). The row and
    all its history move to `new_id` and `model_renames` gains a row. Returns False
    (nothing changed) when `old_id` is not stored, the names are equal, or the
    `_id`s prove they are two different models.
    """
    if old_id == new_id:
        return False
    con = db.con
    con.execute("BEGIN TRANSACTION")
    try:
        row = _one(con, "SELECT hub_id FROM models WHERE model_id = ?", [old_id])
        target = _one(con, "SELECT hub_id FROM models WHERE model_id = ?", [new_id])
        known = None if row is None else (row[0] or hub_id)
        conflict = row is None or (hub_id is not None and row[0] is not None and row[0] != hub_id)
        if not conflict and target is not None and known and target[0] and target[0] != known:
            conflict = True  # the new name holds another _id: the redirect is not about this row
        if conflict:
            con.execute("ROLLBACK")
            return False
        if hub_id is not None and row[0] is None:
            con.execute("UPDATE models SET hub_id = ? WHERE model_id = ?", [hub_id, old_id])
        rename_many(con, [(known, old_id, new_id)], seen_at=seen_at or utcnow(), run_id=run_id)
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise
    return True


def current_model_id(con: Any, name: str) -> str | None:
    """The `models.model_id` a name means today: itself if live, else where `model_renames` leads, else itself.

    None when the name is neither stored nor an old name of a stored model. Works on
    read-only files made before `model_renames` existed (then: the name itself, if stored).
    """
    if not _one(con, "SELECT 1 FROM duckdb_tables() WHERE table_name = 'model_renames'", []):
        return name if _one(con, "SELECT 1 FROM models WHERE model_id = ?", [name]) else None
    row = _one(con, "SELECT deleted_at IS NULL FROM models WHERE model_id = ?", [name])
    if row is not None and row[0]:
        return name
    seen = {name}
    current = name
    while True:
        nxt = _one(
            con,
            "SELECT new_id FROM model_renames WHERE old_id = ? ORDER BY seen_at DESC, new_id LIMIT 1",
            [current],
        )
        if nxt is None or nxt[0] in seen:
            break
        current = nxt[0]
        seen.add(current)
    if current != name and _one(con, "SELECT 1 FROM models WHERE model_id = ?", [current]):
        return current
    return name if row is not None else None
