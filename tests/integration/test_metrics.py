"""Metrics and health, scraped from real running flows (`pulse.metrics`).

`pulse run --live` over a file with a Redis of the test's own (so it can be
stopped): `/metrics` shows every family with real counts, `/healthz` answers, and
`/readyz` turns 503 once Redis is gone. `python -m bytewax.run` over Kafka serves
the same on `PULSE_METRICS_PORT`, consumer lag included.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis
from kafka_tools import create_topic, send_raw, unique
from prometheus_client.parser import text_string_to_metric_families

from pulse.connectors.generator import GeneratorConfig, generate_lines
from pulse.redis_server import PrivateRedis, free_port
from pulse.state import KeyLayout

pytestmark = pytest.mark.integration

STARTUP_S = 90.0
"""How long a flow may take to start and process its first batches (not measured)."""

FAMILIES = (
    "pulse_events",
    "pulse_dead_letters",
    "pulse_triggers",
    "pulse_batch_seconds",
    "pulse_commit_seconds",
    "pulse_event_to_trigger_seconds",
    "pulse_watermark_timestamp_seconds",
    "pulse_watermark_lag_seconds",
    "pulse_kafka_consumer_lag",
    "pulse_redis_ping_seconds",
    "pulse_redis_errors",
    "pulse_model_labels",
    "pulse_model_roc_auc",
    "pulse_contacts_cached",
    "pulse_contacts",
)


def get(url: str) -> tuple[int, str]:
    """Status and body of a GET (an HTTP error status is an answer, not a failure)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(
    scrape: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    """The sum of a sample's values over the labels not given."""
    return sum(
        value
        for (sample, have), value in scrape.items()
        if sample == name and all((k, v) in have for k, v in labels.items())
    )


def scrape_until(
    url: str, process: subprocess.Popen[bytes], log: Path, ready: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Scrape `/metrics` until sample `ready` is non-zero (the flow is under way)."""
    deadline = time.monotonic() + STARTUP_S
    while True:
        assert process.poll() is None, log.read_text()
        try:
            status, body = get(url)
        except OSError:
            status, body = 0, ""
        if status == 200:
            scrape = samples(body)
            if total(scrape, ready) > 0:
                return scrape
        assert time.monotonic() < deadline, f"no `{ready}` in time\n{body}\n{log.read_text()}"
        time.sleep(0.3)


def test_workers_are_served_by_the_parent_labelled_by_worker(
    own_redis: PrivateRedis, events_file: Path, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "run.log"
    command = [
        sys.executable, "-m", "pulse.cli", "run", "--live", "-i", str(events_file),
        "--quiet", "--redis-url", own_redis.url, "--workers", "2",
        "--metrics-port", str(port), "--dead-letters", str(tmp_path / "dead.jsonl"),
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        scrape = scrape_until(f"{base}/metrics", process, log, "pulse_triggers_total")
        # The whole file is read once worker 0 (which keeps them) counted both dead letters,
        # and every event either worker applied is committed once the counts stop moving.
        applied = -1.0
        while total(scrape, "pulse_dead_letters_total", worker="0") < 2 or applied != total(
            scrape, "pulse_events_total", outcome="applied"
        ):
            applied = total(scrape, "pulse_events_total", outcome="applied")
            time.sleep(0.5)
            scrape = samples(get(f"{base}/metrics")[1])
        assert total(scrape, "pulse_worker_up", worker="0") == 1
        assert total(scrape, "pulse_worker_up", worker="1") == 1
        by_worker = [
            total(scrape, "pulse_events_total", outcome="applied", worker=w) for w in ("0", "1")
        ]
        assert all(n > 0 for n in by_worker), by_worker  # each worker has its contacts
        assert total(scrape, "pulse_dead_letters_total", worker="1") == 0
        stats = redis.Redis.from_url(own_redis.url).hgetall(KeyLayout("pulse").stats)
        assert sum(by_worker) == int(stats[b"events"])  # the labelled sum is the run's total
        assert get(f"{base}/healthz") == (200, "ok\n")
        assert get(f"{base}/readyz") == (200, "ready\n")
    finally:
        process.terminate()
        process.wait(timeout=60)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server this test may stop."""
    (tmp_path / "redis").mkdir()
    server = PrivateRedis(tmp_path / "redis")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    """A generated clickstream with two lines that are not events."""
    path = tmp_path / "events.jsonl"
    with path.open("wb") as out:
        for line in generate_lines(GeneratorConfig(contacts=300, events=4_000)):
            out.write(line + b"\n")
        out.write(b"{not json\n")
        out.write(b'{"type": "page_view", "ts": "2026-01-05T10:00:00Z"}\n')
    return path


def test_live_run_serves_metrics_health_and_readiness(
    own_redis: PrivateRedis, events_file: Path, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "run.log"
    command = [
        sys.executable, "-m", "pulse.cli", "run", "--live", "-i", str(events_file),
        "--quiet", "--redis-url", own_redis.url, "--redis-retry-s", "1",
        "--metrics-port", str(port), "--dead-letters", str(tmp_path / "dead.jsonl"),
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        scrape = scrape_until(f"{base}/metrics", process, log, "pulse_triggers_total")
        # Every line of the file has been read once the dead letters (at its end) are counted;
        # the stage counts are Redis's as of the last probe, which may predate any commit.
        deadline = time.monotonic() + 60
        while (
            total(scrape, "pulse_dead_letters_total") < 2
            or not total(scrape, "pulse_redis_ping_seconds_count")
            or not total(scrape, "pulse_contacts")
        ):
            assert time.monotonic() < deadline, f"metrics never complete:\n{log.read_text()}"
            time.sleep(0.3)
            scrape = samples(get(f"{base}/metrics")[1])
        names = {name for name, _ in scrape}
        for family in FAMILIES:
            assert any(n == family or n.startswith(family + "_") for n in names) or (
                family in ("pulse_kafka_consumer_lag", "pulse_redis_errors")  # none yet: no Kafka
            ), f"`{family}` missing from /metrics"
        assert total(scrape, "pulse_events_total", partition="files", outcome="applied") > 3_000
        assert total(scrape, "pulse_dead_letters_total", reason="malformed_json") == 1
        assert total(scrape, "pulse_dead_letters_total", reason="no_contact") == 1
        assert total(scrape, "pulse_events_total", outcome="rejected") == 2
        assert total(scrape, "pulse_triggers_total", kind="welcome") > 0
        assert total(scrape, "pulse_triggers_total", decision="sent") > 0
        assert total(scrape, "pulse_batch_seconds_count") > 0
        assert total(scrape, "pulse_commit_seconds_count") > 0
        assert total(scrape, "pulse_event_to_trigger_seconds_count") == total(
            scrape, "pulse_triggers_total"
        )
        assert total(scrape, "pulse_watermark_lag_seconds", partition="files") > 0
        assert total(scrape, "pulse_model_labels") > 0
        assert total(scrape, "pulse_contacts_cached") > 0
        assert total(scrape, "pulse_contacts") > 0
        assert get(f"{base}/healthz") == (200, "ok\n")
        assert get(f"{base}/readyz") == (200, "ready\n")

        own_redis.stop()
        status, body = get(f"{base}/readyz")
        assert status == 503
        assert "Redis does not answer" in body
    finally:
        process.kill()
        process.wait()


def test_bytewax_run_serves_metrics_on_the_env_port_with_kafka_lag(
    kafka_bootstrap: str, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    topic = unique("metrics-events")
    create_topic(kafka_bootstrap, topic, 1)
    lines = list(generate_lines(GeneratorConfig(contacts=50, events=300)))
    send_raw(kafka_bootstrap, topic, [orjson.dumps(orjson.loads(line)) for line in lines])
    port = free_port()
    env = {
        **os.environ,
        "PULSE_METRICS_PORT": str(port),
        "PULSE_REDIS_URL": redis_url,
        "PULSE_PREFIX": prefix,
        "PULSE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "PULSE_KAFKA_TOPIC": topic,
        "PULSE_DEAD_LETTERS": str(tmp_path / "dead.jsonl"),
    }
    log = tmp_path / "bytewax.log"
    command = [sys.executable, "-m", "bytewax.run", "dataflows.clickstream:build_flow_from_env()"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        scrape = scrape_until(
            f"http://127.0.0.1:{port}/metrics", process, log, "pulse_events_total"
        )
        while (("pulse_kafka_consumer_lag", (("partition", f"{topic}:0"),))) not in scrape:
            scrape = scrape_until(
                f"http://127.0.0.1:{port}/metrics", process, log, "pulse_events_total"
            )
        assert total(scrape, "pulse_events_total", partition=f"{topic}:0") > 0
        assert get(f"http://127.0.0.1:{port}/readyz")[0] == 200
    finally:
        process.kill()
        process.wait()
