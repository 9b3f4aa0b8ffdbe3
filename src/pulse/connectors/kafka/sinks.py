"""Dead letters to a Kafka topic, keyed by the source partition they came from.

Each worker has its own producer (`acks=all`, idempotent); a batch counts as
written once Kafka has acknowledged every record in it. Dead letters are at
least once: after a crash the replayed part of the input is rejected again,
and replayed events the engine has already applied come back as `stale`.
"""

from __future__ import annotations

import asyncio

import msgspec
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from pulse.connectors.kafka.client import ensure_topics, start_producer
from pulse.connectors.kafka.loop import acquire_loop
from pulse.connectors.kafka.settings import KafkaSettings
from pulse.errors import ConfigError, ConnectorError
from pulse.events import Rejected
from pulse.triggers import Trigger

__all__ = ["DeadLetterSink"]

_ENCODER = msgspec.json.Encoder()
_CALL_TIMEOUT_S = 300.0


class _DeadLetterPartition(StatelessSinkPartition[Trigger | Rejected]):
    def __init__(self, settings: KafkaSettings, topic: str) -> None:
        self._topic = topic
        self._loop = acquire_loop("thread")
        try:
            self._producer: AIOKafkaProducer = self._loop.call(
                start_producer(settings, f"dead letters to `{topic}`"), _CALL_TIMEOUT_S
            )
        except BaseException:
            self._loop.release()
            raise

    def write_batch(self, items: list[Trigger | Rejected]) -> None:
        records = [
            (item.source.encode(), _ENCODER.encode(item))
            for item in items
            if isinstance(item, Rejected)
        ]
        if records:
            self._loop.call(self._send(records), _CALL_TIMEOUT_S)

    async def _send(self, records: list[tuple[bytes, bytes]]) -> None:
        try:
            futures = [
                await self._producer.send(self._topic, value=value, key=key)
                for key, value in records
            ]
            await asyncio.gather(*futures)
        except KafkaError as exc:
            raise ConnectorError(f"sending dead letters to `{self._topic}` failed: {exc}") from exc

    def close(self) -> None:
        try:
            self._loop.call(self._producer.stop(), _CALL_TIMEOUT_S)
        finally:
            self._loop.release()


class DeadLetterSink(DynamicSink[Trigger | Rejected]):
    """Writes `Rejected` items to a Kafka topic as JSON, keyed by `source` (`topic:N`)."""

    def __init__(self, settings: KafkaSettings) -> None:
        if not settings.dead_letter_topic:
            raise ConfigError("the dead-letter sink needs a dead-letter topic")
        self.settings = settings
        self.topic = settings.dead_letter_topic
        runner = acquire_loop("thread")
        try:
            runner.call(ensure_topics(settings, [self.topic], like=settings.topic))
        finally:
            runner.release()

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _DeadLetterPartition:
        """One producer per worker."""
        return _DeadLetterPartition(self.settings, self.topic)
