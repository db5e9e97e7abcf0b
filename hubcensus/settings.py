"""Settings, read once from flags and the environment; every CLI default is declared here, once.

Precedence: command-line flag, then environment variable, then default. The token: `--token`,
then `$HF_TOKEN`, then the login stored by `hf auth login` (huggingface_hub's `get_token()`);
it is never printed, logged or stored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_DB = "hubcensus.duckdb"
DEFAULT_ENDPOINT = "https://huggingface.co"
DEMO_DB = "hubcensus-demo.duckdb"


@dataclass(frozen=True)
class Settings:
    """Where the database lives, which Hub to talk to and how, with which token."""

    db_path: Path = Path(DEFAULT_DB)
    endpoint: str = DEFAULT_ENDPOINT
    token: str | None = field(default=None, repr=False)
    memory_limit_mb: int = 512
    """DuckDB's memory_limit while crawling (0: DuckDB's default, 80% of RAM)."""
    timeout: float = 30.0
    """Seconds before one HTTP request times out."""
    connect_timeout: float = 10.0
    """Seconds the first request of a run waits for a connection."""
    retries: int = 5
    """Retries of a failed request (5xx, timeout, dropped connection)."""
    read_wait: float = 30.0
    """Seconds a reader waits for a crawl's write window to end."""
    deep: str = "changed"
    deep_minutes: float = 60.0
    full_every: str = "7d"
    """A run is a full walk when the last completed one is older than this."""
    demo_models: int = 3000
    demo_seed: int = 0

    def __repr__(self) -> str:  # never leak the token through logs or tracebacks
        return (
            f"Settings(db_path={self.db_path!s}, endpoint={self.endpoint}, "
            f"token={'set' if self.token else 'none'})"
        )

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed (None values keep the current ones)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]


DEFAULTS = Settings()


def resolve_db(db: Path | None) -> Path:
    """--db, else $HUBCENSUS_DB, else ./hubcensus.duckdb."""
    return Path(db or os.environ.get("HUBCENSUS_DB") or DEFAULTS.db_path).expanduser()


def resolve_endpoint(endpoint: str | None) -> str:
    """--endpoint, else $HF_ENDPOINT, else the real Hub."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULTS.endpoint).rstrip("/")


def resolve_token(token: str | None = None, token_env: str | None = None) -> str | None:
    """--token, else $token_env (when named), else $HF_TOKEN, else the stored login; None: anonymous."""
    if token and token.strip():
        return token.strip()
    for name in (token_env, "HF_TOKEN"):
        value = os.environ.get(name, "").strip() if name else ""
        if value:
            return value
    from huggingface_hub import get_token

    return get_token() or None


def load(
    db: Path | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    *,
    token_env: str | None = None,
    with_token: bool = True,
    **overrides: object,
) -> Settings:
    """All settings at once (the token is looked up only when `with_token`)."""
    return DEFAULTS.with_(
        db_path=resolve_db(db),
        endpoint=resolve_endpoint(endpoint),
        token=resolve_token(token, token_env) if with_token else None,
        **overrides,
    )
