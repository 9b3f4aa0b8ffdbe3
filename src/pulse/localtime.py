"""The contact's local time: time zones, quiet-hour clocks and calendar days.

Pure helpers of the guardrails (`pulse.guardrails` defers a message in quiet hours,
`pulse.caps` counts a cap per calendar day), all in event time: a contact's local
time is its event time in its zone (trait `timezone`, else the pack's
`default_timezone`; an unknown zone is UTC).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = ["day_bounds_ms", "deferral_ms", "parse_clock", "zone"]


def parse_clock(text: str) -> int:
    """`HH:MM` as minutes after midnight; raises ValueError otherwise.

    >>> parse_clock("21:30")
    1290
    """
    hours, sep, minutes = text.partition(":")
    if not sep or not (hours.isdigit() and minutes.isdigit()) or len(minutes) != 2:
        raise ValueError(f"expected `HH:MM`, got `{text}`")
    h, m = int(hours), int(minutes)
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise ValueError(f"expected `HH:MM` between 00:00 and 23:59, got `{text}`")
    return h * 60 + m


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo | None:
    """The IANA time zone `name`, or None when there is no such zone.

    >>> zone("Europe/Paris").key, zone("Mars/Olympus")
    ('Europe/Paris', None)
    """
    if not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):  # not found is a KeyError; a bad path, ValueError
        return None


def deferral_ms(ts_ms: int, tz_name: str, start_min: int, end_min: int) -> int | None:
    """When a message at `ts_ms` may go out if quiet hours `[start, end)` (local minutes
    after midnight, wrapping past midnight when start > end) hold it; None when they do not.

    >>> ten_pm_utc = 1767650400000  # 2026-01-05T22:00:00Z
    >>> deferral_ms(ten_pm_utc, "UTC", 21 * 60, 8 * 60)  # 2026-01-06T08:00Z
    1767686400000
    >>> deferral_ms(ten_pm_utc, "Asia/Tokyo", 21 * 60, 8 * 60) is None  # 07:00 local: quiet
    False
    >>> deferral_ms(ten_pm_utc, "America/New_York", 21 * 60, 8 * 60) is None  # 17:00 local
    True
    """
    tz = zone(tz_name) or zone("UTC")
    local = datetime.fromtimestamp(ts_ms / 1000, tz=tz)
    minute = local.hour * 60 + local.minute
    if start_min == end_min:
        return None
    if start_min < end_min:
        is_quiet = start_min <= minute < end_min
    else:
        is_quiet = minute >= start_min or minute < end_min
    if not is_quiet:
        return None
    day = local.date() if minute < end_min else local.date() + timedelta(days=1)
    opens = datetime(day.year, day.month, day.day, end_min // 60, end_min % 60, tzinfo=tz)
    return int(opens.timestamp() * 1000)


def day_bounds_ms(ts_ms: int, tz_name: str) -> tuple[int, int]:
    """The local calendar day holding `ts_ms` in zone `tz_name`: `[midnight, next midnight)`.

    >>> day_bounds_ms(1767650400000, "UTC")  # 2026-01-05T22:00Z: that day, in UTC
    (1767571200000, 1767657600000)
    >>> day_bounds_ms(1767650400000, "Asia/Tokyo")  # 2026-01-06 07:00 in Tokyo
    (1767625200000, 1767711600000)

    A day with a daylight-saving change is 23 or 25 hours long:

    >>> start, end = day_bounds_ms(1774778400000, "Europe/Paris")  # 2026-03-29
    >>> (end - start) // 3_600_000
    23
    """
    tz = zone(tz_name) or zone("UTC")
    day = datetime.fromtimestamp(ts_ms / 1000, tz=tz).date()
    after = day + timedelta(days=1)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    end = datetime(after.year, after.month, after.day, tzinfo=tz)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)
