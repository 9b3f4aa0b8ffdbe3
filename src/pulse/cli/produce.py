"""`pulse produce`: send a JSONL file or the synthetic clickstream to a Kafka topic."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pulse.cli import kafka_options, options
from pulse.errors import ConfigError

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add `produce`."""
    produce = commands.add_parser(
        "produce", help="send events (a JSONL file or the generator) to a Kafka topic"
    )
    produce.add_argument(
        "-i", "--input", help="JSONL file, or - for stdin; default: the built-in generator"
    )
    produce.add_argument(
        "--rate", type=float, metavar="N", help="events per second (default: as fast as possible)"
    )
    produce.add_argument(
        "--partitions", type=int, default=4, metavar="N",
        help="partitions of the topic when it has to be created (default 4)",
    )  # fmt: skip
    kafka_options.add_connection_options(produce.add_argument_group("kafka"))
    options.add_generator_options(produce)
    produce.set_defaults(func=_produce)


def _produce(args: argparse.Namespace) -> int:
    from pulse.connectors.generator import generate_lines
    from pulse.connectors.kafka.produce import produce_lines

    settings = kafka_options.kafka_settings(args)
    if settings is None:
        raise ConfigError("`pulse produce` needs `--kafka BOOTSTRAP` and `--topic`")
    if args.rate is not None and args.rate <= 0:
        raise ConfigError(f"`--rate` must be positive, got {args.rate}")
    if args.input:
        if args.input != "-" and not Path(args.input).is_file():
            raise ConfigError(f"input file `{args.input}` does not exist")
        lines = _read_lines(args.input)
    else:
        lines = generate_lines(options.generator_config(args))
    started = time.perf_counter()
    count = produce_lines(settings, lines, rate=args.rate, partitions=args.partitions)
    elapsed = time.perf_counter() - started
    print(
        f"pulse: sent {count:,} events to `{settings.topic}` in {elapsed:.1f}s "
        f"({count / max(elapsed, 1e-9):,.0f} events/s)",
        file=sys.stderr,
    )
    return 0


def _read_lines(path: str) -> Iterator[bytes]:
    if path == "-":
        for line in sys.stdin.buffer:
            yield line.rstrip(b"\r\n")
        return
    with open(path, "rb") as fh:
        for line in fh:
            yield line.rstrip(b"\r\n")
