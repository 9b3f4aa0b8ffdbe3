"""aiokafka clients as pulse uses them: started with backoff, errors translated once.

Every coroutine here runs on the loop of `pulse.connectors.kafka.loop`. aiokafka
errors never leave this package: they become `ConnectorError` (retriable), and a
broker that cannot be reached within `connect_timeout_s` is one clear message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    AuthenticationFailedError,
    IllegalSaslStateError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.partitioner import murmur2
from aiokafka.producer.sender import InitPIDHandler, Sender
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.transaction import InitProducerIdRequest_v0
from aiokafka.protocol.types import CompactString, Int16, Int32, Int64, Schema, TaggedFields

from pulse.connectors.kafka.settings import PASSWORD_ENV, KafkaSettings, client_options
from pulse.errors import ConnectorError

__all__ = [
    "create_topics",
    "ensure_topics",
    "partition_for",
    "start_consumer",
    "start_producer",
    "topic_partitions",
]

log = logging.getLogger("pulse.kafka")

C = TypeVar("C", AIOKafkaConsumer, AIOKafkaProducer, AIOKafkaAdminClient)

_BACKOFF_FIRST_S = 0.1
_BACKOFF_MAX_S = 2.0

_LOGIN_REFUSED = (
    AuthenticationFailedError,
    IllegalSaslStateError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
"""Broker answers that retrying with the same credentials cannot change."""


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for `key` (murmur2, as in Java).

    >>> partition_for(b"c42", 4) == partition_for(b"c42", 4)
    True
    """
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions


async def _start(
    settings: KafkaSettings, what: str, build: Callable[[], C], start: Callable[[C], Awaitable[Any]]
) -> C:
    """Start a client, retrying with exponential backoff until `connect_timeout_s` runs out."""
    deadline = time.monotonic() + settings.connect_timeout_s
    delay_s, tries = _BACKOFF_FIRST_S, 0
    while True:
        tries += 1
        client = build()
        remaining = deadline - time.monotonic()
        try:
            await asyncio.wait_for(start(client), timeout=max(remaining, 0.1))
            return client
        except _LOGIN_REFUSED as exc:
            await _stop(client)
            raise _login_error(settings, what, exc) from exc
        except (KeyError, ValueError) as exc:
            # aiokafka's SCRAM client fails this way on the broker's rejection
            # (`e=invalid-credentials` has no signature `v`: KeyError 'v').
            await _stop(client)
            if settings.sasl_mechanism is None:
                raise
            raise _login_error(settings, what, exc) from exc
        except (KafkaError, OSError, TimeoutError) as exc:
            await _stop(client)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ConnectorError(
                    f"cannot reach Kafka at `{settings.bootstrap}` for the {what} after "
                    f"{tries} tries in {settings.connect_timeout_s:g}s: {exc or type(exc).__name__}"
                ) from exc
            log.warning(
                "Kafka at %s not reachable for the %s (%s); retrying in %.1fs",
                settings.bootstrap, what, exc or type(exc).__name__, delay_s,
            )  # fmt: skip
            await asyncio.sleep(min(delay_s, remaining))
            delay_s = min(delay_s * 2, _BACKOFF_MAX_S)


def _login_error(settings: KafkaSettings, what: str, exc: BaseException) -> ConnectorError:
    """The one-line error for a SASL login the broker refused."""
    detail = exc if isinstance(exc, KafkaError) else "the broker rejected the credentials"
    return ConnectorError(
        f"Kafka at `{settings.bootstrap}` refused the {settings.sasl_mechanism} login of user "
        f"`{settings.sasl_username}` for the {what}: {detail}; check `--sasl-username` and "
        f"`{PASSWORD_ENV}`"
    )


async def _stop(client: AIOKafkaConsumer | AIOKafkaProducer | AIOKafkaAdminClient) -> None:
    """Stop a client that may not have started; it must never warn as unclosed."""
    try:
        if isinstance(client, AIOKafkaAdminClient):
            await client.close()
        else:
            await client.stop()
    except (KafkaError, OSError) as exc:
        log.debug("closing a Kafka client failed: %s", exc)


async def start_consumer(settings: KafkaSettings, what: str, **options: Any) -> AIOKafkaConsumer:
    """A started consumer with no group and no auto-commit: bytewax snapshots hold offsets."""

    def build() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            **client_options(settings), group_id=None, enable_auto_commit=False, **options
        )

    return await _start(settings, what, build, lambda c: c.start())


async def start_producer(settings: KafkaSettings, what: str, **options: Any) -> AIOKafkaProducer:
    """A started producer: every record acknowledged by all in-sync replicas, idempotent."""

    def build() -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            **client_options(settings),
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            **options,
        )
        _speak_init_producer_id_v3(producer)
        return producer

    return await _start(settings, what, build, lambda p: p.start())


async def topic_partitions(settings: KafkaSettings, topics: Iterable[str]) -> dict[str, int]:
    """Partition count of each topic that exists (missing topics are left out)."""
    admin = await _start(settings, "metadata", lambda: _admin(settings), lambda a: a.start())
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in dict.fromkeys(topics) if t in existing]
        described = await admin.describe_topics(wanted) if wanted else []
    except KafkaError as exc:
        raise ConnectorError(
            f"Kafka metadata request to `{settings.bootstrap}` failed: {exc}"
        ) from exc
    finally:
        await _stop(admin)
    return {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0}


async def create_topics(settings: KafkaSettings, topics: dict[str, int]) -> None:
    """Create topics (name -> partitions) that do not exist yet; existing ones are left alone."""
    if not topics:
        return
    admin = await _start(settings, "topic creation", lambda: _admin(settings), lambda a: a.start())
    try:
        brokers = len((await admin.describe_cluster())["brokers"])
        replicas = min(3, max(brokers, 1))
        response = await admin.create_topics(
            [NewTopic(name, partitions, replicas) for name, partitions in topics.items()]
        )
    except KafkaError as exc:
        raise ConnectorError(f"creating Kafka topics {sorted(topics)} failed: {exc}") from exc
    finally:
        await _stop(admin)
    for name, code, message in response.topic_errors:
        if code not in (0, 36):  # 36: TOPIC_ALREADY_EXISTS, another process won the race
            raise ConnectorError(f"creating Kafka topic `{name}` failed: {message} (code {code})")
        if code == 0:
            log.info("created Kafka topic %s with %d partitions", name, topics[name])


async def ensure_topics(settings: KafkaSettings, topics: list[str], like: str) -> None:
    """Create those of `topics` that are missing, with as many partitions as `like`."""
    counts = await topic_partitions(settings, [*topics, like])
    missing = [t for t in topics if t not in counts]
    await create_topics(settings, {t: counts.get(like, 1) for t in missing})


def _admin(settings: KafkaSettings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**client_options(settings))


# aiokafka 0.14 asks for a producer id with InitProducerId v0, which has no producer id
# and epoch fields; some Kafka-protocol brokers (Tansu, the test broker) only accept v3+
# (KIP-360), where a new idempotent producer sends -1/-1. Apache Kafka accepts both since
# 2.5, so the newest version both sides know is sent, and v0 stays the fallback.


class _InitProducerIdResponseV3(Response):  # type: ignore[misc]  # aiokafka is untyped
    API_KEY = 22
    API_VERSION = 3
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("producer_id", Int64),
        ("producer_epoch", Int16),
        ("tags", TaggedFields),
    )


class _InitProducerIdRequestV3(RequestStruct):  # type: ignore[misc]  # aiokafka is untyped
    API_KEY = 22
    API_VERSION = 3
    FLEXIBLE_VERSION = True
    RESPONSE_TYPE = _InitProducerIdResponseV3
    SCHEMA = Schema(
        ("transactional_id", CompactString("utf-8")),
        ("transaction_timeout_ms", Int32),
        ("producer_id", Int64),
        ("producer_epoch", Int16),
        ("tags", TaggedFields),
    )


class _InitProducerIdRequest(Request[InitProducerIdRequest_v0 | _InitProducerIdRequestV3]):  # type: ignore[misc]  # aiokafka is untyped
    API_KEY = 22

    def __init__(self, transactional_id: str | None, transaction_timeout_ms: int) -> None:
        self._transactional_id = transactional_id
        self._transaction_timeout_ms = transaction_timeout_ms

    def build(self, request_struct_class: type[Any]) -> Any:
        if request_struct_class.API_VERSION >= 3:
            return request_struct_class(
                self._transactional_id, self._transaction_timeout_ms, -1, -1, {}
            )
        return request_struct_class(self._transactional_id, self._transaction_timeout_ms)


class _InitPIDHandler(InitPIDHandler):  # type: ignore[misc]  # aiokafka is untyped
    def create_request(self) -> _InitProducerIdRequest:
        txn_manager = self._sender._txn_manager
        return _InitProducerIdRequest(
            txn_manager.transactional_id, txn_manager.transaction_timeout_ms
        )


class _Sender(Sender):  # type: ignore[misc]  # aiokafka is untyped
    async def _do_init_pid(self, node_id: int) -> bool:
        result: bool = await _InitPIDHandler(self).do(node_id)
        return result


def _speak_init_producer_id_v3(producer: AIOKafkaProducer) -> None:
    if type(producer._sender) is Sender:
        producer._sender.__class__ = _Sender
