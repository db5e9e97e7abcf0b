"""Build and run a fakehub: `FakeHubConfig` -> `start()` -> `RunningHub` (in-process, background thread)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubcensus.fakehub.access import DENIED_TOKEN
from hubcensus.fakehub.catalog import Catalog, Query
from hubcensus.fakehub.cdn import CdnServer
from hubcensus.fakehub.faults import FaultConfig, Faults
from hubcensus.fakehub.gguf_repos import gguf_repos
from hubcensus.fakehub.hostile import hostile_repos
from hubcensus.fakehub.hostile_pickle import hostile_pickle_repos
from hubcensus.fakehub.ondisk import load_dir, static_truth
from hubcensus.fakehub.ratelimit import RateLimiter
from hubcensus.fakehub.server import FakeHubServer
from hubcensus.fakehub.stats import Stats
from hubcensus.fakehub.synthetic import SyntheticSource

UNLIMITED = 1_000_000_000


@dataclass
class FakeHubConfig:
    """Everything a fakehub serves; the defaults are an empty, unlimited, fault-free hub on a free port."""

    host: str = "127.0.0.1"
    port: int = 0
    repos: list[str | Path] = field(default_factory=list)
    synthetic: int = 0
    seed: int = 0
    epoch: int = 0
    hostile: bool = False
    hostile_pickle: bool = False  # the fakehub-hostile-pickle/* repos (hostile pytorch_model.bin files)
    gguf: bool = False
    quota_api: int = UNLIMITED
    quota_resolvers: int = UNLIMITED
    window_s: int = 300
    faults: FaultConfig = field(default_factory=FaultConfig)
    denied_tokens: frozenset[str] = frozenset({DENIED_TOKEN})  # valid tokens NOT on gated repos' access lists
    cdn_port: int = 0  # the CDN listener's port (0 = a free one); LFS downloads are redirected there
    cdn_gzip_ignores_range: bool = False
    """The CDN answers a range read that accepts gzip with 200 + the whole file (huggingface_hub #3778). Off by
    default: huggingface_hub's own `parse_safetensors_file_metadata` sends httpx2's `gzip, deflate`."""


def build_catalog(cfg: FakeHubConfig) -> Catalog:
    """The catalog of a config: synthetic + on-disk + hostile (safetensors, pickle) + GGUF repos."""
    static: list[tuple[Any, Any]] = []
    for d in cfg.repos:
        static += [(r, (lambda r=r: static_truth(r))) for r in load_dir(d)]
    if cfg.hostile:
        static += hostile_repos()
    if cfg.hostile_pickle:
        static += hostile_pickle_repos()
    if cfg.gguf:
        static += gguf_repos()
    syn = SyntheticSource(cfg.synthetic, cfg.seed) if cfg.synthetic else None
    cat = Catalog(syn, static, cfg.epoch)
    cat.gate_denied = frozenset(cfg.denied_tokens)
    return cat


class RunningHub:
    """A fakehub serving in a background thread. Use as a context manager or call `stop()`."""

    def __init__(self, server: FakeHubServer, config: FakeHubConfig) -> None:
        self.server, self.config = server, config
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fakehub", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321 (pass it as HfApi(endpoint=...))."""
        return self.server.url

    @property
    def cdn_url(self) -> str:
        """Base URL of the CDN listener (another port of this fakehub) that LFS downloads are redirected to."""
        url = self.server.cdn_url
        assert url is not None
        return url

    @property
    def catalog(self) -> Catalog:
        return self.server.catalog

    @property
    def stats(self) -> Stats:
        return self.server.stats

    def set_epoch(self, epoch: int) -> None:
        """Move the served catalog to another epoch (models updated, added, deleted)."""
        self.server.catalog.set_epoch(epoch)

    def rename(self, old: str, new: str) -> dict[str, Any]:
        """Rename a static (on-disk/hostile) repo: same `_id`, the old name answers 307. Returns the event."""
        return self.server.catalog.rename(old, new)

    def set_state(self, model_id: str, **state: Any) -> None:
        """Change a static repo: `deleted=`, `private=`, `disabled=`, `gated=` (see Catalog.set_state)."""
        self.server.catalog.set_state(model_id, **state)

    def set_faults(self, faults: FaultConfig) -> None:
        """Replace the fault injection settings (attempt counters restart)."""
        self.server.faults.set(faults)

    def set_quotas(self, api: int | None = None, resolvers: int | None = None, window_s: int | None = None) -> None:
        """Change quotas / window and start a fresh window."""
        lim = self.server.limiter
        if api is not None:
            lim.quotas["api"] = api
        if resolvers is not None:
            lim.quotas["resolvers"] = resolvers
        if window_s is not None:
            lim.window_s = window_s
        lim.reset()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_server(cfg: FakeHubConfig) -> FakeHubServer:
    """Build catalog, limiter and faults, bind the socket (not yet serving)."""
    catalog = build_catalog(cfg)
    if catalog.synthetic is not None and cfg.synthetic >= 100_000:
        catalog.synthetic.warm()
    for sort in ("createdAt", "lastModified"):  # warm the two crawl orders
        catalog.page(sort, Query(), 1, None)
    limiter = RateLimiter({"api": cfg.quota_api, "resolvers": cfg.quota_resolvers}, cfg.window_s)
    server = FakeHubServer((cfg.host, cfg.port), catalog, limiter, Faults(cfg.faults))
    server.cdn = CdnServer((cfg.host, cfg.cdn_port), server)
    server.cdn.gzip_ignores_range = cfg.cdn_gzip_ignores_range
    return server


def start(config: FakeHubConfig | None = None) -> RunningHub:
    """Start a fakehub in this process on a background thread."""
    cfg = config or FakeHubConfig()
    return RunningHub(make_server(cfg), cfg)
