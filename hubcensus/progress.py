"""Crawl progress: a rich progress line on a terminal, plain timestamped log lines under cron."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from hubcensus.crawler.run_summary import CrawlSummary


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Reporter:
    """Context manager fed with `page(summary)` after every stored page."""

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self._progress: Progress | None = None
        self._task: int | None = None

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

    def page(self, s: CrawlSummary) -> None:
        """Progress after one stored page."""
        text = (
            f"{s.mode} page {s.pages}: {s.models_seen} models seen (merged: {s.models_new} new, "
            f"{s.models_updated} updated), "
            f"{s.requests_api} requests, {s.retries} retries, {s.rate_limited} rate-limited, {s.errors} errors"
        )
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=text)
        else:
            self.log(text)
