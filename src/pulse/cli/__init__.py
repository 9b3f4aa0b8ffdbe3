"""The `pulse` command. Each subcommand lives in its own module of this package.

A command module exposes `register(commands)`, which adds its subparser and
sets `func`, a callable taking the parsed arguments and returning the exit
status. Errors are translated here, once, into one line on standard error and
an exit status:

| status | when |
|---|---|
| 0 | success |
| 1 | invalid rules (every problem listed), or a failed rule test |
| 2 | bad options, unreadable input, Redis or Kafka unreachable past its retry budget, ... |
| 3 | `run`/`replay`: the input was mostly dead-lettered (`--max-rejected-share`) |
| 130 / 143 | stopped by SIGINT (Ctrl-C) / SIGTERM, after a clean shutdown |

An error raised inside the flow reaches `main` unwrapped from bytewax's
`BytewaxRuntimeError` (see `pulse.report.flow_error`). SIGTERM is raised as
`Stopped`, a `KeyboardInterrupt`, so it unwinds exactly like Ctrl-C: every
`finally` and context manager runs (the private redis-server is stopped).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from pulse.errors import ConfigError, PulseError, RuleError

__all__ = ["COMMANDS", "Stopped", "main"]

COMMANDS = (
    "pulse.cli.run",
    "pulse.cli.check",
    "pulse.cli.generate",
    "pulse.cli.inspect",
    "pulse.cli.produce",
    "pulse.cli.test",
    "pulse.cli.explain",
    "pulse.cli.report",
    "pulse.cli.rulesdoc",
    "pulse.cli.privacy",
    "pulse.cli.suppress",
)
"""Command modules, in the order `pulse --help` lists them."""


class Stopped(KeyboardInterrupt):
    """A stop signal other than SIGINT, raised where Python handles signals."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pulse` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _settle(args)
    except ConfigError as exc:
        print(f"pulse: {exc}", file=sys.stderr)
        return 2
    if threading.current_thread() is not threading.main_thread():
        return _call(args)
    previous = signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        return _call(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _settle(args: argparse.Namespace) -> None:
    """Resolve the settings of `run` and `replay` (flag, `PULSE_*`, config file, default;
    every problem listed at once), then set up logging from them."""
    from pulse.logs import configure_logging
    from pulse.settings import log_settings, resolve

    command = getattr(args, "settings_command", None)
    if command is not None:
        resolve(command, args, os.environ)
        level, log_format = args.log_level, args.log_format
    else:
        level, log_format = log_settings(os.environ)
    configure_logging(level, log_format)


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signum)


def _call(args: argparse.Namespace) -> int:
    """Run the command; translate what it raised into one line and an exit status."""
    try:
        status: int = args.func(args)
        return status
    except Exception as exc:
        error: BaseException = exc
        if type(exc).__module__.startswith("bytewax"):
            from pulse.report import flow_error

            error = flow_error(exc)
        if isinstance(error, KeyboardInterrupt):
            return _stopped(error)
        if isinstance(error, RuleError):
            print("\n".join(error.problems), file=sys.stderr)
            return 1
        if isinstance(error, PulseError):
            print(f"pulse: {error}", file=sys.stderr)
            return 2
        if error is not exc:
            raise error from None
        raise
    except KeyboardInterrupt as exc:
        return _stopped(exc)


def _stopped(exc: KeyboardInterrupt) -> int:
    signum = exc.signum if isinstance(exc, Stopped) else signal.SIGINT
    print(f"pulse: stopped by {signal.Signals(signum).name}", file=sys.stderr)
    return 128 + signum


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command registered."""
    parser = argparse.ArgumentParser(
        prog="pulse", description="Real-time lead scoring and marketing triggers."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(commands)
    return parser
