"""Helpers for the Kafka tests: unique topics, raw sends, reading a topic to its end.

Everything talks to the real broker of the `kafka_bootstrap` fixture with plain
aiokafka clients, so the tests check what is really on the topics.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from pulse.rules import default_rules_path
from pulse.triggers import Trigger

READ_DEADLINE_S = 60.0
"""How long reading a topic to its end may take before the test fails."""


def unique(name: str) -> str:
    """A topic name no other test uses."""
    return f"{name}-{uuid.uuid4().hex[:10]}"


def rules_without_model() -> str:
    """The shipped rules with the online model off.

    For several *processes* only: one process merges its partitions in event time
    (`pulse.watermark.MergedWatermark`), so its model learns the same whatever the
    partitioning; across processes the trainer takes the others' labels as they
    arrive, so there comparisons are only meaningful on the rule points.
    """
    return default_rules_path().read_text() + "\nmodel:\n  enabled: false\n"


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """Create a topic with `partitions` partitions that takes records up to 4 MiB."""

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            # Room for the oversized-event test on brokers whose default limit is 1 MB.
            configs = {"max.message.bytes": str(4 << 20)}
            response = await admin.create_topics([NewTopic(topic, partitions, 1, None, configs)])
            assert all(code == 0 for _, code, _ in response.topic_errors), response
        finally:
            await admin.close()

    asyncio.run(create())


def send_raw(
    bootstrap: str, topic: str, values: list[bytes | None], *, partition: int = 0
) -> list[int]:
    """Send values one by one to one partition; returns their offsets.

    One record per request: each lands in its own record batch, so offsets and the
    broker's idea of the partition's end agree on every Kafka-protocol broker.
    """

    async def send() -> list[int]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 << 20)
        await producer.start()
        try:
            offsets = []
            for value in values:
                meta = await producer.send_and_wait(
                    topic, value=value, key=b"k", partition=partition
                )
                offsets.append(meta.offset)
            return offsets
        finally:
            await producer.stop()

    return asyncio.run(send())


class Record(msgspec.Struct, frozen=True):
    """One record read back from a topic."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]


def read_topic(bootstrap: str, topic: str) -> list[Record]:
    """Every record of every partition of `topic`, up to its end now."""

    async def read() -> list[Record]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            await consumer.topics()  # fetches the metadata partitions_for_topic reads
            partitions = sorted(consumer.partitions_for_topic(topic) or ())
            assert partitions, f"topic {topic} does not exist"
            tps = [TopicPartition(topic, p) for p in partitions]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            out: list[Record] = []
            pending = set(tps)
            deadline = time.monotonic() + READ_DEADLINE_S
            while pending:
                assert time.monotonic() < deadline, f"reading {topic} did not reach its end"
                batch = await consumer.getmany(*pending, timeout_ms=200)
                for tp, records in batch.items():
                    out += [
                        Record(tp.partition, r.offset, r.key, r.value, dict(r.headers))
                        for r in records
                    ]
                for tp in list(pending):
                    end = consumer.highwater(tp)
                    if end is not None and await consumer.position(tp) >= end:
                        pending.discard(tp)
            return out
        finally:
            await consumer.stop()

    return asyncio.run(read())


_TRIGGER = msgspec.json.Decoder(Trigger)


def triggers_on(bootstrap: str, topic: str) -> list[Trigger]:
    """The triggers on an output topic, in the order of each partition."""
    return [_TRIGGER.decode(r.value) for r in read_topic(bootstrap, topic) if r.value is not None]
