"""Memory footprint: Redis bytes per active contact and process peak RSS, as contacts grow.

    python bench/footprint.py --events 1000000 --contacts 10000 100000 1000000

Each size is one replay (`replay.py`, in its own process so its peak RSS is its
own) through the real flow into a fresh private redis-server. After the run it
measures:

* `used_memory` delta (after minus before the run) divided by the contacts that
  hold a state key: everything pulse keeps, per active contact;
* that total split into state keys (`MEMORY USAGE` and `STRLEN` of a sample of
  state keys), the timer index zsets, the trigger stream, and the rest (key
  expiry entries, hash tables, counters);
* the replay process's peak RSS and Redis's RSS.

The trigger stream is an output capped near 1,000,000 entries, not per-contact
state, so the per-contact figures are given with and without it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from typing import Any

import redis

from pulse.state import KeyLayout

__all__ = ["measure"]

_SAMPLE = 2000
"""State keys whose `MEMORY USAGE` is read: enough for stable means, cheap at any size."""


def measure(client: redis.Redis, layout: KeyLayout, used_before: int) -> dict[str, Any]:
    """Redis memory pulse holds under `layout`, per active contact, after a run."""
    info = client.info("memory")
    used_delta = int(info["used_memory"]) - used_before
    contacts, sample, timer_keys = _keys(client, layout)
    pipe = client.pipeline(transaction=False)
    for key in sample:
        pipe.memory_usage(key, samples=0)
        pipe.strlen(key)
    for key in timer_keys:
        pipe.memory_usage(key, samples=0)
    pipe.memory_usage(layout.triggers, samples=0)
    pipe.xlen(layout.triggers)
    replies = pipe.execute()
    key_bytes = [int(v or 0) for v in replies[0 : 2 * len(sample) : 2]]
    value_bytes = [int(v or 0) for v in replies[1 : 2 * len(sample) : 2]]
    rest = replies[2 * len(sample) :]
    timers_bytes = sum(int(v or 0) for v in rest[: len(timer_keys)])
    stream_bytes, stream_entries = (int(v or 0) for v in rest[len(timer_keys) :])
    contacts = max(contacts, 1)
    state_mean = statistics.fmean(key_bytes) if key_bytes else 0.0
    without_stream = used_delta - stream_bytes
    return {
        "contacts": contacts,
        "used_memory_delta_mib": round(used_delta / 2**20, 1),
        "bytes_per_contact": round(used_delta / contacts),
        "bytes_per_contact_without_stream": round(without_stream / contacts),
        "state_key_bytes_mean": round(state_mean),
        "state_key_bytes_p50": _quantile(key_bytes, 0.5),
        "state_key_bytes_p95": _quantile(key_bytes, 0.95),
        "state_value_bytes_mean": round(statistics.fmean(value_bytes)) if value_bytes else 0,
        "state_value_bytes_p95": _quantile(value_bytes, 0.95),
        "timers_bytes_per_contact": round(timers_bytes / contacts),
        "stream_entries": stream_entries,
        "stream_bytes_per_contact": round(stream_bytes / contacts),
        "other_bytes_per_contact": round(
            (without_stream - timers_bytes - state_mean * contacts) / contacts
        ),
        "redis_used_memory_mib": round(int(info["used_memory"]) / 2**20, 1),
        "redis_rss_mib": round(int(info["used_memory_rss"]) / 2**20, 1),
    }


def _keys(client: redis.Redis, layout: KeyLayout) -> tuple[int, list[bytes], list[bytes]]:
    """Number of contact state keys, a sample of them, and the timer index keys.

    A full `SCAN` (benchmarks only, never the hot path): SCAN walks the hash
    table in bucket order, so its first state keys are as good as a random sample.
    """
    contacts = 0
    sample: list[bytes] = []
    timers: list[bytes] = []
    state_prefix = f"{layout.prefix}:{{c:".encode()
    timers_prefix = f"{layout.prefix}:timers:".encode()
    for key in client.scan_iter(match=f"{layout.prefix}:*", count=10_000):
        if key.startswith(state_prefix):
            contacts += 1
            if len(sample) < _SAMPLE:
                sample.append(key)
        elif key.startswith(timers_prefix):
            timers.append(key)
    return contacts, sample, timers


def _quantile(values: list[int], q: float) -> int:
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    from harness import machine, write_json
    from replay import run_cell_in_subprocess

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", help="also write the result as JSON to this file")
    args = parser.parse_args()

    runs = []
    for contacts in args.contacts:
        cell = run_cell_in_subprocess(args.events, contacts, args.seed)
        runs.append(
            {
                "events": cell["events"],
                "generated_contacts": contacts,
                "peak_rss_mib": cell["peak_rss_mib"],
                **cell["footprint"],
            }
        )
        print(f"footprint: {runs[-1]}", file=sys.stderr)
    write_json({"benchmark": "footprint", "machine": machine(), "runs": runs}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
