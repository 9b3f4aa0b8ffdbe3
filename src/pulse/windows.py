"""Windowed event counts with age-graded buckets, bounded in size.

Counts per event type are kept as a flat list `[bucket_start_min, count, ...]`.
New events land in 5-minute buckets; as buckets age they are merged into hourly
buckets (after 1 hour) and daily buckets (after 24 hours), and dropped after 30
days. A window count sums the buckets that start inside the window, so the 1h
window is exact to 5 minutes, the 24h window to an hour, and 7d/30d to a day,
and a contact's state stays small however active it is.
"""

from __future__ import annotations

__all__ = ["WINDOWS_MS", "add", "compact", "count", "count_all", "needs_compaction"]

_MIN = 60_000
_HOUR = 60 * _MIN
_DAY = 24 * _HOUR
WINDOWS_MS: dict[str, int] = {"1h": _HOUR, "24h": _DAY, "7d": 7 * _DAY, "30d": 30 * _DAY}
_RETAIN_MS = 30 * _DAY


def _granularity_min(age_ms: int) -> int:
    if age_ms < _HOUR:
        return 5
    if age_ms < _DAY:
        return 60
    return 1440


def add(buckets: list[int], ts_ms: int) -> None:
    """Count one event at `ts_ms` into a 5-minute bucket.

    >>> b = []; add(b, 600_000); add(b, 700_000); b
    [10, 2]
    """
    start = ts_ms // _MIN // 5 * 5
    for i in range(len(buckets) - 2, -1, -2):
        if buckets[i] == start:
            buckets[i + 1] += 1
            return
    buckets.append(start)
    buckets.append(1)


def _coarsen(start_min: int, now_min: int) -> int:
    """Align a bucket to the granularity its age calls for, until that is stable.

    Aligning can make a bucket older and so due a coarser granularity; repeating
    until nothing moves makes `compact` idempotent (compacting twice changes nothing).
    """
    while True:
        size = _granularity_min((now_min - start_min) * _MIN)
        aligned = start_min // size * size
        if aligned == start_min:
            return start_min
        start_min = aligned


def compact(buckets: list[int], now_ms: int) -> list[int]:
    """Merge aged buckets into coarser ones and drop those older than 30 days.

    >>> compact([0, 1, 5, 1, 60, 1], 2 * 3_600_000)
    [0, 2, 60, 1]
    """
    merged: dict[int, int] = {}
    now_min = now_ms // _MIN
    for i in range(0, len(buckets), 2):
        key = _coarsen(buckets[i], now_min)
        if (now_min - key) * _MIN >= _RETAIN_MS:
            continue
        merged[key] = merged.get(key, 0) + buckets[i + 1]
    out: list[int] = []
    for start in sorted(merged):
        out.append(start)
        out.append(merged[start])
    return out


_WINDOW_MIN = tuple(ms // _MIN for ms in WINDOWS_MS.values())


def count_all(buckets: list[int], now_ms: int) -> list[int]:
    """`count` for every window of `WINDOWS_MS` at once, in one pass over the buckets.

    >>> count_all([0, 2, 60, 1], 2 * 3_600_000)
    [1, 3, 3, 3]
    """
    now_min = now_ms // _MIN
    h1, d1, d7, d30 = (now_min - w for w in _WINDOW_MIN)
    c1 = c24 = c7 = c30 = 0
    for i in range(0, len(buckets), 2):
        start = buckets[i]
        if start > now_min or start < d30:
            continue
        n = buckets[i + 1]
        c30 += n
        if start >= d7:
            c7 += n
            if start >= d1:
                c24 += n
                if start >= h1:
                    c1 += n
    return [c1, c24, c7, c30]


def needs_compaction(buckets: list[int], now_ms: int) -> bool:
    """Whether `compact` would shrink the list enough to be worth its cost.

    Compaction only saves memory (counts are right either way), so it runs when a
    type holds more than 8 buckets or its oldest bucket has left the 30-day window.

    >>> needs_compaction([0, 1], 31 * 86_400_000)
    True
    """
    if len(buckets) > 16:
        return True
    return bool(buckets) and (now_ms // _MIN - buckets[0]) * _MIN >= _RETAIN_MS


def count(buckets: list[int], now_ms: int, window_ms: int) -> int:
    """Events in the buckets starting within `window_ms` before `now_ms` (and not after it).

    >>> count([0, 2, 60, 1], 2 * 3_600_000, 3_600_000)
    1
    """
    since_min = (now_ms - window_ms) // _MIN
    now_min = now_ms // _MIN
    total = 0
    for i in range(0, len(buckets), 2):
        if since_min <= buckets[i] <= now_min:
            total += buckets[i + 1]
    return total
