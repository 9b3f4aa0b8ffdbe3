"""Merge benchmark results into one JSON file and render them as markdown tables.

    python bench/report.py bench/results/micro.json bench/results/replay.json \\
        bench/results/live.json --json bench/results/latest.json --md bench/results/latest.md

Inputs are the `--json` outputs of `replay.py`, `live_latency.py`, `footprint.py`
and `kafka.py`, and pytest-benchmark's `--benchmark-json` of
`bench/micro`. Each is recognised by its content. The markdown starts with the
issue's targets, measured value beside goal, then one table per benchmark.
`--check` fails when an input holds no results or lacks a field the tables
need; it never looks at how fast anything was.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["merge", "render"]


def merge(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """One result document from the inputs, grouped by benchmark."""
    merged: dict[str, Any] = {
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {},
        "micro": [],
        "replay": [],
        "skew": [],
        "live": [],
        "footprint": [],
        "kafka": [],
    }
    for document in documents:
        if "benchmarks" in document:
            merged["micro"].extend(_micro(document))
            continue
        name = document["benchmark"]
        section = {"replay": "replay", "live_latency": "live", "footprint": "footprint"}.get(
            name, name
        )
        # Settings given once per document (partitions, broker) belong to each of its runs.
        shared = {
            k: v
            for k, v in document.items()
            if k not in ("benchmark", "machine", "runs") and not isinstance(v, dict | list)
        }
        merged.setdefault(section, []).extend({**shared, **run} for run in document["runs"])
        for key in ("load_avg_1m", "measured_at"):
            merged["machine"].setdefault(key, {})[name] = document["machine"].get(key)
        for key, value in document["machine"].items():
            if key not in ("load_avg_1m", "measured_at"):
                merged["machine"][key] = value
    if not merged["footprint"]:
        # The replay runs measure the footprint too: no need to replay twice.
        merged["footprint"] = [
            {"events": r["events"], "peak_rss_mib": r["peak_rss_mib"], **r["footprint"]}
            for r in merged["replay"]
            if "footprint" in r
        ]
    merged["targets"] = _targets(merged)
    return merged


def _micro(document: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for bench in document["benchmarks"]:
        stats = bench["stats"]
        items = int(bench.get("extra_info", {}).get("items", 1)) or 1
        rows.append(
            {
                "group": bench.get("group") or "",
                "name": bench["name"].removeprefix("test_"),
                "items_per_call": items,
                "median_ms": round(stats["median"] * 1e3, 3),
                "per_item_us": round(stats["median"] * 1e6 / items, 2),
                "iqr_ms": round(stats["iqr"] * 1e3, 3),
                "rounds": stats["rounds"],
            }
        )
    return rows


def _targets(merged: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets with what was measured; `None` where it was not measured."""
    targets = []
    replay = {(r["events"], r["generated_contacts"]): r for r in merged["replay"]}
    main = replay.get((1_000_000, 100_000))
    rate = main["events_per_s"] if main else None
    targets.append(
        _target(
            "replay 1M events / 100k contacts",
            "≥ 100,000 events/s",
            rate,
            rate is not None and rate >= 100_000,
            "{:,} events/s",
        )
    )
    live = {r["rate"]: r for r in merged["live"] if r.get("shape", "journeys") == "journeys"}
    at_20k = live.get(20_000)
    p99 = at_20k["immediate_ms"]["p99"] if at_20k else None
    targets.append(
        _target(
            "live at 20k events/s: event to trigger p99",
            "≤ 50 ms",
            p99,
            p99 is not None and p99 <= 50,
            "{:,.1f} ms",
        )
    )
    timer_p99s = [
        r[k]["p99"]
        for r in merged["live"]
        for k in ("timer_under_load_ms", "timer_idle_ms")
        if r[k]["p99"] is not None
    ]
    worst = max(timer_p99s) if timer_p99s else None
    targets.append(
        _target(
            "timers: due to emitted, worst p99 over all rates",
            "≤ 1,000 ms",
            worst,
            worst is not None and worst <= 1000,
            "{:,.0f} ms",
        )
    )
    per_contact = main["footprint"]["bytes_per_contact"] if main else None
    targets.append(
        _target(
            "Redis per active contact (1M events / 100k contacts)",
            "≤ 500 B",
            per_contact,
            per_contact is not None and per_contact <= 500,
            "{:,} B",
        )
    )
    skew = {r["shape"]: r for r in merged["skew"]}
    hot, uniform = skew.get("hot"), skew.get("uniform")
    hot_rate = hot["events_per_s"] if hot else None
    targets.append(
        _target(
            "skewed stream (busiest contact 14 %), rules-only reference job",
            "≥ 100,000 events/s",
            hot_rate,
            hot_rate is not None and hot_rate >= 100_000,
            "{:,} events/s",
        )
    )
    gap = (
        round(100 * (uniform["events_per_s"] - hot["events_per_s"]) / uniform["events_per_s"])
        if hot and uniform
        else None
    )
    targets.append(
        _target(
            "skewed vs uniform throughput (same job, same size)",
            "skewed within 20 % of uniform",
            gap,
            gap is not None and gap <= 20,
            "skewed {}% below uniform (negative: faster)",
        )
    )
    per_event = {
        r["name"]: r["per_item_us"] for r in merged["micro"] if r["group"] == "hot-contact"
    }
    quiet = per_event.get("one_more_event_for_a_contact[10]")
    busy = per_event.get("one_more_event_for_a_contact[100000]")
    ratio = round(100 * (busy - quiet) / quiet) if quiet and busy else None
    targets.append(
        _target(
            "one event: contact with 100,000 vs 10 events in the last hour",
            "within 20 %",
            ratio,
            ratio is not None and ratio <= 20,
            "busy contact {}% dearer",
        )
    )
    big = [r for (events, _), r in replay.items() if events == 1_000_000]
    spread = _spread([r["events_per_s"] for r in big])
    cpu_spread = _spread([r["events_per_cpu_s"] for r in big])
    targets.append(
        _target(
            "throughput flat from 10k to 1M contacts (1M events)",
            "within 20 %",
            spread,
            spread is not None and spread <= 20,
            f"{{}}% spread in events/s ({cpu_spread}% in events per CPU-second)",
        )
    )
    return targets


def _spread(values: list[int]) -> int | None:
    """(max - min) / max, in percent, of two or more values."""
    return round(100 * (max(values) - min(values)) / max(values)) if len(values) >= 2 else None


def _target(name: str, goal: str, value: Any, reached: bool, form: str) -> dict[str, Any]:
    if value is None:
        return {"target": name, "goal": goal, "measured": "not measured", "reached": None}
    return {"target": name, "goal": goal, "measured": form.format(value), "reached": reached}


def render(merged: dict[str, Any]) -> str:
    """The merged results as markdown."""
    m = merged["machine"]
    loads = ", ".join(f"{k} {v}" for k, v in m.get("load_avg_1m", {}).items())
    times = sorted(t for t in m.get("measured_at", {}).values() if t)
    when = f"{times[0]} to {times[-1]}" if times else merged["generated_at"]
    out = [
        "# pulse benchmarks",
        "",
        f"Measured {when} on {m.get('cpus', '?')} CPUs "
        f"(Python {m.get('python', '?')}, bytewax {m.get('bytewax', '?')}, "
        f"redis-server {m.get('redis_server', '?')}), code at `{m.get('git', '?')}`; "
        f"1-minute load average when each benchmark started: {loads or 'n/a'}. "
        "Redis runs on the same machine.",
        "",
        "## Targets (issues #6 and #9)",
        "",
        *_table(
            ["target", "goal", "measured", "reached"],
            [
                [
                    t["target"],
                    t["goal"],
                    t["measured"],
                    {True: "yes", False: "no", None: "-"}[t["reached"]],
                ]
                for t in merged["targets"]
            ],
        ),
    ]
    if merged["replay"]:
        out += ["", "## Replay throughput (`bench/replay.py`)", ""]
        out += _table(
            [
                "events",
                "contacts (generated / with state)",
                "events/s",
                "events per CPU-second",
                "CPU s: pulse / redis (wall)",
                "triggers",
                "peak RSS",
                "naive events/s",
                "batched / naive",
                "same triggers",
            ],
            [
                [
                    f"{r['events']:,}",
                    f"{r['generated_contacts']:,} / {r['footprint']['contacts']:,}",
                    f"{r['events_per_s']:,}",
                    f"{r['events_per_cpu_s']:,}",
                    f"{r['process_cpu_s']} / {r['redis_cpu_s']} ({r['seconds']})",
                    f"{r['triggers']:,}",
                    f"{r['peak_rss_mib']} MiB",
                    f"{r['naive']['events_per_s']:,}" if "naive" in r else "-",
                    f"{r['naive']['speedup']}x" if "naive" in r else "-",
                    (
                        "yes"
                        if r["naive"]["same_triggers"]
                        else f"no ({r['naive']['differing_trigger_ids']} ids differ)"
                    )
                    if "naive" in r
                    else "-",
                ]
                for r in merged["replay"]
            ],
        )
    if merged["skew"]:
        out += ["", "## Uniform and skewed traffic (`bench/replay.py --skew-pair`)", ""]
        out += _table(
            ["traffic", "events", "events/s", "events per CPU-second", "triggers", "B/contact"],
            [
                [
                    r["shape"],
                    f"{r['events']:,}",
                    f"{r['events_per_s']:,}",
                    f"{r['events_per_cpu_s']:,}",
                    f"{r['triggers']:,}",
                    f"{r['footprint']['bytes_per_contact']:,}",
                ]
                for r in merged["skew"]
            ],
        )
    if merged["live"]:
        out += ["", "## Live latency (`bench/live_latency.py`, `pulse run --live -i -`)", ""]
        out += _table(
            [
                "traffic",
                "offered events/s",
                "achieved",
                "pulse CPU",
                "event to trigger p50 / p95 / p99",
                "to commit p99",
                "timer under load p50 / p99",
                "timer idle p50 / p99",
            ],
            [
                [
                    r.get("shape", "journeys"),
                    f"{r['rate']:,}",
                    f"{r['achieved_rate']:,}",
                    f"{r['pulse_cpu_s']} s" if "pulse_cpu_s" in r else "-",
                    _pcts(r["immediate_ms"]),
                    _ms(r["commit_ms"]["p99"]),
                    _pcts(r["timer_under_load_ms"], (50, 99)),
                    _pcts(r["timer_idle_ms"], (50, 99)),
                ]
                for r in merged["live"]
            ],
        )
    if merged["footprint"]:
        out += ["", "## Footprint (`bench/footprint.py`; per active contact)", ""]
        out += _table(
            [
                "events",
                "contacts",
                "Redis B/contact",
                "without trigger stream",
                "state key (mean)",
                "state value (mean)",
                "timer index",
                "trigger stream",
                "other",
                "peak RSS",
            ],
            [
                [
                    f"{r['events']:,}",
                    f"{r['contacts']:,}",
                    f"{r['bytes_per_contact']:,}",
                    f"{r['bytes_per_contact_without_stream']:,}",
                    f"{r['state_key_bytes_mean']:,}",
                    f"{r['state_value_bytes_mean']:,}",
                    f"{r['timers_bytes_per_contact']:,}",
                    f"{r['stream_bytes_per_contact']:,}",
                    f"{r['other_bytes_per_contact']:,}",
                    f"{r['peak_rss_mib']} MiB",
                ]
                for r in merged["footprint"]
            ],
        )
    if merged["kafka"]:
        out += ["", "## Kafka throughput (`bench/kafka.py`: topic to flow to trigger topic)", ""]
        out += _table(
            ["events", "partitions", "processes", "source loop", "events/s", "triggers"],
            [
                [
                    f"{r['events']:,}",
                    str(r.get("partitions", "-")),
                    str(r.get("processes", 1)),
                    str(r.get("event_loop", "-")),
                    f"{r['events_per_s']:,}",
                    f"{r['triggers']:,}",
                ]
                for r in merged["kafka"]
            ],
        )
    if merged["micro"]:
        out += ["", "## Micro-benchmarks (`pytest bench/micro`; median)", ""]
        out += _table(
            ["group", "benchmark", "items per call", "per item", "per call", "rounds"],
            [
                [
                    r["group"],
                    r["name"],
                    f"{r['items_per_call']:,}",
                    f"{r['per_item_us']:,} µs",
                    f"{r['median_ms']:,} ms",
                    str(r["rounds"]),
                ]
                for r in merged["micro"]
            ],
        )
    return "\n".join(out) + "\n"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} ms"


def _pcts(stats: dict[str, Any], points: tuple[int, ...] = (50, 95, 99)) -> str:
    if not stats["n"]:
        return "-"
    return " / ".join(f"{stats[f'p{p}']:,.1f}" for p in points) + f" ms (n={stats['n']:,})"


def check(merged: dict[str, Any], documents: list[dict[str, Any]]) -> list[str]:
    """Problems that mean a benchmark did not run properly (timings are never checked)."""
    problems = []
    for document in documents:
        if "benchmarks" in document and not document["benchmarks"]:
            problems.append("micro: no benchmarks ran")
        elif "runs" in document and not document["runs"]:
            problems.append(f"{document['benchmark']}: no runs")
    for run in merged["replay"]:
        if not run["events"] or not run["triggers"]:
            problems.append(f"replay: no events or no triggers in {run}")
        if "naive" in run and not run["naive"]["events"]:
            problems.append("replay: the naive baseline processed nothing")
    for run in merged["live"]:
        if not run["immediate_ms"]["n"]:
            problems.append(f"live: no immediate trigger arrived at {run['rate']} events/s")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", help="result JSON files")
    parser.add_argument("--json", help="write the merged results here")
    parser.add_argument("--md", help="write the markdown tables here")
    parser.add_argument("--check", action="store_true", help="fail if a benchmark did not run")
    args = parser.parse_args()

    documents = [json.loads(Path(p).read_text()) for p in args.inputs]
    merged = merge(documents)
    text = render(merged)
    if args.json:
        Path(args.json).write_text(json.dumps(merged, indent=2) + "\n")
    if args.md:
        Path(args.md).write_text(text)
    print(text)
    if args.check:
        problems = check(merged, documents)
        for problem in problems:
            print(f"bench check: {problem}", file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
