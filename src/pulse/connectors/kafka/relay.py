"""Triggers to Kafka through an outbox relay: each trigger on the topic once, across crashes.

The Redis stream `pulse:triggers` is the outbox: the engine appends to it in the
same `MULTI`/`EXEC` as the contact states, so it holds every trigger exactly
once. The relay copies it to the output topic, in stream order:

1. read the entries after the cursor (`pulse:relay:<topic>`, the last entry delivered);
2. produce them keyed by contact, each with headers `pulse-stream` (the stream
   key) and `pulse-stream-id` (its entry id), and wait until Kafka acknowledged
   every one (`acks=all`, idempotent producer);
3. record the last entry id as the cursor.

A crash before 3 leaves the cursor behind what the topic holds. So before it
produces anything, a starting relay reads back the tail of every partition of
the topic, back to a record of its own at or before the cursor, and collects
the entry ids found after the cursor: those were delivered by the run that
crashed and are not produced again. A crash before 2 loses nothing either: the
entries are in the stream, after the cursor. Hence, with one relay per stream
and topic at a time (bytewax runs the single `relay` sink partition on one
worker) and a partition count that does not change across the restart, every
trigger reaches the topic exactly once; requests still inside the broker at
the moment of the crash are the only window left, and the consumer's dedupe by
`trigger_id` covers it. `tests/integration/test_kafka_crash.py` kills the
process (SIGKILL) between every pair of these steps and checks it.

Triggers re-sent after a crash can land after later triggers of the same
partition; within one run the topic keeps the stream's order per contact.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import msgspec
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition

from pulse.connectors.kafka.client import (
    ensure_topics,
    partition_for,
    start_consumer,
    start_producer,
)
from pulse.connectors.kafka.faults import failpoint
from pulse.connectors.kafka.loop import LoopRunner, acquire_loop
from pulse.connectors.kafka.settings import KafkaSettings
from pulse.errors import ConfigError, ConnectorError
from pulse.state import KeyLayout, RelayCursor, connect, layout_for_url

__all__ = ["STREAM_HEADER", "STREAM_ID_HEADER", "TriggerRelay", "TriggerRelaySink"]

log = logging.getLogger("pulse.kafka")

STREAM_HEADER = "pulse-stream"
STREAM_ID_HEADER = "pulse-stream-id"
_READ_BACK_CHUNK = 1000
"""Offsets read back per step when looking for what a crashed relay delivered."""
_READ_BACK_LIMIT = 1_000_000
"""Offsets read back per partition at most; past that the topic is not pulse's alone."""
_CALL_TIMEOUT_S = 300.0
_IDLE_S = 1.0
"""The relay looks at the stream at least this often, even when nothing wakes it."""


class _Routing(msgspec.Struct):
    contact_id: str


_ROUTING = msgspec.json.Decoder(_Routing)
StreamId = tuple[int, int]


def parse_stream_id(text: str) -> StreamId:
    """A Redis stream entry id as a comparable pair.

    >>> parse_stream_id("1700000000000-2") < parse_stream_id("1700000000000-10")
    True
    """
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class TriggerRelay:
    """Copies the trigger stream to a Kafka topic; call `relay` whenever triggers were committed."""

    def __init__(
        self,
        settings: KafkaSettings,
        client: redis.Redis,
        layout: KeyLayout,
        *,
        batch_size: int = 1000,
        group: int = 0,
    ) -> None:
        if not settings.output_topic:
            raise ConfigError("the trigger relay needs an output topic")
        self.topic = settings.output_topic
        self.settings = settings
        self.outbox = RelayCursor(client, layout, self.topic, group)
        """The relay's Redis reads and writes (the state seam)."""
        self.stream = layout.group_triggers(group)
        self.batch_size = batch_size
        self.relayed = 0
        self.skipped = 0
        """Entries found on the topic at start, after the cursor: delivered before a crash."""
        self._loop: LoopRunner = acquire_loop("thread")
        try:
            self.cursor = self.outbox.read()
            self._producer, self._partitions, self._delivered = self._loop.call(
                self._start(), _CALL_TIMEOUT_S
            )
        except BaseException:
            self._loop.release()
            raise
        log.info(
            "relay %s -> %s: cursor %s, %d triggers already on the topic will not be sent again",
            self.stream, self.topic, self.cursor, len(self._delivered),
        )  # fmt: skip

    async def _start(self) -> tuple[AIOKafkaProducer, int, set[str]]:
        producer = await start_producer(self.settings, f"trigger relay to `{self.topic}`")
        try:
            partitions = len(await producer.partitions_for(self.topic))
            delivered = await self._read_back(partitions)
        except KafkaError as exc:
            await producer.stop()
            raise ConnectorError(f"starting the relay to `{self.topic}` failed: {exc}") from exc
        except BaseException:
            await producer.stop()
            raise
        return producer, partitions, delivered

    async def _read_back(self, partitions: int) -> set[str]:
        """Entry ids after the cursor that the topic already holds."""
        consumer = await start_consumer(self.settings, f"read-back of `{self.topic}`")
        try:
            tps = [TopicPartition(self.topic, p) for p in range(partitions)]
            consumer.assign(tps)
            begins = await consumer.beginning_offsets(tps)
            ends = await consumer.end_offsets(tps)
            delivered: set[str] = set()
            for tp in tps:
                if ends[tp] > begins[tp]:  # an empty partition holds nothing to find
                    delivered |= await self._read_back_partition(consumer, tp, begins[tp], ends[tp])
            return delivered
        finally:
            await consumer.stop()

    async def _read_back_partition(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, begin: int, end: int
    ) -> set[str]:
        cursor = parse_stream_id(self.cursor)
        stream = self.stream.encode()
        found: set[str] = set()
        # `end` only starts the search: the first step reads on to the fetch's high
        # watermark, since some brokers report the start of the last batch as the end.
        hi: int | None = None
        lo = max(begin, end - _READ_BACK_CHUNK)
        while True:
            is_done = lo <= begin
            for headers in await _read_range(consumer, tp, lo, hi):
                if headers.get(STREAM_HEADER) != stream:
                    continue
                entry = headers.get(STREAM_ID_HEADER, b"0-0").decode()
                if parse_stream_id(entry) <= cursor:
                    is_done = True
                else:
                    found.add(entry)
            if is_done:
                return found
            if end - lo >= _READ_BACK_LIMIT:
                log.warning(
                    "relay read-back of %s stopped after %d records without finding the "
                    "cursor %s: triggers sent just before a crash may be sent again",
                    tp, end - lo, self.cursor,
                )  # fmt: skip
                return found
            hi, lo = lo, max(begin, lo - _READ_BACK_CHUNK)

    def relay(self) -> int:
        """Send every stream entry after the cursor, wait for Kafka, advance the cursor."""
        sent = 0
        while entries := self._read_entries():
            failpoint("relay.before_produce")
            records = []
            for entry_id, fields in entries:
                if entry_id in self._delivered:
                    self.skipped += 1
                    continue
                value = fields[b"json"]
                key = _ROUTING.decode(value).contact_id.encode()
                headers = [
                    (STREAM_HEADER, self.stream.encode()),
                    (STREAM_ID_HEADER, entry_id.encode()),
                ]
                records.append((key, value, partition_for(key, self._partitions), headers))
            self._loop.call(self._produce(records), _CALL_TIMEOUT_S)
            failpoint("relay.after_produce")
            self.cursor = entries[-1][0]
            self.outbox.save(self.cursor)
            sent += len(records)
        if self._delivered and parse_stream_id(self.cursor) >= max(
            map(parse_stream_id, self._delivered)
        ):
            self._delivered = set()
        self.relayed += sent
        return sent

    def _read_entries(self) -> list[tuple[str, dict[bytes, bytes]]]:
        return self.outbox.entries_after(self.cursor, self.batch_size)

    async def _produce(
        self, records: list[tuple[bytes, bytes, int, list[tuple[str, bytes]]]]
    ) -> None:
        producer = self._producer
        try:
            futures = [
                await producer.send(self.topic, value=v, key=k, partition=p, headers=h)
                for k, v, p, h in records
            ]
            await asyncio.gather(*futures)
        except KafkaError as exc:
            # The process must stop here: a later batch may have been written after a
            # failed one, which only the read-back of the next start sorts out.
            raise ConnectorError(f"sending triggers to `{self.topic}` failed: {exc}") from exc

    def close(self) -> None:
        """Relay what is left, then stop."""
        try:
            self.relay()
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop the producer and let go of the clients, relaying nothing more."""
        try:
            self._loop.call(self._producer.stop(), _CALL_TIMEOUT_S)
        finally:
            self._loop.release()
            self.outbox.close()


async def _read_range(
    consumer: AIOKafkaConsumer, tp: TopicPartition, lo: int, hi: int | None
) -> list[dict[str, bytes]]:
    """Headers of the records at offsets `lo` up to `hi` (or the end of the partition)."""
    consumer.seek(tp, lo)
    out: list[dict[str, bytes]] = []
    while True:
        batch = await consumer.getmany(tp, timeout_ms=200, max_records=_READ_BACK_CHUNK)
        for record in batch.get(tp, []):
            if hi is not None and record.offset >= hi:
                return out
            out.append(dict(record.headers))
        end = hi if hi is not None else consumer.highwater(tp)
        if end is not None and await consumer.position(tp) >= end:
            return out


class _RelayPartition(StatefulSinkPartition[Any, None]):
    """Runs the relay on its own thread, so the flow never waits for Kafka's acks.

    Each `write_batch` only wakes the thread; while it waits for one round's acks,
    the flow goes on and the next round takes everything committed meanwhile, so
    rounds grow with the load. A failure is logged at once and raised by the next
    `write_batch` or `close`: the process stops, and the next start sends what was
    left (the outbox keeps it).
    """

    def __init__(self, relay: TriggerRelay) -> None:
        self._relay = relay
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pulse-relay", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                is_last = self._stopping.is_set()
                # The first round also sends what a crashed run committed but never sent.
                self._relay.relay()
                if is_last:
                    return
                self._wake.wait(_IDLE_S)
                self._wake.clear()
        except BaseException as exc:  # handed to the flow's thread, not dropped
            log.error("trigger relay to %s failed: %s", self._relay.topic, exc)
            self._error = exc

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise ConnectorError(f"the trigger relay failed: {self._error}") from self._error

    def write_batch(self, values: list[Any]) -> None:
        self._raise_if_failed()
        self._wake.set()

    def snapshot(self) -> None:
        return None

    def close(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join()
        try:
            self._raise_if_failed()
        finally:
            self._relay.stop()


class TriggerRelaySink(FixedPartitionedSink[Any, None]):
    """Bytewax sink around `TriggerRelay`: one partition, fed `(key, trigger_id)` items.

    The items only wake the relay: it reads what to send from the Redis stream,
    which already holds them (the engine commits before it emits).
    """

    def __init__(self, settings: KafkaSettings, redis_url: str, prefix: str) -> None:
        if not settings.output_topic:
            raise ConfigError("the trigger relay needs an output topic")
        self.settings = settings
        self.redis_url = redis_url
        self.prefix = prefix
        self.layout = layout_for_url(redis_url, prefix)
        runner = acquire_loop("thread")
        try:
            runner.call(ensure_topics(settings, [settings.output_topic], like=settings.topic))
        finally:
            runner.release()

    def list_parts(self) -> list[str]:
        """One partition per trigger stream: a single relay keeps a stream's order
        (one stream, or one per key group on a Redis Cluster)."""
        # Zero-padded: bytewax routes by index into the sorted part names.
        return [f"relay-{g:02d}" for g in range(len(self.layout.trigger_streams))]

    def part_fn(self, item_key: str) -> int:
        """Wake the relay of the stream that holds the contact's triggers."""
        return self.layout.group(item_key)

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _RelayPartition:
        """Start the relay: read back the topic's tail, then send the backlog."""
        group = int(for_part.rpartition("-")[2])
        relay = TriggerRelay(self.settings, connect(self.redis_url), self.layout, group=group)
        return _RelayPartition(relay)
