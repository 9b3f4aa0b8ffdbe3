"""Options shared by the commands that run the flow (`run`, `replay`, ...)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec

from pulse.config import Part, RunConfig
from pulse.connectors.generator import GeneratorConfig
from pulse.errors import ConfigError, PulseError
from pulse.redis_client import RETRY_ENV, mask_url
from pulse.redis_server import LAST_RUN_DIR, PrivateRedis, state_server
from pulse.settings import INPUT_FORMATS
from pulse.times import is_relative, parse_time

__all__ = [
    "REDIS_URL_ENV",
    "add_flow_options",
    "add_generator_options",
    "add_metrics_options",
    "add_redis_options",
    "add_settings_options",
    "add_worker_options",
    "check_inputs",
    "generator_config",
    "metrics_port",
    "positive_int",
    "redis",
    "redis_url",
    "run_config",
    "say_kept",
    "seconds",
    "setting_name",
    "share",
    "state",
    "time_option",
    "until_ms",
    "write_json",
]

REDIS_URL_ENV = "PULSE_REDIS_URL"
"""The Redis URL when neither `--redis-url` nor `--redis-url-file` is given."""

log = logging.getLogger("pulse.cli")


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1.

    >>> positive_int("1000")
    1000
    >>> positive_int("0")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: Expected a whole number >= 1, got `0`
    """
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"Expected a whole number >= 1, got `{text}`")
    return value


def share(text: str) -> float:
    """An argparse type: a share between 0 and 1.

    >>> share("0.2")
    0.2
    >>> share("50%")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: Expected a share between 0 and 1, got `50%`
    """
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"Expected a share between 0 and 1, got `{text}`")
    return value


def seconds(*, allow_zero: bool) -> Callable[[str], float]:
    """An argparse type: a finite number of seconds, > 0 (or >= 0 with `allow_zero`).

    >>> seconds(allow_zero=True)("0")
    0.0
    >>> seconds(allow_zero=False)("-1")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: Expected a number of seconds > 0, got `-1`
    """
    bound = ">= 0" if allow_zero else "> 0"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            raise argparse.ArgumentTypeError(f"Expected a number of seconds {bound}, got `{text}`")
        return value

    parse.__name__ = "seconds"  # argparse names the type in its messages
    return parse


def add_flow_options(parser: argparse.ArgumentParser, *, with_input: bool = True) -> None:
    """Rules, Redis, outputs, batching and generator options."""
    if with_input:
        parser.add_argument(
            "-i", "--input", action="append", default=[],
            help="JSONL file or - for stdin (repeatable); default: the built-in generator",
        )  # fmt: skip
    add_settings_options(parser)
    parser.add_argument("--rules", help="rules file (default: the default pack)")
    add_redis_options(parser)
    parser.add_argument("--prefix", help="Redis key prefix (default pulse)")
    parser.add_argument("--triggers", help="also append triggers to this JSONL file")
    parser.add_argument(
        "--dead-letters",
        help="dead-letter JSONL file (default out/dead_letters.jsonl; '' for stderr)",
    )
    parser.add_argument(
        "--format", dest="input_format", choices=INPUT_FORMATS,
        help="layout of the input lines: auto (default: pulse, Segment, GA4 or Snowplow, "
        "detected per line), pulse, segment, ga4, snowplow (README, Input formats)",
    )  # fmt: skip
    parser.add_argument(
        "--max-rejected-share", type=share, metavar="SHARE",
        help="exit with status 3 and the counts per reason when more than this share of the "
        "input lines is dead-lettered (default 0.5; 1: never)",
    )  # fmt: skip
    parser.add_argument("--batch-size", type=positive_int, help="events per source batch (1000)")
    parser.add_argument(
        "--until", type=time_option, metavar="TIME",
        help="at end of input, advance event time to TIME (fires timers): ISO, epoch ms, "
        "`now-1d`, or `+2h` after the newest event of the input files",
    )  # fmt: skip
    add_generator_options(parser)


def add_settings_options(parser: argparse.ArgumentParser) -> None:
    """`--config FILE` and the log options. Flags of settings default to `None` (not given):
    `pulse.settings.resolve` fills them from `PULSE_*` variables, the file, or defaults."""
    group = parser.add_argument_group("settings (README, Settings)")
    group.add_argument(
        "--config", metavar="FILE",
        help="settings file, TOML (or YAML: .yaml/.yml); flags and PULSE_* variables "
        "outrank it (default: PULSE_CONFIG, else none)",
    )  # fmt: skip
    group.add_argument(
        "--log-level", type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        help="least severe log level shown (default: WARNING)",
    )  # fmt: skip
    group.add_argument(
        "--log-format", choices=["text", "json"],
        help="json: one JSON object per log line (ts, level, logger, message); default text",
    )  # fmt: skip


def setting_name(args: argparse.Namespace, key: str) -> str:
    """How the user gave setting `key`, for messages: its flag, variable, or file key."""
    from pulse.settings import SETTINGS

    setting = next(s for s in SETTINGS if s.key == key)
    match getattr(args, "setting_sources", {}).get(key, "flag"):
        case "env":
            return f"`{setting.env}`"
        case "file":
            return f"`{key}` in the config file"
        case _:
            return f"`{setting.flag}`"


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    """`--workers N`, and the internal `--part i/N` each worker process is started with."""
    parser.add_argument(
        "--workers", type=positive_int, default=1, metavar="N",
        help="worker processes, each owning the contacts whose key hashes to it "
        "(default 1; see the README, Performance)",
    )  # fmt: skip
    parser.add_argument("--part", type=part, help=argparse.SUPPRESS)


def part(text: str) -> Part:
    """An argparse type: `index/count`, the share of one worker process.

    >>> part("0/2")
    Part(index=0, count=2)
    >>> part("2/2")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: part: expected 0 <= index < count, got 2/2
    """
    try:
        return Part.parse(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_metrics_options(parser: argparse.ArgumentParser) -> None:
    """Where metrics and health are served (`--metrics-port`) and when a live run is ready."""
    group = parser.add_argument_group("metrics and health")
    group.add_argument(
        "--metrics-port", type=port, metavar="PORT",
        help="serve /metrics, /healthz and /readyz on this port (0: any free port; "
        "default: PULSE_METRICS_PORT, else none)",
    )  # fmt: skip
    group.add_argument(
        "--ready-watermark-s", type=seconds(allow_zero=False), metavar="S",
        help="a live run is ready while a watermark moved within S seconds "
        "(default: PULSE_READY_WATERMARK_S, else 60)",
    )  # fmt: skip


def port(text: str) -> int:
    """An argparse type: a TCP port, 0..65535 (0: any free port).

    >>> port("9100")
    9100
    >>> port("http")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: Expected a port number 0..65535, got `http`
    """
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"Expected a port number 0..65535, got `{text}`")
    return int(text)


def metrics_port(args: argparse.Namespace) -> tuple[int | None, float]:
    """The metrics port (`--metrics-port`, else `PULSE_METRICS_PORT`, else none) and the
    readiness limit on a still watermark, in seconds."""
    from pulse.metrics import metrics_port_from_env, ready_watermark_s_from_env

    chosen = args.metrics_port if args.metrics_port is not None else metrics_port_from_env()
    ready_s = args.ready_watermark_s or ready_watermark_s_from_env()
    return chosen, ready_s


def add_redis_options(parser: argparse.ArgumentParser) -> None:
    """Where the state lives (`--redis-url`, `--redis-url-file`) and how long outages are waited."""
    parser.add_argument(
        "--redis-url", metavar="URL",
        help=f"Redis to keep state in (a password here shows in `ps`: prefer {REDIS_URL_ENV} "
        f"or --redis-url-file); default: {REDIS_URL_ENV}, else a private redis-server for the run",
    )  # fmt: skip
    parser.add_argument(
        "--redis-url-file", metavar="FILE", help="read the Redis URL from this file"
    )
    parser.add_argument(
        "--state-dir", metavar="DIR",
        help=f"without a Redis URL: keep the private redis-server's data in DIR and continue "
        f"from what it holds (default: {LAST_RUN_DIR}, emptied at the start of each run); "
        "`pulse explain --state-dir DIR` reads it",
    )  # fmt: skip
    parser.add_argument(
        "--redis-retry-s", type=seconds(allow_zero=True), metavar="S",
        help=f"retry an unreachable Redis this long, then stop with exit status 2 "
        f"(default: {RETRY_ENV}, else 60)",
    )  # fmt: skip


def url_from_file(path: str) -> str:
    """The Redis URL in the file `path` (`--redis-url-file`), never echoing its content."""
    try:
        url = Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        # Not chained: a decode error quotes the file's bytes, the password among them.
        raise ConfigError(f"cannot read `--redis-url-file` `{path}`: {reason}") from None
    if not url:
        raise ConfigError(f"`--redis-url-file` `{path}` is empty")
    return url


def redis_url(args: argparse.Namespace) -> str | None:
    """The Redis URL: `--redis-url`, `--redis-url-file`, `PULSE_REDIS_URL`, or `None` (private)."""
    if args.redis_url and args.redis_url_file:
        raise ConfigError("give `--redis-url` or `--redis-url-file`, not both")
    if args.redis_url_file:
        return url_from_file(args.redis_url_file)
    if args.redis_url:
        is_flag = getattr(args, "setting_sources", {}).get("redis_url", "flag") == "flag"
        if is_flag and mask_url(args.redis_url) != args.redis_url:
            log.warning(
                "the password in `--redis-url` is visible to other users (`ps`); "
                "use %s or `--redis-url-file` instead", REDIS_URL_ENV,
            )  # fmt: skip
        return str(args.redis_url)
    return os.environ.get(REDIS_URL_ENV) or None


def check_inputs(inputs: list[str], until: str | None, *, is_live: bool = False) -> None:
    """Refuse input options that would be silently ignored, and inputs that cannot be read."""
    problems: list[str] = []
    if until and "-" in inputs:
        problems.append(
            "`--until` does not apply to standard input (`-i -`): write the events to a file "
            "and pass `-i FILE`"
        )
    if until and is_live:
        problems.append("`--until` has no effect with `--live`: a live input never ends")
    for path in inputs:
        if path == "-":
            continue
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            problems.append(f"cannot read input `{path}`: {exc.strerror}")
    if problems:
        raise ConfigError("; ".join(problems))


def add_generator_options(parser: argparse.ArgumentParser) -> None:
    """Settings of the synthetic clickstream generator."""
    defaults = GeneratorConfig()
    group = parser.add_argument_group("generator")
    group.add_argument("--contacts", type=int, default=defaults.contacts)
    group.add_argument("--events", type=int, default=defaults.events)
    group.add_argument("--days", type=float, default=defaults.span_days, help="time span")
    group.add_argument("--seed", type=int, default=defaults.seed)
    group.add_argument("--skew", type=float, default=defaults.skew, help="activity skew")
    group.add_argument(
        "--rate-per-s",
        type=float,
        default=defaults.rate_per_s,
        help="dense traffic with hot contacts at this many events per second of event time",
    )
    group.add_argument(
        "--hot-share",
        type=float,
        default=defaults.hot_share,
        help="with --rate-per-s: share of events sent by the busiest contact (0.14)",
    )


def generator_config(args: argparse.Namespace) -> GeneratorConfig:
    """The generator settings from parsed options."""
    return GeneratorConfig(
        contacts=args.contacts, events=args.events, span_days=args.days,
        seed=args.seed, skew=args.skew, rate_per_s=args.rate_per_s, hot_share=args.hot_share,
    )  # fmt: skip


def run_config(args: argparse.Namespace, redis_url: str, inputs: list[str]) -> RunConfig:
    """A `RunConfig` from parsed flow options."""
    return RunConfig(
        rules_path=args.rules,
        redis_url=redis_url,
        prefix=args.prefix,
        inputs=inputs,
        input_format=args.input_format,
        generator=generator_config(args),
        batch_size=args.batch_size,
        redis_retry_s=args.redis_retry_s,
        until_ms=until_ms(args.until, inputs) if args.until else None,
        triggers_path=args.triggers,
        dead_letters_path=args.dead_letters or None,
        part=getattr(args, "part", None),
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


@contextlib.contextmanager
def state(args: argparse.Namespace, url: str | None) -> Iterator[tuple[str, Path | None]]:
    """Where a run keeps its state: `(Redis URL, state directory or None)`.

    A Redis URL (`url`, from `redis_url(args)`) is used as is. Without one, a private
    redis-server keeps its data in `--state-dir` (continued), else in
    `LAST_RUN_DIR` (emptied first; a throwaway server when another run holds it).
    """
    chosen = getattr(args, "state_dir", None)
    if url:
        if chosen and getattr(args, "part", None) is None:
            raise ConfigError(
                "`--state-dir` keeps a private redis-server's data: not with a Redis URL"
            )
        yield url, None
        return
    data_dir = Path(chosen) if chosen else LAST_RUN_DIR
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(state_server(data_dir, is_fresh=not chosen))
        except ConfigError as exc:
            if chosen:
                raise
            busy = str(exc)
        else:
            print(
                f"pulse: started a private redis-server at {server.url}, state kept in {data_dir}",
                file=sys.stderr,
            )
            yield server.url, data_dir
            return
    print(f"pulse: {busy}; the state of this run is not kept", file=sys.stderr)
    with redis(None) as private:
        yield private, None


def say_kept(where: Path | str | None, prefixes: list[str]) -> None:
    """Tell where a run's state stays and how `pulse explain` reads it (`where`: a state
    directory or a masked Redis URL; `None`: nothing kept, nothing said)."""
    if where is None:
        return
    option = f"--state-dir {where}" if isinstance(where, Path) else f"--redis-url {where}"
    for prefix in prefixes:
        print(
            f"pulse: state kept under prefix `{prefix}` in {where}: "
            f"pulse explain CONTACT --prefix {prefix} {option}",
            file=sys.stderr,
        )


def write_json(target: str, data: bytes) -> None:
    """JSON to a file, or to standard output for `-`."""
    if target == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        Path(target).write_bytes(data)


def time_option(text: str) -> str:
    """An argparse type: a time (ISO-8601, epoch ms, `now-1d`, `+2h`), checked here and
    resolved where its base is known (argparse names the flag in the error).

    >>> time_option("+2h"), time_option("1767607200000")
    ('+2h', '1767607200000')
    >>> time_option("tomorrow")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: Expected ISO-8601, epoch ms, `now-1d` or `+2h`, got `tomorrow`
    """
    try:
        parse_time(text, base_ms=0, now_ms=0)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


time_option.__name__ = "time"  # argparse names the type in its messages


def until_ms(text: str, inputs: list[str]) -> int:
    """`--until` in epoch ms; `+2h` counts from the newest event of the input files."""
    if not is_relative(text):
        return parse_time(text)
    if not inputs or "-" in inputs:
        raise ConfigError(
            f"`--until {text}` counts from the newest event of the input files: with the "
            f"generator or standard input, give an absolute time or `now{text}`"
        )
    times = [t for path in inputs if (t := _newest_event_ms(path)) is not None]
    newest = max(times, default=None)
    if newest is None:
        raise ConfigError(f"`--until {text}`: the input files hold no event time to count from")
    return parse_time(text, base_ms=newest)


class _Ts(msgspec.Struct):
    ts: str | int


def _newest_event_ms(path: str) -> int | None:
    """The newest valid event time in a JSONL file (or gzip): one pass, lines decoded for `ts`."""
    from pulse.connectors.files import open_input
    from pulse.events import parse_ts

    decoder = msgspec.json.Decoder(_Ts)
    newest: int | None = None
    stream, _ = open_input(path)
    with stream:
        for line in stream:
            try:
                ts_ms = parse_ts(decoder.decode(line).ts)
            except (msgspec.DecodeError, PulseError):
                continue  # a bad line is the flow's to dead-letter, not this pass's
            newest = ts_ms if newest is None or ts_ms > newest else newest
    return newest
