"""What the disk did: one line naming the cause and the path of a failed write (full, read-only, deleted).

DuckDB reports a full disk as `IOException`/`TransactionException` text ("Could not write file
"<path>": No space left on device"), SQLAlchemy wraps it, and a rollback after it can raise its own
error: `disk_problem` walks the exception chain for the original cause, then asks the filesystem
(`statvfs`, `access`, `exists`) when the text says nothing.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator
from pathlib import Path

CAUSES = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}
TEXTS = {
    "no space left on device": "no space left on device",
    "disk quota exceeded": "disk quota exceeded",
    "read-only file system": "read-only file system",
    "permission denied": "permission denied",
}
LOW_SPACE = 1 << 20
"""Free bytes under which a failed write is put down to a full disk."""
_QUOTED = re.compile(r'"([^"]+)"')


def chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and every exception it was raised from or while handling (each once)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nxt in (current.__cause__, current.__context__, getattr(current, "orig", None)):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


def _from_text(text: str) -> tuple[str, str | None] | None:
    low = text.lower()
    for needle, cause in TEXTS.items():
        if needle in low:
            quoted = _QUOTED.search(text)
            return cause, quoted.group(1) if quoted else None
    return None


def _from_filesystem(path: Path) -> str | None:
    """The cause the filesystem tells now: the file gone, the directory read-only, or the disk full."""
    if not path.exists():
        return f"the database file {path} was deleted during the crawl"
    return unwritable(path)


def unwritable(path: Path) -> str | None:
    """Why `path` (existing or not) cannot be written now: a read-only or full filesystem, no permission."""
    where = path.parent
    try:
        stats = os.statvfs(where)
    except OSError:
        return None
    if stats.f_flag & os.ST_RDONLY:
        return f"read-only file system writing {path}"
    if stats.f_bavail * stats.f_frsize < LOW_SPACE:
        return f"no space left on device writing {path}"
    if not os.access(where, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return f"permission denied writing {path}"
    return None


def disk_problem(exc: BaseException, path: Path | None = None) -> str | None:
    """One line naming what the disk did to a failed write of `path` (None: not a disk problem)."""
    for current in chain(exc):
        if isinstance(current, OSError) and current.errno in CAUSES:
            where = current.filename or path
            return f"{CAUSES[current.errno]} writing {where}" if where else CAUSES[current.errno]
        if isinstance(current, FileNotFoundError) and path is not None:
            return f"the database file {path} was deleted during the crawl"
        found = _from_text(str(current))
        if found is not None:
            cause, where = found
            where = where or (str(path) if path else None)
            return f"{cause} writing {where}" if where else cause
    return None if path is None else _from_filesystem(path)


class DiskProblem(RuntimeError):
    """A write the disk refused (full, read-only, the file deleted): its message is the one line to show."""
