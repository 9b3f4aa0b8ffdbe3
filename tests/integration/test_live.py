"""Live mode: with stdin open and idle, a timer still fires on the wall clock."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from pulse.rules import default_rules_path

STARTUP_S = 60.0
"""How long the process may take to start reading (imports, flow build); not measured."""
TRIGGER_DEADLINE_S = 6.0
"""An abandon_cart due 2 s after its add, with 1 s allowed lateness, must be out by then."""


def read_jsonl(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def wait_for(path: Path, deadline: float, process: subprocess.Popen[bytes]) -> bool:
    """Poll until `path` holds a line, the deadline passes, or the process dies."""
    while time.monotonic() < deadline:
        if read_jsonl(path):
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.05)
    return bool(read_jsonl(path))


@pytest.fixture
def live_rules(tmp_path: Path) -> Path:
    text = default_rules_path().read_text()
    assert "after: 30m" in text and "allowed_lateness: 5s" in text
    path = tmp_path / "live.yaml"
    path.write_text(
        text.replace("after: 30m", "after: 2s").replace(
            "allowed_lateness: 5s", "allowed_lateness: 1s"
        )
    )
    return path


@pytest.fixture
def live_process(
    live_rules: Path, tmp_path: Path, redis_url: str, prefix: str
) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        sys.executable, "-m", "pulse.cli", "run", "--live", "-i", "-",
        "--redis-url", redis_url, "--prefix", prefix, "--rules", str(live_rules),
        "--triggers", str(tmp_path / "triggers.jsonl"), "--quiet",
        "--dead-letters", str(tmp_path / "dead.jsonl"),
    ]  # fmt: skip
    log = (tmp_path / "live.log").open("wb")
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=log, stderr=log)
    try:
        yield process
    finally:
        if process.stdin is not None and not process.stdin.closed:
            process.stdin.close()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def test_abandon_cart_fires_on_idle_stdin_within_deadline(
    live_process: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    stdin = live_process.stdin
    assert stdin is not None
    triggers_path, dead_path = tmp_path / "triggers.jsonl", tmp_path / "dead.jsonl"
    log = tmp_path / "live.log"

    # Readiness: a line that is not an event comes back as a dead letter once the flow reads.
    stdin.write(b'{"warm_up": true}\n')
    stdin.flush()
    assert wait_for(dead_path, time.monotonic() + STARTUP_S, live_process), log.read_text()

    ts_ms = int(time.time() * 1000)
    event = {"event_id": "live-1", "type": "add_to_cart", "ts": ts_ms, "contact_id": "live-c1",
             "props": {"product_id": "p1", "price": 25.0}}  # fmt: skip
    stdin.write(orjson.dumps(event) + b"\n")
    stdin.flush()
    written = time.monotonic()

    assert wait_for(triggers_path, written + TRIGGER_DEADLINE_S, live_process), (
        f"no trigger within {TRIGGER_DEADLINE_S}s of the write\n{log.read_text()}"
    )
    (trigger,) = read_jsonl(triggers_path)
    assert trigger["kind"] == "abandon_cart"
    assert trigger["contact_id"] == "live-c1"
    assert trigger["ts_ms"] == ts_ms + 2000

    # Closing stdin ends the input, and the process with it.
    stdin.close()
    assert live_process.wait(timeout=20) == 0, log.read_text()
