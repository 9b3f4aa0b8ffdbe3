"""Where the replay's time goes: py-spy samples of `replay.py`, summed by category.

    python bench/profile.py --events 1000000 --contacts 100000      # record, then summarise
    python bench/profile.py --raw /tmp/replay.txt                   # summarise a recording

Records the replay with `py-spy record --idle --format raw` (py-spy must be
installed: `pip install py-spy`; `--idle` keeps the samples where the process
waits on the Redis socket, which is time the flow spends too). Each sample's
stack is put in the first category that matches, in this order:

1. `waiting on Redis`: the leaf is a socket read or write in redis-py;
2. `redis-py client`: any other redis-py frame (packing commands, parsing replies);
3. `state msgpack`: `encode_state` / `decode_state`;
4. `model learning`: `LeadModel.learn_until` (river's `learn_one` and metrics);
5. `model scoring`: features, probability and delayed labels on each event;
6. `CEL conditions`: `Condition.evaluate`;
7. `journey logic`: the rest of `Journey` (dedupe, windows, points, triggers, timers);
8. `source: read + decode`: the file source and `EventDecoder`;
9. `engine bookkeeping`: the rest of the batch step (`Engine`, `ContactStore`);
10. `sinks`: trigger and dead-letter outputs;
11. `bytewax runtime`: samples inside `run_main` with no Python frame below it (Rust).

Shares are of the samples inside `run_flow`; start-up, input generation and the
footprint measurement after the run are left out.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["CATEGORIES", "categorise", "summarise"]

BENCH = Path(__file__).parent

CATEGORIES: list[tuple[str, re.Pattern[str]]] = [
    (
        "waiting on Redis",
        re.compile(r"^\S*(read_from_socket|send_packed_command|sendall|recv_into) "),
    ),
    ("redis-py client", re.compile(r"\(redis/")),
    ("state msgpack", re.compile(r"^(encode_state|decode_state) ")),
    ("model learning", re.compile(r"^(LeadModel\.learn_until|Engine\._learn) ")),
    (
        "model scoring",
        re.compile(r"^(extract_features|LeadModel\.|Journey\._apply_model|sample_vector|resolve_)"),
    ),
    ("CEL conditions", re.compile(r"^Condition\.evaluate ")),
    ("journey logic", re.compile(r"\(pulse/(journey|scoring|windows|contact|triggers)\.py")),
    ("source: read + decode", re.compile(r"\(pulse/(connectors/files|events|watermark)\.py")),
    ("engine bookkeeping", re.compile(r"\(pulse/(engine|state)\.py|process_batch ")),
    ("sinks", re.compile(r"\(pulse/connectors/sinks\.py")),
]
"""(category, pattern over one frame), in the priority order of the module docstring."""

_IN_FLOW = re.compile(r"^run_flow ")
_LEAF_ONLY = {"waiting on Redis"}


def categorise(frames: list[str]) -> str:
    """The category of one sample inside the flow (frames root first)."""
    leaf = frames[-1]
    for name, pattern in CATEGORIES:
        if name in _LEAF_ONLY:
            if pattern.search(leaf):
                return name
            continue
        if any(pattern.search(frame) for frame in frames):
            return name
    return "bytewax runtime"


def _function(frame: str) -> str:
    # "func (path/file.py:123)" -> "func (path/file.py)": aggregate over lines.
    return re.sub(r":\d+\)$", ")", frame)


def summarise(raw: Path, top: int = 25) -> dict[str, Any]:
    """Category shares and the top functions (self and inclusive) of a raw recording."""
    categories: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = in_flow = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        start = next((i for i, f in enumerate(frames) if _IN_FLOW.search(f)), None)
        if start is None:
            continue
        in_flow += count
        flow_frames = frames[start:]
        categories[categorise(flow_frames)] += count
        self_time[_function(flow_frames[-1])] += count
        for function in {_function(f) for f in flow_frames[1:]}:
            inclusive[function] += count

    def share(n: int) -> float:
        return round(100 * n / max(in_flow, 1), 1)

    return {
        "samples": total,
        "samples_in_flow": in_flow,
        "categories": {name: share(n) for name, n in categories.most_common()},
        "top_self": [{"function": f, "percent": share(n)} for f, n in self_time.most_common(top)],
        "top_inclusive": [
            {"function": f, "percent": share(n)} for f, n in inclusive.most_common(top)
        ],
    }


def record(args: argparse.Namespace, raw: Path) -> None:
    """Run `replay.py` under py-spy, writing the raw (collapsed stacks) recording."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        raise SystemExit("profile: py-spy not found; `pip install py-spy` into the venv")
    command = [
        py_spy, "record", "--idle", "--rate", str(args.rate), "--format", "raw",
        "-o", str(raw), "--", sys.executable, str(BENCH / "replay.py"),
        "--events", str(args.events), "--contacts", str(args.contacts),
        "--json", str(raw.with_suffix(".json")), "--quiet", "--rules", args.rules,
    ]  # fmt: skip
    subprocess.run(command, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--rules", default=str(BENCH.parent / "rules" / "default.yaml"))
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--raw", type=Path, help="summarise this recording instead of recording")
    parser.add_argument("--keep", type=Path, help="keep the raw recording here")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--json", help="also write the summary as JSON to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        raw = args.raw
        if raw is None:
            raw = args.keep or Path(scratch) / "replay.txt"
            record(args, raw)
        summary = summarise(raw, args.top)
        replay_json = raw.with_suffix(".json")
        if replay_json.exists():
            summary["replay"] = json.loads(replay_json.read_text())["runs"][0]
    print(f"{summary['samples_in_flow']:,} of {summary['samples']:,} samples inside run_flow")
    for name, percent in summary["categories"].items():
        print(f"  {percent:5.1f}%  {name}")
    print("top functions, self time:")
    for row in summary["top_self"]:
        print(f"  {row['percent']:5.1f}%  {row['function']}")
    print("top functions, inclusive:")
    for row in summary["top_inclusive"]:
        print(f"  {row['percent']:5.1f}%  {row['function']}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
