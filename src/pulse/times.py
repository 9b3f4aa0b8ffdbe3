"""Times as people write them: ISO-8601, epoch milliseconds, or relative (`+2h`, `now-1d`).

One parser for every place pulse accepts a time from a person: the CLI's
`--until` and `--at`, and rule test files (`at: +31m`). A relative time is an
offset from a base that the caller names: `now` is the wall clock; a bare
`+2h` / `-1d` counts from the caller's base (a rule test's `start`, a contact's
last event for `pulse explain --at`, the input's newest event for `--until`).
Pure, apart from reading the clock for `now`.
"""

from __future__ import annotations

import time

from pulse.duration import parse_duration_ms
from pulse.errors import EventError
from pulse.events import parse_ts

__all__ = ["is_relative", "parse_time"]


def is_relative(text: str) -> bool:
    """Whether `text` is an offset from the caller's base (`+2h`, `-1d`), not `now` or absolute.

    >>> is_relative("+2h"), is_relative("now-1d"), is_relative("-5"), is_relative("2026-01-05")
    (True, False, False, False)
    """
    return text[:1] in ("+", "-") and text[1:2].isdigit() and not text[1:].isdigit()


def parse_time(text: str | int, *, base_ms: int | None = None, now_ms: int | None = None) -> int:
    """Epoch ms from ISO-8601 with a zone, epoch ms, `now[+-D]`, or `+D`/`-D` from `base_ms`.

    Raises `ValueError` saying what was expected (the caller names the flag or field).

    >>> parse_time("+31m", base_ms=1_000_000)
    2860000
    >>> parse_time("1767607200000"), parse_time("2026-01-05T10:00:00Z")
    (1767607200000, 1767607200000)
    >>> parse_time("now-1d", now_ms=1767607200000)
    1767520800000
    >>> parse_time("+2h")
    Traceback (most recent call last):
    ValueError: `+2h` is relative, but nothing to count from here: use `now+2h` or an absolute time
    >>> parse_time("yesterday")
    Traceback (most recent call last):
    ValueError: Expected ISO-8601, epoch ms, `now-1d` or `+2h`, got `yesterday`
    """
    if isinstance(text, int):
        return _absolute(text)
    text = text.strip()
    if text.startswith("now"):
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        return now + _offset(text[3:], text) if text[3:] else now
    if is_relative(text):
        if base_ms is None:
            raise ValueError(
                f"`{text}` is relative, but nothing to count from here: "
                f"use `now{text}` or an absolute time"
            )
        return base_ms + _offset(text, text)
    if text.isdigit():
        return _absolute(int(text))
    try:
        return parse_ts(text)
    except EventError as exc:
        if "time zone" in str(exc):
            raise ValueError(f"`{text}` has no time zone (add `Z` or `+00:00`)") from None
        raise ValueError(
            f"Expected ISO-8601, epoch ms, `now-1d` or `+2h`, got `{text[:40]}`"
        ) from None


def _offset(signed: str, whole: str) -> int:
    if signed[:1] not in ("+", "-"):
        raise ValueError(f"Expected `now`, `now+2h` or `now-1d`, got `{whole}`")
    try:
        ms = parse_duration_ms(signed[1:])
    except ValueError:
        raise ValueError(
            f"Expected a duration like `2h` or `1d` after the sign in `{whole}`"
        ) from None
    return -ms if signed[0] == "-" else ms


def _absolute(ts_ms: int) -> int:
    try:
        return parse_ts(ts_ms)
    except EventError:
        raise ValueError(f"Expected epoch ms between 2000 and 2100, got `{ts_ms}`") from None
