"""One error contract for every command: a single `hubcensus: ...` line on stderr and an `ExitCode`.

`HubcensusGroup` wraps every command: known problems map to their exit code, anything
unexpected becomes one line and exit 1 (`hubcensus --debug ...` or `HUBCENSUS_DEBUG=1` shows
the traceback). Commands raise `Fail` (or the database's own errors) and never print tracebacks.
"""

from __future__ import annotations

import logging
import os
import traceback
from typing import Any

import typer
from typer.core import TyperGroup

try:  # typer >= 0.20 vendors click
    from typer._click import exceptions as cx
    from typer._click.core import Context
except ImportError:  # pragma: no cover - older typer on plain click
    from click import Context
    from click import exceptions as cx

from hubcensus.exits import ExitCode

PREFIX = "hubcensus: "


class Fail(Exception):
    """A user-facing failure: one line and an exit code."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.code = code


def one_line(text: object, width: int = 400) -> str:
    """The first line of `text`, whitespace collapsed, at most `width` characters."""
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    line = " ".join(lines[0].split()) if lines else ""
    return line if len(line) <= width else line[: width - 3] + "..."


def say(message: str) -> None:
    """Print one `hubcensus: ...` line on stderr."""
    typer.echo(PREFIX + one_line(message), err=True)


def debug_enabled(ctx: Context | None = None) -> bool:
    """`hubcensus --debug` or HUBCENSUS_DEBUG=1."""
    root = ctx.find_root() if ctx is not None else None
    flag = bool(root and isinstance(root.obj, dict) and root.obj.get("debug"))
    return flag or os.environ.get("HUBCENSUS_DEBUG", "") not in ("", "0")


def quiet_pool_logger(debug: bool) -> None:
    """SQLAlchemy's pool logs a failed connection reset (a full disk) with a traceback: only with --debug."""
    logger = logging.getLogger("sqlalchemy.pool")
    if not debug and not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
        logger.propagate = False


def classify(exc: BaseException) -> tuple[str, ExitCode] | None:
    """The line and exit code of a known problem, or None for an unexpected error."""
    from hubcensus.db.connection import DatabaseBusy, DatabaseError

    if isinstance(exc, Fail):
        return str(exc), exc.code
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", ExitCode.INTERRUPTED
    if isinstance(exc, DatabaseBusy):
        return str(exc), ExitCode.BUSY
    if isinstance(exc, DatabaseError):
        return str(exc), ExitCode.DATABASE
    from hubcensus.db.disk import DiskProblem, disk_problem

    if isinstance(exc, DiskProblem):
        return str(exc), ExitCode.FAILED
    disk = disk_problem(exc)
    if disk is not None:  # before `_damaged`: DuckDB reports a full disk as an IOException too
        return disk, ExitCode.FAILED
    if _older(exc):
        from hubcensus.db.connection import OLDER_HINT

        return f"{one_line(exc)}: the database was probably {OLDER_HINT}", ExitCode.DATABASE
    if _damaged(exc):
        return f"the database cannot be read: {one_line(exc)} (damaged file)", ExitCode.DATABASE
    if isinstance(exc, OSError) and exc.strerror:
        where = f" {exc.filename}" if exc.filename else ""
        return f"cannot write or read{where}: {exc.strerror}", ExitCode.FAILED
    return None


def _older(exc: BaseException) -> bool:
    """A table or view our own queries expect is missing: a file an older hubcensus wrote."""
    import duckdb

    return isinstance(exc, duckdb.CatalogException)


def _damaged(exc: BaseException) -> bool:
    """DuckDB's errors for a file damaged in the middle (checksums, unreadable blocks)."""
    import duckdb

    kinds = (
        duckdb.IOException,
        duckdb.SerializationException,
        duckdb.InternalException,
        duckdb.FatalException,
    )
    return isinstance(exc, duckdb.Error) and (type(exc) is duckdb.Error or isinstance(exc, kinds))


class HubcensusGroup(TyperGroup):
    """The root command: every subcommand's errors leave through `classify`."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, SystemExit, getattr(cx, "NoArgsIsHelpError", typer.Exit)):
            raise
        except cx.UsageError as exc:
            hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
            say(f"{exc.format_message()}{hint}")
            raise typer.Exit(ExitCode.USAGE) from None
        except cx.ClickException as exc:
            say(exc.format_message())
            raise typer.Exit(ExitCode.FAILED) from None
        except BaseException as exc:
            known = classify(exc)
            if debug_enabled(ctx):
                traceback.print_exc()
            if known is None:
                say(f"unexpected error: {type(exc).__name__}: {one_line(exc)} (run with --debug for details)")
                raise typer.Exit(ExitCode.FAILED) from None
            message, code = known
            say(message)
            raise typer.Exit(code) from None
