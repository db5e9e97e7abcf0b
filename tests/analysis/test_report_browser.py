"""report.html in headless Chromium with the network off: every chart renders, nothing logs.

Needs Debian's `chromium` (`.ci/run` installs it). Without it the test SKIPS LOUDLY. A
screenshot is kept as artifacts/report.png (and a phone-width one) for humans to look at.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
from analysis_census import NOW
from hubcensus.analysis.report import CHARTS, write_report

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
OFFLINE = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-default-apps", "--disable-extensions",
    # the network is off: every request goes to a dead proxy and no name resolves
    "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>", "--host-resolver-rules=MAP * ~NOTFOUND",
    "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000",
]  # fmt: skip


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        reason = (
            "!!! CHROMIUM NOT INSTALLED: report.html was NOT rendered in a browser. "
            "Install Debian's `chromium` (apt-get install chromium) to run this test. !!!"
        )
        warnings.warn(reason, stacklevel=2)
        pytest.skip(reason)
    return found


def _run(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, *OFFLINE, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def test_report_renders_offline_in_chromium(census_db: Path, tmp_path: Path) -> None:
    binary = _chromium()
    write_report(census_db, tmp_path / "report", now=NOW)
    url = (tmp_path / "report" / "report.html").as_uri()
    done = _run(binary, tmp_path / "profile", "--window-size=390,3000", "--dump-dom", url)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert console == []
    ids = re.findall(r'<div id="chart-([a-z0-9_]+)" class="plotly-graph-div js-plotly-plot"', dom)
    # every chart with data was drawn by plotly.js (offline); the census holds no GGUF files, so the two
    # GGUF-variant charts say "no data" instead
    empty = {"gguf_file_types_by_month", "gguf_bits_per_weight"}
    assert ids == [c.name for c in CHARTS if c.name not in empty]
    assert dom.count("No data for this chart") == len(empty)
    for name in ids:
        start = dom.index(f'id="chart-{name}"')
        following = [dom.find(f'id="chart-{other}"', start + 1) for other in ids if other != name]
        end = min([i for i in following if i > start] or [len(dom)])
        section = dom[start:end]
        assert 'class="main-svg"' in section, name
        assert section.count("<path") > 0 or section.count("<rect") > 0, name

    ARTIFACTS.mkdir(exist_ok=True)
    for shot, size in (("report.png", "1280,7000"), ("report-phone.png", "390,9000")):
        target = ARTIFACTS / shot
        target.unlink(missing_ok=True)
        taken = _run(binary, tmp_path / f"profile-{shot}", f"--window-size={size}", "--hide-scrollbars",
                     f"--screenshot={target}", url)  # fmt: skip
        assert taken.returncode == 0, taken.stderr[-2000:]
        assert target.stat().st_size > 50_000
