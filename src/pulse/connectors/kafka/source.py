"""The Kafka source: Kafka partitions read in groups, merged in event time, offsets in the snapshot.

A source partition is a *group* of Kafka partitions (`topic:0,1,2,3`), read by
one consumer assigned to them (no consumer group: bytewax decides which worker
reads which group, and its snapshots hold the offsets). By default one group
holds every partition of the topic; `partition_groups` (`--kafka-partition-groups`)
splits them round robin for a cluster of several workers. Within a group one
`MergedWatermark` holds the events of all its partitions and releases them in
event time, so the engine applies the same sequence whatever the fetch
interleaving and however many partitions the topic has: the model, which learns
across contacts in event time, then learns the same labels at the same
checkpoints, and a restart gives the same blended scores as an uninterrupted run.

A batch is up to `batch_size` records decoded by `BatchBuilder`, so a Kafka
partition decodes and dead-letters exactly like a file: a record that is not an
event becomes a `Rejected` carrying `topic:N` and its Kafka offset. Each Kafka
partition is its own position stream (`kafka:topic:N`). The snapshot is the next
offset to read per partition and the watermark with the events it holds, so a
restart from the recovery directory resumes right after the last snapshot and
replays the rest; the engine's positions make that replay harmless.

A sample of records also tells whether a contact's events arrive on more than
one partition (an unkeyed producer): `PartitionSpread` counts those contacts
and logs one warning saying to key records by contact.

Following the topic (the default), a partition that brings nothing for the
allowed lateness (wall time) stops holding the others back, and when all are
idle the watermark advances with the wall clock, as the live file source does,
so due timers fire about on time with no new events. With `stop_at_end` the
source is a replay: a partition ends once it has caught up with the end of its
Kafka partition, the group once all have, and `final_watermark_ms` (`--until`)
then fires the timers due before it.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from pulse.batch import SourceBatch
from pulse.connectors.files import BatchBuilder
from pulse.connectors.kafka.client import start_consumer, topic_partitions
from pulse.connectors.kafka.faults import failpoint
from pulse.connectors.kafka.loop import LoopKind, acquire_loop
from pulse.connectors.kafka.settings import KafkaSettings, start_position
from pulse.connectors.kafka.spread import PartitionSpread
from pulse.errors import ConnectorError
from pulse.events import EventDecoder
from pulse.watermark import END_MS, MergedWatermark, Watermark

__all__ = ["KafkaResume", "KafkaSource"]

log = logging.getLogger("pulse.kafka")

_IDLE_S = 0.05
"""Pause before asking an empty partition again: bounds the added latency of a new record."""
_CALL_TIMEOUT_S = 120.0
_ALIGN_MS = 60_000
"""How far (event time) a partition may run ahead of the group's slowest before it pauses."""


class KafkaResume(NamedTuple):
    """What a group of Kafka partitions snapshots: per partition the next offset to read,
    and the merged watermark with the events it holds."""

    offsets: dict[int, int]
    watermark: Watermark


class KafkaSource(FixedPartitionedSource[SourceBatch, KafkaResume]):
    """Events from a Kafka topic, one source partition per group of Kafka partitions.

    The constructor asks the broker for the topic's partitions, so an unreachable
    broker (after retrying with backoff for `connect_timeout_s`) or a missing topic
    stops the run with one clear `ConnectorError` before the dataflow starts.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        decoder: EventDecoder,
        lateness_ms: int,
        *,
        batch_size: int = 1000,
        final_watermark_ms: int | None = None,
        event_loop: LoopKind = "thread",
    ) -> None:
        self.settings = settings
        self.decoder = decoder
        self.lateness_ms = lateness_ms
        self.batch_size = batch_size
        self.final_watermark_ms = final_watermark_ms
        self.event_loop: LoopKind = event_loop
        if not settings.topic:
            raise ConnectorError("no Kafka input topic given")
        runner = acquire_loop("thread")
        try:
            counts = runner.call(topic_partitions(settings, [settings.topic]))
        finally:
            runner.release()
        if settings.topic not in counts:
            raise ConnectorError(
                f"Kafka topic `{settings.topic}` does not exist at `{settings.bootstrap}`; "
                "create it, e.g. with `pulse produce --partitions N`"
            )
        self.partitions = counts[settings.topic]
        self.spread = PartitionSpread(settings.topic)
        """Contacts seen on more than one partition (sampled; this process only)."""

    def list_parts(self) -> list[str]:
        """The groups of Kafka partitions, as `topic:0,2` (partitions dealt round robin).

        >>> source = KafkaSource.__new__(KafkaSource)
        >>> source.settings = KafkaSettings(bootstrap="b:9092", topic="t", partition_groups=2)
        >>> source.partitions = 5
        >>> source.list_parts()
        ['t:0,2,4', 't:1,3']
        """
        count = min(max(self.settings.partition_groups, 1), self.partitions)
        groups = [range(first, self.partitions, count) for first in range(count)]
        return [f"{self.settings.topic}:{','.join(map(str, group))}" for group in groups]

    def build_part(
        self, step_id: str, for_part: str, resume_state: KafkaResume | None
    ) -> _KafkaGroup:
        """Open the group `topic:N,M,...` at its snapshot, or at the configured start."""
        indexes = [int(index) for index in for_part.rsplit(":", 1)[1].split(",")]
        return _KafkaGroup(self, indexes, resume_state)


class _KafkaGroup(StatefulSourcePartition[SourceBatch, KafkaResume]):
    def __init__(self, source: KafkaSource, indexes: list[int], resume: KafkaResume | None) -> None:
        self._source = source
        topic = source.settings.topic
        self._name = f"{topic}:{','.join(map(str, indexes))}"
        self._tps = [TopicPartition(topic, index) for index in indexes]
        self._names = {tp: f"{topic}:{tp.partition}" for tp in self._tps}
        self._streams = {tp: f"kafka:{name}" for tp, name in self._names.items()}
        streams = list(self._streams.values())
        if resume is not None and not isinstance(resume.offsets, dict):
            # A snapshot from before groups: one partition, its offset and watermark.
            resume = KafkaResume({indexes[0]: int(resume.offsets)}, resume.watermark)
        if resume is None:
            watermark = MergedWatermark(source.lateness_ms, streams)
        elif isinstance(resume.watermark, MergedWatermark):
            watermark = resume.watermark
        else:
            watermark = MergedWatermark.taking_over(resume.watermark, streams)
        self._watermark = watermark
        self._builder = BatchBuilder(self._name, source.decoder, watermark)
        self._is_done = False
        self._awake: datetime | None = None
        self._emitted_ms = watermark.current_ms
        self._highwater: dict[TopicPartition, int | None] = {}
        self._offsets: dict[TopicPartition, int] = {}
        self._quiet_since: dict[TopicPartition, float] = {}
        """Live: since when (monotonic) a partition has brought nothing."""
        self._skip_before_ms: dict[TopicPartition, int] = {}
        """Started at a time: per partition, skip records before it (see `_skip_early`)."""
        self._lag_logged_s = 0.0
        # Inline loops only run while called: give them time to fetch something.
        self._wait_ms = 0 if source.event_loop == "thread" else 50
        self._loop = acquire_loop(source.event_loop)
        try:
            self._consumer, self._offsets = self._loop.call(self._open(resume), _CALL_TIMEOUT_S)
        except BaseException:
            self._loop.release()
            raise

    async def _open(
        self, resume: KafkaResume | None
    ) -> tuple[AIOKafkaConsumer, dict[TopicPartition, int]]:
        settings = self._source.settings
        consumer = await start_consumer(
            settings,
            f"source partition `{self._name}`",
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            max_poll_records=self._source.batch_size * len(self._tps),
        )
        offsets: dict[TopicPartition, int] = {}
        try:
            consumer.assign(self._tps)
            start = start_position(settings)
            for tp in self._tps:
                resumed = resume.offsets.get(tp.partition) if resume is not None else None
                if resumed is not None:
                    consumer.seek(tp, resumed)
                    origin = "snapshot"
                elif start == "earliest":
                    await consumer.seek_to_beginning(tp)
                    origin = "earliest"
                elif start == "latest":
                    await consumer.seek_to_end(tp)
                    origin = "latest"
                else:
                    found = (await consumer.offsets_for_times({tp: start})).get(tp)
                    # Nothing at or after the time: some brokers say so with timestamp -1.
                    if found is None or found.timestamp < 0:
                        await consumer.seek_to_end(tp)
                    else:
                        consumer.seek(tp, found.offset)
                    # Some brokers answer with a record just before the time: skip those.
                    self._skip_before_ms[tp] = start
                    origin = f"time {settings.start}"
                offsets[tp] = await consumer.position(tp)
                log.info("reading %s from offset %d (%s)", self._names[tp], offsets[tp], origin)
        except KafkaError as exc:
            await consumer.stop()
            raise ConnectorError(f"cannot position Kafka partitions `{self._name}`: {exc}") from exc
        except BaseException:
            await consumer.stop()
            raise
        return consumer, offsets

    async def _fetch(self) -> dict[TopicPartition, list[Any]]:
        consumer = self._consumer
        self._align()
        try:
            batch: dict[TopicPartition, list[Any]] = await consumer.getmany(
                *self._tps,
                timeout_ms=self._wait_ms,
                # `batch_size` per partition, as when each was its own source partition
                max_records=self._source.batch_size * len(self._tps),
            )
            for tp in self._tps:
                self._offsets[tp] = await consumer.position(tp)
                self._highwater[tp] = consumer.highwater(tp)
        except KafkaError as exc:
            raise ConnectorError(f"reading Kafka partitions `{self._name}` failed: {exc}") from exc
        return batch

    def next_batch(self) -> list[SourceBatch]:
        if self._is_done:
            raise StopIteration
        fetched = self._loop.call(self._fetch(), _CALL_TIMEOUT_S)
        builder, spread = self._builder, self._source.spread
        has_records = False
        for tp in sorted(fetched, key=lambda tp: tp.partition):
            records = fetched[tp]
            if tp in self._skip_before_ms and records:
                records = self._skip_early(tp, records)
            if not records:
                continue
            has_records = True
            self._quiet_since.pop(tp, None)
            name, partition = self._names[tp], tp.partition
            builder.stream = self._streams[tp]
            for record in records:
                if record.value is None:
                    builder.reject("message has no value (null)", b"", name, record.offset)
                else:
                    builder.add(record.value, name, record.offset)
                    spread.observe(record.value, partition, record.offset)
        self._log_lag()
        if self._source.settings.stop_at_end:
            self._end_caught_up()
            if self._watermark.released_before_ms >= END_MS:
                return self._finish()
        else:
            self._rest_quiet(fetched)
        if has_records:
            self._awake = None
            failpoint("source.after_batch")
            return [self._take()]
        self._awake = datetime.now(UTC) + timedelta(seconds=_IDLE_S)
        if not self._source.settings.stop_at_end:
            if self._watermark.resting >= self._watermark.newest_ms.keys():
                self._watermark.idle()
            if self._watermark.current_ms != self._emitted_ms:
                return [self._take()]
        return []

    def _align(self) -> None:
        """Pause the partitions that are ahead of the merged watermark, resume the others.

        The merged watermark holds every event after the slowest partition's, so a
        partition fetched far ahead would only fill the hold (a replay would hold a
        whole partition): as Flink's watermark alignment does, it waits instead.
        """
        limit = self._watermark.current_ms + self._watermark.lateness_ms + _ALIGN_MS
        newest, resting = self._watermark.newest_ms, self._watermark.resting
        ahead = [
            tp
            for tp, stream in self._streams.items()
            if stream not in resting and newest.get(stream, limit) > limit
        ]
        paused = self._consumer.paused()
        if ahead and (len(ahead) < len(self._tps)):
            self._consumer.pause(*(tp for tp in ahead if tp not in paused))
        back = [tp for tp in paused if tp not in ahead]
        if back:
            self._consumer.resume(*back)

    def _end_caught_up(self) -> None:
        """Replay: a partition at the end of its Kafka partition holds nothing back any more."""
        for tp in self._tps:
            if self._is_caught_up(tp):
                self._watermark.end_partition(self._streams[tp])

    def _rest_quiet(self, fetched: dict[TopicPartition, list[Any]]) -> None:
        """Live: a partition quiet for the allowed lateness (wall time) stops holding back
        the others; sooner would make its next events late, later would delay timers."""
        now_s = time.monotonic()
        quiet_s = self._source.lateness_ms / 1000
        for tp in self._tps:
            if fetched.get(tp) or not self._is_caught_up(tp):
                continue
            since = self._quiet_since.setdefault(tp, now_s)
            if now_s - since >= quiet_s:
                self._watermark.rest(self._streams[tp])

    def _skip_early(self, tp: TopicPartition, records: list[Any]) -> list[Any]:
        """Drop records before the start time, up to the first one at or after it."""
        start_ms = self._skip_before_ms[tp]
        for index, record in enumerate(records):
            if record.timestamp >= start_ms:
                del self._skip_before_ms[tp]
                return records[index:]
        return []

    def _is_caught_up(self, tp: TopicPartition) -> bool:
        # The fetch's high watermark, not ListOffsets: some brokers answer the latter
        # with the start of the last record batch rather than the end of the log.
        highwater = self._highwater.get(tp)
        return highwater is not None and self._offsets[tp] >= highwater

    def _take(self) -> SourceBatch:
        batch = self._builder.take()
        self._emitted_ms = batch.watermark_ms
        return batch

    def _finish(self) -> list[SourceBatch]:
        self._is_done = True
        watermark = self._watermark
        watermark.finish()
        final = self._source.final_watermark_ms
        if final is not None and final > watermark.current_ms:
            watermark.max_ts_ms = final + watermark.lateness_ms
        ends = ", ".join(f"{self._names[tp]} at {self._offsets[tp]}" for tp in self._tps)
        log.info("caught up (%s): done", ends)
        return [self._take()]

    def _log_lag(self) -> None:
        now_s = time.monotonic()
        if now_s - self._lag_logged_s < self._source.settings.lag_log_interval_s:
            return
        self._lag_logged_s = now_s
        for tp in self._tps:
            highwater, offset = self._highwater.get(tp), self._offsets[tp]
            if highwater is not None:
                log.info(
                    "kafka lag %s: %d (offset %d, end %d)",
                    self._names[tp], max(highwater - offset, 0), offset, highwater,
                )  # fmt: skip

    def next_awake(self) -> datetime | None:
        return self._awake

    def snapshot(self) -> KafkaResume:
        offsets = {tp.partition: offset for tp, offset in self._offsets.items()}
        return KafkaResume(offsets, self._watermark)

    def close(self) -> None:
        try:
            self._loop.call(self._consumer.stop(), _CALL_TIMEOUT_S)
        finally:
            self._loop.release()
