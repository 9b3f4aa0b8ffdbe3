"""How a `Comparison` is shown: terminal tables and histograms, JSON.

The HTML page is `pulse.compare_html`.
"""

from __future__ import annotations

import itertools
import math
import shlex
from collections.abc import Callable, Sequence

import msgspec
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pulse.compare import REARM_WINDOW_MS, Comparison, RuleChange, RunSummary, Sample, TriggerChange
from pulse.duration import format_duration
from pulse.lift import LiftChange, LiftRow
from pulse.liftreport import format_interval, format_pp
from pulse.rulestats import RuleStat

__all__ = ["encode_json", "explain_command", "format_shift", "print_comparison"]

_BAR_WIDTH = 28


def format_shift(seconds: float | None) -> str:
    """A signed shift in event time, readable.

    >>> format_shift(1800.0), format_shift(-90.0), format_shift(0.0), format_shift(None)
    ('+30m', '-1m30s', '0s', '')
    """
    if seconds is None:
        return ""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else "+"
    return sign + format_duration(round(abs(seconds) * 1000))


def encode_json(comparison: Comparison) -> bytes:
    """The comparison as JSON, for CI."""
    return msgspec.json.format(msgspec.json.encode(comparison), indent=2) + b"\n"


def explain_command(comparison: Comparison, kind: str, sample: Sample) -> str:
    """The `pulse explain` command for a sample contact, on the side where its trigger fired.

    Empty when the run's keys were not kept (nothing left to explain).
    """
    if comparison.explain_args is None:
        return ""
    side = comparison.before if kind == "removed" else comparison.after
    at = sample.before if kind == "removed" else sample.after
    q = shlex.quote
    return (
        f"pulse explain {q(sample.contact)} --prefix {q(side.prefix)} {comparison.explain_args} "
        f"--rules {q(side.rules_path)} --at {at}"
    )


def bin_labels(edges: Sequence[float]) -> list[str]:
    """Histogram bin labels.

    >>> bin_labels([0.0, 1.0, 5.0, float("inf")])
    ['0-1', '1-5', '5+']
    """
    labels = []
    for low, high in itertools.pairwise(edges):
        labels.append(f"{low:g}+" if math.isinf(high) else f"{low:g}-{high:g}")
    return labels


# -- terminal --------------------------------------------------------------------------


def print_comparison(comparison: Comparison, out: Console) -> None:
    """Runs, triggers, samples, score histogram, stages and stage moves, as rich tables."""
    out.print(
        f"\n[bold]pulse replay --compare[/]  {escape(comparison.events_file)}  "
        f"(scores as of {comparison.as_of})"
    )
    out.print(_runs_table(comparison.before, comparison.after))
    out.print(_triggers_table(comparison.triggers))
    for change in comparison.triggers:
        if change.samples:
            out.print(_samples_table(comparison, change))
    if comparison.explain_args is None:
        out.print("to explain a sample contact, run again with --keep-keys")
    out.print(_histogram_table(comparison))
    out.print(_stages_table(comparison))
    if comparison.lift:
        out.print(_lift_table(comparison.lift))
    out.print(_rules_table(comparison.rules))
    for warning in zero_hits(comparison.rules):
        out.print(f"[yellow]warning:[/] {escape(warning)}")
    _print_diff(comparison.rules_diff, out)


LIFT_HEADER = ("trigger", "variant", "sent", "held out", "conv. sent", "conv. held out",
               "lift", "95 % interval")  # fmt: skip


def lift_rows(changes: list[LiftChange]) -> list[list[str]]:
    """Per trigger variant: each figure as `before -> after`."""

    def side(row: LiftRow | None, figure: Callable[[LiftRow], str]) -> str:
        return "-" if row is None else figure(row)

    figures: list[Callable[[LiftRow], str]] = [
        lambda r: f"{r.sent.exposed:,}",
        lambda r: f"{r.held_out.exposed:,}",
        lambda r: f"{r.sent.rate:.1%}",
        lambda r: f"{r.held_out.rate:.1%}",
        lambda r: format_pp(r.lift),
        format_interval,
    ]
    return [
        [
            c.trigger,
            c.variant or "-",
            *(f"{side(c.before, f)} -> {side(c.after, f)}" for f in figures),
        ]
        for c in changes
    ]


def _lift_table(changes: list[LiftChange]) -> Table:
    table = Table(title="lift: sent vs held out, before -> after")
    for name in LIFT_HEADER:
        table.add_column(name, justify="left" if name in ("trigger", "variant") else "right")
    for row in lift_rows(changes):
        table.add_row(*row)
    return table


def zero_hits(rules: list[RuleChange]) -> list[str]:
    """Candidate rules that matched no event (the baseline's count said beside it)."""
    return [
        f"`{r.rule}` matched 0 events (event `{r.event}`)"
        + (f"; {r.before.hits:,} under the baseline" if r.before is not None else "")
        for r in rules
        if r.after is not None and r.after.event is not None and not r.after.hits
    ]


def _arrow(before: RuleStat | None, after: RuleStat | None, field: str) -> str:
    """`before -> after` of one statistic, `-` for the side that lacks the rule.

    >>> _arrow(RuleStat(rule="r", hits=3), None, "hits")
    '3 -> -'
    """
    values = [
        "-" if s is None else f"{getattr(s, field):,.1f}" if field == "points"
        else f"{getattr(s, field):,}"
        for s in (before, after)
    ]  # fmt: skip
    return values[0] if values[0] == values[1] else f"{values[0]} -> {values[1]}"


RULE_FIELDS = (("matched", "hits"), ("points added", "points"),
                ("stage moves", "stage_moves"), ("triggers", "triggers"))  # fmt: skip


def rule_rows(rules: list[RuleChange]) -> list[list[str]]:
    return [
        [r.rule, r.event or "", *(_arrow(r.before, r.after, f) for _, f in RULE_FIELDS)]
        for r in rules
    ]


def _rules_table(rules: list[RuleChange]) -> Table:
    table = Table(title="point rules (before -> after)")
    table.add_column("rule", no_wrap=True)
    table.add_column("event")
    for label, _ in RULE_FIELDS:
        table.add_column(label, justify="right")
    for rule, row in zip(rules, rule_rows(rules), strict=True):
        is_idle = rule.after is not None and not rule.after.hits
        table.add_row(*(escape(v) for v in row), style="yellow" if is_idle else None)
    return table


def _print_diff(lines: list[str], out: Console) -> None:
    if not lines:
        out.print("rules diff: the two files are the same text")
        return
    out.print("[bold]rules diff[/]")
    for line in lines:
        style = "green" if line[:1] == "+" else "red" if line[:1] == "-" else ""
        out.print(f"[{style}]{escape(line)}[/]" if style else escape(line), soft_wrap=True)


_NUMERIC_COLUMNS = ("events", "time", "events/s", "triggers", "contacts")


def _runs_table(before: RunSummary, after: RunSummary) -> Table:
    table = Table(title="rule sets")
    for name in ("", "rules", "version", "events", "time", "events/s", "triggers", "contacts"):
        table.add_column(name, justify="right" if name in _NUMERIC_COLUMNS else "left")
    for side in (before, after):
        table.add_row(
            side.label,
            escape(side.rules_path),
            side.rules_version,
            f"{side.events:,}",
            f"{side.elapsed_s:.1f}s",
            f"{side.events_per_s:,.0f}",
            f"{side.triggers:,}",
            f"{side.contacts:,}",
        )
    return table


TRIGGER_COLUMNS = ("trigger", "before", "after", "change", "same", "shifted", "re-armed",
                   "added", "removed", "median shift", "p90 shift")  # fmt: skip
"""The per-trigger comparison's columns, in the terminal and on the HTML page."""


def _triggers_table(changes: list[TriggerChange]) -> Table:
    table = Table(
        title="triggers (matched by trigger_id: contact, trigger, episode)",
        caption=REARMED_NOTE,
    )
    for name in TRIGGER_COLUMNS:
        table.add_column(name, justify="left" if name == "trigger" else "right")
    for c in changes:
        delta = c.after - c.before
        style = "green" if delta > 0 else "red" if delta < 0 else ""
        table.add_row(
            c.trigger,
            f"{c.before:,}",
            f"{c.after:,}",
            f"[{style}]{delta:+,}[/]" if style else "0",
            f"{c.same:,}",
            f"{c.shifted:,}",
            f"{c.rearmed:,}",
            f"{c.added:,}",
            f"{c.removed:,}",
            format_shift(c.shift_median_s),
            format_shift(c.shift_p90_s),
        )
    return table


REARMED_NOTE = (
    "re-armed: of shifted, sales_ready/welcome/welcome_back firings that moved to another "
    f"event, paired by contact, nearest within {format_duration(REARM_WINDOW_MS)}"
)


def _samples_table(comparison: Comparison, change: TriggerChange) -> Table:
    table = Table(title=f"{change.trigger}: sample contacts", title_justify="left")
    for name in ("change", "contact", "before", "after", "shift"):
        table.add_column(name)
    commands = []
    for kind, samples in change.samples.items():
        for sample in samples:
            table.add_row(
                kind + (" (re-armed)" if sample.after_trigger_id else ""),
                escape(sample.contact),
                sample.before or "-",
                sample.after or "-",
                format_shift(sample.shift_s),
            )
            commands.append(explain_command(comparison, kind, sample))
    if commands[0]:
        table.caption = "explain the first: " + escape(commands[0])
    return table


def _bar(count: int, top: int) -> str:
    if not count:
        return ""
    eighths = max(1, round(count / top * _BAR_WIDTH * 8)) if top else 0
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


def _histogram_table(comparison: Comparison) -> Table:
    scores = comparison.scores
    top = max([*scores.before, *scores.after, 1])
    stats = comparison.score_stats
    moved = comparison.score_changes
    table = Table(
        title="scores: contacts per score range",
        caption=(
            f"mean {stats['before'].mean:g} -> {stats['after'].mean:g}, "
            f"p50 {stats['before'].p50:g} -> {stats['after'].p50:g}, "
            f"p90 {stats['before'].p90:g} -> {stats['after'].p90:g}; contacts whose score "
            f"went up {moved.get('up', 0):,}, down {moved.get('down', 0):,}, "
            f"stayed {moved.get('same', 0):,}"
        ),
    )
    table.add_column("score")
    table.add_column("before", justify="right")
    table.add_column("", style="grey50", no_wrap=True)
    table.add_column("after", justify="right")
    table.add_column("", style="blue", no_wrap=True)
    for label, old, new in zip(bin_labels(scores.edges), scores.before, scores.after, strict=True):
        table.add_row(label, f"{old:,}", _bar(old, top), f"{new:,}", _bar(new, top))
    return table


def _stages_table(comparison: Comparison) -> Table:
    table = Table(title="stages")
    for name in ("stage", "before", "after", "change"):
        table.add_column(name, justify="left" if name == "stage" else "right")
    for stage, (old, new) in comparison.stages.items():
        table.add_row(stage, f"{old:,}", f"{new:,}", f"{new - old:+,}")
    if comparison.stage_moves:
        moves = ", ".join(f"{move} {n:,}" for move, n in list(comparison.stage_moves.items())[:8])
        table.caption = f"moves: {moves}"
    return table
