"""pytest fixtures: `fakehub_server` (in-process factory), `fakehub_subprocess` (CLI factory), `hf_env`.

Enable with `pytest_plugins = ["hubcensus.fakehub.pytest_plugin"]` in a conftest.py.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hubcensus.fakehub.app import FakeHubConfig, RunningHub, start

FIXTURES_HUB = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "hub"


class SubprocessHub:
    """A `python -m hubcensus.fakehub serve` child process and the URL it printed."""

    def __init__(self, args: list[str], timeout: float = 60.0) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "hubcensus.fakehub", "serve", "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        prefix = "fakehub listening on "
        if not line.startswith(prefix):
            self.stop()
            raise RuntimeError(f"fakehub did not start: {line!r} {self.proc.stderr.read() if self.proc.stderr else ''}")
        self.url = line[len(prefix):]

    def stop(self) -> int:
        """SIGTERM the child and return its exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def hf_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolate huggingface_hub: a fresh HF_HOME, no token, no progress bars. Returns the cache dir."""
    home = tmp_path / "hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return home / "hub"


@pytest.fixture
def fakehub_server() -> Iterator[Callable[..., RunningHub]]:
    """Factory: `fakehub_server(synthetic=5000, seed=1, ...)` (FakeHubConfig fields) -> a running hub."""
    hubs: list[RunningHub] = []

    def make(config: FakeHubConfig | None = None, **kwargs: Any) -> RunningHub:
        hub = start(config or FakeHubConfig(**kwargs))
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.stop()


@pytest.fixture
def fakehub_subprocess() -> Iterator[Callable[..., SubprocessHub]]:
    """Factory: `fakehub_subprocess("--synthetic", "100")` -> a CLI child process with `.url`, stopped after the test."""
    procs: list[SubprocessHub] = []

    def make(*args: str) -> SubprocessHub:
        p = SubprocessHub(list(args))
        procs.append(p)
        return p

    yield make
    for p in procs:
        p.stop()


@pytest.fixture(scope="session")
def fixtures_hub() -> Path:
    """The real fixture repos in the checkout's tests/fixtures/hub (a missing folder is an error, not a skip)."""
    assert FIXTURES_HUB.is_dir(), f"fixtures not found at {FIXTURES_HUB}"
    return FIXTURES_HUB
