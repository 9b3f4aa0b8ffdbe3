"""Replay throughput on one Redis server and on a 3-master Redis Cluster, side by side.

The same generated events, the shipped rules pack (model on), the real flow; the
cluster run commits each batch in two phases over the 16 key groups (see
`pulse.state.lua`). Both runs must fire the same trigger ids.

    python bench/cluster.py --events 50000 --contacts 5000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness import events_file
from pulse.config import RunConfig
from pulse.redis_server import PrivateRedis, PrivateRedisCluster
from pulse.report import RunReport, run_flow
from pulse.rules import default_rules_path
from pulse.state import connect, layout_for, read_all_triggers


def run_on(url: str, path: Path, batch_size: int) -> dict[str, Any]:
    """One replay of `path` into the Redis at `url`: events/s and the trigger ids."""
    with tempfile.TemporaryDirectory() as scratch:
        config = RunConfig(
            rules_path=str(default_rules_path()),
            redis_url=url,
            prefix="pulse",
            inputs=[str(path)],
            batch_size=batch_size,
            show_console=False,
            dead_letters_path=str(Path(scratch) / "dead_letters.jsonl"),
        )
        report = RunReport(config)
        run_flow(config, report)
    client = connect(url)
    ids = sorted(t.trigger_id for t in read_all_triggers(client, layout_for(client, "pulse")))
    return {
        "events": report.events,
        "seconds": round(report.elapsed_s, 2),
        "events_per_s": round(report.events / report.elapsed_s),
        "triggers": len(ids),
        "ids": ids,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--contacts", type=int, default=5_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument(
        "--shape", choices=["journeys", "uniform", "hot"],
        help="one traffic shape (default: journeys, then a hot contact)",
    )  # fmt: skip
    args = parser.parse_args()
    every_same = True
    for shape in [args.shape] if args.shape else ["journeys", "hot"]:
        path = events_file(args.events, args.contacts, 7, shape)
        with PrivateRedis() as server:
            one = run_on(server.url, path, args.batch_size)
        with PrivateRedisCluster(masters=3) as cluster:
            url = cluster.url.replace("redis://", "redis+cluster://", 1)
            many = run_on(url, path, args.batch_size)
        same = one.pop("ids") == many.pop("ids")
        every_same &= same
        result = {"shape": shape, "one_server": one, "cluster_3_masters": many}
        print(json.dumps({**result, "same_triggers": same}))
    return 0 if every_same else 1


if __name__ == "__main__":
    sys.exit(main())
