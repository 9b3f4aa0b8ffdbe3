"""`pulse explain CONTACT`: the contact's score part by part, stages, timers, trigger lineage."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pulse.events import parse_ts
from pulse.rules import default_rules_path, load_rules

if TYPE_CHECKING:
    from pulse.explain import Explanation

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add `explain`."""
    explain = commands.add_parser(
        "explain", help="why a contact has its score, stage and triggers (from Redis)"
    )
    explain.add_argument("contact", help="contact id (or anon:<anonymous_id>)")
    explain.add_argument("--redis-url", required=True)
    explain.add_argument("--prefix", default="pulse")
    explain.add_argument("--rules", default=str(default_rules_path()), help="rules now in force")
    explain.add_argument("--at", help="evaluate the score at this time (default: last event)")
    explain.add_argument("--limit", type=int, default=10, help="recent triggers to show")
    explain.add_argument(
        "--scan-limit", type=int, default=1_000_000,
        help="trigger stream entries to scan at most, newest first",
    )  # fmt: skip
    explain.add_argument("--events", help="JSONL events file: show the events triggers name")
    explain.add_argument("--json", action="store_true", help="print the explanation as JSON")
    explain.set_defaults(func=_explain)


def _explain(args: argparse.Namespace) -> int:
    from pulse.explain import explain_contact
    from pulse.state import connect

    rules = load_rules(args.rules)
    explanation = explain_contact(
        connect(args.redis_url), args.prefix, args.contact, rules,
        at_ms=parse_ts(args.at) if args.at else None, limit=args.limit,
        scan_limit=args.scan_limit, events_path=Path(args.events) if args.events else None,
    )  # fmt: skip
    if explanation is None:
        print(
            f"pulse: no state for contact `{args.contact}` under `{args.prefix}`", file=sys.stderr
        )
        return 1
    if args.json:
        sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(explanation)) + b"\n")
        return 0
    out = Console(highlight=False)
    if not out.is_terminal:
        out.width = max(out.width, 140)  # a log or a file: no reason to squeeze the tables
    _print(explanation, out)
    return 0


def _print(x: Explanation, out: Console) -> None:
    out.print(
        f"[bold]{escape(x.contact)}[/]  score [bold]{x.score:g}[/] at {x.at}  stage "
        f"[bold]{x.stage}[/]  (rules version {x.rules_version})"
    )
    out.print(
        f"first seen {x.first_seen}, last seen {x.last_seen}; purchases {x.purchases}, "
        f"revenue {x.revenue:g}, open cart {x.cart_value:g}"
    )
    parts = Table(title="score, part by part", title_justify="left")
    for name in ("part", "event", "per event", "cap", "held", "decay", "now", "note"):
        parts.add_column(name, justify="right" if name in ("per event", "cap", "held",
                                                           "decay", "now") else "left")  # fmt: skip
    for p in x.parts:
        parts.add_row(
            escape(p.name), p.event or "", _num(p.points_per_event), _num(p.cap),
            _num(p.held), "" if p.decay is None else f"x{p.decay:.4f}", f"{p.points:g}",
            escape(p.note or (f"when {p.condition}" if p.condition else "")),
        )  # fmt: skip
    total = sum(p.points for p in x.parts)
    parts.caption = (
        f"held: rule points at their last update ({x.points_at}); decay: "
        f"2^(-elapsed / {x.half_life}) since; sum {total:.3f}, clamped to [0, {x.total_cap:g}]"
    )
    out.print(parts)
    history = Table(title="stage history", title_justify="left")
    history.add_column("since")
    history.add_column("stage")
    for at, stage in x.stage_history:
        history.add_row(at, stage)
    out.print(history)
    timers = Table(title="pending timers", title_justify="left")
    for name in ("trigger", "due", "armed by", ""):
        timers.add_column(name)
    for timer in x.timers:
        overdue = "overdue" if timer.is_overdue else ""
        timers.add_row(timer.trigger, timer.due, escape(timer.armed_by), overdue)
    out.print(timers)
    out.print(f"[bold]recent triggers[/] (newest first; {x.scanned:,} stream entries scanned)")
    for lineage in x.triggers:
        t = lineage.trigger
        version = "current rules" if lineage.is_current_rules else "an older rules version"
        out.print(
            f"  {t.ts}  [bold]{t.trigger}[/]  id {t.trigger_id}  score {t.score:g}  stage "
            f"{t.stage}  rules {t.rules_version} ({version})"
        )
        facts = ", ".join(f"{k}={v}" for k, v in t.reason.items())
        out.print(f"      because: {escape(facts)}")
        for event in lineage.events:
            out.print(f"      event: {escape(str(event))}", soft_wrap=True)


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"
