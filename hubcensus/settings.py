"""Settings, read once from flags and the environment.

Precedence: command-line flag, then environment variable, then default.
The token is read from the environment only, never printed or stored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DB = "hubcensus.duckdb"
DEFAULT_ENDPOINT = "https://huggingface.co"


@dataclass(frozen=True)
class Settings:
    """Where the database lives, which Hub to talk to, and with which token."""

    db_path: Path
    endpoint: str
    token: str | None

    def __repr__(self) -> str:  # never leak the token through logs or tracebacks
        return f"Settings(db_path={self.db_path!s}, endpoint={self.endpoint}, token={'set' if self.token else 'none'})"


def resolve_db(db: Path | None) -> Path:
    """--db, else $HUBCENSUS_DB, else ./hubcensus.duckdb."""
    return Path(db or os.environ.get("HUBCENSUS_DB") or DEFAULT_DB).expanduser()


def resolve_endpoint(endpoint: str | None) -> str:
    """--endpoint, else $HF_ENDPOINT, else the real Hub."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def resolve_token(token_env: str = "HF_TOKEN") -> str | None:
    """The token from the named environment variable (HF_TOKEN by default), or None for anonymous."""
    value = os.environ.get(token_env, "").strip()
    return value or None


def load(db: Path | None = None, endpoint: str | None = None, token_env: str = "HF_TOKEN") -> Settings:
    """All settings at once."""
    return Settings(
        db_path=resolve_db(db), endpoint=resolve_endpoint(endpoint), token=resolve_token(token_env)
    )
