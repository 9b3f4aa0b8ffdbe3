"""`pulse check`: validate rules files, listing every problem."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pulse.errors import RuleError
from pulse.rules import load_rules

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add `check`."""
    check = commands.add_parser("check", help="validate rules files; lists every problem")
    check.add_argument("rules", nargs="+", help="rules files")
    check.set_defaults(func=_check)


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
