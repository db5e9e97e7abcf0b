"""Where the tests find real data written by others: `../shared` beside the checkout, never the repository.

`shared_path("fixtures", "replay")` is the folder's path, or a skip (test or whole module) naming what is
absent: such data may not be committed here (tests/fixtures/README.md), so a fresh clone without
`../shared` still passes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


def shared_path(*parts: str) -> Path:
    """`../shared/<parts>` if it exists, else `pytest.skip` with the reason (usable at module level)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        where = "/".join(("../shared", *parts))
        pytest.skip(f"{where} is absent: real data written by others is read from ../shared, "
                    "never copied into the repository", allow_module_level=True)  # fmt: skip
    return path
