"""`pulse explain CONTACT`: a contact's story, read from Redis or a kept state directory.

Score part by part, event counts per window, stages, timers, and the recent
triggers with their lineage. `pulse inspect` is the same command under its old
name. Without a Redis URL, the state is the one `pulse run`/`replay` kept in
`--state-dir` (default `.pulse/last-run`): a private redis-server is started on
it for the time of the command.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pulse import windows
from pulse.cli.options import REDIS_URL_ENV, time_option, url_from_file
from pulse.errors import ConfigError
from pulse.redis_server import LAST_RUN_DIR, has_state, state_server
from pulse.rules import default_rules_path, load_rules

if TYPE_CHECKING:
    from pulse.explain import Explanation

__all__ = ["HELP", "add_arguments", "kept_state", "register"]

HELP = "a contact's story: score part by part, counts, stages, timers, triggers"


def register(commands: Any) -> None:
    """Add `explain` (`pulse.cli.inspect` adds the same command as `inspect`)."""
    add_arguments(commands.add_parser("explain", help=HELP, description=HELP))


def add_arguments(explain: argparse.ArgumentParser) -> None:
    """The arguments of `explain` (and `inspect`), and the function that runs it."""
    explain.add_argument("contact", help="contact id (or anon:<anonymous_id>)")
    explain.add_argument(
        "--redis-url", metavar="URL",
        help=f"Redis that holds the state (default: {REDIS_URL_ENV}, else --state-dir)",
    )  # fmt: skip
    explain.add_argument(
        "--redis-url-file", metavar="FILE", help="read the Redis URL from this file"
    )
    explain.add_argument(
        "--state-dir", metavar="DIR",
        help=f"without a Redis URL: the state a run kept there (default {LAST_RUN_DIR}, "
        "where `pulse run`/`replay` keep their last run's)",
    )  # fmt: skip
    explain.add_argument("--prefix", default="pulse")
    explain.add_argument("--rules", default=str(default_rules_path()), help="rules now in force")
    explain.add_argument(
        "--at", type=time_option, metavar="TIME",
        help="evaluate the score at this time: ISO, epoch ms, or relative to the last event "
        "(`-1d`, `+2h`) or to now (`now-1d`); default: the last event",
    )  # fmt: skip
    explain.add_argument("--limit", type=int, default=10, help="recent triggers to show")
    explain.add_argument(
        "--scan-limit", type=int, default=1_000_000,
        help="trigger stream entries to scan at most, newest first",
    )  # fmt: skip
    explain.add_argument("--events", help="JSONL events file: show the events triggers name")
    explain.add_argument("--json", action="store_true", help="print the explanation as JSON")
    explain.set_defaults(func=_explain)


@contextlib.contextmanager
def kept_state(args: argparse.Namespace) -> Iterator[str]:
    """The Redis URL to read: `--redis-url`, `--redis-url-file`, `PULSE_REDIS_URL`, or a
    server on `--state-dir`."""
    url_file = getattr(args, "redis_url_file", None)
    if args.redis_url and url_file:
        raise ConfigError("give `--redis-url` or `--redis-url-file`, not both")
    url = args.redis_url or (url_from_file(url_file) if url_file else None)
    url = url or os.environ.get(REDIS_URL_ENV)
    if url:
        if args.state_dir:
            raise ConfigError("give a Redis URL or `--state-dir`, not both")
        yield url
        return
    data_dir = Path(args.state_dir) if args.state_dir else LAST_RUN_DIR
    if not has_state(data_dir):
        raise ConfigError(
            f"no kept state in `{data_dir}`: `pulse run` and `pulse replay` without a Redis URL "
            f"keep their state there (`--state-dir`); or pass `--redis-url URL`"
        )
    with state_server(data_dir) as server:
        yield server.url


def _explain(args: argparse.Namespace) -> int:
    from pulse.explain import explain_contact
    from pulse.state import connect

    rules = load_rules(args.rules)
    with kept_state(args) as url:
        explanation = explain_contact(
            connect(url), args.prefix, args.contact, rules, at_ms=args.at, limit=args.limit,
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
    counts = Table(title=f"event counts up to {x.at}", title_justify="left")
    counts.add_column("type")
    for name in windows.WINDOWS_MS:
        counts.add_column(name, justify="right")
    for type_, by_window in x.counts.items():
        counts.add_row(type_, *(f"{n:,}" for n in by_window.values()))
    out.print(counts)
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
        if lineage.points_then is not None:
            then_p = lineage.model_p_then
            out.print(
                f"      score then: rule points {lineage.points_then:g} + model "
                f"{lineage.model_points_then or 0:+g} (purchase probability "
                f"{'none yet' if then_p is None else f'{then_p:.3f}'}, as the model gave it then)"
            )
        for event in lineage.events:
            out.print(f"      event: {escape(str(event))}", soft_wrap=True)


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"
