"""What a source partition hands the flow: one batch of released events and where they were.

Sources (files, Kafka, the generator) decode at the edge and hold each event until
their watermark passes it (`pulse.watermark`); a `SourceBatch` carries the events
released, in event-time order, with their source positions, so the engine can tell
an event it already applied (a replay after a crash) from a new one, and commit the
positions with the state (see "Time, order and exactly-once" in the README).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

import msgspec

from pulse.events import Event, Rejected
from pulse.watermark import END_MS, Released, Watermark

__all__ = ["SourceBatch", "StreamPosition", "batch_events"]


class StreamPosition(msgspec.Struct, array_like=True, frozen=True):
    """How far a source stream (a file, a Kafka partition, the generator) has been applied.

    Every event of the stream at an offset below `read_to` and with an event time
    below `released_before_ms` has been applied; any other event has not.
    """

    read_to: int
    released_before_ms: int

    def covers(self, offset: int, ts_ms: int) -> bool:
        """Whether the event at `offset` with time `ts_ms` was already applied.

        >>> StreamPosition(100, 5000).covers(40, 4000), StreamPosition(100, 5000).covers(40, 6000)
        (True, False)
        """
        return offset < self.read_to and ts_ms < self.released_before_ms


class SourceBatch(msgspec.Struct, kw_only=True):
    """One batch from one source partition: released events, dead letters and watermarks."""

    partition: str
    events: list[Event] = []
    """Released events, in event-time order (late ones first, as they arrived)."""
    offsets: list[int] = []
    """Per event, its position in its stream (byte offset, Kafka offset, sequence)."""
    streams: list[str] = []
    """Per event, the stream it was read from (`""`: a stream without positions, stdin)."""
    read_to: dict[str, int] = {}
    """Per stream, the position after the last record read so far."""
    released_before_ms: int = -(2**62)
    """Every event read with an earlier time has been released (this batch or before)."""
    late_at: dict[int, int] = {}
    """Late events (index in `events`): the watermark they arrived at, as of which they apply."""
    rejected: list[Rejected] = []
    watermark_ms: int
    """The partition's watermark after the batch: timers due before it fire."""

    def take_released(self, released: Released) -> None:
        """Set the events from what the watermark released."""
        self.events, self.offsets, self.streams = (
            released.events,
            released.offsets,
            released.streams,
        )
        self.late_at = released.late_at

    def positions(self) -> dict[str, StreamPosition]:
        """The stream positions this batch brings the flow to."""
        return {
            stream: StreamPosition(read_to, self.released_before_ms)
            for stream, read_to in self.read_to.items()
            if stream
        }


def batch_events(
    events: Iterable[Event],
    partition: str,
    lateness_ms: int,
    size: int = 1000,
    *,
    stream: str = "",
    watermark: Watermark | None = None,
    is_final: bool = True,
) -> Iterator[SourceBatch]:
    """Cut decoded events into the batches a source partition would emit.

    For embedding pulse (and its tests): events are held and released by a
    `Watermark` exactly as the file and Kafka sources do; offsets count from 0 in
    `stream` (`""`: no positions). With `is_final` the last batch releases everything.
    """
    watermark = watermark or Watermark(lateness_ms)
    iterator = iter(events)
    offset = 0
    while chunk := list(itertools.islice(iterator, size)):
        for event in chunk:
            watermark.hold(event, stream, offset)
            offset += 1
        if is_final and len(chunk) < size:
            watermark.finish()
        yield _take(watermark, partition, stream, offset)
    if is_final and watermark.released_before_ms < END_MS:
        watermark.finish()
        yield _take(watermark, partition, stream, offset)


def _take(watermark: Watermark, partition: str, stream: str, offset: int) -> SourceBatch:
    batch = SourceBatch(partition=partition, watermark_ms=watermark.current_ms)
    batch.take_released(watermark.release())
    batch.released_before_ms = watermark.released_before_ms
    batch.read_to = {stream: offset} if stream else {}
    return batch
