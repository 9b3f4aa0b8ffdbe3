"""Live latency: events written at fixed rates into `pulse run --live -i -`.

    python bench/live_latency.py --rates 1000 10000 20000 --seconds 10 --json out.json

For each rate, a fresh `pulse run --live -i -` process (the real CLI, stdin
pipe, real Redis) receives the seeded generated clickstream, each event stamped
with the wall time at which it is written, at a fixed rate. A reader thread
follows the Redis stream `<prefix>:triggers` with `XREAD BLOCK` and notes when
each trigger arrives. Reported:

* `immediate_ms`: from the time an event was due to be written (its slot in the
  fixed-rate schedule, so a writer held up by back pressure does not hide the
  delay: no coordinated omission) to the arrival of the `welcome` or
  `sales_ready` trigger it fired; `commit_ms` is the same up to the trigger's
  `emitted_at` (stamped at the batch commit);
* `timer_ms`: for `abandon_cart` (`after: 2s` in a rules file written for the
  run), from the timer's due time to its arrival; under load the watermark moves
  with the events, after the last event it moves with the wall clock (the
  `--idle-seconds` tail). `allowed_lateness` is 0 here so the figure is the
  mechanism's own delay; in production the configured lateness adds to it.

Events written in the first `--warmup-seconds` are left out of the percentiles.

`--shape hot` writes dense traffic with a hot contact instead of the journeys
(`pulse.connectors.traffic`: Zipf, the busiest contact 14 % of all events), to
show that a busy contact does not hold back everyone else's triggers.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson
import redis

from harness import machine, percentiles, write_json
from pulse.connectors.generator import GeneratorConfig, generate_events
from pulse.connectors.traffic import hot_rows
from pulse.redis_server import PrivateRedis
from pulse.rules import default_rules_path

__all__ = ["run_rate"]

IMMEDIATE = frozenset({"welcome", "sales_ready"})
"""Triggers that fire on the event itself; their `reason.event` names it."""

STARTUP_S = 60.0
"""How long the process may take to read its first line (imports, flow build): not measured."""


def live_rules(directory: Path, after: str = "2s") -> Path:
    """The default pack with a short cart timer and no allowed lateness."""
    text = default_rules_path().read_text()
    if "after: 30m" not in text or "allowed_lateness: 5s" not in text:
        raise SystemExit("live_latency: the default rules changed; update `live_rules`")
    path = directory / "live.yaml"
    path.write_text(
        text.replace("after: 30m", f"after: {after}").replace(
            "allowed_lateness: 5s", "allowed_lateness: 0s"
        )
    )
    return path


HOT_SHARE = 0.14
"""`--shape hot`: the share of all events the busiest contact sends."""


def event_heads(
    rate: int, seconds: float, seed: int, tag: str, shape: str = "journeys"
) -> list[bytes]:
    """Encoded events without their `ts`: the writer appends the wall time and `}`.

    The seeded generator gives the mix of types, contacts and props; its event
    times are dropped, since a live event happens now.
    """
    total = int(rate * seconds)
    if shape == "hot":
        rows = hot_rows(
            contacts=max(total // 10, 100), events=total, start_ms=0, rate_per_s=rate,
            hot_share=HOT_SHARE, seed=seed, pick_product=lambda rng: rng.randrange(500),
        )  # fmt: skip
        return [
            orjson.dumps(
                {
                    "event_id": f"{tag}-{n}",
                    "type": type_,
                    "contact_id": f"{tag}-c{ci + 1}",
                    "props": props,
                }
            )[:-1]
            + b',"ts":'
            for n, (_, ci, type_, props) in enumerate(rows)
        ]
    config = GeneratorConfig(contacts=max(total // 10, 100), events=total, seed=seed)
    heads = []
    for n, event in enumerate(generate_events(config)):
        body: dict[str, Any] = {"event_id": f"{tag}-{n}", "type": event.type}
        if event.contact_id is not None:
            body["contact_id"] = f"{tag}-{event.contact_id}"
        if event.anonymous_id is not None:
            body["anonymous_id"] = f"{tag}-{event.anonymous_id}"
        body["props"] = event.props
        heads.append(orjson.dumps(body)[:-1] + b',"ts":')
    return heads


class StreamReader(threading.Thread):
    """Follows a trigger stream; records each entry with its arrival wall time (ms)."""

    def __init__(self, url: str, stream: str) -> None:
        super().__init__(name="bench-xread", daemon=True)
        self.client = redis.Redis.from_url(url)
        self.stream = stream
        self.arrivals: list[tuple[float, bytes]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        last = "0-0"
        while not self.stopping.is_set():
            reply: Any = self.client.xread({self.stream: last}, count=10_000, block=100)
            arrived_ms = time.time() * 1000
            for _, entries in reply:
                for entry_id, fields in entries:
                    self.arrivals.append((arrived_ms, fields[b"json"]))
                    last = entry_id

    def count(self) -> int:
        """Entries seen so far (the GIL makes `len` of the list safe to read)."""
        return len(self.arrivals)


def run_rate(
    rate: int,
    seconds: float,
    *,
    redis_url: str,
    rules_path: Path,
    scratch: Path,
    seed: int = 7,
    batch_size: int = 1000,
    warmup_s: float = 1.0,
    idle_s: float = 4.0,
    shape: str = "journeys",
) -> dict[str, Any]:
    """One live run at a fixed offered rate; returns its latency percentiles."""
    tag = f"r{rate}{shape[0]}"
    heads = event_heads(rate, seconds, seed, tag, shape)
    total = len(heads)
    reader = StreamReader(redis_url, f"{tag}:triggers")
    reader.start()
    log_path = scratch / f"{tag}.log"
    command = [
        sys.executable, "-m", "pulse.cli", "run", "--live", "-i", "-", "--quiet",
        "--redis-url", redis_url, "--prefix", tag, "--rules", str(rules_path),
        "--dead-letters", str(scratch / f"{tag}-dead.jsonl"), "--batch-size", str(batch_size),
    ]  # fmt: skip
    children_cpu_before = _children_cpu_s()
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=log, stderr=log)
        assert process.stdin is not None
        try:
            _wait_ready(process.stdin, reader, tag, process, log_path)
            before = reader.count()
            written_ms, started_ms, achieved = _write_at_rate(process.stdin, heads, rate)
            time.sleep(idle_s)
            process.stdin.close()
            process.wait(timeout=120)
        finally:
            _stop(process)
            reader.stopping.set()
            reader.join()
    # The pulse process is the only child waited for in between: its CPU, start-up included.
    pulse_cpu_s = _children_cpu_s() - children_cpu_before
    arrivals = reader.arrivals[before:]
    immediate: list[float] = []
    commit: list[float] = []
    timers: list[float] = []
    idle_timers: list[float] = []
    kinds: dict[str, int] = {}
    warm_from = warmup_s * rate
    load_end_ms = started_ms + seconds * 1000
    for arrived_ms, raw in arrivals:
        trigger = orjson.loads(raw)
        kind = trigger["trigger"]
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind in IMMEDIATE:
            suffix = trigger["reason"]["event"].rsplit("-", 1)[1]
            n = int(suffix) if suffix.isdigit() else -1
            if n >= warm_from:
                # Due time of the event's slot in the fixed-rate schedule.
                scheduled_ms = started_ms + n * 1000 / rate
                immediate.append(arrived_ms - scheduled_ms)
                commit.append(_epoch_ms(trigger["emitted_at"]) - scheduled_ms)
        elif kind == "abandon_cart":
            due_ms = trigger["ts_ms"]
            if due_ms >= started_ms + warmup_s * 1000:
                (timers if due_ms < load_end_ms else idle_timers).append(arrived_ms - due_ms)
    return {
        "rate": rate,
        "shape": shape,
        "seconds": seconds,
        "events": total,
        "achieved_rate": round(achieved),
        "write_lag_ms": round(written_ms - (started_ms + seconds * 1000)),
        "batch_size": batch_size,
        "pulse_cpu_s": round(pulse_cpu_s, 2),
        "triggers": kinds,
        "immediate_ms": percentiles(immediate),
        "commit_ms": percentiles(commit),
        "timer_under_load_ms": percentiles(timers),
        "timer_idle_ms": percentiles(idle_timers),
    }


def _wait_ready(
    stdin: IO[bytes],
    reader: StreamReader,
    tag: str,
    process: subprocess.Popen[bytes],
    log_path: Path,
) -> None:
    # A sign-up fires `welcome` at once: when it arrives the flow reads and commits.
    ts_ms = int(time.time() * 1000)
    stdin.write(
        b'{"event_id":"%s-warm","type":"signup","contact_id":"%s-warm","ts":%d}\n'
        % (tag.encode(), tag.encode(), ts_ms)
    )
    stdin.flush()
    deadline = time.monotonic() + STARTUP_S
    while reader.count() == 0:
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"live_latency: pulse did not start:\n{log_path.read_text()}")
        time.sleep(0.05)


def _write_at_rate(stdin: IO[bytes], heads: list[bytes], rate: int) -> tuple[float, float, float]:
    """Write each event at its slot; returns (end ms, start ms, achieved events/s)."""
    total = len(heads)
    sent = 0
    started = time.perf_counter()
    started_ms = time.time() * 1000
    while sent < total:
        due = min(total, int((time.perf_counter() - started) * rate) + 1)
        if due > sent:
            ts = b"%d}\n" % int(time.time() * 1000)
            stdin.write(b"".join([head + ts for head in heads[sent:due]]))
            stdin.flush()
            sent = due
        else:
            time.sleep(0.0005)
    elapsed = time.perf_counter() - started
    return started_ms + elapsed * 1000, started_ms, total / elapsed


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _epoch_ms(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp() * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[1_000, 10_000, 20_000])
    parser.add_argument("--seconds", type=float, default=10.0, help="load time per rate")
    parser.add_argument("--warmup-seconds", type=float, default=1.0)
    parser.add_argument("--idle-seconds", type=float, default=4.0)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--shape", choices=["journeys", "hot"], nargs="+", default=["journeys"],
        help="the generated journeys, and/or dense traffic with a hot contact (14 %%)",
    )  # fmt: skip
    parser.add_argument("--smoke", action="store_true", help="one short, slow run: checks it runs")
    parser.add_argument("--json", help="also write the result as JSON to this file")
    args = parser.parse_args()
    if args.smoke:
        args.rates, args.seconds, args.warmup_seconds, args.idle_seconds = [500], 2.0, 0.0, 3.0

    runs = []
    with PrivateRedis() as server, tempfile.TemporaryDirectory() as scratch:
        rules_path = live_rules(Path(scratch))
        for shape in args.shape:
            for rate in args.rates:
                print(f"live: {shape}, {rate:,} events/s for {args.seconds}s", file=sys.stderr)
                runs.append(
                    run_rate(
                        rate,
                        args.seconds,
                        redis_url=server.url,
                        rules_path=rules_path,
                        scratch=Path(scratch),
                        seed=args.seed,
                        batch_size=args.batch_size,
                        warmup_s=args.warmup_seconds,
                        idle_s=args.idle_seconds,
                        shape=shape,
                    )
                )
                print(f"live: {runs[-1]['immediate_ms']}", file=sys.stderr)
    write_json({"benchmark": "live_latency", "machine": machine(), "runs": runs}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
