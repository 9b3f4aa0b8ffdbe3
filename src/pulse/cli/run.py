"""`pulse run` and `pulse replay`: run the flow over the generator, files or stdin."""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from pulse.cli import kafka_options, options
from pulse.errors import ConfigError
from pulse.rules import load_rules

__all__ = ["register"]

_PARSERS: dict[str, argparse.ArgumentParser] = {}
"""The `run` and `replay` parsers: worker processes get the parsed options written back."""


def register(commands: Any) -> None:
    """Add `run` and `replay`."""
    run = commands.add_parser("run", help="run the flow (default: the built-in generator)")
    options.add_flow_options(run)
    run.add_argument("--live", action="store_true", help="follow the input; idle time advances")
    run.add_argument(
        "--quiet", action="store_true",
        help="no live summary and no trigger lines: the final summary only",
    )  # fmt: skip
    run.add_argument(
        "--show", action="store_true",
        help="print every trigger as it fires (default: a compact live summary on a terminal)",
    )  # fmt: skip
    run.add_argument(
        "--reload-poll", type=options.seconds(allow_zero=True), metavar="S",
        help="hot-reload the rules file when it changes, looking every S seconds "
        "(0: only on SIGHUP; default 1)",
    )  # fmt: skip
    run.add_argument("--no-reload", action="store_true", help="never reload the rules file")
    _add_sort_option(run)
    options.add_worker_options(run)
    options.add_metrics_options(run)
    run.add_argument(
        "--dashboard", action="store_true",
        help="serve a live page (triggers per minute, stage funnel, recent triggers) on the "
        "metrics port, any free port without --metrics-port; its address is printed",
    )  # fmt: skip
    kafka_options.add_run_options(run)
    run.set_defaults(func=_run, settings_command="run")

    replay = commands.add_parser("replay", help="replay a JSONL file at full speed in event time")
    replay.add_argument("file", help="events file (JSON Lines)")
    options.add_flow_options(replay, with_input=False)
    replay.add_argument("--show", action="store_true", help="also print each trigger")
    _add_sort_option(replay)
    options.add_worker_options(replay)
    options.add_metrics_options(replay)
    compare = replay.add_argument_group("compare two rule sets")
    compare.add_argument(
        "--compare", metavar="RULES",
        help="also replay under these baseline rules; report what --rules changes",
    )  # fmt: skip
    compare.add_argument(
        "--json", nargs="?", const="-", metavar="FILE",
        help="the comparison (without --compare: the run's counters and per-rule statistics) "
        "as JSON (- stdout)",
    )  # fmt: skip
    compare.add_argument("--html", metavar="FILE", help="the comparison as a self-contained page")
    compare.add_argument(
        "--keep-keys", action="store_true", help="keep both runs' Redis keys for inspection"
    )
    replay.set_defaults(func=_replay, settings_command="replay")
    _PARSERS.update(run=run, replay=replay)


def _run(args: argparse.Namespace) -> int:
    from pulse.live import LiveSummary
    from pulse.metrics import observed
    from pulse.reload import log_reloads_to_stderr
    from pulse.report import RunReport, run_flow
    from pulse.workers import check_split, run_workers

    load_rules(args.rules)
    options.check_inputs(args.input, args.until, is_live=args.live)
    args.input = _sorted_inputs(args, args.input)
    kafka_options.kafka_settings(args)  # refuse Kafka options without `--kafka` before starting
    _check_workers(args, args.input)
    port, ready_s = options.metrics_port(args)
    pages = None
    if args.dashboard:
        from pulse.dashboard import PAGES

        if args.workers > 1:
            raise ConfigError("`--dashboard` shows one process: not with `--workers`")
        port, pages = (0 if port is None else port), PAGES
    with options.state(args, options.redis_url(args)) as (url, state_dir):
        config = options.run_config(args, url, args.input)
        config.is_live = args.live
        config.show_console = args.show and not args.quiet
        config.reload_poll_s = None if args.no_reload else args.reload_poll
        log_reloads_to_stderr()
        kafka_options.apply(args, config)
        mark = _dead_letters_size(config.dead_letters_path)
        if args.workers > 1:
            report = RunReport(config)
            status = run_workers("run", _PARSERS["run"], args, config, report, port)
            return status or _rejected_status(args, report, mark)
        if args.part is None:
            check_split(config, 1)
        report = RunReport(config)
        is_compact = not (args.quiet or args.show or args.part is not None)
        with (
            observed(config, port, ready_s, pages) as metrics,
            LiveSummary(metrics, is_shown=is_compact),
        ):
            run_flow(config, report, observer=metrics)
        if args.part is None:  # a worker process: its parent prints the summary
            report.print_summary()
            options.say_kept(state_dir, [config.prefix])
            return _rejected_status(args, report, mark)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from pulse.metrics import observed
    from pulse.report import RunReport, run_flow
    from pulse.workers import check_split, run_workers

    load_rules(args.rules)
    if not Path(args.file).is_file():
        print(f"pulse: events file `{args.file}` does not exist", file=sys.stderr)
        return 2
    options.check_inputs([args.file], None)
    args.file = _sorted_inputs(args, [args.file])[0]
    args.redis_url = options.redis_url(args)
    _check_workers(args, [args.file])
    if args.compare:
        from pulse.cli.compare import replay_compare

        return replay_compare(args)
    if args.html:
        print("pulse: --html needs --compare", file=sys.stderr)
        return 2
    port, ready_s = options.metrics_port(args)
    with options.state(args, args.redis_url) as (url, state_dir):
        config = options.run_config(args, url, [args.file])
        config.show_console = args.show
        report = RunReport(config, show_progress=args.part is None)
        mark = _dead_letters_size(config.dead_letters_path)
        if args.workers > 1:
            status = run_workers("replay", _PARSERS["replay"], args, config, report, port)
            return status or _rejected_status(args, report, mark)
        if args.part is None:
            check_split(config, 1)
        with observed(config, port, ready_s) as metrics:
            run_flow(config, report, observer=metrics)
        if args.part is None:  # a worker process: its parent prints the summary
            report.print_summary()
            options.say_kept(state_dir, [config.prefix])
            if args.json:
                options.write_json(args.json, report.summary_json())
            return _rejected_status(args, report, mark)
    return 0


REJECTED_STATUS = 3
"""Exit status of a run whose input was mostly dead-lettered (`--max-rejected-share`)."""
_SHOWN_REASONS = 10


def _dead_letters_size(path: str | None) -> int:
    """Where this run's dead letters start in their file (it is appended to)."""
    if not path or path == "-":
        return 0
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


def _rejected_status(args: argparse.Namespace, report: Any, mark: int) -> int:
    """`REJECTED_STATUS` and the counts per reason when the input was mostly rejected, else 0.

    The share is of the records read this run: dead letters over dead letters plus decoded
    events (from the committed counters, so it holds with `--workers` too).
    """
    totals = report.totals
    rejected = totals.get("rejected", 0)
    read = rejected + sum(totals.get(k, 0) for k in ("events", "duplicates", "replayed"))
    limit = args.max_rejected_share
    if rejected == 0 or read == 0 or rejected <= limit * read:
        return 0
    flag = options.setting_name(args, "max_rejected_share")
    print(
        f"pulse: {rejected:,} of {read:,} input records ({rejected / read:.0%}) were "
        f"dead-lettered, over the {limit:.0%} allowed ({flag}); exit status {REJECTED_STATUS}",
        file=sys.stderr,
    )
    path = report.config.dead_letters_path
    if not path or path == "-":
        print("pulse: the reasons are in the dead letters above", file=sys.stderr)
        return REJECTED_STATUS
    counts = _reason_counts(Path(path), mark)
    print(f"pulse: dead letters by reason (all of them in {path}):", file=sys.stderr)
    for reason, count in counts.most_common(_SHOWN_REASONS):
        print(f"  {count:>9,}  {reason}", file=sys.stderr)
    if len(counts) > _SHOWN_REASONS:
        rest = sum(counts.values()) - sum(c for _, c in counts.most_common(_SHOWN_REASONS))
        print(f"  {rest:>9,}  ({len(counts) - _SHOWN_REASONS} other reasons)", file=sys.stderr)
    return REJECTED_STATUS


def _reason_counts(path: Path, start: int) -> Counter[str]:
    """Dead letters written from byte `start` of `path`, counted by `reason_shape`."""
    import msgspec

    counts: Counter[str] = Counter()
    decoder = msgspec.json.Decoder(dict[str, Any])
    try:
        with path.open("rb") as lines:
            lines.seek(start)
            for line in lines:
                try:
                    reason = decoder.decode(line).get("reason")
                except msgspec.DecodeError:
                    continue  # a line another writer cut: its count is in the total above
                counts[reason_shape(str(reason))] += 1
    except OSError:
        pass  # the total above stands; the file went away
    return counts


_GOT = re.compile(r"got `[^`]*`")
_NUMBER = re.compile(r"\d+")


def reason_shape(reason: str) -> str:
    """A dead letter's reason with its values blanked, so like reasons count together.

    >>> reason_shape("Segment: Expected a number, got `'abc'` - at `products[12].price`")
    'Segment: Expected a number, got `…` - at `products[N].price`'
    """
    return _NUMBER.sub("N", _GOT.sub("got `…`", reason))[:160]


def _check_workers(args: argparse.Namespace, inputs: list[str]) -> None:
    """Refuse `--workers` with what it cannot split: stdin, Kafka, recovery, `--compare`."""
    if args.part is not None and args.workers > 1:
        raise ConfigError("`--part` is internal to `--workers`: give `--workers` only")
    if args.workers == 1:
        return
    refused = [
        text
        for text, is_given in (
            ("standard input (`-i -`)", "-" in inputs),
            (
                "`--kafka` (Kafka partitions are its unit of scale: README, Scale out)",
                getattr(args, "kafka", None),
            ),
            ("`--recovery-dir`", getattr(args, "recovery_dir", None)),
            ("`--compare`", getattr(args, "compare", None)),
        )
        if is_given
    ]
    if refused:
        raise ConfigError(f"`--workers {args.workers}` cannot be used with {', '.join(refused)}")


def _add_sort_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sort", action="store_true",
        help="sort the input files by event time first (stable, in memory, up to 1 GiB); "
        "the sorted copy is written beside the dead letters and read instead",
    )  # fmt: skip


def _sorted_inputs(args: argparse.Namespace, paths: list[str]) -> list[str]:
    """With `--sort`, one file holding `paths` in event-time order; else `paths`."""
    if not getattr(args, "sort", False):
        return paths
    from pulse.connectors.files import STDIN
    from pulse.connectors.sort import sort_by_event_time
    from pulse.errors import ConfigError

    if not paths or STDIN in paths or getattr(args, "live", False):
        raise ConfigError("`--sort` needs input files (`-i FILE`), not stdin, Kafka or `--live`")
    stem = Path(paths[0]).name.split(".")[0] or "input"
    out = Path(args.dead_letters or "out/dead_letters.jsonl").parent / f"{stem}.sorted.jsonl"
    if out.resolve() in {Path(p).resolve() for p in paths}:
        raise ConfigError(f"`--sort` would overwrite its own input `{out}`")
    lines = sort_by_event_time(paths, out)
    print(
        f"pulse: sorted {lines} lines by event time into {out} (dead letters name its lines)",
        file=sys.stderr,
    )
    return [str(out)]
