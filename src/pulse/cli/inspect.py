"""`pulse inspect`: the old name of `pulse explain`, kept for scripts that use it."""

from __future__ import annotations

from typing import Any

from pulse.cli.explain import HELP, add_arguments

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add `inspect`: the same command, arguments and output as `explain`."""
    help_ = "the same as `pulse explain` (its old name): " + HELP
    add_arguments(commands.add_parser("inspect", help=help_, description=help_))
