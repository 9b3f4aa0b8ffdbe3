"""End-to-end replay benchmark: generated JSONL through the real flow and real Redis.

    python bench/replay.py --events 1000000 --contacts 100000 --json bench/results/latest.json

Prints events/s, peak RSS of this process, and Redis memory per contact. The
event file is generated once per (events, contacts, seed) and cached under
`bench/.data/`.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import redis

from pulse.config import RunConfig
from pulse.connectors.generator import GeneratorConfig, write_jsonl
from pulse.redis_server import PrivateRedis
from pulse.report import RunReport, peak_rss_mb, run_flow
from pulse.rules import default_rules_path

DATA = Path(__file__).parent / ".data"


def events_file(events: int, contacts: int, seed: int) -> Path:
    """The cached generated input for these parameters."""
    path = DATA / f"events-{events}-{contacts}-{seed}.jsonl"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        config = GeneratorConfig(contacts=contacts, events=events, seed=seed, span_days=120)
        write_jsonl(config, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").rename(path)
        print(f"generated {path.name} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--json", help="also write the result as JSON to this file")
    args = parser.parse_args()

    path = events_file(args.events, args.contacts, args.seed)
    with PrivateRedis() as server:
        config = RunConfig(
            rules_path=str(default_rules_path()),
            redis_url=server.url,
            inputs=[str(path)],
            batch_size=args.batch_size,
            show_console=False,
            dead_letters_path=str(DATA / "dead_letters.jsonl"),
        )
        report = RunReport(config)
        run_flow(config, report)
        info = redis.Redis.from_url(server.url).info("memory")
        stages = sum(report.stages.values())
    result = {
        "benchmark": "replay",
        "events": report.events,
        "contacts": stages,
        "seconds": round(report.elapsed_s, 2),
        "events_per_s": round(report.events / report.elapsed_s),
        "triggers": report.totals.get("triggers", 0),
        "peak_rss_mib": round(peak_rss_mb()),
        "redis_used_memory_mib": round(info["used_memory"] / 2**20, 1),
        "redis_bytes_per_contact": round(info["used_memory"] / max(stages, 1)),
        "batch_size": args.batch_size,
        "python": platform.python_version(),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
