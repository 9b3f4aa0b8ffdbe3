"""A private `redis-server` on a free loopback port, for `pulse run` and the tests.

The binary is `$PULSE_REDIS_SERVER` or `redis-server` on the PATH. It runs with
no persistence, in a scratch directory, and is stopped when the handle closes;
or, with `persist=True`, with an append-only file in its data directory, so
that a later server on the same directory starts with the same data: that is
how `--state-dir` keeps a run's state for `pulse explain` (`state_server`).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import redis

from pulse.errors import ConfigError, StateError

__all__ = [
    "LAST_RUN_DIR",
    "PrivateRedis",
    "PrivateRedisCluster",
    "find_redis_server",
    "free_port",
    "has_state",
    "state_server",
]

LAST_RUN_DIR = Path(".pulse/last-run")
"""Where `pulse run`/`replay` without a Redis URL keep their state, and `explain` looks."""


def find_redis_server() -> str:
    """Path of the redis-server binary to run; raises `ConfigError` when there is none."""
    configured = os.environ.get("PULSE_REDIS_SERVER")
    if configured:
        return configured
    found = shutil.which("redis-server")
    if found is None:
        raise ConfigError(
            "no `redis-server` found: install it (`apt-get install redis-server`), set "
            "`PULSE_REDIS_SERVER`, or pass `--redis-url` to use a running Redis"
        )
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal the kernel sends a process when its parent dies."""


def _stop_with(parent_pid: int) -> Callable[[], None]:
    """For `Popen(preexec_fn=...)`: the child gets SIGTERM when `parent_pid` dies, however.

    Runs in the child between fork and exec. If the parent already died (before
    prctl took effect), the child exits at once instead of running orphaned.
    """

    def preexec() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            return  # no prctl: the server outlives a killed pulse, as before
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


class PrivateRedis:
    """Starts a redis-server; use as a context manager or call `stop()`."""

    def __init__(
        self,
        data_dir: Path | None = None,
        timeout_s: float = 10.0,
        port: int | None = None,
        *,
        persist: bool = False,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self._own_dir = data_dir is None
        # Absolute: redis-server changes into `--dir` before it opens `--logfile`.
        self.data_dir = (data_dir or Path(tempfile.mkdtemp(prefix="pulse-redis-"))).absolute()
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = self.data_dir / "redis.log"
        binary = find_redis_server()
        # Persisting: an append-only file synced every second, rewritten on shutdown.
        appendonly = (
            ["--appendonly", "yes", "--appendfsync", "everysec"]
            if persist
            else ["--appendonly", "no"]
        )
        args = [
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            *appendonly, "--dir", str(self.data_dir), "--logfile", str(self.log_path),
            "--protected-mode", "no", *extra_args,
        ]  # fmt: skip
        # Its own session: Ctrl-C in a terminal signals the whole foreground process
        # group, and the server must outlive pulse's clean shutdown, which stops it last.
        # But not pulse's death: if pulse is killed (even SIGKILL), the kernel stops it.
        self._process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_stop_with(os.getpid()) if sys.platform == "linux" else None,
        )
        self.pid = self._process.pid
        self._wait_ready(timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                if client.ping():
                    client.close()
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise StateError(f"redis-server did not start on port {self.port}:\n{self.log()}")

    def log(self) -> str:
        """What the server wrote to its log (and stderr), for error messages."""
        text = self.log_path.read_text() if self.log_path.exists() else ""
        stderr = self._process.stderr
        if stderr is not None and not stderr.closed and self._process.poll() is not None:
            text += stderr.read().decode(errors="replace")
        return text

    def stop(self) -> None:
        """Stop the server and remove its scratch directory."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stderr is not None:
            self._process.stderr.close()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> PrivateRedis:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def state_server(data_dir: Path, *, is_fresh: bool = False) -> Iterator[PrivateRedis]:
    """A persisting private redis-server on `data_dir`, held by this process alone.

    `is_fresh` empties the directory's data first. Raises `ConfigError` when
    another pulse process holds the directory or it cannot be created.
    """
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        lock = (data_dir / "pulse.lock").open("w")
    except OSError as exc:
        raise ConfigError(f"cannot use state directory `{data_dir}`: {exc.strerror}") from exc
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"state directory `{data_dir}` is in use by another pulse process "
                "(its redis-server URL was printed when it started: pass it as `--redis-url`)"
            ) from None
        if is_fresh:
            shutil.rmtree(data_dir / "appendonlydir", ignore_errors=True)
            (data_dir / "dump.rdb").unlink(missing_ok=True)
        with PrivateRedis(data_dir=data_dir, persist=True) as server:
            yield server


def has_state(data_dir: Path) -> bool:
    """Whether a state directory holds data a persisting server wrote."""
    return (data_dir / "appendonlydir").is_dir() or (data_dir / "dump.rdb").is_file()


_CLUSTER_NODE_ARGS = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")


def _free_cluster_port() -> int:
    """A free port whose cluster bus port (the port + 10000) is free and valid too."""
    for _ in range(200):
        port = free_port()
        if port + 10_000 > 65_535:
            port -= 20_000
        if _is_free(port) and _is_free(port + 10_000):
            return port
    raise StateError("no free port pair for a Redis Cluster node on 127.0.0.1")


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class PrivateRedisCluster:
    """A Redis Cluster of `masters` private redis-servers on loopback, no replicas.

    Started with `--cluster-enabled yes` and joined by `redis-cli --cluster create`
    (Debian's `redis-tools`, beside `redis-server`), as an operator would; for the
    tests and for trying pulse's cluster layout. `url` names the first node: a
    cluster client finds the others from it.
    """

    def __init__(self, masters: int = 3, timeout_s: float = 20.0) -> None:
        self.nodes: list[PrivateRedis] = []
        try:
            for _ in range(masters):
                self.nodes.append(
                    PrivateRedis(
                        port=_free_cluster_port(),
                        extra_args=_CLUSTER_NODE_ARGS,
                    )
                )
            self._create(timeout_s)
        except BaseException:
            self.stop()
            raise
        self.url = self.nodes[0].url

    def _create(self, timeout_s: float) -> None:
        server = find_redis_server()
        cli = shutil.which("redis-cli") or str(Path(server).with_name("redis-cli"))
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        done = subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if done.returncode != 0:
            raise StateError(f"redis-cli --cluster create failed:\n{done.stdout}{done.stderr}")
        deadline = time.monotonic() + timeout_s
        for node in self.nodes:
            client = redis.Redis(port=node.port)
            while client.info("cluster").get("cluster_enabled") != 1 or not _is_ok(client):
                if time.monotonic() > deadline:
                    raise StateError(f"the cluster did not come up on port {node.port}")
                time.sleep(0.05)
            client.close()

    def stop(self) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> PrivateRedisCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _is_ok(client: redis.Redis) -> bool:
    info: Any = client.execute_command("CLUSTER INFO")  # type: ignore[no-untyped-call]
    if isinstance(info, dict):  # redis-py parses the reply
        return info.get("cluster_state") == "ok"
    return b"cluster_state:ok" in info
