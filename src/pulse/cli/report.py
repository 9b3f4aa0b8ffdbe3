"""`pulse report`: lift per trigger and variant, conversion timing and the stage funnel.

Reads the aggregates a run committed (the run counters and contacts per stage)
from Redis, or from the state a run kept (`--state-dir`, as `pulse explain`),
and prints terminal tables; `--html FILE` also writes a self-contained page
(inline CSS and SVG, nothing fetched), `--json` prints the figures instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from pulse.cli.explain import kept_state
from pulse.cli.options import REDIS_URL_ENV
from pulse.redis_server import LAST_RUN_DIR

__all__ = ["register"]

HELP = "lift per trigger and variant (sent vs held out), conversion timing, stage funnel"


def register(commands: Any) -> None:
    """Add `report`."""
    report = commands.add_parser("report", help=HELP, description=HELP)
    report.add_argument(
        "--redis-url", metavar="URL",
        help=f"Redis that holds the run's state (default: {REDIS_URL_ENV}, else --state-dir)",
    )  # fmt: skip
    report.add_argument(
        "--state-dir", metavar="DIR",
        help=f"without a Redis URL: the state a run kept there (default {LAST_RUN_DIR})",
    )  # fmt: skip
    report.add_argument("--prefix", default="pulse", help="key prefix of the run")
    report.add_argument("--html", metavar="FILE", help="also write the report as an HTML page")
    report.add_argument("--json", action="store_true", help="print the figures as JSON")
    report.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    from pulse.liftreport import build_report, print_report, render_html, report_json
    from pulse.state import ContactStore, connect, layout_for

    with kept_state(args) as url:
        client = connect(url)
        counters, stages = ContactStore(client, layout_for(client, args.prefix)).counts()
    report = build_report(counters, stages)
    if args.html:
        path = Path(args.html)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_html(report, f"pulse report: {args.prefix}"), encoding="utf-8")
    if args.json:
        sys.stdout.buffer.write(report_json(report))
    else:
        # Piped, rich would squeeze the wide lift table into 80 columns.
        width = None if sys.stdout.isatty() else 200
        print_report(report, Console(highlight=False, width=width))
        if args.html:
            print(f"pulse: wrote {args.html}", file=sys.stderr)
    return 0
