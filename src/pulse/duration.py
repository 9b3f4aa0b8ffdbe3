"""Durations as written in rules files (`30m`, `1h30m`, `14d`, `90s`, or plain seconds)."""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration_ms"]

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_MAX_S = 100 * 365 * 86_400
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration_ms(value: object) -> int:
    """Milliseconds in a duration; raises `ValueError` naming what was expected.

    >>> parse_duration_ms("1h30m")
    5400000
    >>> parse_duration_ms(90)
    90000
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"Expected a duration like `30m` or `14d`, got `{value!r}`")
    if isinstance(value, int | float):
        if not 0 <= value <= _MAX_S:
            raise ValueError(f"Expected a duration from 0 to 100 years, got `{value}`")
        return int(value * 1000)
    text = value.strip().replace(" ", "")
    parts = _PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"Expected a duration like `30m`, `1h30m` or `14d`, got `{value!r}`")
    total = sum(float(n) * _UNIT_MS[u] for n, u in parts)
    if not total <= _MAX_S * 1000:
        raise ValueError(f"Expected a duration up to 100 years, got `{value}`")
    return int(total)


def format_duration(ms: int) -> str:
    """The shortest readable form of a duration in milliseconds.

    >>> format_duration(5400000)
    '1h30m'
    """
    if ms == 0:
        return "0s"
    out = []
    for unit in ("d", "h", "m", "s", "ms"):
        size = _UNIT_MS[unit]
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(out)
