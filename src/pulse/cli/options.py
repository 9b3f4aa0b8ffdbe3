"""Options shared by the commands that run the flow (`run`, `replay`, ...)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator

from pulse.config import RunConfig
from pulse.connectors.generator import GeneratorConfig
from pulse.events import parse_ts
from pulse.redis_server import PrivateRedis
from pulse.rules import default_rules_path

__all__ = ["add_flow_options", "add_generator_options", "generator_config", "redis", "run_config"]


def add_flow_options(parser: argparse.ArgumentParser, *, with_input: bool = True) -> None:
    """Rules, Redis, outputs, batching and generator options."""
    if with_input:
        parser.add_argument(
            "-i", "--input", action="append", default=[],
            help="JSONL file or - for stdin (repeatable); default: the built-in generator",
        )  # fmt: skip
    parser.add_argument("--rules", default=str(default_rules_path()), help="rules file")
    parser.add_argument(
        "--redis-url", help="Redis to keep state in; default: a private redis-server for the run"
    )
    parser.add_argument("--prefix", default="pulse", help="Redis key prefix (default pulse)")
    parser.add_argument("--triggers", help="also append triggers to this JSONL file")
    parser.add_argument(
        "--dead-letters", default="out/dead_letters.jsonl",
        help="dead-letter JSONL file (default out/dead_letters.jsonl; '' for stderr)",
    )  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=1000, help="events per source batch")
    parser.add_argument(
        "--until", help="at end of input, advance event time to this ISO time (fires timers)"
    )
    add_generator_options(parser)


def add_generator_options(parser: argparse.ArgumentParser) -> None:
    """Settings of the synthetic clickstream generator."""
    defaults = GeneratorConfig()
    group = parser.add_argument_group("generator")
    group.add_argument("--contacts", type=int, default=defaults.contacts)
    group.add_argument("--events", type=int, default=defaults.events)
    group.add_argument("--days", type=float, default=defaults.span_days, help="time span")
    group.add_argument("--seed", type=int, default=defaults.seed)
    group.add_argument("--skew", type=float, default=defaults.skew, help="activity skew")


def generator_config(args: argparse.Namespace) -> GeneratorConfig:
    """The generator settings from parsed options."""
    return GeneratorConfig(
        contacts=args.contacts, events=args.events, span_days=args.days,
        seed=args.seed, skew=args.skew,
    )  # fmt: skip


def run_config(args: argparse.Namespace, redis_url: str, inputs: list[str]) -> RunConfig:
    """A `RunConfig` from parsed flow options."""
    return RunConfig(
        rules_path=args.rules,
        redis_url=redis_url,
        prefix=args.prefix,
        inputs=inputs,
        generator=generator_config(args),
        batch_size=args.batch_size,
        until_ms=parse_ts(args.until) if args.until else None,
        triggers_path=args.triggers,
        dead_letters_path=args.dead_letters or None,
    )


@contextlib.contextmanager
def redis(url: str | None) -> Iterator[str]:
    """The given Redis URL, or a private redis-server for the duration of the block."""
    if url:
        yield url
        return
    with PrivateRedis() as server:
        print(f"pulse: started a private redis-server at {server.url}", file=sys.stderr)
        yield server.url
