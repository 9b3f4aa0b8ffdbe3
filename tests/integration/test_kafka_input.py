"""Kafka input through a real broker: hostile records and contacts spread over partitions.

Every hostile line of `tests/hostile.py`, sent as a Kafka record, becomes a dead
letter with its reason and the flow carries on (no crash loop); a topic whose
contacts are spread over partitions (an unkeyed producer) is detected and
reported, and a topic keyed by contact is not.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import orjson
import pytest
import redis
from bytewax.testing import run_main
from kafka_tools import create_topic, rules_without_model, send_raw, unique

from hostile import HOSTILE
from pulse.batch import SourceBatch
from pulse.config import RunConfig
from pulse.connectors.kafka import KafkaSettings, KafkaSource
from pulse.events import EventDecoder
from pulse.flow import build_flow
from pulse.rules import parse_rules
from pulse.state import ContactStore, KeyLayout

pytestmark = pytest.mark.integration

T0 = 1_767_607_200_000  # 2026-01-05T10:00:00Z


def good(n: int, contact: str) -> bytes:
    body = {"event_id": f"e{n}", "type": "page_view", "ts": T0 + n * 1000, "contact_id": contact}
    return orjson.dumps(body)


def test_every_hostile_record_is_a_dead_letter_and_the_flow_goes_on(
    kafka_bootstrap: str, redis_url: str, redis_client: redis.Redis, prefix: str, tmp_path: Path
) -> None:
    topic = unique("hostile")
    create_topic(kafka_bootstrap, topic, 1)
    values: list[bytes | None] = []
    for n, line in enumerate(HOSTILE):
        values += [line.raw, good(n, f"g{n}")]
    offsets = send_raw(kafka_bootstrap, topic, values)

    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(rules_without_model())
    dead = tmp_path / "dead.jsonl"
    config = RunConfig(
        rules_path=str(rules_path),
        redis_url=redis_url,
        prefix=prefix,
        show_console=False,
        dead_letters_path=str(dead),
        kafka=KafkaSettings(bootstrap=kafka_bootstrap, topic=topic, stop_at_end=True),
    )
    flow, _ = build_flow(config, parse_rules(rules_path.read_text(), str(rules_path)))
    run_main(flow)  # returns: no record stops the flow

    letters = {x["offset"]: x for x in map(orjson.loads, dead.read_bytes().splitlines())}
    assert sorted(letters) == offsets[0::2]
    for line, offset in zip(HOSTILE, offsets[0::2], strict=True):
        assert letters[offset]["source"] == f"{topic}:0"
        assert line.reason.lower() in letters[offset]["reason"].lower(), line.category
    stats, _ = ContactStore(redis_client, KeyLayout(prefix)).counts()
    assert stats["events"] == len(HOSTILE)
    assert stats["rejected"] == len(HOSTILE)


def read(src: KafkaSource) -> list[SourceBatch]:
    """Read every partition of `src` to its end, as bytewax would."""
    parts = [src.build_part("read_events", name, None) for name in src.list_parts()]
    batches: list[SourceBatch] = []
    reading = list(parts)
    deadline = time.monotonic() + 30.0
    try:
        while reading:
            assert time.monotonic() < deadline, "the partitions did not reach their end"
            for part in list(reading):
                try:
                    batches += part.next_batch()
                except StopIteration:
                    reading.remove(part)
    finally:
        for part in parts:
            part.close()
    return batches


@pytest.mark.parametrize("is_keyed", [False, True])
def test_contacts_spread_over_partitions_are_counted_and_reported(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture, is_keyed: bool
) -> None:
    topic = unique("spread")
    create_topic(kafka_bootstrap, topic, 2)
    contacts = [f"c{n}" for n in range(20)]
    by_partition: dict[int, list[bytes | None]] = {0: [], 1: []}
    for n in range(400):
        contact = contacts[n % len(contacts)]
        # Keyed: a contact always goes to one partition; unkeyed: round robin.
        partition = int(contact[1:]) % 2 if is_keyed else (n // len(contacts)) % 2
        by_partition[partition].append(good(n, contact))
    for partition, values in by_partition.items():
        send_raw(kafka_bootstrap, topic, values, partition=partition)

    settings = KafkaSettings(bootstrap=kafka_bootstrap, topic=topic, stop_at_end=True)
    src = KafkaSource(settings, EventDecoder(), 60_000, batch_size=100)
    log = logging.getLogger("pulse.kafka")
    log.addHandler(caplog.handler)  # `pulse run` stops this logger from propagating
    try:
        with caplog.at_level(logging.WARNING, logger="pulse.kafka"):
            batches = read(src)
    finally:
        log.removeHandler(caplog.handler)
    assert sum(len(b.events) for b in batches) == 400
    # A set: the record may reach the capture both directly and through the root logger.
    warnings = {r.getMessage() for r in caplog.records if "key" in r.getMessage()}
    if is_keyed:
        assert src.spread.contacts == 0
        assert warnings == set()
    else:
        assert src.spread.contacts > 0
        (warning,) = warnings
        assert f"Kafka topic `{topic}`" in warning
        assert "Key each record by its `contact_id`" in warning
