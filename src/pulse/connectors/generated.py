"""A source over the synthetic clickstream generator, for demos and benchmarks.

It feeds decoded events straight into the flow (no JSON round trip) in batches,
with the same watermark handling as the file source. Resumable: the snapshot
is the number of events already emitted, and the seeded generator replays the
same stream.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from itertools import islice

import msgspec
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from pulse.batch import SourceBatch
from pulse.config import Part
from pulse.connectors.files import part_name
from pulse.connectors.generator import GeneratorConfig, generate_events
from pulse.events import Event
from pulse.identity import part_takes
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
        hold, stream, watermark = self._watermark.hold, self._source.stream, self._watermark
        part = self._source.part
        for sequence, event in enumerate(events, self._emitted):
            if part is None or part_takes(
                part, event.type, event.key, event.contact_id, event.anonymous_id
            ):
                hold(event, stream, sequence)
            else:  # another part's contact: its time still moves the watermark
                watermark.observe(event.ts_ms)
        self._emitted += len(events)
        if len(events) < self._source.batch_size:
            self._is_done = True
            watermark.finish()
            final = self._source.final_watermark_ms
            if final is not None and final > watermark.current_ms:
                watermark.max_ts_ms = final + watermark.lateness_ms
        batch = SourceBatch(partition=self._source.partition, watermark_ms=0)
        batch.take_released(watermark.release())
        batch.watermark_ms = watermark.current_ms
        batch.released_before_ms = watermark.released_before_ms
        batch.read_to = {stream: self._emitted}
        return [batch]

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
        part: Part | None = None,
    ) -> None:
        self.config = config
        self.part = part
        self.partition = part_name(PARTITION, part)
        self.lateness_ms = lateness_ms
        self.batch_size = batch_size
        self.final_watermark_ms = final_watermark_ms
        # The same settings give the same stream: its positions are comparable across runs.
        digest = hashlib.blake2b(msgspec.json.encode(config), digest_size=8).hexdigest()
        self.stream = part_name(f"generator:{digest}", part, "@")

    def list_parts(self) -> list[str]:
        return [self.partition]

    def build_part(
        self, step_id: str, for_part: str, resume_state: tuple[int, Watermark] | None
    ) -> _GeneratedPartition:
        emitted, watermark = resume_state or (0, Watermark(self.lateness_ms))
        return _GeneratedPartition(self, emitted, watermark)
