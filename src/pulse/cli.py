"""The `pulse` command: run, replay, check, generate, inspect.

Errors pulse raises on purpose (`PulseError`) are printed as one clear message
and exit with status 2; a rules file with problems exits with status 1 from
`pulse check`.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from pulse.config import RunConfig
from pulse.connectors.generator import GeneratorConfig, write_jsonl
from pulse.errors import PulseError, RuleError
from pulse.events import parse_ts
from pulse.redis_server import PrivateRedis
from pulse.rules import default_rules_path, load_rules

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pulse` command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
        return status
    except RuleError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 1
    except PulseError as exc:
        print(f"pulse: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pulse", description="Real-time lead scoring and marketing triggers."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the flow (default: the built-in generator)")
    _flow_options(run)
    run.add_argument("--live", action="store_true", help="follow the input; idle time advances")
    run.add_argument("--quiet", action="store_true", help="do not print triggers")
    run.set_defaults(func=_run)

    replay = commands.add_parser("replay", help="replay a JSONL file at full speed in event time")
    replay.add_argument("file", help="events file (JSON Lines)")
    _flow_options(replay, with_input=False)
    replay.add_argument("--show", action="store_true", help="also print each trigger")
    replay.set_defaults(func=_replay)

    check = commands.add_parser("check", help="validate rules files; lists every problem")
    check.add_argument("rules", nargs="+", help="rules files")
    check.set_defaults(func=_check)

    generate = commands.add_parser("generate", help="write the synthetic clickstream as JSONL")
    _generator_options(generate)
    generate.add_argument("-o", "--output", default="-", help="file to write (default stdout)")
    generate.set_defaults(func=_generate)

    inspect = commands.add_parser("inspect", help="show one contact's state from Redis")
    inspect.add_argument("contact", help="contact id (or anon:<anonymous_id>)")
    inspect.add_argument("--redis-url", required=True)
    inspect.add_argument("--prefix", default="pulse")
    inspect.add_argument("--rules", default=str(default_rules_path()))
    inspect.add_argument("--at", help="evaluate the score at this time (default: last event)")
    inspect.set_defaults(func=_inspect)
    return parser


def _flow_options(parser: argparse.ArgumentParser, *, with_input: bool = True) -> None:
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
        help="dead-letter JSONL file (default out/dead_letters.jsonl)",
    )  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument(
        "--until", help="at end of input, advance event time to this ISO time (fires timers)"
    )
    _generator_options(parser)


def _generator_options(parser: argparse.ArgumentParser) -> None:
    defaults = GeneratorConfig()
    group = parser.add_argument_group("generator")
    group.add_argument("--contacts", type=int, default=defaults.contacts)
    group.add_argument("--events", type=int, default=defaults.events)
    group.add_argument("--days", type=float, default=defaults.span_days, help="time span")
    group.add_argument("--seed", type=int, default=defaults.seed)
    group.add_argument("--skew", type=float, default=defaults.skew, help="activity skew")


def _generator_config(args: argparse.Namespace) -> GeneratorConfig:
    return GeneratorConfig(
        contacts=args.contacts, events=args.events, span_days=args.days,
        seed=args.seed, skew=args.skew,
    )  # fmt: skip


def _config(args: argparse.Namespace, redis_url: str, inputs: list[str]) -> RunConfig:
    return RunConfig(
        rules_path=args.rules,
        redis_url=redis_url,
        prefix=args.prefix,
        inputs=inputs,
        generator=_generator_config(args),
        batch_size=args.batch_size,
        until_ms=parse_ts(args.until) if args.until else None,
        triggers_path=args.triggers,
        dead_letters_path=args.dead_letters or None,
    )


@contextlib.contextmanager
def _redis(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    with PrivateRedis() as server:
        print(f"pulse: started a private redis-server at {server.url}", file=sys.stderr)
        yield server.url


def _run(args: argparse.Namespace) -> int:
    from pulse.report import RunReport, run_flow

    load_rules(args.rules)
    with _redis(args.redis_url) as url:
        config = _config(args, url, args.input)
        config.is_live = args.live
        config.show_console = not args.quiet
        report = RunReport(config)
        run_flow(config, report)
        report.print_summary()
    return 0


def _replay(args: argparse.Namespace) -> int:
    from pulse.report import RunReport, run_flow

    load_rules(args.rules)
    if not Path(args.file).is_file():
        print(f"pulse: events file `{args.file}` does not exist", file=sys.stderr)
        return 2
    with _redis(args.redis_url) as url:
        config = _config(args, url, [args.file])
        config.show_console = args.show
        report = RunReport(config, show_progress=True)
        run_flow(config, report)
        report.print_summary()
    return 0


def _check(args: argparse.Namespace) -> int:
    problems: list[str] = []
    for path in args.rules:
        try:
            rules = load_rules(path)
        except RuleError as exc:
            problems.extend(exc.problems)
            continue
        print(
            f"{path}: ok - {len(rules.scoring.rules)} point rules, "
            f"{len(rules.triggers)} triggers, version {rules.version}"
        )
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    return 0


def _generate(args: argparse.Namespace) -> int:
    config = _generator_config(args)
    started = time.perf_counter()
    if args.output == "-":
        count = write_jsonl(config, sys.stdout.buffer)
    else:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        count = write_jsonl(config, Path(args.output))
    elapsed = time.perf_counter() - started
    print(f"pulse: wrote {count} events in {elapsed:.1f}s", file=sys.stderr)
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from pulse.report import print_contact

    rules = load_rules(args.rules)
    at_ms = parse_ts(args.at) if args.at else None
    return print_contact(args.redis_url, args.prefix, args.contact, rules, at_ms)


if __name__ == "__main__":
    sys.exit(main())
