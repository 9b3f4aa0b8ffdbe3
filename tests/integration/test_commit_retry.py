"""A batch commit whose reply is lost is retried by the client, and still applies once.

A small TCP proxy between pulse and a real redis-server forwards a commit (the
`EVALSHA` of the batch script) to Redis, lets Redis apply it, then cuts the
connection before the reply reaches pulse. redis-py retries on the broken
connection and sends the same commit again: the script must recognise it and
write nothing twice. Also: a Redis that loses its data under a running flow
(restarted without persistence, or flushed) stops the flow with a clear error.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from pulse.connectors.generator import GeneratorConfig, write_jsonl
from pulse.errors import StateError
from pulse.redis_server import free_port
from pulse.state import KeyLayout

CONFIG = GeneratorConfig(contacts=300, events=8_000, span_days=30, seed=4)


class ReplyCutter:
    """Forwards Redis traffic; for every `every`-th commit, drops the reply and the connection."""

    def __init__(self, upstream_port: int, marker: bytes, every: int, cuts: int) -> None:
        self.port = free_port()
        self._upstream = upstream_port
        self._marker, self._every, self._cuts_left = marker, every, cuts
        self._commits = 0
        self.cuts = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _should_cut(self, chunk: bytes) -> bool:
        if b"EVALSHA" not in chunk.upper() or self._marker not in chunk:
            return False
        with self._lock:
            self._commits += 1
            if self._cuts_left and self._commits % self._every == 0:
                self._cuts_left -= 1
                self.cuts += 1
                return True
        return False

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        threading.Thread(target=self._copy, args=(upstream, client), daemon=True).start()
        try:
            while chunk := client.recv(1 << 20):
                if self._should_cut(chunk):
                    upstream.sendall(chunk)
                    upstream.recv(1 << 16)  # Redis applied it and replied: lose the reply
                    break
                upstream.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                sock.close()

    @staticmethod
    def _copy(source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(1 << 20):
                target.sendall(chunk)
        except OSError:
            pass


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    write_jsonl(CONFIG, path)
    return path


@pytest.fixture
def cutter(redis_url: str, prefix: str) -> Iterator[ReplyCutter]:
    port = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs["port"]
    # Big commits span several chunks; the marker key sits at the start of each commit.
    proxy = ReplyCutter(port, f"{prefix}-cut:run".encode(), every=3, cuts=5)
    yield proxy
    proxy.close()


def test_a_commit_retried_after_its_reply_was_lost_applies_once(
    events_file: Path,
    replay: Any,
    redis_client: redis.Redis,
    redis_url: str,
    prefix: str,
    cutter: ReplyCutter,
) -> None:
    clean = replay(events_file, batch_size=500, key_prefix=prefix + "-clean")

    proxied_url = redis_url.replace(
        f":{redis_client.connection_pool.connection_kwargs['port']}/", f":{cutter.port}/"
    )
    cut = replay(events_file, batch_size=500, key_prefix=prefix + "-cut", redis_url=proxied_url)

    assert cutter.cuts == 5, "the proxy cut five commit replies"
    layout, clean_layout = KeyLayout(prefix + "-cut"), KeyLayout(prefix + "-clean")
    ids = [f[b"id"] for _, f in redis_client.xrange(layout.triggers)]
    assert len(ids) == len(set(ids)), "a retried commit wrote triggers twice"
    assert sorted(ids) == sorted(f[b"id"] for _, f in redis_client.xrange(clean_layout.triggers))
    stats = redis_client.hgetall(layout.stats)
    assert int(stats[b"events"]) == CONFIG.events
    assert redis_client.hgetall(layout.stages) == redis_client.hgetall(clean_layout.stages)
    assert {t.trigger_id for t in cut} == {t.trigger_id for t in clean}


def test_a_redis_that_lost_its_data_under_the_flow_stops_it(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    from pulse.batch import batch_events
    from pulse.connectors.generator import generate_events
    from pulse.engine import Engine
    from pulse.rules import default_rules_path, load_rules
    from pulse.state import ContactStore

    rules = load_rules(default_rules_path())
    store = ContactStore(redis.Redis.from_url(redis_url), KeyLayout(prefix))
    engine = Engine(rules, store)
    batches = batch_events(generate_events(CONFIG), "p0", rules.allowed_lateness_ms, 1000)
    engine.process([next(batches)])
    for key in redis_client.scan_iter(match=f"{prefix}:*"):
        redis_client.delete(key)  # what a restart without persistence leaves

    with pytest.raises(StateError, match="lost pulse's data"):
        engine.process([next(batches)])
