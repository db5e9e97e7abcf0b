"""Opening the DuckDB file: one writer (a file lock), many readers, schema migrated on write."""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import duckdb
import sqlalchemy as sa
from hubcensus.db.migrations import migrate


class DatabaseError(RuntimeError):
    """A one-line, user-facing problem with the database file."""


class DatabaseBusy(DatabaseError):
    """Another process holds the writer lock (or DuckDB's own file lock)."""


def utcnow() -> datetime:
    """Now, as the naive UTC timestamp every table stores."""
    return datetime.now(UTC).replace(tzinfo=None)


def lock_path(db_path: Path) -> Path:
    """The lock file that guards writers of `db_path`."""
    return db_path.with_name(db_path.name + ".lock")


class WriterLock:
    """An exclusive, non-blocking `flock` beside the database; released on close or process death."""

    def __init__(self, db_path: Path) -> None:
        self.path = lock_path(db_path)
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the lock's lifetime
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown process"
            handle.close()
            raise DatabaseBusy(
                f"another hubcensus run holds the write lock on {self.path} ({holder})"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {utcnow():%Y-%m-%d %H:%M:%S} UTC\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


@dataclass
class Database:
    """An open database: `engine` for SQLAlchemy Core, `con` for DuckDB's native bulk path."""

    path: Path
    engine: sa.Engine
    read_only: bool
    lock: WriterLock | None = None
    _con: Any = field(default=None, repr=False)

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The native DuckDB connection behind the engine (same transaction scope)."""
        if self._con is None:
            self._con = self.engine.raw_connection().driver_connection
        return self._con

    def close(self) -> None:
        self.engine.dispose()
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_database(path: str | Path, *, read_only: bool = False) -> Database:
    """Open (and for writers, create and migrate) the DuckDB file at `path`.

    Writers take the lock first, so a second crawl fails fast with `DatabaseBusy`
    instead of waiting or corrupting anything. Readers need an existing file.
    """
    db_path = Path(path).expanduser()
    lock: WriterLock | None = None
    if read_only:
        if not db_path.exists():
            raise DatabaseError(
                f"no database at {db_path}: run `hubcensus crawl` (or `hubcensus demo`) first"
            )
    else:
        lock = WriterLock(db_path)
        lock.acquire()
    try:
        engine = sa.create_engine(
            f"duckdb:///{db_path}",
            poolclass=sa.pool.StaticPool,
            connect_args={"read_only": read_only},
        )
        with engine.connect() as probe:
            probe.exec_driver_sql("SELECT 1")
    except Exception as exc:  # duckdb raises IOException for a held file lock
        if lock is not None:
            lock.release()
        text = str(exc).splitlines()[0]
        if "lock" in text.lower():
            raise DatabaseBusy(
                f"{db_path} is open for writing by another process (a crawl is running)"
            ) from None
        raise DatabaseError(f"cannot open {db_path}: {text}") from None
    database = Database(path=db_path, engine=engine, read_only=read_only, lock=lock)
    if not read_only:
        with engine.begin() as conn:
            migrate(conn)
    return database
