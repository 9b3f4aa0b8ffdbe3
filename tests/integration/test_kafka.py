"""Kafka in and out through the real flow and a real broker.

A 4-partition topic gives the same triggers as replaying the same events from a
file, in one process or in a cluster of two; bad messages become dead letters
that say where they came from; a source partition resumes right after its
snapshot; an unreachable broker is one clear error.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import msgspec
import orjson
import pytest
import redis
from bytewax.testing import run_main
from kafka_tools import (
    create_topic,
    read_topic,
    rules_without_model,
    send_raw,
    triggers_on,
    unique,
)
from replay_tools import comparable

from pulse.batch import SourceBatch
from pulse.cli import main
from pulse.config import RunConfig
from pulse.connectors.generator import GeneratorConfig, write_jsonl
from pulse.connectors.kafka import KafkaResume, KafkaSettings, KafkaSource, TriggerRelay
from pulse.connectors.kafka.client import partition_for
from pulse.connectors.kafka.produce import contact_key
from pulse.events import EventDecoder, parse_ts
from pulse.flow import build_flow
from pulse.redis_server import free_port
from pulse.rules import default_rules_path, parse_rules
from pulse.state import ContactStore, KeyLayout, connect
from pulse.triggers import Trigger, encode_trigger, iso_ms

pytestmark = pytest.mark.integration

Replay = Callable[..., list[Trigger]]

CONFIG = GeneratorConfig(contacts=300, events=6000, span_days=120, seed=3)
UNTIL = "2026-09-01T00:00:00Z"
"""Past the generated span (2026-01-01 + 120 days): every timer is due by then."""
PARTITIONS = 4
TRIGGER = msgspec.json.Decoder(Trigger)
CLUSTER_DEADLINE_S = 120.0
"""How long the two cluster processes may take to finish (start-up included)."""


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kafka") / "events.jsonl"
    write_jsonl(CONFIG, path)
    return path


@pytest.fixture(scope="module")
def input_topic(kafka_bootstrap: str, events_file: Path) -> str:
    """The generated events on a 4-partition topic, written with `pulse produce`."""
    topic = unique("events")
    status = main(
        ["produce", "--kafka", kafka_bootstrap, "--topic", topic, "-i", str(events_file),
         "--partitions", str(PARTITIONS)]
    )  # fmt: skip
    assert status == 0
    return topic


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    """The shipped pack, model on: a process merges its partitions in event time, so
    what the model learns does not depend on the partitions or their interleaving."""
    path = tmp_path / "rules.yaml"
    path.write_text(default_rules_path().read_text())
    return path


@pytest.fixture
def rules_path_model_off(tmp_path: Path) -> Path:
    path = tmp_path / "rules-model-off.yaml"
    path.write_text(rules_without_model())
    return path


def run_kafka(
    settings: KafkaSettings,
    redis_url: str,
    prefix: str,
    rules_path: Path,
    tmp_path: Path,
    *,
    until: str | None = UNTIL,
    batch_size: int = 1000,
) -> None:
    """The real flow over Kafka in this process, until every partition is caught up."""
    config = RunConfig(
        rules_path=str(rules_path),
        redis_url=redis_url,
        prefix=prefix,
        batch_size=batch_size,
        until_ms=parse_ts(until) if until else None,
        show_console=False,
        dead_letters_path=str(tmp_path / f"dead-{prefix}.jsonl"),
        kafka=settings,
    )
    flow, _ = build_flow(config, parse_rules(rules_path.read_text(), str(rules_path)))
    run_main(flow)


def test_pulse_produce_keys_every_event_by_its_contact(
    kafka_bootstrap: str, input_topic: str
) -> None:
    records = read_topic(kafka_bootstrap, input_topic)
    assert len(records) == CONFIG.events
    partitions_of: dict[bytes, set[int]] = defaultdict(set)
    for record in records:
        assert record.value is not None
        assert record.key == contact_key(record.value)
        assert record.key is not None
        partitions_of[record.key].add(record.partition)
    assert all(len(p) == 1 for p in partitions_of.values())
    assert {r.partition for r in records} == set(range(PARTITIONS))


def test_pulse_produce_at_a_rate_sends_every_generated_event(kafka_bootstrap: str) -> None:
    topic = unique("paced")
    args = ["produce", "--kafka", kafka_bootstrap, "--topic", topic, "--events", "300",
            "--contacts", "30", "--rate", "2000", "--partitions", "2"]  # fmt: skip
    assert main(args) == 0
    records = read_topic(kafka_bootstrap, topic)
    assert len(records) == 300
    assert {r.partition for r in records} == {0, 1}


@pytest.mark.parametrize("redis_fixture", ["redis_url", "redis_cluster_url"])
def test_four_partition_topic_gives_the_same_triggers_as_file_replay(
    kafka_bootstrap: str,
    input_topic: str,
    events_file: Path,
    replay: Replay,
    redis_fixture: str,
    request: pytest.FixtureRequest,
    prefix: str,
    rules_path: Path,
    tmp_path: Path,
) -> None:
    # On one Redis server, and on a Redis Cluster (the relay then reads the 16 key
    # groups' trigger streams, one relay partition each).
    state_url: str = request.getfixturevalue(redis_fixture)
    output = unique("triggers")
    settings = KafkaSettings(
        bootstrap=kafka_bootstrap, topic=input_topic, output_topic=output, stop_at_end=True
    )
    run_kafka(settings, state_url, prefix + "-kafka", rules_path, tmp_path)
    from_file = replay(
        events_file, rules=rules_path.read_text(), until=UNTIL, key_prefix=prefix + "-file"
    )

    records = read_topic(kafka_bootstrap, output)
    from_kafka = [TRIGGER.decode(r.value or b"") for r in records]
    assert len({t.trigger_id for t in from_kafka}) == len(from_kafka), "a trigger came twice"
    assert comparable(from_kafka) == comparable(from_file)
    assert len(Counter(t.kind for t in from_kafka)) >= 6
    # Keyed by contact, on the partition Kafka's default partitioner gives that key.
    for record, trigger in zip(records, from_kafka, strict=True):
        assert record.key == trigger.contact_id.encode()
        assert record.partition == partition_for(record.key, PARTITIONS)


def test_cluster_of_two_processes_gives_the_same_triggers_as_one(
    kafka_bootstrap: str,
    input_topic: str,
    events_file: Path,
    replay: Replay,
    redis_url: str,
    prefix: str,
    rules_path_model_off: Path,
    tmp_path: Path,
) -> None:
    output = unique("triggers")
    addresses = f"127.0.0.1:{free_port()};127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "PULSE_RULES": str(rules_path_model_off),
        "PULSE_REDIS_URL": redis_url,
        "PULSE_PREFIX": prefix + "-cluster",
        "PULSE_UNTIL": UNTIL,
        "PULSE_DEAD_LETTERS": str(tmp_path / "dead.jsonl"),
        "PULSE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "PULSE_KAFKA_TOPIC": input_topic,
        "PULSE_KAFKA_OUTPUT_TOPIC": output,
        "PULSE_KAFKA_STOP_AT_END": "1",
        # Two groups of two partitions: one per process.
        "PULSE_KAFKA_PARTITION_GROUPS": "2",
    }
    logs = [tmp_path / f"process-{i}.log" for i in range(2)]
    processes = []
    for index, log_path in enumerate(logs):
        with log_path.open("wb") as log:
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "bytewax.run",
                        "dataflows.clickstream:build_flow_from_env()",
                        "-i",
                        str(index),
                        "-a",
                        addresses,
                    ],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    deadline = time.monotonic() + CLUSTER_DEADLINE_S
    try:
        for process, log_path in zip(processes, logs, strict=True):
            status = process.wait(timeout=max(deadline - time.monotonic(), 1))
            assert status == 0, log_path.read_text()[-4000:]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    from_file = replay(
        events_file,
        rules=rules_path_model_off.read_text(),
        until=UNTIL,
        key_prefix=prefix + "-file",
    )
    from_cluster = triggers_on(kafka_bootstrap, output)
    assert len({t.trigger_id for t in from_cluster}) == len(from_cluster)
    assert comparable(from_cluster) == comparable(from_file)
    # Both processes read: each owns some of the four partitions.
    owned = [log.read_text().count(f"reading {input_topic}:") for log in logs]
    assert sum(owned) == PARTITIONS and all(owned), owned


def test_bad_messages_go_to_the_dead_letter_topic_with_partition_and_offset(
    kafka_bootstrap: str,
    redis_url: str,
    redis_client: redis.Redis,
    prefix: str,
    rules_path: Path,
    tmp_path: Path,
) -> None:
    source, dead = unique("bad"), unique("dead")
    create_topic(kafka_bootstrap, source, 1)
    good = {"type": "page_view", "ts": "2026-01-05T10:00:00Z", "contact_id": "c1"}
    oversized = orjson.dumps({**good, "props": {"blob": "x" * (1_100_000)}})
    values = [
        orjson.dumps({**good, "event_id": "good-1"}),
        b"not json at all",
        orjson.dumps({"type": "page_view", "contact_id": "c1"}),
        None,
        oversized,
        orjson.dumps({**good, "event_id": "good-2"}),
    ]
    offsets = send_raw(kafka_bootstrap, source, values)
    settings = KafkaSettings(
        bootstrap=kafka_bootstrap, topic=source, dead_letter_topic=dead, stop_at_end=True
    )
    run_kafka(settings, redis_url, prefix, rules_path, tmp_path, until=None)

    letters = read_topic(kafka_bootstrap, dead)
    rejected = sorted(
        (orjson.loads(r.value or b"null") for r in letters), key=lambda d: d["offset"]
    )
    assert [d["offset"] for d in rejected] == offsets[1:5]
    assert {d["source"] for d in rejected} == {f"{source}:0"}
    assert {r.key for r in letters} == {f"{source}:0".encode()}
    reasons = [d["reason"] for d in rejected]
    assert "malformed" in reasons[0].lower()
    assert "`ts`" in reasons[1]
    assert reasons[2] == "message has no value (null)"
    assert reasons[3] == f"event is {len(oversized)} bytes, over the 1048576 byte limit"
    assert "truncated" in rejected[3]["raw"]
    stats, _ = ContactStore(redis_client, KeyLayout(prefix)).counts()
    assert stats["events"] == 2
    assert stats["rejected"] == 4


def test_unreachable_broker_fails_run_and_produce_with_one_clear_message(
    redis_url: str, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    run = ["run", "--kafka", nowhere, "--topic", "events", "--connect-timeout", "1",
           "--redis-url", redis_url, "--prefix", prefix, "--quiet"]  # fmt: skip
    assert main(run) == 2
    assert f"cannot reach Kafka at `{nowhere}`" in capsys.readouterr().err

    produce = ["produce", "--kafka", nowhere, "--topic", "events", "--events", "10",
               "--connect-timeout", "1"]  # fmt: skip
    assert main(produce) == 2
    assert f"cannot reach Kafka at `{nowhere}`" in capsys.readouterr().err


def test_missing_input_topic_is_a_clear_error(
    kafka_bootstrap: str, redis_url: str, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = unique("missing")
    args = ["run", "--kafka", kafka_bootstrap, "--topic", topic, "--redis-url", redis_url,
            "--prefix", prefix, "--quiet"]  # fmt: skip
    assert main(args) == 2
    assert f"Kafka topic `{topic}` does not exist" in capsys.readouterr().err


# Source partitions on their own: resume, start positions, live watermark, lag.

LATENESS_MS = 0


def event_line(n: int, ts_ms: int) -> bytes:
    return orjson.dumps({"event_id": f"e{n}", "type": "page_view", "ts": ts_ms, "contact_id": "c1"})


def source(bootstrap: str, topic: str, **options: object) -> KafkaSource:
    settings = KafkaSettings(bootstrap=bootstrap, topic=topic, **options)  # type: ignore[arg-type]
    return KafkaSource(settings, EventDecoder(), LATENESS_MS, batch_size=10)


def poll(part: object, want_events: int, deadline_s: float = 20.0) -> list[SourceBatch]:
    """Call `next_batch` as bytewax would until `want_events` events came."""
    batches: list[SourceBatch] = []
    deadline = time.monotonic() + deadline_s
    while sum(len(b.events) for b in batches) < want_events:
        assert time.monotonic() < deadline, f"only {batches} after {deadline_s}s"
        batches += part.next_batch()  # type: ignore[attr-defined]
        time.sleep(0.01)
    return batches


def test_source_partition_resumes_right_after_its_snapshot(kafka_bootstrap: str) -> None:
    topic = unique("resume")
    create_topic(kafka_bootstrap, topic, 1)
    base = parse_ts("2026-01-05T10:00:00Z")
    send_raw(kafka_bootstrap, topic, [event_line(n, base + n * 1000) for n in range(25)])
    src = source(kafka_bootstrap, topic)
    assert src.list_parts() == [f"{topic}:0"]

    first = src.build_part("read_events", f"{topic}:0", None)
    seen = [e.event_id for b in poll(first, 10) for e in b.events]
    snapshot = first.snapshot()
    first.close()
    assert isinstance(snapshot, KafkaResume)
    # Read so far: what was released, and what the watermark still holds (in the snapshot).
    assert snapshot.offsets[0] == len(seen) + snapshot.watermark.held
    assert snapshot.watermark.current_ms == base + (snapshot.offsets[0] - 1) * 1000 - LATENESS_MS

    second = src.build_part("read_events", f"{topic}:0", snapshot)
    seen += [e.event_id for b in poll(second, 25 - len(seen)) for e in b.events]
    second.close()
    assert seen == [f"e{n}" for n in range(25)]


def test_source_starts_at_a_time_or_at_the_end(kafka_bootstrap: str) -> None:
    topic = unique("start")
    create_topic(kafka_bootstrap, topic, 1)
    base = parse_ts("2026-01-05T10:00:00Z")

    lines = [event_line(n, base) for n in range(4)]
    send_raw(kafka_bootstrap, topic, lines[:2])
    # Record timestamps have millisecond resolution: keep clear of the last one.
    time.sleep(0.01)
    between = int(time.time() * 1000)
    time.sleep(0.01)
    send_raw(kafka_bootstrap, topic, lines[2:])

    by_time = source(kafka_bootstrap, topic, start=iso_ms(between))
    part = by_time.build_part("read_events", f"{topic}:0", None)
    assert [e.event_id for b in poll(part, 2) for e in b.events] == ["e2", "e3"]
    part.close()

    latest = source(kafka_bootstrap, topic, start="latest")
    part = latest.build_part("read_events", f"{topic}:0", None)
    assert sum(len(b.events) for b in part.next_batch()) == 0
    send_raw(kafka_bootstrap, topic, [event_line(9, base)])
    assert [e.event_id for b in poll(part, 1) for e in b.events] == ["e9"]
    part.close()


def test_idle_partition_advances_its_watermark_with_the_wall_clock(kafka_bootstrap: str) -> None:
    topic = unique("idle")
    create_topic(kafka_bootstrap, topic, 1)
    ts_ms = parse_ts("2026-01-05T10:00:00Z")
    send_raw(kafka_bootstrap, topic, [event_line(0, ts_ms)])
    part = source(kafka_bootstrap, topic).build_part("read_events", f"{topic}:0", None)
    try:
        (batch,) = [b for b in poll(part, 1) if b.events]
        # The lone event is held until the watermark passes it: only the idle clock can.
        assert batch.watermark_ms > ts_ms
        deadline = time.monotonic() + 10.0
        watermark = ts_ms
        while watermark < ts_ms + 200:
            assert time.monotonic() < deadline, "the idle watermark did not move"
            watermark = max([watermark, *(b.watermark_ms for b in part.next_batch())])
            time.sleep(0.05)
    finally:
        part.close()


def test_consumer_lag_of_each_partition_is_logged(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    topic = unique("lag")
    create_topic(kafka_bootstrap, topic, 1)
    base = parse_ts("2026-01-05T10:00:00Z")
    send_raw(kafka_bootstrap, topic, [event_line(n, base + n) for n in range(30)])
    part = source(kafka_bootstrap, topic, lag_log_interval_s=0.0).build_part(
        "read_events", f"{topic}:0", None
    )
    log = logging.getLogger("pulse.kafka")
    # `pulse run` stops this logger from propagating: listen to it directly.
    log.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="pulse.kafka"):
            poll(part, 10)
    finally:
        log.removeHandler(caplog.handler)
        part.close()
    assert f"kafka lag {topic}:0: 20 (offset 10, end 30)" in caplog.messages


# The relay on its own: what a crash between Kafka's ack and the cursor leaves behind.


def add_triggers(client: redis.Redis, layout: KeyLayout, first: int, count: int) -> None:
    for n in range(first, first + count):
        trigger = Trigger(
            trigger_id=f"t{n}", trigger="welcome", kind="welcome", contact_id=f"c{n % 17}",
            ts=iso_ms(1767607200000), ts_ms=1767607200000, score=1.0, stage="awareness",
            channel=None, rules_version="test", reason={},
        )  # fmt: skip
        client.xadd(layout.triggers, {"id": trigger.trigger_id, "json": encode_trigger(trigger)})


def test_relay_restarted_behind_the_topic_sends_nothing_twice(
    kafka_bootstrap: str, redis_url: str, redis_client: redis.Redis, prefix: str
) -> None:
    output = unique("relayed")
    create_topic(kafka_bootstrap, output, PARTITIONS)
    settings = KafkaSettings(bootstrap=kafka_bootstrap, output_topic=output)
    layout = KeyLayout(prefix)
    add_triggers(redis_client, layout, 0, 40)

    first = TriggerRelay(settings, connect(redis_url), layout)
    assert first.relay() == 40
    first.close()
    # As if the process died after Kafka acknowledged the last 25 but before the
    # cursor recorded them: the cursor is back on the 15th entry.
    entries = redis_client.xrange(layout.triggers)
    redis_client.set(layout.relay(output), entries[14][0])

    second = TriggerRelay(settings, connect(redis_url), layout)
    add_triggers(redis_client, layout, 40, 10)
    assert second.relay() == 10
    assert second.skipped == 25
    second.close()

    ids = Counter(t.trigger_id for t in triggers_on(kafka_bootstrap, output))
    assert set(ids) == {f"t{n}" for n in range(50)}
    assert max(ids.values()) == 1


def test_identify_merges_an_anonymous_cart_read_from_another_partition(
    kafka_bootstrap: str, redis_url: str, prefix: str, rules_path: Path, tmp_path: Path
) -> None:
    """The anonymous events (keyed by the anonymous id) and the identify (keyed by the
    contact) sit on different partitions; one source partition reads both in event time,
    so the identify merges the cart and the reminder goes to the known contact."""
    topic, output = unique("identity"), unique("identity-triggers")
    create_topic(kafka_bootstrap, topic, 2)

    def line(n: int, type_: str, minute: int, **ids: str) -> bytes:
        props = {"product_id": "p1", "price": 20.0} if type_ == "add_to_cart" else {}
        return orjson.dumps(
            {
                "event_id": f"i{n}",
                "type": type_,
                "ts": f"2026-01-05T10:{minute:02d}:00Z",
                **ids,
                "props": props,
            }
        )

    anonymous = [line(1, "product_view", 0, anonymous_id="a1"),
                 line(2, "add_to_cart", 1, anonymous_id="a1")]  # fmt: skip
    known = [line(3, "identify", 10, contact_id="c1", anonymous_id="a1")]
    send_raw(kafka_bootstrap, topic, list(anonymous), partition=0)
    send_raw(kafka_bootstrap, topic, list(known), partition=1)
    settings = KafkaSettings(
        bootstrap=kafka_bootstrap, topic=topic, output_topic=output, stop_at_end=True
    )
    run_kafka(settings, redis_url, prefix, rules_path, tmp_path, until="2026-01-05T12:00:00Z")

    fired = triggers_on(kafka_bootstrap, output)
    carts = [t for t in fired if t.trigger == "abandon_cart"]
    assert [(t.contact_id, t.decision) for t in carts] == [("c1", "sent")]
    assert not any(t.contact_id.startswith("anon:") for t in fired)
    stats, _ = ContactStore(redis.Redis.from_url(redis_url), KeyLayout(prefix)).counts()
    assert stats.get("identity:alias_elsewhere", 0) == 0
