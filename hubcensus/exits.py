"""The exit codes of every `hubcensus` command, defined once (the README lists them)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a `hubcensus` process tells its caller (cron, scripts) on exit."""

    OK = 0
    FAILED = 1
    """The command ran and failed (a crawl that failed, a refused statement, an unexpected error)."""
    USAGE = 2
    """Wrong options or arguments."""
    DATABASE = 3
    """The database is missing, unreadable (damaged, not DuckDB), not a hubcensus database, or newer."""
    BUSY = 75
    """EX_TEMPFAIL: another crawl holds the lock (or a write window outlasted the wait); try later."""
    INTERRUPTED = 130
    """SIGINT/SIGTERM: stopped cleanly; what was stored is kept."""
