"""End-to-end replay benchmark: generated JSONL through the real flow and real Redis.

    python bench/replay.py --events 1000000 --contacts 100000 --json out.json
    python bench/replay.py --matrix --naive --json bench/results/replay.json

One run replays a seeded generated file (cached under `bench/.data/`) through
the real dataflow (`pulse.report.run_flow`: file source, decode, the batch step
with state, scoring and triggers, sinks) into a fresh private redis-server, and
reports events/s, triggers, the process's peak RSS and the Redis footprint
(`footprint.measure`). `--naive` then runs the naive per-event baseline
(`naive.py`) over the same file into the same server under another prefix and
checks that both emitted the same trigger ids.

`--matrix` runs every size of the issue (100k and 1M events, 10k/100k/1M
contacts), each in its own process so that peak RSS and Python heap are per run;
the naive baseline, at about 3k events/s, only runs on the 100k-event sizes.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import redis

from footprint import measure
from harness import SHAPES, events_file, machine, write_json
from naive import run_naive, trigger_ids
from pulse.config import RunConfig
from pulse.redis_server import PrivateRedis
from pulse.report import RunReport, peak_rss_mb, run_flow
from pulse.rules import default_rules_path, load_rules
from pulse.state import KeyLayout

__all__ = ["MATRIX", "SMOKE", "run_cell", "run_cell_in_subprocess"]

MATRIX: list[tuple[int, int]] = [
    (100_000, 10_000),
    (100_000, 100_000),
    (1_000_000, 10_000),
    (1_000_000, 100_000),
    (1_000_000, 1_000_000),
]
"""(events, contacts). 100k events over 1M contacts is left out: most contacts would get none."""

SMOKE: list[tuple[int, int]] = [(5_000, 500)]
"""Small enough to check that everything runs in a few seconds; its numbers mean nothing."""

NAIVE_MAX_EVENTS = 100_000
"""Largest input the naive baseline runs on in a matrix (it takes ~35 s per 100k events)."""


def run_cell(
    events: int,
    contacts: int,
    *,
    seed: int = 7,
    batch_size: int = 1000,
    rules_path: str | None = None,
    naive: bool = False,
    shape: str = "journeys",
) -> dict[str, Any]:
    """One replay (and optionally the naive baseline) in this process."""
    path = events_file(events, contacts, seed, shape)
    rules_path = rules_path or str(default_rules_path())
    layout = KeyLayout("pulse")
    with PrivateRedis() as server, tempfile.TemporaryDirectory() as scratch:
        client = redis.Redis.from_url(server.url)
        used_before = int(client.info("memory")["used_memory"])
        config = RunConfig(
            rules_path=rules_path,
            redis_url=server.url,
            prefix=layout.prefix,
            inputs=[str(path)],
            batch_size=batch_size,
            show_console=False,
            dead_letters_path=str(Path(scratch) / "dead_letters.jsonl"),
        )
        report = RunReport(config)
        cpu_before, redis_cpu_before = _cpu_s(), _redis_cpu_s(client)
        run_flow(config, report)
        cpu_s, redis_cpu_s = _cpu_s() - cpu_before, _redis_cpu_s(client) - redis_cpu_before
        result: dict[str, Any] = {
            "shape": shape,
            "rules": Path(rules_path).name,
            "events": report.events,
            "generated_contacts": contacts,
            "batch_size": batch_size,
            "seconds": round(report.elapsed_s, 2),
            "events_per_s": round(report.events / report.elapsed_s),
            "triggers": report.totals.get("triggers", 0),
            # CPU seconds tell a busy machine from a slow flow: on an idle machine
            # wall time is about process CPU plus the time spent waiting on Redis.
            "process_cpu_s": round(cpu_s, 2),
            "redis_cpu_s": round(redis_cpu_s, 2),
            "events_per_cpu_s": round(report.events / max(cpu_s, 1e-9)),
            "peak_rss_mib": round(peak_rss_mb()),
            "footprint": measure(client, layout, used_before),
        }
        if naive:
            baseline = run_naive(path, server.url, load_rules(rules_path), prefix="naive")
            batched_ids = trigger_ids(client, layout.triggers)
            naive_ids = trigger_ids(client, KeyLayout("naive").triggers)
            result["naive"] = {
                **baseline,
                # Equal work: both must emit the same triggers (ids are deterministic).
                "same_triggers": batched_ids == naive_ids,
                "differing_trigger_ids": len(batched_ids ^ naive_ids),
                "speedup": round(result["events_per_s"] / baseline["events_per_s"], 1),
            }
        client.close()
    return result


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _redis_cpu_s(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def run_cell_in_subprocess(
    events: int,
    contacts: int,
    seed: int = 7,
    *,
    batch_size: int = 1000,
    naive: bool = False,
    shape: str = "journeys",
    rules_path: str | None = None,
) -> dict[str, Any]:
    """`run_cell` in a fresh interpreter, so peak RSS and heap belong to this run alone."""
    events_file(events, contacts, seed, shape)  # generated here: not counted in the run
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "cell.json"
        command = [
            sys.executable, __file__, "--events", str(events), "--contacts", str(contacts),
            "--seed", str(seed), "--batch-size", str(batch_size), "--json", str(out), "--quiet",
            "--shape", shape, "--rules", rules_path or str(default_rules_path()),
        ]  # fmt: skip
        if naive:
            command.append("--naive")
        subprocess.run(command, check=True)
        runs: list[dict[str, Any]] = json.loads(out.read_text())["runs"]
        return runs[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--rules", default=str(default_rules_path()))
    parser.add_argument("--naive", action="store_true", help="also run the naive baseline")
    parser.add_argument(
        "--shape",
        choices=SHAPES,
        default="journeys",
        help="journeys over 120 days (default), or dense traffic: uniform or with a hot contact",
    )
    parser.add_argument(
        "--skew-pair",
        action="store_true",
        help="uniform and hot traffic side by side, with bench/rules/hot_reference.yaml",
    )
    parser.add_argument(
        "--gc-threshold",
        type=int,
        help="experiment: freeze the start-up heap and set the GC's generation-0 threshold",
    )
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--matrix", action="store_true", help="every size of the issue")
    sizes.add_argument("--smoke", action="store_true", help="one tiny size: checks it runs")
    parser.add_argument("--json", help="also write the result as JSON to this file")
    parser.add_argument("--quiet", action="store_true", help="do not print the result")
    args = parser.parse_args()

    if args.skew_pair:
        rules = str(Path(__file__).parent / "rules" / "hot_reference.yaml")
        runs = []
        for shape in ("uniform", "hot"):
            print(f"replay: {shape}, {args.events:,} events ...", file=sys.stderr)
            runs.append(
                run_cell_in_subprocess(
                    args.events,
                    args.contacts,
                    args.seed,
                    shape=shape,
                    rules_path=rules,
                    batch_size=args.batch_size,
                )
            )
            print(f"replay: {runs[-1]['events_per_s']:,} events/s", file=sys.stderr)
    elif args.matrix or args.smoke:
        runs = []
        for events, contacts in MATRIX if args.matrix else SMOKE:
            naive = args.naive and events <= NAIVE_MAX_EVENTS
            print(f"replay: {events:,} events, {contacts:,} contacts ...", file=sys.stderr)
            runs.append(
                run_cell_in_subprocess(
                    events, contacts, args.seed, batch_size=args.batch_size, naive=naive
                )
            )
            print(f"replay: {runs[-1]['events_per_s']:,} events/s", file=sys.stderr)
    else:
        if args.gc_threshold:
            # The flow allocates many short-lived containers per event (decoded
            # states, features); this measures what the collector costs them.
            gc.freeze()
            gc.set_threshold(args.gc_threshold)
        runs = [
            run_cell(
                args.events,
                args.contacts,
                seed=args.seed,
                batch_size=args.batch_size,
                rules_path=args.rules,
                naive=args.naive,
                shape=args.shape,
            )
        ]
        runs[0]["gc_threshold"] = args.gc_threshold
    name = "skew" if args.skew_pair else "replay"
    result = {"benchmark": name, "machine": machine(), "runs": runs}
    if args.quiet:
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    else:
        write_json(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
