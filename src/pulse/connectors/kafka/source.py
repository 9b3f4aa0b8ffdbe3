"""The Kafka source: one bytewax partition per Kafka partition, offsets in the snapshot.

Each source partition `topic:N` owns a consumer assigned to Kafka partition N
(no consumer group: bytewax decides which worker reads which partition, and its
snapshots hold the offsets). A batch is up to `batch_size` records decoded by
`BatchBuilder`, so a Kafka partition decodes, dead-letters and tracks its
watermark exactly like a file: a record that is not an event becomes a
`Rejected` carrying `topic:N` and its Kafka offset. The snapshot is the next
offset to read and the watermark, so a restart from the recovery directory
resumes right after the last snapshot and replays the rest; the engine's
dedupe on `event_id` makes that replay harmless.

A sample of records also tells whether a contact's events arrive on more than
one partition (an unkeyed producer): `PartitionSpread` counts those contacts
and logs one warning saying to key records by contact.

Following the topic (the default), an idle partition advances its watermark
with the wall clock, as the live file source does, so due timers fire about on
time with no new events. With `stop_at_end` the source is a replay: each
partition stops once it has caught up with the end of its Kafka partition,
and `final_watermark_ms` (`--until`) then fires the timers due before it.
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
from pulse.watermark import Watermark

__all__ = ["KafkaResume", "KafkaSource"]

log = logging.getLogger("pulse.kafka")

_IDLE_S = 0.05
"""Pause before asking an empty partition again: bounds the added latency of a new record."""
_CALL_TIMEOUT_S = 120.0


class KafkaResume(NamedTuple):
    """What a Kafka source partition snapshots: the next offset to read, and its watermark."""

    offset: int
    watermark: Watermark


class KafkaSource(FixedPartitionedSource[SourceBatch, KafkaResume]):
    """Events from a Kafka topic, one source partition (`topic:N`) per Kafka partition.

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
        """Every Kafka partition of the topic, as `topic:N`."""
        return [f"{self.settings.topic}:{index}" for index in range(self.partitions)]

    def build_part(
        self, step_id: str, for_part: str, resume_state: KafkaResume | None
    ) -> _KafkaPartition:
        """Open partition `topic:N` at its snapshot, or at the configured start."""
        index = int(for_part.rsplit(":", 1)[1])
        return _KafkaPartition(self, index, resume_state)


class _KafkaPartition(StatefulSourcePartition[SourceBatch, KafkaResume]):
    def __init__(self, source: KafkaSource, index: int, resume: KafkaResume | None) -> None:
        self._source = source
        self._name = f"{source.settings.topic}:{index}"
        self._tp = TopicPartition(source.settings.topic, index)
        watermark = resume.watermark if resume is not None else Watermark(source.lateness_ms)
        self._builder = BatchBuilder(self._name, source.decoder, watermark)
        self._builder.stream = f"kafka:{self._name}"
        self._is_done = False
        self._awake: datetime | None = None
        self._emitted_ms = watermark.current_ms
        self._highwater: int | None = None
        self._skip_before_ms: int | None = None
        self._lag_logged_s = 0.0
        # Inline loops only run while called: give them time to fetch something.
        self._wait_ms = 0 if source.event_loop == "thread" else 50
        self._loop = acquire_loop(source.event_loop)
        try:
            self._consumer, self._offset = self._loop.call(self._open(resume), _CALL_TIMEOUT_S)
        except BaseException:
            self._loop.release()
            raise

    async def _open(self, resume: KafkaResume | None) -> tuple[AIOKafkaConsumer, int]:
        settings = self._source.settings
        consumer = await start_consumer(
            settings,
            f"source partition `{self._name}`",
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            max_poll_records=self._source.batch_size,
        )
        tp = self._tp
        try:
            consumer.assign([tp])
            start = start_position(settings)
            if resume is not None:
                consumer.seek(tp, resume.offset)
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
                self._skip_before_ms = start
                origin = f"time {settings.start}"
            offset: int = await consumer.position(tp)
        except KafkaError as exc:
            await consumer.stop()
            raise ConnectorError(f"cannot position Kafka partition `{self._name}`: {exc}") from exc
        except BaseException:
            await consumer.stop()
            raise
        log.info("reading %s from offset %d (%s)", self._name, offset, origin)
        return consumer, offset

    async def _fetch(self) -> tuple[list[Any], int, int | None]:
        consumer, tp = self._consumer, self._tp
        try:
            batch = await consumer.getmany(
                tp, timeout_ms=self._wait_ms, max_records=self._source.batch_size
            )
            position: int = await consumer.position(tp)
        except KafkaError as exc:
            raise ConnectorError(f"reading Kafka partition `{self._name}` failed: {exc}") from exc
        return batch.get(tp, []), position, consumer.highwater(tp)

    def next_batch(self) -> list[SourceBatch]:
        if self._is_done:
            raise StopIteration
        records, position, self._highwater = self._loop.call(self._fetch(), _CALL_TIMEOUT_S)
        if self._skip_before_ms is not None and records:
            records = self._skip_early(records)
        builder, name = self._builder, self._name
        spread, partition = self._source.spread, self._tp.partition
        for record in records:
            if record.value is None:
                builder.reject("message has no value (null)", b"", name, record.offset)
            else:
                builder.add(record.value, name, record.offset)
                spread.observe(record.value, partition, record.offset)
        self._offset = position
        self._log_lag()
        if records:
            self._awake = None
            failpoint("source.after_batch")
            return [self._take()]
        if self._source.settings.stop_at_end and self._is_caught_up():
            return self._finish()
        self._awake = datetime.now(UTC) + timedelta(seconds=_IDLE_S)
        if not self._source.settings.stop_at_end:
            builder.watermark.idle()
            if builder.watermark.current_ms != self._emitted_ms:
                return [self._take()]
        return []

    def _skip_early(self, records: list[Any]) -> list[Any]:
        """Drop records before the start time, up to the first one at or after it."""
        start_ms = self._skip_before_ms
        for index, record in enumerate(records):
            if start_ms is not None and record.timestamp >= start_ms:
                self._skip_before_ms = None
                return records[index:]
        return []

    def _is_caught_up(self) -> bool:
        # The fetch's high watermark, not ListOffsets: some brokers answer the latter
        # with the start of the last record batch rather than the end of the log.
        return self._highwater is not None and self._offset >= self._highwater

    def _take(self) -> SourceBatch:
        batch = self._builder.take()
        self._emitted_ms = batch.watermark_ms
        return batch

    def _finish(self) -> list[SourceBatch]:
        self._is_done = True
        watermark = self._builder.watermark
        watermark.finish()
        final = self._source.final_watermark_ms
        if final is not None and final > watermark.current_ms:
            watermark.max_ts_ms = final + watermark.lateness_ms
        log.info("%s caught up at offset %d: done", self._name, self._offset)
        return [self._take()]

    def _log_lag(self) -> None:
        now_s = time.monotonic()
        if now_s - self._lag_logged_s < self._source.settings.lag_log_interval_s:
            return
        self._lag_logged_s = now_s
        if self._highwater is not None:
            log.info(
                "kafka lag %s: %d (offset %d, end %d)",
                self._name, max(self._highwater - self._offset, 0), self._offset, self._highwater,
            )  # fmt: skip

    def next_awake(self) -> datetime | None:
        return self._awake

    def snapshot(self) -> KafkaResume:
        return KafkaResume(self._offset, self._builder.watermark)

    def close(self) -> None:
        try:
            self._loop.call(self._consumer.stop(), _CALL_TIMEOUT_S)
        finally:
            self._loop.release()
