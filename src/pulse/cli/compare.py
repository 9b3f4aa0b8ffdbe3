"""`pulse replay EVENTS --rules NEW --compare OLD`: the comparing half of `pulse replay`.

Not a command of its own: `pulse.cli.run` hands over to `replay_compare` when
`--compare` is given. Output: tables on the terminal (standard error when the
JSON goes to standard output), `--json [FILE]` for CI, `--html FILE` for review.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from pulse.cli import options
from pulse.config import RunConfig
from pulse.errors import ConfigError
from pulse.redis_client import mask_url
from pulse.rules import load_rules

__all__ = ["replay_compare"]


def replay_compare(args: argparse.Namespace) -> int:
    """Replay `args.file` under `args.compare` and `args.rules`; report the differences."""
    from pulse.compare import compare_replays
    from pulse.compare_html import render_html
    from pulse.compare_report import encode_json, print_comparison
    from pulse.report import RunReport, run_flow

    load_rules(args.compare)
    load_rules(args.rules)

    def run(config: RunConfig, label: str) -> tuple[int, float, dict[str, int]]:
        report = RunReport(config, show_progress=True)
        role = "baseline (--compare)" if label == "before" else "candidate (--rules)"
        report.console.print(f"replaying under the {role} rules {config.rules_path}")
        run_flow(config, report)
        return report.events, report.elapsed_s, dict(report.totals)

    with options.state(args, args.redis_url) as (url, state_dir):
        if args.keep_keys and not args.redis_url and state_dir is None:
            raise ConfigError(
                "`--keep-keys` would keep nothing: the private redis-server of this run is "
                "not kept; pass `--state-dir DIR` or `--redis-url URL`"
            )
        config = options.run_config(args, url, [args.file])
        config.show_console = args.show
        comparison = compare_replays(config, args.compare, run, keep_keys=args.keep_keys)
    where: Path | str | None = state_dir or (mask_url(url) if args.keep_keys else None)
    if args.keep_keys:
        comparison.explain_args = (
            f"--state-dir {state_dir}" if state_dir else f"--redis-url {mask_url(url)}"
        )
    to_stdout = args.json == "-"
    out = Console(stderr=to_stdout)
    if not out.is_terminal:
        out.width = max(out.width, 140)  # a CI log or a file: no reason to squeeze the tables
    print_comparison(comparison, out)
    if args.json:
        options.write_json(args.json, encode_json(comparison))
    if args.html:
        Path(args.html).write_text(render_html(comparison), encoding="utf-8")
        print(f"pulse: comparison report written to {args.html}", file=sys.stderr)
    if args.keep_keys:
        options.say_kept(where, [comparison.before.prefix, comparison.after.prefix])
    return 0
