"""Windowed counts: adding an event, counting the four windows, compacting."""

from __future__ import annotations

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from pulse import windows
from pulse.contact import ContactState
from pulse.events import Event

_WINDOWS = tuple(windows.WINDOWS_MS.values())


def _buckets(states: dict[str, ContactState], events: list[Event]) -> list[tuple[list[int], int]]:
    pairs = []
    for event in events:
        state = states.get(event.key)
        if state is not None and state.counts:
            busiest = max(state.counts.values(), key=len)
            pairs.append((busiest, event.ts_ms))
    assert pairs
    return pairs


@pytest.mark.benchmark(group="windows")
def test_add(
    benchmark: BenchmarkFixture, events: list[Event], fresh_states: dict[str, ContactState]
) -> None:
    """`windows.add` of each event into its contact's busiest bucket list (copied per round)."""
    pairs = _buckets(fresh_states, events)
    benchmark.extra_info["items"] = len(pairs)

    def add_all() -> None:
        for buckets, ts in pairs:
            windows.add(list(buckets), ts)

    benchmark(add_all)


@pytest.mark.benchmark(group="windows")
def test_count_four_windows(
    benchmark: BenchmarkFixture, events: list[Event], fresh_states: dict[str, ContactState]
) -> None:
    """`windows.count` over 1h, 24h, 7d and 30d of a realistic bucket list."""
    pairs = _buckets(fresh_states, events)
    benchmark.extra_info["items"] = len(pairs)

    counts = benchmark(lambda: [windows.count(b, ts, w) for b, ts in pairs for w in _WINDOWS])

    assert len(counts) == 4 * len(pairs)


@pytest.mark.benchmark(group="windows")
def test_compact(
    benchmark: BenchmarkFixture, events: list[Event], fresh_states: dict[str, ContactState]
) -> None:
    """`windows.compact` of a realistic bucket list a day after its newest event."""
    pairs = [(b, ts + 86_400_000) for b, ts in _buckets(fresh_states, events)]
    benchmark.extra_info["items"] = len(pairs)

    compacted = benchmark(lambda: [windows.compact(b, now) for b, now in pairs])

    assert len(compacted) == len(pairs)


@pytest.mark.benchmark(group="windows")
def test_count_all_one_pass(
    benchmark: BenchmarkFixture, events: list[Event], fresh_states: dict[str, ContactState]
) -> None:
    """`windows.count_all`: the four windows of a realistic bucket list in one pass."""
    pairs = _buckets(fresh_states, events)
    benchmark.extra_info["items"] = len(pairs)

    counts = benchmark(lambda: [windows.count_all(b, ts) for b, ts in pairs])

    assert len(counts) == len(pairs)
