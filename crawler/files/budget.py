"""One memory budget shared by every header read in flight (pure threading, no I/O).

A reader reserves what a header will cost before it downloads it and gives it back when
the parsed header has been reduced to rows; a reservation larger than the whole budget
is cut to the budget, so a single header can always be read (alone). The budget is
derived from `--memory-limit` by the header pass (`crawler.deep`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from hubcensus.crawler.hub import CrawlInterrupted


class MemoryBudget:
    """Bytes that concurrent header reads may hold at once; `hold(n)` blocks until `n` fit."""

    def __init__(self, capacity: int, *, stop: threading.Event | None = None) -> None:
        self.capacity = max(1, int(capacity))
        self.stop = stop
        self.used = 0
        self.peak = 0
        """The most bytes held at once (what tests and the bench check)."""
        self._cond = threading.Condition()

    @contextmanager
    def hold(self, amount: int) -> Iterator[int]:
        """Reserve `amount` bytes (at most the capacity) for the duration of the block."""
        amount = min(max(0, int(amount)), self.capacity)
        with self._cond:
            while self.used + amount > self.capacity:
                if self.stop is not None and self.stop.is_set():
                    raise CrawlInterrupted("stop requested while waiting for header memory")
                self._cond.wait(timeout=0.5)
            self.used += amount
            self.peak = max(self.peak, self.used)
        try:
            yield amount
        finally:
            with self._cond:
                self.used -= amount
                self._cond.notify_all()


def _malloc_trim() -> object | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to give back by hand
        return None


_TRIM = _malloc_trim()


def give_back() -> None:
    """Return freed heap to the system after a long header (glibc keeps it in per-thread arenas, so eight
    workers that each parsed one long header once would otherwise hold eight parses' worth of RSS)."""
    if _TRIM is not None:
        _TRIM(0)
