"""Windowed counts: age-graded buckets, compaction, and counting in one pass."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pulse import windows

DAY = 86_400_000
NOW = 1_767_607_200_000

ages = st.lists(st.integers(min_value=0, max_value=40 * DAY), max_size=40)


def _buckets(ages_ms: list[int]) -> list[int]:
    buckets: list[int] = []
    for age in ages_ms:
        windows.add(buckets, NOW - age)
    return buckets


@given(ages)
def test_count_all_equals_count_per_window(ages_ms: list[int]) -> None:
    buckets = _buckets(ages_ms)
    expected = [windows.count(buckets, NOW, w) for w in windows.WINDOWS_MS.values()]
    assert windows.count_all(buckets, NOW) == expected


@given(ages)
def test_compacting_twice_changes_nothing(ages_ms: list[int]) -> None:
    once = windows.compact(_buckets(ages_ms), NOW)
    assert windows.compact(once, NOW) == once


@given(ages)
def test_compaction_keeps_every_event_younger_than_29_days(ages_ms: list[int]) -> None:
    young = [a for a in ages_ms if a < 29 * DAY]
    compacted = windows.compact(_buckets(young), NOW)
    assert sum(compacted[1::2]) == len(young)


def test_thirty_day_window_drops_events_older_than_thirty_one_days() -> None:
    buckets = _buckets([31 * DAY + 1, 2 * DAY])
    assert windows.count(buckets, NOW, windows.WINDOWS_MS["30d"]) == 1
