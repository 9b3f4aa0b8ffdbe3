"""`pulse generate`: write the synthetic clickstream as JSON Lines."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from pulse.cli import options
from pulse.connectors.generator import write_jsonl

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add `generate`."""
    generate = commands.add_parser("generate", help="write the synthetic clickstream as JSONL")
    options.add_generator_options(generate)
    generate.add_argument("-o", "--output", default="-", help="file to write (default stdout)")
    generate.set_defaults(func=_generate)


def _generate(args: argparse.Namespace) -> int:
    config = options.generator_config(args)
    started = time.perf_counter()
    if args.output == "-":
        count = write_jsonl(config, sys.stdout.buffer)
    else:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        count = write_jsonl(config, Path(args.output))
    elapsed = time.perf_counter() - started
    print(f"pulse: wrote {count} events in {elapsed:.1f}s", file=sys.stderr)
    return 0
