"""Run the whole benchmark suite and write `latest.json` and `latest.md`.

    python bench/suite.py              # make bench: full sizes, results in bench/results/
    python bench/suite.py --smoke      # make bench-smoke: tiny sizes, checks everything runs

Steps, each a separate process: the micro-benchmarks (`pytest bench/micro`),
the replay matrix with the naive baseline (`replay.py`, which also measures
the footprint), live latency (`live_latency.py`), Kafka throughput when
`bench/kafka.py` exists (a private Tansu broker), then `report.py` to merge and render.

`--smoke` runs each benchmark once at tiny sizes (micro-benchmarks with
`--benchmark-disable`), into a scratch directory, and fails only when a
benchmark did not run or produced no results: timings are never asserted.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).parent
PYTHON = sys.executable


def steps(out: Path, *, smoke: bool, skip: set[str]) -> list[tuple[str, list[str], Path | None]]:
    """(name, command, result file) for every benchmark to run."""
    size = ["--smoke"] if smoke else []
    micro = [PYTHON, "-m", "pytest", str(BENCH / "micro"), "-q", "-p", "no:cacheprovider"]
    micro += ["--benchmark-disable"] if smoke else [f"--benchmark-json={out / 'micro.json'}"]
    planned = [
        ("micro", micro, None if smoke else out / "micro.json"),
        (
            "replay",
            [PYTHON, str(BENCH / "replay.py"), *(size or ["--matrix"]), "--naive", "--quiet"],
            out / "replay.json",
        ),
        (
            "skew",
            [
                PYTHON, str(BENCH / "replay.py"), "--skew-pair", "--quiet",
                *(["--events", "5000", "--contacts", "500"] if smoke
                  else ["--events", "200000", "--contacts", "50000"]),
            ],
            out / "skew.json",
        ),
        (
            "live",
            [PYTHON, str(BENCH / "live_latency.py"), "--shape", "journeys", "hot", *size],
            out / "live.json",
        ),
    ]  # fmt: skip
    kafka = BENCH / "kafka.py"
    if kafka.exists():
        kafka_size = ["--events", "5000", "--contacts", "500"] if smoke else []
        planned.append(("kafka", [PYTHON, str(kafka), *kafka_size], out / "kafka.json"))
    return [
        (name, command + ([f"--json={result}"] if result and name != "micro" else []), result)
        for name, command, result in planned
        if name not in skip
    ]


def run(out: Path, *, smoke: bool, skip: set[str]) -> int:
    """Run the steps into `out`, then the report; returns the exit status."""
    results = []
    for name, command, result in steps(out, smoke=smoke, skip=skip):
        started = time.perf_counter()
        print(f"bench: {name}: {' '.join(command)}", file=sys.stderr, flush=True)
        # Output goes to the terminal: a failing benchmark shows its own error.
        status = subprocess.run(command, stdout=sys.stderr, check=False).returncode
        print(f"bench: {name}: {time.perf_counter() - started:.0f}s", file=sys.stderr)
        if status != 0:
            print(f"bench: {name} failed with status {status}", file=sys.stderr)
            return status
        if result is not None:
            results.append(str(result))
    if not results:
        return 0
    report = [PYTHON, str(BENCH / "report.py"), *results]
    report += ["--json", str(out / "latest.json"), "--md", str(out / "latest.md")]
    if smoke:
        report.append("--check")
    return subprocess.run(report, check=False).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; checks it all runs")
    parser.add_argument("--out", type=Path, help="results directory (default bench/results)")
    parser.add_argument(
        "--skip", default="", help="comma-separated steps to leave out: micro,replay,live,kafka"
    )
    args = parser.parse_args()
    skip = {s for s in args.skip.split(",") if s}

    if args.smoke and args.out is None:
        with tempfile.TemporaryDirectory(prefix="pulse-bench-smoke-") as scratch:
            return run(Path(scratch), smoke=True, skip=skip)
    out = args.out or BENCH / "results"
    out.mkdir(parents=True, exist_ok=True)
    return run(out, smoke=args.smoke, skip=skip)


if __name__ == "__main__":
    sys.exit(main())
