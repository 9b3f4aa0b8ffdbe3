"""Live on Kafka: an idle partition's watermark follows the wall clock, so a timer fires on time.

`pulse run --kafka` follows the topic; one `add_to_cart` arrives and nothing
after it. The abandoned-cart reminder (after 2 s here, 1 s allowed lateness)
must reach the output topic within a few seconds, with no further events.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from kafka_tools import create_topic, rules_without_model, send_raw, triggers_on, unique

pytestmark = pytest.mark.integration

STARTUP_S = 60.0
"""How long the process may take to start reading (imports, flow build); not measured."""
TRIGGER_DEADLINE_S = 8.0
"""Due 2 s after the add, 1 s lateness, plus the relay's round trip to the topic."""


@pytest.fixture
def live_rules(tmp_path: Path) -> Path:
    text = rules_without_model()
    assert "after: 30m" in text and "allowed_lateness: 5s" in text
    path = tmp_path / "live.yaml"
    path.write_text(
        text.replace("after: 30m", "after: 2s").replace(
            "allowed_lateness: 5s", "allowed_lateness: 1s"
        )
    )
    return path


@pytest.fixture
def topics(kafka_bootstrap: str) -> tuple[str, str]:
    source, output = unique("live-events"), unique("live-triggers")
    create_topic(kafka_bootstrap, source, 2)
    create_topic(kafka_bootstrap, output, 2)
    return source, output


@pytest.fixture
def live_run(
    kafka_bootstrap: str,
    topics: tuple[str, str],
    live_rules: Path,
    redis_url: str,
    prefix: str,
    tmp_path: Path,
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    source, output = topics
    log_path = tmp_path / "live.log"
    command = [
        sys.executable, "-m", "pulse.cli", "run", "--quiet",
        "--kafka", kafka_bootstrap, "--topic", source, "--output-topic", output,
        "--rules", str(live_rules), "--redis-url", redis_url, "--prefix", prefix,
        "--dead-letters", str(tmp_path / "dead.jsonl"),
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process, log_path
    finally:
        process.kill()
        process.wait()


def test_abandon_cart_reaches_the_topic_with_no_further_events(
    kafka_bootstrap: str,
    topics: tuple[str, str],
    live_run: tuple[subprocess.Popen[bytes], Path],
) -> None:
    source, output = topics
    process, log_path = live_run
    deadline = time.monotonic() + STARTUP_S
    while log_path.read_text().count(f"reading {source}:") < 2:
        assert process.poll() is None, log_path.read_text()
        assert time.monotonic() < deadline, f"the source never started\n{log_path.read_text()}"
        time.sleep(0.1)

    ts_ms = int(time.time() * 1000)
    event = {"event_id": "live-1", "type": "add_to_cart", "ts": ts_ms, "contact_id": "live-c1",
             "props": {"product_id": "p1", "price": 25.0}}  # fmt: skip
    send_raw(kafka_bootstrap, source, [orjson.dumps(event)])
    written = time.monotonic()

    while not (triggers := triggers_on(kafka_bootstrap, output)):
        assert process.poll() is None, log_path.read_text()
        assert time.monotonic() < written + TRIGGER_DEADLINE_S, (
            f"no trigger on {output} within {TRIGGER_DEADLINE_S}s\n{log_path.read_text()}"
        )
        time.sleep(0.2)
    (trigger,) = triggers
    assert trigger.kind == "abandon_cart"
    assert trigger.contact_id == "live-c1"
    assert trigger.ts_ms == ts_ms + 2000
