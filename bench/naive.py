"""The naive baseline: the same job as the flow, with Redis round trips per event.

    python bench/naive.py --events 100000 --contacts 10000 --json bench/results/naive.json

What a first implementation would do, without bytewax, batching or coalescing:
for each event, read the contact's state (`GET`), apply the event with pulse's
own `Journey` (the same pure logic the engine runs, imported, not copied), and
write state, timer index entry, triggers and counters back in one `MULTI`/`EXEC`.
That is two round trips per event (one read, one write). Due timers of contacts
that receive no event are swept from the timer index every `--sweep-every`
events, as a scheduler tick would, one contact at a time. The online model
learns at the same event-time checkpoints as in the engine (timers due before a
checkpoint fire first) and is saved to Redis after each.

`replay.py --naive` runs it beside the batched flow on the same input and checks
that both emit the same trigger ids, so the throughput ratio compares equal work.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import redis

from pulse.contact import ContactState, decode_state, encode_state
from pulse.errors import EventError
from pulse.events import EventDecoder
from pulse.facts import compact, is_duplicate
from pulse.journey import Journey
from pulse.model import LeadModel
from pulse.redis_server import PrivateRedis
from pulse.rules import Rules, default_rules_path, load_rules
from pulse.state import DEFAULT_STATE_TTL_S, KeyLayout, connect
from pulse.triggers import Trigger, encode_trigger, iso_ms
from pulse.watermark import Watermark

__all__ = ["NaiveRunner", "run_naive", "trigger_ids"]


class NaiveRunner:
    """Applies events one at a time, each with its own Redis read and atomic write."""

    def __init__(self, client: redis.Redis, rules: Rules, prefix: str, partition: str) -> None:
        self.client = client
        self.layout = KeyLayout(prefix)
        self.model = LeadModel(rules.model) if rules.model.enabled else None
        self.journey = Journey(rules, self.model)
        self.timers_key = self.layout.timers(partition)
        self.counters: Counter[str] = Counter()
        self.round_trips = 0

    def event(self, raw: bytes, decoder: EventDecoder, watermark: Watermark) -> None:
        """Decode one input line, then read, apply and write each event it releases."""
        try:
            event = decoder.decode(raw)
        except EventError:
            self.counters["rejected"] += 1
            return
        watermark.hold(event, "", 0)
        self.release(watermark)

    def release(self, watermark: Watermark) -> None:
        """Apply what the watermark released, one event (two round trips) at a time."""
        released = watermark.release()
        for i, event in enumerate(released.events):
            ts = event.ts_ms
            if self.model is not None and ts > self.model.checkpoint_ms:
                self._checkpoint(ts)
            state = self._read(event.key)
            stage_before = state.stage if state.last_ts else None
            if is_duplicate(state, event):
                self.counters["duplicates"] += 1
                continue
            late = i in released.late_at
            events = Counter({"events": 1, "late": int(late)})
            fired: list[Trigger] = []
            self.journey.apply(state, event, fired, released.late_at.get(i, ts))
            self.journey.fire_due(state, event.key, watermark.current_ms, fired)
            self._write(event.key, state, stage_before, fired, events)

    def sweep(self, watermark_ms: int) -> None:
        """The scheduler tick: fire every due timer, then learn if a checkpoint passed."""
        self._fire_timers(watermark_ms)
        if self.model is not None:
            self._checkpoint(watermark_ms)

    def _checkpoint(self, watermark_ms: int) -> None:
        assert self.model is not None
        checkpoint = self.model.next_checkpoint_ms(watermark_ms)
        if checkpoint is None:
            return
        self._fire_timers(checkpoint)
        self.model.learn_until(checkpoint)
        self.client.set(self.layout.model, self.model.dumps())
        self.round_trips += 1

    def _fire_timers(self, watermark_ms: int) -> None:
        due: Any = self.client.zrangebyscore(self.timers_key, "-inf", f"({watermark_ms}")
        self.round_trips += 1
        for member in due:
            key = member.decode()
            state = self._read(key)
            fired: list[Trigger] = []
            self.journey.fire_due(state, key, watermark_ms, fired)
            self._write(key, state, state.stage, fired, Counter())

    def _read(self, key: str) -> ContactState:
        self.round_trips += 1
        raw: Any = self.client.get(self.layout.contact(key))
        return decode_state(raw)

    def _write(
        self,
        key: str,
        state: ContactState,
        stage_before: str | None,
        fired: list[Trigger],
        counters: Counter[str],
    ) -> None:
        compact(state)
        pipe = self.client.pipeline(transaction=True)
        pipe.set(self.layout.contact(key), encode_state(state), ex=DEFAULT_STATE_TTL_S)
        due = state.next_due_ms()
        if due is None:
            pipe.zrem(self.timers_key, key)
        else:
            pipe.zadd(self.timers_key, {key: due})
        emitted_at = iso_ms(int(time.time() * 1000))
        for trigger in fired:
            stamped = msgspec.structs.replace(trigger, emitted_at=emitted_at)
            pipe.xadd(
                self.layout.triggers,
                {"id": trigger.trigger_id, "json": encode_trigger(stamped)},
                maxlen=1_000_000,
                approximate=True,
            )
            counters["triggers"] += 1
            counters[f"trigger:{trigger.trigger}"] += 1
        for name, amount in counters.items():
            if amount:
                pipe.hincrby(self.layout.stats, name, amount)
        if stage_before != state.stage:
            if stage_before is not None:
                pipe.hincrby(self.layout.stages, stage_before, -1)
            pipe.hincrby(self.layout.stages, state.stage, 1)
        pipe.execute()
        self.round_trips += 1
        self.counters.update(counters)


def run_naive(
    path: Path,
    redis_url: str,
    rules: Rules,
    *,
    prefix: str = "naive",
    sweep_every: int = 1000,
) -> dict[str, Any]:
    """Run the naive job over a JSONL file; returns its throughput and counters."""
    client = connect(redis_url)
    runner = NaiveRunner(client, rules, prefix, str(path))
    decoder = EventDecoder(rules.event_types)
    watermark = Watermark(rules.allowed_lateness_ms)
    lines = 0
    started = time.perf_counter()
    with path.open("rb") as source:
        for line in source:
            raw = line.strip()
            if not raw:
                continue
            runner.event(raw, decoder, watermark)
            lines += 1
            if lines % sweep_every == 0:
                runner.sweep(watermark.current_ms)
    watermark.finish()
    runner.release(watermark)
    runner.sweep(watermark.current_ms)
    elapsed_s = time.perf_counter() - started
    client.close()
    return {
        "events": lines,
        "seconds": round(elapsed_s, 2),
        "events_per_s": round(lines / elapsed_s),
        "triggers": runner.counters["triggers"],
        "round_trips_per_event": round(runner.round_trips / max(lines, 1), 2),
        "sweep_every": sweep_every,
    }


def trigger_ids(client: redis.Redis, stream: str) -> set[str]:
    """Every `trigger_id` on a trigger stream (read in pages; benchmarks only)."""
    ids: set[str] = set()
    start = "-"
    while True:
        page: Any = client.xrange(stream, start, "+", count=10_000)
        ids.update(fields[b"id"].decode() for _, fields in page)
        if len(page) < 10_000:
            return ids
        start = "(" + page[-1][0].decode()


def main() -> int:
    from harness import events_file, machine, write_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sweep-every", type=int, default=1000)
    parser.add_argument("--rules", default=str(default_rules_path()))
    parser.add_argument("--json", help="also write the result as JSON to this file")
    args = parser.parse_args()

    path = events_file(args.events, args.contacts, args.seed)
    with PrivateRedis() as server:
        result = run_naive(path, server.url, load_rules(args.rules), sweep_every=args.sweep_every)
    result = {"benchmark": "naive", "contacts": args.contacts, **result, "machine": machine()}
    write_json(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
