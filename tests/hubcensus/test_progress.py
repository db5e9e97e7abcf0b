"""Progress lines: the walk counts what is stored, the header pass shows models, files, bytes, waits, ETA."""

from __future__ import annotations

import io

from hubcensus.crawler.deep import DeepSummary
from hubcensus.crawler.run_summary import CrawlSummary

from hubcensus.progress import Reporter, header_line


def test_walk_progress_counts_stored_models_before_any_merge() -> None:
    out = io.StringIO()
    summary = CrawlSummary(run_id=1, mode="full", endpoint="http://127.0.0.1:1")
    summary.pages, summary.models_seen = 3, 3000
    with Reporter(out, tty=False) as reporter:
        reporter.page(summary)
    line = out.getvalue().strip()
    assert line.endswith("full page 3: 3000 models stored, 0 requests, 0 retries, 0 rate-limited, 0 errors")
    assert "merged" not in line


def test_header_line_has_models_files_bytes_waits_and_eta() -> None:
    summary = CrawlSummary(run_id=1, mode="full", endpoint="e")
    summary.rate_limited = 4
    deep = DeepSummary(models=1000, stored=180, unreadable=15, failed=5, files=420, bytes=3_500_000_000)
    line = header_line(summary, deep, elapsed=100.0)
    assert "200/1,000 models (180 stored, 15 unreadable, 5 failed)" in line
    assert "420 files" in line and "3.5 GB" in line and "4 rate-limit waits" in line
    assert "2.0 models/s" in line and "ETA 7 min" in line  # 800 left at 2 per second


def test_header_progress_in_logs_is_one_line_a_minute_and_at_the_end() -> None:
    out = io.StringIO()
    summary = CrawlSummary(run_id=1, mode="full", endpoint="e")
    with Reporter(out, tty=False) as reporter:
        for done in range(1, 11):
            reporter.header(summary, DeepSummary(models=10, stored=done))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # the start, then the end (a minute did not pass)
    assert "10 models to read" in lines[0] and "10/10 models" in lines[1]
