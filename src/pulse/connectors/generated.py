"""A source over the synthetic clickstream generator, for demos and benchmarks.

It feeds decoded events straight into the flow (no JSON round trip) in batches,
with the same watermark handling as the file source. Resumable: the snapshot
is the number of events already emitted, and the seeded generator replays the
same stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from pulse.connectors.generator import GeneratorConfig, generate_events
from pulse.engine import SourceBatch
from pulse.events import Event
from pulse.watermark import Watermark

__all__ = ["GeneratedSource"]

PARTITION = "generator"


class _GeneratedPartition(StatefulSourcePartition[SourceBatch, tuple[int, Watermark]]):
    def __init__(self, source: GeneratedSource, emitted: int, watermark: Watermark) -> None:
        self._source = source
        self._events: Iterator[Event] = islice(generate_events(source.config), emitted, None)
        self._emitted = emitted
        self._watermark = watermark
        self._is_done = False

    def next_batch(self) -> list[SourceBatch]:
        if self._is_done:
            raise StopIteration
        events = list(islice(self._events, self._source.batch_size))
        observe = self._watermark.observe
        watermarks = [observe(event.ts_ms) for event in events]
        self._emitted += len(events)
        if len(events) < self._source.batch_size:
            self._is_done = True
            final = self._source.final_watermark_ms
            if final is not None and final > self._watermark.current_ms:
                self._watermark.max_ts_ms = final + self._watermark.lateness_ms
        return [
            SourceBatch(
                partition=PARTITION,
                events=events,
                watermarks=watermarks,
                watermark_ms=self._watermark.current_ms,
            )
        ]

    def snapshot(self) -> tuple[int, Watermark]:
        return (self._emitted, self._watermark)


class GeneratedSource(FixedPartitionedSource[SourceBatch, tuple[int, Watermark]]):
    """The seeded synthetic clickstream as one source partition."""

    def __init__(
        self,
        config: GeneratorConfig,
        lateness_ms: int,
        *,
        batch_size: int = 1000,
        final_watermark_ms: int | None = None,
    ) -> None:
        self.config = config
        self.lateness_ms = lateness_ms
        self.batch_size = batch_size
        self.final_watermark_ms = final_watermark_ms

    def list_parts(self) -> list[str]:
        return [PARTITION]

    def build_part(
        self, step_id: str, for_part: str, resume_state: tuple[int, Watermark] | None
    ) -> _GeneratedPartition:
        emitted, watermark = resume_state or (0, Watermark(self.lateness_ms))
        return _GeneratedPartition(self, emitted, watermark)
