"""`pulse test`: run rule tests (`rules/tests/*.yaml`) and report like pytest.

Exit status: 0 when every case passes, 1 when any fails or cannot run.
`--junitxml FILE` also writes the results as JUnit XML for CI.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from pulse.cli import options
from pulse.errors import ConfigError
from pulse.rules import default_rules_path

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add `test`."""
    test = commands.add_parser("test", help="run rule tests: events in, exact triggers out")
    test.add_argument(
        "paths", nargs="*", help="test files or directories (default: rules/tests next to the pack)"
    )
    test.add_argument("--rules", help="rules file to use wherever a test says `rules: default`")
    test.add_argument("--redis-url", help="Redis to run in; default: a private redis-server")
    test.add_argument("--redis-url-file", metavar="FILE", help="read the Redis URL from this file")
    test.add_argument("-k", dest="keyword", help="only cases whose id contains this text")
    test.add_argument("-q", "--quiet", action="store_true", help="report failures only")
    test.add_argument("--junitxml", metavar="FILE", help="also write a JUnit XML report (CI)")
    test.set_defaults(func=_test)


def _test(args: argparse.Namespace) -> int:
    from pulse.ruletest import (
        CaseResult,
        find_cases,
        format_report,
        junit_xml,
        load_cases,
        run_cases,
    )

    paths = args.paths or [default_rules_path().parent / "tests"]
    override = Path(args.rules) if args.rules else None
    started = time.perf_counter()
    results: list[CaseResult] = []
    cases = []
    for path in find_cases(paths):
        try:
            cases += load_cases(path, override)
        except ConfigError as exc:
            results.append(CaseResult(id=path.name, outcome="error", details=[str(exc)]))
    if args.keyword:
        cases = [case for case in cases if args.keyword in case.id]
    if not cases and not results:
        raise ConfigError(f"no rule test cases found in {', '.join(map(str, paths))}")
    out = Console(highlight=False)
    if args.redis_url and args.redis_url_file:
        raise ConfigError("give `--redis-url` or `--redis-url-file`, not both")
    given = options.url_from_file(args.redis_url_file) if args.redis_url_file else args.redis_url
    with options.redis(given) as url:
        for result in run_cases(cases, url):
            results.append(result)
            if not args.quiet:
                colour = "green" if result.outcome == "passed" else "red"
                line = f"{escape(result.id)} [{colour}]{result.outcome.upper()}[/]"
                out.print(line, soft_wrap=True)
    elapsed_s = time.perf_counter() - started
    report = format_report(results, elapsed_s, verbose=False)
    out.print(escape(report), soft_wrap=True)
    if args.junitxml:
        Path(args.junitxml).write_bytes(junit_xml(results, elapsed_s))
    return 0 if all(r.outcome == "passed" for r in results) else 1
