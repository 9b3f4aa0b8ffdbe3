"""Write events to a Kafka topic, keyed by contact, as fast as possible or at a rate.

Keying by contact (`contact_id`, else `anon:<anonymous_id>`, the engine's own key)
keeps each contact's events in order in one partition, which is what lets the
flow run partitions in parallel and still see every contact's journey in order.
A line that is not an event is sent without a key: the flow dead-letters it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator
from itertools import islice

import msgspec
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from pulse.connectors.kafka.client import create_topics, start_producer, topic_partitions
from pulse.connectors.kafka.loop import acquire_loop
from pulse.connectors.kafka.settings import KafkaSettings
from pulse.errors import ConnectorError

__all__ = ["contact_key", "produce_lines"]

log = logging.getLogger("pulse.kafka")

_CHUNK = 5000
"""Records in flight at most: sent, then awaited together."""


class _Who(msgspec.Struct):
    contact_id: str | int | None = None
    anonymous_id: str | int | None = None


_WHO = msgspec.json.Decoder(_Who)


def contact_key(line: bytes) -> bytes | None:
    """The partitioning key of an event line: its contact, as the engine keys it.

    >>> contact_key(b'{"contact_id": "c1", "anonymous_id": "a"}')
    b'c1'
    >>> contact_key(b'{"anonymous_id": 7}')
    b'anon:7'
    >>> contact_key(b"not json") is None
    True
    """
    try:
        who = _WHO.decode(line)
    except msgspec.DecodeError:
        return None
    if who.contact_id is not None and who.contact_id != "":
        return str(who.contact_id).encode()
    if who.anonymous_id is not None:
        return b"anon:" + str(who.anonymous_id).encode()
    return None


def produce_lines(
    settings: KafkaSettings,
    lines: Iterable[bytes],
    *,
    rate: float | None = None,
    partitions: int = 4,
) -> int:
    """Send every line to `settings.topic` (made with `partitions` if missing); returns the count.

    Each chunk of records is acknowledged by Kafka before the next is sent. With
    `rate` (events per second) the sending is paced to it; otherwise it is as
    fast as the broker takes it.
    """
    runner = acquire_loop("thread")
    try:
        return runner.call(_produce(settings, iter(lines), rate, partitions))
    finally:
        runner.release()


async def _produce(
    settings: KafkaSettings, lines: Iterator[bytes], rate: float | None, partitions: int
) -> int:
    topic = settings.topic
    if topic not in await topic_partitions(settings, [topic]):
        await create_topics(settings, {topic: partitions})
    producer = await start_producer(settings, f"producer to `{topic}`")
    started = time.monotonic()
    sent = 0
    chunk_size = _CHUNK if rate is None else max(1, min(_CHUNK, int(rate / 20)))
    try:
        while chunk := list(islice(lines, chunk_size)):
            sent += await _send_chunk(producer, topic, chunk)
            if rate is not None:
                ahead_s = sent / rate - (time.monotonic() - started)
                if ahead_s > 0:
                    await asyncio.sleep(ahead_s)
    except KafkaError as exc:
        raise ConnectorError(f"sending to `{topic}` failed after {sent} events: {exc}") from exc
    finally:
        await producer.stop()
    return sent


async def _send_chunk(producer: AIOKafkaProducer, topic: str, chunk: list[bytes]) -> int:
    futures = [
        await producer.send(topic, value=line, key=contact_key(line))
        for line in chunk
        if line.strip()
    ]
    await asyncio.gather(*futures)
    return len(futures)
