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

import msgspec
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
    report.add_argument(
        "--from", dest="flow_from", metavar="TIME",
        help="with --to: the stage flow between two event times (ISO-8601 or epoch ms)",
    )  # fmt: skip
    report.add_argument("--to", dest="flow_to", metavar="TIME", help="end of the stage flow")
    report.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    from pulse.liftreport import build_report, print_report, render_html, report_json
    from pulse.stageflow import stage_flow
    from pulse.state import ContactStore, connect, layout_for
    from pulse.state.outbox import iter_states
    from pulse.times import parse_time
    from pulse.triggers import iso_ms

    if (args.flow_from is None) != (args.flow_to is None):
        print("pulse: --from and --to go together (the stage flow between them)", file=sys.stderr)
        return 2
    window: tuple[int, int] | None = None
    if args.flow_from is not None:
        try:
            window = (parse_time(args.flow_from), parse_time(args.flow_to))
        except ValueError as exc:
            print(f"pulse: --from/--to: {exc}", file=sys.stderr)
            return 2
        if window[0] > window[1]:
            print("pulse: --from must not be after --to", file=sys.stderr)
            return 2
    with kept_state(args) as url:
        client = connect(url)
        counters, stages = ContactStore(client, layout_for(client, args.prefix)).counts()
        flow: dict[str, int] = {}
        if window is not None:
            states = (state for _, state in iter_states(client, args.prefix))
            flow = stage_flow(states, *window)
    report = build_report(counters, stages)
    if window is not None:
        report = msgspec.structs.replace(
            report, stage_flow=flow, flow_between=[iso_ms(window[0]), iso_ms(window[1])]
        )
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
