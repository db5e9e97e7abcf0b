"""The full-walk schedule's vocabulary: durations like `7d`, `12h`, `90m`, `0`."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)")

DEFAULT_FULL_EVERY = "7d"


def parse_duration(text: str) -> timedelta:
    """'7d' -> 7 days, '12h', '90m', '30s', '2w', '1d12h'; '0' -> zero. ValueError with one line otherwise.

    A bare number without a unit must be 0 (is '7' days or seconds? say which).
    """
    value = text.strip().lower()
    if value in ("0", "0s", "0d", "0h", "0m"):
        return timedelta(0)
    pos, seconds = 0, 0.0
    for match in _DURATION.finditer(value):
        if match.start() != pos or not match.group(2):
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not value or pos != len(value):
        raise ValueError(f"not a duration: {text!r} (use e.g. 7d, 12h, 90m or 0)")
    return timedelta(seconds=seconds)
