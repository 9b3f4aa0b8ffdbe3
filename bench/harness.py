"""What every end-to-end benchmark shares: seeded inputs, machine facts, JSON output.

The benchmark scripts (`replay.py`, `naive.py`, `footprint.py`, `live_latency.py`)
run from a checkout as `python bench/<script>.py`, so this directory is on
`sys.path` and they import this module by its plain name.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pulse.connectors.generator import GeneratorConfig, write_jsonl
from pulse.redis_server import find_redis_server

__all__ = ["DATA", "events_file", "machine", "percentiles", "write_json"]

DATA = Path(__file__).parent / ".data"
"""Generated inputs, cached between runs (git-ignored)."""

SPAN_DAYS = 120.0
"""Event-time span of generated inputs: long enough for rescue and lost-customer timers."""


SHAPES = ("journeys", "uniform", "hot")
"""Traffic shapes: generated journeys over `SPAN_DAYS`; dense traffic at `RATE_PER_S` events
per second of event time, uniform over contacts or with one hot contact (`HOT_SHARE`)."""
RATE_PER_S = 200.0
HOT_SHARE = 0.14


def shape_config(shape: str, events: int, contacts: int, seed: int = 7) -> GeneratorConfig:
    """The generator settings of a traffic shape."""
    if shape == "journeys":
        return GeneratorConfig(contacts=contacts, events=events, seed=seed, span_days=SPAN_DAYS)
    # Uniform: the head gets the share any contact would get (Zipf exponent about 0).
    share = HOT_SHARE if shape == "hot" else 1.0 / (contacts + 1)
    return GeneratorConfig(
        contacts=contacts, events=events, seed=seed, rate_per_s=RATE_PER_S, hot_share=share
    )


def events_file(events: int, contacts: int, seed: int = 7, shape: str = "journeys") -> Path:
    """The cached generated JSONL input for these parameters, generating it once."""
    suffix = "" if shape == "journeys" else f"-{shape}"
    path = DATA / f"events-{events}-{contacts}-{seed}{suffix}.jsonl"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        config = shape_config(shape, events, contacts, seed)
        # Written under a private name and renamed, so a concurrent or killed run
        # never leaves a half-written file that a later run would trust.
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        write_jsonl(config, partial)
        partial.rename(path)
        print(f"generated {path.name} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return path


def machine() -> dict[str, Any]:
    """Facts that make a number comparable: CPUs, load when measured, versions."""
    import bytewax

    try:
        redis_version = subprocess.run(
            [find_redis_server(), "--version"], capture_output=True, text=True, check=False
        ).stdout.split()[2]
    except (OSError, IndexError):
        redis_version = "unknown"
    # The hot path changes often: say which code was measured, and whether it was committed.
    git = ["git", "-C", str(Path(__file__).parent)]
    revision = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--untracked-files=no", "--", "src", "dataflows"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "git": f"{revision}{' + uncommitted changes in src/' if dirty else ''}",
        "cpus": os.cpu_count(),
        # The load average says whether other work shared the machine during a run.
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "bytewax": getattr(bytewax, "__version__", "0.21.1"),
        "redis_server": redis_version.removeprefix("v="),
        "platform": platform.platform(terse=True),
    }


def percentiles(values: Sequence[float], points: Sequence[int] = (50, 95, 99)) -> dict[str, Any]:
    """Nearest-rank percentiles, max and count of `values`, rounded to 0.1.

    >>> percentiles([1.0, 2.0, 3.0, 4.0], (50,))
    {'n': 4, 'p50': 2.0, 'max': 4.0}
    """
    ordered = sorted(values)
    out: dict[str, Any] = {"n": len(ordered)}
    for point in points:
        if ordered:
            rank = max(1, -(-len(ordered) * point // 100))
            out[f"p{point}"] = round(ordered[rank - 1], 1)
        else:
            out[f"p{point}"] = None
    out["max"] = round(ordered[-1], 1) if ordered else None
    return out


def write_json(result: dict[str, Any], path: str | None) -> None:
    """Print the result, and write it to `path` when given (`-`: standard output only)."""
    text = json.dumps(result, indent=2)
    print(text)
    if path and path != "-":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n")
