"""Crawl progress: a rich progress line on a terminal, plain timestamped log lines under cron.

The walk reports every stored page (what is stored, not only what was merged); the header
pass reports models, files, bytes, rate-limit waits and an ETA, live on a terminal and as one
summary line every `LOG_EVERY` seconds in logs.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from hubcensus.crawler.run_summary import CrawlSummary

LOG_EVERY = 60.0
"""Seconds between two header-pass summary lines when the output is not a terminal."""
TTY_EVERY = 0.5


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def header_line(s: CrawlSummary, deep: Any, elapsed: float, *, compact: bool = False) -> str:
    """One line on the header pass: models done of all, files, bytes, 429 waits, rate and ETA."""
    done = deep.stored + deep.unreadable + deep.failed
    rate = done / elapsed if elapsed > 0 else 0.0
    left = max(0, deep.models - done)
    eta = f", ETA {_duration(left / rate)}" if rate > 0 and left else ""
    if compact:  # a terminal line
        return (
            f"headers {done:,}/{deep.models:,}, {deep.files:,} files, {_bytes(deep.bytes)}, "
            f"{s.rate_limited} waits, {rate:.1f}/s{eta}"
        )
    return (
        f"headers: {done:,}/{deep.models:,} models ({deep.stored:,} stored, {deep.unreadable:,} unreadable, "
        f"{deep.failed:,} failed), {deep.files:,} files, {_bytes(deep.bytes)} of weights measured, "
        f"{s.rate_limited} rate-limit waits, {rate:.1f} models/s{eta}"
    )


class Reporter:
    """Context manager fed with `page(summary)` after every stored page and `header(...)` per model."""

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self._progress: Progress | None = None
        self._task: Any = None
        self._header_started: float | None = None
        self._last_header = 0.0

    def __enter__(self) -> Reporter:
        if self.tty:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=Console(file=self.stream),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("starting", total=None)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def log(self, message: str) -> None:
        """One plain line (above the progress bar on a terminal)."""
        if self._progress is not None:
            self._progress.console.print(message, markup=False, highlight=False)
        else:
            print(f"{_stamp()} {message}", file=self.stream, flush=True)

    def _show(self, text: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=text)
        else:
            self.log(text)

    def page(self, s: CrawlSummary) -> None:
        """Progress after one stored page: the models stored so far (merges come in batches)."""
        merged = s.models_new + s.models_updated
        text = f"{s.mode} page {s.pages}: {s.models_seen} models stored"
        if merged:
            text += f" ({s.models_new} new, {s.models_updated} updated merged so far)"
        text += f", {s.requests_api} requests, {s.retries} retries, {s.rate_limited} rate-limited, {s.errors} errors"
        self._show(text)

    def header(self, s: CrawlSummary, deep: Any) -> None:
        """Progress after one model of the header pass (throttled: live on a terminal, every minute in logs)."""
        now = time.monotonic()
        if self._header_started is None:
            self._header_started = now
            self._last_header = now
            if not self.tty:
                self.log(f"header pass: {deep.models:,} models to read, most downloaded first")
        done = deep.stored + deep.unreadable + deep.failed
        every = TTY_EVERY if self.tty else LOG_EVERY
        if now - self._last_header < every and done < deep.models:
            return
        self._last_header = now
        self._show(header_line(s, deep, now - self._header_started, compact=self.tty))
