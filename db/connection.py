"""Opening the DuckDB file: one writer, many readers, state from locks (never from error text).

Two `flock`s coordinate hubcensus processes:
- the *writer lock* `<db>.lock`: exclusive for a whole crawl (a second crawl is refused at once);
  removed when released, so no stale lock file stays behind a finished run;
- the *access lock*: a `flock` on the database file itself. A writer holds it exclusively only
  while it has DuckDB's file open (a *write window*: open, write a page group or a header batch,
  close); readers hold it shared while they read. A writer opens its next window once the
  readers are done; a reader waits up to `READ_WAIT` seconds for a window to end.
- a waiting reader says so with a POSIX read lock (`lockf`, independent of `flock`) on the
  writer's lock file; the writer checks for one at every page or batch boundary and then ends
  its window at once (otherwise a window ends after `HOLD` seconds, so plain DuckDB gets in too).

DuckDB's own lock (POSIX `fcntl`, independent of `flock`) still guards against other programs
(plain `duckdb`): when DuckDB refuses to open, `fcntl` tells whether someone holds its lock
(busy: wait and retry) or not (the file is damaged or not DuckDB: `DatabaseError`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import duckdb
import sqlalchemy as sa
from hubcensus.db.disk import DiskProblem, unwritable
from hubcensus.db.migrations import LATEST_VERSION, migrate

READ_WAIT = 30.0
"""Seconds a reader waits for the crawl's write window to end before giving up (busy)."""
HOLD = 5.0
"""Seconds a write window may stay open across page/batch boundaries while no reader waits."""
LET_IN = 5.0
"""Seconds a writer that released its window for waiting readers gives them to take the file."""
GAP = 0.1
"""Seconds a window that ended by age stays closed before the next may open (plain DuckDB's turn)."""
POLL = 0.02


class DatabaseError(RuntimeError):
    """A one-line, user-facing problem with the database file (missing, unreadable, not ours, newer)."""


class DatabaseMissing(DatabaseError):
    """No database file where one is expected."""


class DatabaseBusy(DatabaseError):
    """Another process holds the writer lock, or keeps the file open for writing too long."""


OLDER_HINT = "written by an older hubcensus: `hubcensus crawl` (or any write) upgrades it in place"


def utcnow() -> datetime:
    """Now, as the naive UTC timestamp every table stores."""
    return datetime.now(UTC).replace(tzinfo=None)


def lock_path(db_path: Path) -> Path:
    """The lock file that guards writers of `db_path`."""
    return db_path.with_name(db_path.name + ".lock")


def failed_path(db_path: Path) -> Path:
    """Where a run whose ledger row the full disk refused leaves its one line for the next run."""
    return db_path.with_name(db_path.name + ".failed")


def _flock_wait(fd: int, mode: int, wait: float | None) -> bool:
    """`flock(fd, mode)`, retried until `wait` seconds passed (None: forever); False if never got."""
    deadline = None if wait is None else time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(POLL)


class WriterLock:
    """An exclusive `flock` on `<db>.lock` for the length of a run; released on close or process death."""

    ACQUIRE_WAIT = 1.0
    """A status probe holds the lock shared for microseconds: a starting writer waits that out."""

    def __init__(self, db_path: Path) -> None:
        self.path = lock_path(db_path)
        self.failed = failed_path(db_path)
        self._file: IO[str] | None = None
        self._noted = False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.ACQUIRE_WAIT
        while True:
            handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the lock's lifetime
            if not _flock_wait(handle.fileno(), fcntl.LOCK_EX, max(0.0, deadline - time.monotonic())):
                handle.seek(0)
                holder = handle.read().strip() or "unknown process"
                handle.close()
                raise DatabaseBusy(f"another hubcensus run holds the write lock on {self.path} ({holder})")
            try:  # the file we locked must still be the one at the path (a releasing writer unlinks it)
                same = os.path.samestat(os.fstat(handle.fileno()), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            handle.close()
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {utcnow():%Y-%m-%d %H:%M:%S} UTC\n")
        handle.flush()
        self._file = handle

    def readers_waiting(self) -> bool:
        """Whether a reader holds its 'waiting' read lock (POSIX) on this lock file."""
        if self._file is None:
            return False
        try:
            fcntl.lockf(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            return exc.errno in (errno.EAGAIN, errno.EACCES)
        fcntl.lockf(self._file.fileno(), fcntl.LOCK_UN)
        return False

    def note_failure(self, run_id: int, message: str) -> None:
        """Append a run's failure to the lock file as its last line (`run_id<TAB>message`: the file's block
        is already on disk, so a full disk takes it); released, the file becomes `<db>.failed`, which the
        next run's ledger reads."""
        if self._file is None:
            return
        with contextlib.suppress(OSError):
            self._file.write(f"{run_id}\t{' '.join(message.split())[:300]}\n")
            self._file.flush()
            self._noted = True

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(FileNotFoundError):
                if self._noted:  # a rename needs no data block: what a full disk still allows
                    os.replace(self.path, self.failed)
                else:
                    self.path.unlink()  # unlinked while still locked: a waiting writer re-checks the inode
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def writer_active(db_path: str | Path) -> bool:
    """Whether a hubcensus writer (a crawl) holds the writer lock of `db_path` right now."""
    try:
        fd = os.open(lock_path(Path(db_path).expanduser()), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe's shared lock
    return False


class WaitSignal:
    """A reader's 'I am waiting for the file' mark: a POSIX read lock on the writer's lock file."""

    def __init__(self, db_path: Path) -> None:
        self._fd: int | None = None
        try:
            fd = os.open(lock_path(db_path), os.O_RDONLY)
        except OSError:
            return  # no writer: nothing to signal
        deadline = time.monotonic() + 1.0
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                self._fd = fd
                return
            except OSError:  # the writer's probe holds it for a moment
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return
                time.sleep(POLL)

    def clear(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # drops the POSIX lock
            self._fd = None


def remove_stale_lock(db_path: str | Path) -> bool:
    """Remove `<db>.lock` left by a writer that died (kill -9); True if one was removed.

    Safe against a writer starting at the same moment: the file is removed only while this
    process holds its lock, and a writer re-checks that the file it locked is still the one
    at the path.
    """
    path = lock_path(Path(db_path).expanduser())
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False  # a live writer holds it
    try:
        if os.path.samestat(os.fstat(fd), os.stat(path)):
            path.unlink()
            return True
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)
    return False


def duckdb_lock_held(db_path: Path, *, exclusive: bool) -> bool:
    """Whether another process holds DuckDB's own (POSIX) lock on the file that conflicts with ours.

    Only called while this process has no DuckDB connection to the file (closing the probe's
    descriptor drops every POSIX lock this process holds on it).
    """
    try:
        fd = os.open(db_path, os.O_RDWR if exclusive else os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.lockf(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EAGAIN, errno.EACCES)
    finally:
        os.close(fd)
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return " ".join(text[0].split()) if text else type(exc).__name__


def unreadable(db_path: Path, exc: BaseException) -> DatabaseError:
    """The one-line error of a file DuckDB cannot read (damaged, truncated, or not DuckDB at all)."""
    return DatabaseError(f"cannot read {db_path}: {_first_line(exc)} (damaged, or not a DuckDB file)")


@dataclass
class Database:
    """An open database: `engine` for SQLAlchemy Core, `con` for DuckDB's native bulk path.

    A writer's DuckDB connection is opened on first use and closed by `release()` (the end of a
    write window); the next use opens it again, waiting for readers. Temporary tables do not
    survive a release.
    """

    path: Path
    read_only: bool
    lock: WriterLock | None = None
    wait: float | None = READ_WAIT
    """Readers: seconds to wait for a write window to end. Writers: None (wait for readers)."""
    settings: dict[str, str] = field(default_factory=dict)
    """DuckDB settings applied to every connection (e.g. memory_limit)."""
    windows: int = 0
    schema_version: int | None = None
    """The newest migration recorded in the file (a reader of an older file cannot migrate it)."""
    """Write windows opened so far (a figure for tests and benchmarks)."""
    _engine: sa.Engine | None = field(default=None, repr=False)
    _con: Any = field(default=None, repr=False)
    _access: int | None = field(default=None, repr=False)
    _opened_at: float = field(default=0.0, repr=False)
    _inode: tuple[int, int] | None = field(default=None, repr=False)

    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine (opens a window when none is open)."""
        if self._engine is None:
            self._open()
        assert self._engine is not None
        return self._engine

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The native DuckDB connection behind the engine (same transaction scope)."""
        if self._con is None:
            self._con = self.engine.raw_connection().driver_connection
        return self._con

    def configure(self, **values: str) -> None:
        """DuckDB settings for this and every later connection (`SET name = value`)."""
        self.settings.update(values)
        if self._engine is not None:
            for name, value in values.items():
                self.con.execute(f"SET {name} = '{value}'")

    def _open(self) -> None:
        if self.windows and not self.read_only and not self.path.exists():  # never recreate it mid-crawl
            raise DiskProblem(f"the database file {self.path} was deleted during the crawl")
        if self.path.exists():
            signal = WaitSignal(self.path) if self.read_only else None
            try:
                self._access = _access_lock(self.path, shared=self.read_only, wait=self.wait)
            finally:
                if signal is not None:
                    signal.clear()
        try:
            engine = _connect(self.path, self.read_only, self.wait)
            if self._access is None:  # a writer that just created the file locks it now
                self._access = _access_lock(self.path, shared=False, wait=None)
            raw = engine.raw_connection().driver_connection
            for name, value in self.settings.items():
                raw.execute(f"SET {name} = '{value}'")
        except BaseException:
            self._drop_access()
            raise
        self._engine = engine
        self._con = raw
        self._opened_at = time.monotonic()
        stat = self.path.stat()
        self._inode = (stat.st_dev, stat.st_ino)
        self.windows += 0 if self.read_only else 1

    def check_file(self) -> None:
        """A writer's file must still be at its path: writes to a deleted (or replaced) file are lost."""
        if self._engine is None or self.read_only:
            return
        try:
            stat = self.path.stat()
            same = (stat.st_dev, stat.st_ino) == self._inode
        except FileNotFoundError:
            same = False
        if not same:
            raise DiskProblem(f"the database file {self.path} was deleted during the crawl")

    def end_window(self, hold: float = HOLD) -> None:
        """A page or batch boundary: end the write window if readers wait or it is `hold` s old
        (and fail if the file was deleted under the crawl)."""
        if self._engine is None or self.read_only:
            return
        self.check_file()
        waiting = self.lock is not None and self.lock.readers_waiting()
        if not waiting and time.monotonic() - self._opened_at < hold:
            return
        self.release()
        if not waiting:
            time.sleep(GAP)  # a gap for readers that do not say they wait (plain DuckDB)
        deadline = time.monotonic() + LET_IN
        while waiting and time.monotonic() < deadline:  # they drop the mark once they hold the file
            time.sleep(POLL)
            waiting = self.lock is not None and self.lock.readers_waiting()

    def release(self) -> None:
        """Close DuckDB's file and let readers in; the next use opens it again."""
        if self._engine is not None:
            with contextlib.suppress(Exception):
                if self._con is not None:
                    self._con.close()
            self._engine.dispose()
            self._engine = None
            self._con = None
        self._drop_access()

    def _drop_access(self) -> None:
        if self._access is not None:
            os.close(self._access)  # drops the flock
            self._access = None

    def close(self) -> None:
        self.release()
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _access_lock(db_path: Path, *, shared: bool, wait: float | None) -> int:
    """Take the access lock (shared for readers, exclusive for a write window); returns its descriptor."""
    fd = os.open(db_path, os.O_RDONLY)
    if _flock_wait(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX, wait):
        return fd
    os.close(fd)
    raise DatabaseBusy(
        f"a crawl kept {db_path} open for writing for more than {wait:g} s; try again in a minute"
    )


UNREADABLE_AFTER = 3
"""Failed opens, with no other program holding DuckDB's lock, before a file counts as unreadable."""


def _connect(db_path: Path, read_only: bool, wait: float | None) -> sa.Engine:
    """A checked connection; retried while another program (not hubcensus) holds DuckDB's lock."""
    deadline = None if wait is None else time.monotonic() + wait
    free_failures = 0
    while True:
        engine = sa.create_engine(
            f"duckdb:///{db_path}", poolclass=sa.pool.StaticPool, connect_args={"read_only": read_only}
        )
        try:
            with engine.connect() as probe:
                probe.exec_driver_sql("SELECT 1")
            return engine
        except Exception as exc:
            engine.dispose()
            if not duckdb_lock_held(db_path, exclusive=not read_only):
                # the other program may have closed the file between our open and the probe: only a
                # file that keeps failing while nobody holds it is unreadable
                free_failures += 1
                if free_failures >= UNREADABLE_AFTER:
                    raise unreadable(db_path, exc) from None
                time.sleep(0.05)
                continue
            if deadline is not None and time.monotonic() >= deadline:
                raise DatabaseBusy(
                    f"another program keeps {db_path} open for writing; try again later"
                ) from None
            time.sleep(0.2)


def _check_ours(db: Database) -> None:
    """A file DuckDB opens must also be a hubcensus database this version can read."""
    try:
        names = {n for (n,) in db.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "schema_migrations" not in names:
            if names or db.read_only:  # a new, empty file is fine for a writer (it migrates it)
                raise DatabaseError(f"{db.path} is a DuckDB file but not a hubcensus database")
            return
        (newest,) = db.con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    except duckdb.Error as exc:
        raise unreadable(db.path, exc) from None
    db.schema_version = int(newest)
    if int(newest) > LATEST_VERSION:
        raise DatabaseError(
            f"{db.path} has schema version {newest}, newer than this hubcensus knows ({LATEST_VERSION}): "
            "upgrade hubcensus"
        )


def open_database(path: str | Path, *, read_only: bool = False, wait: float | None = READ_WAIT) -> Database:
    """Open (and for writers, create and migrate) the DuckDB file at `path`.

    Writers take the writer lock first, so a second crawl fails fast with `DatabaseBusy`
    instead of waiting or corrupting anything. Readers need an existing file and wait up
    to `wait` seconds for a crawl's write window to end.
    """
    db_path = Path(path).expanduser()
    if read_only:
        if not db_path.exists():
            raise DatabaseMissing(
                f"no database at {db_path}: run `hubcensus crawl` (or `hubcensus demo`) first"
            )
        if db_path.is_dir():
            raise DatabaseError(f"{db_path} is a directory, not a database file")
        database = Database(path=db_path, read_only=True, wait=wait)
    else:
        if db_path.is_dir():
            raise DatabaseError(f"{db_path} is a directory, not a database file")
        if db_path.parent.is_dir() and not os.access(db_path.parent, os.W_OK):
            raise DiskProblem(unwritable(db_path) or f"permission denied writing {db_path}")
        if not db_path.parent.exists() or not os.access(db_path.parent, os.W_OK):
            raise DatabaseError(
                f"cannot write a database in {db_path.parent}: no such directory or no permission"
            )
        lock = WriterLock(db_path)
        try:
            lock.acquire()
        except OSError as exc:
            raise DatabaseError(f"cannot create the lock file beside {db_path}: {exc.strerror}") from None
        database = Database(path=db_path, read_only=False, lock=lock, wait=None)
    try:
        _check_ours(database)
        if not read_only:
            with database.engine.begin() as conn:
                migrate(conn)
    except duckdb.Error as exc:
        database.close()
        raise unreadable(db_path, exc) from None
    except BaseException:
        database.close()
        raise
    return database
