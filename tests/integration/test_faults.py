"""Redis outages and stop signals, through a real `pulse run` process and a real redis-server.

Each test runs `python -m pulse.cli run` as a subprocess (signals and exit
statuses are process-level behaviour) against its own private redis-server.
The outage is a network one: pulse talks to Redis through a small TCP relay
that the test closes (connections reset, then refused) and reopens on the same
port, so Redis keeps its data (a Redis that lost it is a different failure,
which pulse stops on).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from pulse.connectors.generator import GeneratorConfig, write_jsonl
from pulse.redis_server import PrivateRedis, free_port

DEADLINE_S = 120.0
"""How long any step may take on a loaded 2-core machine; a deadline, not a measurement."""


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    write_jsonl(GeneratorConfig(contacts=200, events=3000, seed=3), path)
    return path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PrivateRedis]:
    data = tmp_path / "redis"
    data.mkdir()
    handle = PrivateRedis(data_dir=data)
    yield handle
    handle.stop()


class Relay:
    """A TCP relay from a loopback port to Redis that can be cut and restored."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.open()

    def open(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and reset the open ones."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self._sockets.append(client)
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets.append(upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def wait_until(
    condition: Callable[[], bool], what: str, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and process.poll() is not None:
            pytest.fail(f"pulse exited ({process.returncode}) while waiting for {what}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def committed_events(url: str) -> int:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        with client:
            return int(client.hget("pulse:stats", "events") or 0)
    except redis.ConnectionError:
        return 0


def start_run(
    args: list[str], tmp_path: Path, stdin: int = subprocess.PIPE
) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / "stderr.txt"
    command = [sys.executable, "-m", "pulse.cli", "run", "--quiet",
               "--dead-letters", str(tmp_path / "dead.jsonl"), *args]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("PULSE_REDIS_URL", "PULSE_LOG_LEVEL")}
    with log.open("wb") as err:
        process = subprocess.Popen(
            command, stdin=stdin, stdout=subprocess.DEVNULL, stderr=err, env=env
        )
    return process, log


def feed(
    process: subprocess.Popen[bytes], lines: list[bytes], then_close: bool
) -> threading.Thread:
    """Write `lines` to the process's stdin from a thread (it blocks while pulse waits on Redis)."""

    def write() -> None:
        assert process.stdin is not None
        try:
            process.stdin.write(b"".join(lines))
            process.stdin.flush()
            if then_close:
                process.stdin.close()
        except BrokenPipeError:  # pulse stopped reading: it gave up, as one test expects
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def outage_run(
    relay: Relay, events_file: Path, tmp_path: Path, retry_s: float
) -> tuple[subprocess.Popen[bytes], Path, list[bytes]]:
    """`pulse run -i -` that has committed part of its input when Redis goes out of reach."""
    lines = events_file.read_bytes().splitlines(keepends=True)
    process, log = start_run(
        ["-i", "-", "--redis-url", relay.url, "--batch-size", "100",
         "--redis-retry-s", str(retry_s)],
        tmp_path,
    )  # fmt: skip
    feed(process, lines[:1000], then_close=False).join()
    wait_until(lambda: committed_events(relay.url) > 0, "a first commit", process)
    relay.cut()
    return process, log, lines[1000:]


@pytest.fixture
def relay(server: PrivateRedis) -> Iterator[Relay]:
    handle = Relay(server.port)
    yield handle
    handle.cut()


def test_redis_outage_within_the_retry_budget_is_ridden_out_and_logged(
    server: PrivateRedis, relay: Relay, events_file: Path, tmp_path: Path
) -> None:
    process, log, rest = outage_run(relay, events_file, tmp_path, retry_s=DEADLINE_S)
    feed(process, rest, then_close=True)
    wait_until(lambda: b"(attempt 2, retrying in" in log.read_bytes(), "retry log lines", process)
    relay.open()
    status = process.wait(timeout=DEADLINE_S)
    stderr = log.read_text()
    assert status == 0, stderr
    assert f"redis unreachable at {relay.url} (attempt 1, retrying in" in stderr
    assert f"redis reachable again at {relay.url}" in stderr
    assert committed_events(server.url) == 3000  # every event, each once


def test_redis_outage_past_the_retry_budget_exits_2_with_one_line(
    relay: Relay, events_file: Path, tmp_path: Path
) -> None:
    process, log, rest = outage_run(relay, events_file, tmp_path, retry_s=1.0)
    feed(process, rest, then_close=True)
    status = process.wait(timeout=DEADLINE_S)
    stderr = log.read_text()
    assert status == 2, stderr
    assert "Traceback" not in stderr and "panicked" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if "WARNING pulse.redis" not in line]
    assert len(errors) == 1, stderr
    assert errors[0].startswith(f"pulse: cannot reach Redis at {relay.url}: Connection refused")


def redis_server_running(port: int) -> bool:
    """Whether a redis-server on `port` runs (it titles itself `redis-server 127.0.0.1:<port>`)."""
    for entry in Path("/proc").iterdir():
        try:
            title = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"redis-server" in title and f"127.0.0.1:{port}".encode() in title:
            return True
    return False


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_stop_signal_ends_the_run_cleanly_and_stops_the_private_redis(
    signum: int, status: int, events_file: Path, tmp_path: Path
) -> None:
    triggers = tmp_path / "triggers.jsonl"
    process, log = start_run(
        ["--live", "-i", str(events_file), "--triggers", str(triggers)],
        tmp_path,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: triggers.exists() and triggers.stat().st_size > 0, "triggers", process)
        started = next(
            line
            for line in log.read_text().splitlines()
            if "started a private redis-server" in line
        )
        port = int(started.rsplit(":", 1)[1].split("/")[0])
        assert redis_server_running(port)
        process.send_signal(signum)
        assert process.wait(timeout=DEADLINE_S) == status
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = log.read_text()
    assert "panicked" not in stderr and "Traceback" not in stderr, stderr
    assert f"pulse: stopped by {signal.Signals(signum).name}" in stderr
    assert not redis_server_running(port)
