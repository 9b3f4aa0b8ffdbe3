"""`pulse check`: validate rules files, listing every problem and warning.

Exit status for CI: 0 when every file is valid (warnings are printed but pass),
1 when any file has a problem, or, with `--strict`, any warning.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pulse.errors import RuleError
from pulse.rules import RulesCheck, check_rules, read_rules_text

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add `check`."""
    check = commands.add_parser("check", help="validate rules files; lists every problem")
    check.add_argument("rules", nargs="+", help="rules files")
    check.add_argument("--strict", action="store_true", help="warnings fail the check too")
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    problems: list[str] = []
    warnings: list[str] = []
    for path in args.rules:
        check = _check_file(path)
        problems.extend(check.problems)
        warnings.extend(check.warnings)
        if check.rules is not None:
            rules = check.rules
            print(
                f"{path}: ok - {len(rules.scoring.rules)} point rules, "
                f"{len(rules.triggers)} triggers, version {rules.version}"
            )
    if problems or warnings:
        print("\n".join(problems + warnings), file=sys.stderr)
    if warnings:
        print(f"{len(warnings)} warning(s)", file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems or (args.strict and warnings) else 0


def _check_file(path: str) -> RulesCheck:
    try:
        text = read_rules_text(path)
    except RuleError as exc:
        return RulesCheck(source=path, rules=None, problems=exc.problems, warnings=[])
    return check_rules(text, path)
