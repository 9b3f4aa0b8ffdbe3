"""The `pulse` command. Each subcommand lives in its own module of this package.

A command module exposes `register(commands)`, which adds its subparser and
sets `func`, a callable taking the parsed arguments and returning the exit
status. Errors pulse raises on purpose (`PulseError`) are printed as one clear
message and exit with status 2; invalid rules exit with status 1.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from pulse.errors import PulseError, RuleError

__all__ = ["COMMANDS", "main"]

COMMANDS = (
    "pulse.cli.run",
    "pulse.cli.check",
    "pulse.cli.generate",
    "pulse.cli.inspect",
    "pulse.cli.produce",
    "pulse.cli.test",
    "pulse.cli.explain",
    "pulse.cli.rulesdoc",
)
"""Command modules, in the order `pulse --help` lists them."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pulse` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("PULSE_LOG_LEVEL", "WARNING").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command registered."""
    parser = argparse.ArgumentParser(
        prog="pulse", description="Real-time lead scoring and marketing triggers."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(commands)
    return parser
