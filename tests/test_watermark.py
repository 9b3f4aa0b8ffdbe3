"""The merged watermark: several partitions read together release one event-time sequence.

Whatever the interleaving of fetches from the partitions (and however the input
is cut into fetches), events within the allowed lateness of their own partition
come out in (time, event id) order, none late, none lost, so the engine, and the
model that learns across contacts, see the same sequence as from one partition.
"""

from __future__ import annotations

import pickle
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from pulse.events import Event
from pulse.watermark import END_MS, MergedWatermark

LATENESS_MS = 5_000


def event(n: int, ts_ms: int) -> Event:
    return Event(f"e{n:04d}", "page_view", ts_ms, f"c{n % 7}", f"c{n % 7}", None, {})


@st.composite
def partitioned_streams(draw: st.DrawFn) -> list[list[Event]]:
    """2-4 partitions, each a stream whose arrival order keeps every event within the
    lateness of that partition's newest event time."""
    count = draw(st.integers(2, 4))
    streams: list[list[Event]] = [[] for _ in range(count)]
    n = 0
    for index in range(count):
        clock = draw(st.integers(0, 20_000))
        for _ in range(draw(st.integers(0, 25))):
            clock += draw(st.integers(0, 3_000))
            # Within the lateness behind the newest so far: never late in its partition.
            jitter = draw(st.integers(0, LATENESS_MS))
            streams[index].append(event(n, max(clock - jitter, 0)))
            n += 1
    return streams


def read_interleaved(streams: list[list[Event]], seed: int) -> list[str]:
    """Feed the partitions in random fetch chunks, as a consumer would, and take releases;
    one partition is snapshotted and restored midway. Each partition ends when drained."""
    rng = random.Random(seed)
    names = [f"kafka:t:{i}" for i in range(len(streams))]
    watermark = MergedWatermark(LATENESS_MS, names)
    cursors = [0] * len(streams)
    released: list[str] = []
    late = 0
    while any(cursor < len(s) for cursor, s in zip(cursors, streams, strict=True)):
        index = rng.randrange(len(streams))
        stream, cursor = streams[index], cursors[index]
        take = rng.randint(1, 4)
        for offset in range(cursor, min(cursor + take, len(stream))):
            watermark.hold(stream[offset], names[index], offset)
        cursors[index] = min(cursor + take, len(stream))
        if cursors[index] == len(stream):
            watermark.end_partition(names[index])
        out = watermark.release()
        late += len(out.late_at)
        released += [e.event_id for e in out.events]
        if rng.random() < 0.2:
            watermark = pickle.loads(pickle.dumps(watermark))  # a snapshot and a restart
    for name in names:  # empty partitions end too
        watermark.end_partition(name)
    released += [e.event_id for e in watermark.release().events]
    assert late == 0
    assert watermark.released_before_ms == END_MS
    return released


@settings(max_examples=150, deadline=None)
@given(streams=partitioned_streams(), seed=st.integers(0, 2**32))
def test_any_interleaving_releases_the_time_sorted_sequence(
    streams: list[list[Event]], seed: int
) -> None:
    everything = sorted((e for s in streams for e in s), key=lambda e: (e.ts_ms, e.event_id))
    assert read_interleaved(streams, seed) == [e.event_id for e in everything]


def test_a_partition_with_nothing_yet_holds_the_others_back_until_it_rests() -> None:
    watermark = MergedWatermark(LATENESS_MS, ["a", "b"])
    watermark.hold(event(1, 100_000), "a", 0)
    watermark.hold(event(2, 200_000), "a", 1)
    assert watermark.release().events == []  # `b` might still bring something older
    watermark.rest("b")  # live: `b` has been quiet for the lateness
    assert [e.event_id for e in watermark.release().events] == ["e0001"]
    assert watermark.current_ms == 200_000 - LATENESS_MS


def test_an_idle_partition_that_comes_back_below_the_watermark_is_late() -> None:
    watermark = MergedWatermark(LATENESS_MS, ["a", "b"])
    watermark.rest("b")
    watermark.hold(event(1, 100_000), "a", 0)
    watermark.release()
    watermark.hold(event(2, 50_000), "b", 0)  # behind the merged watermark (95 s)
    out = watermark.release()
    assert [e.event_id for e in out.events] == ["e0002"]
    assert out.late_at == {0: 100_000 - LATENESS_MS}
    # It is active again: it holds `a` back from now on, and the watermark never goes back.
    assert watermark.current_ms == 100_000 - LATENESS_MS
    assert "b" not in watermark.resting
