"""How a `Comparison` is shown: terminal tables and histograms, JSON, a self-contained HTML page.

The HTML page has no script and loads nothing: its charts are inline SVG, so a
reviewer can open it from a CI artifact or an email attachment as is.
"""

from __future__ import annotations

import html
import itertools
import math
import shlex
from collections.abc import Sequence

import msgspec
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pulse.compare import REARM_WINDOW_MS, Comparison, RuleChange, RunSummary, Sample, TriggerChange
from pulse.duration import format_duration
from pulse.rulestats import RuleStat

__all__ = ["encode_json", "explain_command", "format_shift", "print_comparison", "render_html"]

_BAR_WIDTH = 28
_BEFORE, _AFTER = "#8c8c8c", "#2f6fdf"


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


def _bin_labels(edges: Sequence[float]) -> list[str]:
    """Histogram bin labels.

    >>> _bin_labels([0.0, 1.0, 5.0, float("inf")])
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
    out.print(_rules_table(comparison.rules))
    for warning in _zero_hits(comparison.rules):
        out.print(f"[yellow]warning:[/] {escape(warning)}")
    _print_diff(comparison.rules_diff, out)


def _zero_hits(rules: list[RuleChange]) -> list[str]:
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


_RULE_FIELDS = (("matched", "hits"), ("points added", "points"),
                ("stage moves", "stage_moves"), ("triggers", "triggers"))  # fmt: skip


def _rule_rows(rules: list[RuleChange]) -> list[list[str]]:
    return [
        [r.rule, r.event or "", *(_arrow(r.before, r.after, f) for _, f in _RULE_FIELDS)]
        for r in rules
    ]


def _rules_table(rules: list[RuleChange]) -> Table:
    table = Table(title="point rules (before -> after)")
    table.add_column("rule", no_wrap=True)
    table.add_column("event")
    for label, _ in _RULE_FIELDS:
        table.add_column(label, justify="right")
    for rule, row in zip(rules, _rule_rows(rules), strict=True):
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


def _triggers_table(changes: list[TriggerChange]) -> Table:
    table = Table(
        title="triggers (matched by trigger_id: contact, trigger, episode)",
        caption=_REARMED_NOTE,
    )
    columns = (
        "trigger",
        "before",
        "after",
        "change",
        "same",
        "shifted",
        "re-armed",
        "added",
        "removed",
        "median shift",
        "p90 shift",
    )
    for name in columns:
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


_REARMED_NOTE = (
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
    for label, old, new in zip(_bin_labels(scores.edges), scores.before, scores.after, strict=True):
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


# -- HTML ------------------------------------------------------------------------------


def render_html(comparison: Comparison) -> str:
    """A self-contained HTML report page: inline CSS and SVG, no script, nothing fetched."""
    c = comparison
    e = html.escape
    names = [t.trigger for t in c.triggers]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>pulse: {e(c.after.rules_path)} vs {e(c.before.rules_path)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>pulse rules comparison</h1>",
        f"<p>Events <code>{e(c.events_file)}</code> replayed in event time under both rule "
        f"sets; scores compared as of <code>{e(c.as_of)}</code>. Triggers are matched by "
        "<code>trigger_id</code> (contact, trigger, the episode that armed it).</p>",
        f"<p>{e(_REARMED_NOTE)}.</p>",
        _legend(),
        _html_table(
            ["", "rules", "version", "events", "time", "events/s", "triggers", "contacts"],
            [
                [
                    s.label,
                    s.rules_path,
                    s.rules_version,
                    f"{s.events:,}",
                    f"{s.elapsed_s:.1f}s",
                    f"{s.events_per_s:,.0f}",
                    f"{s.triggers:,}",
                    f"{s.contacts:,}",
                ]
                for s in (c.before, c.after)
            ],
        ),
        "<h2>Triggers</h2>",
        _svg_bars(names, [t.before for t in c.triggers], [t.after for t in c.triggers]),
        _html_table(
            [
                "trigger",
                "before",
                "after",
                "change",
                "same",
                "shifted",
                "re-armed",
                "added",
                "removed",
                "median shift",
                "p90 shift",
            ],
            [
                [
                    t.trigger,
                    f"{t.before:,}",
                    f"{t.after:,}",
                    f"{t.after - t.before:+,}",
                    f"{t.same:,}",
                    f"{t.shifted:,}",
                    f"{t.rearmed:,}",
                    f"{t.added:,}",
                    f"{t.removed:,}",
                    format_shift(t.shift_median_s),
                    format_shift(t.shift_p90_s),
                ]
                for t in c.triggers
            ],
        ),
    ]
    for change in c.triggers:
        if change.samples:
            parts.append(f"<h3>{e(change.trigger)}: sample contacts</h3>")
            parts.append(
                _html_table(
                    ["change", "contact", "before", "after", "shift", "explain"],
                    [
                        [
                            kind + (" (re-armed)" if s.after_trigger_id else ""),
                            s.contact,
                            s.before or "-",
                            s.after or "-",
                            format_shift(s.shift_s),
                            explain_command(c, kind, s),
                        ]
                        for kind, samples in change.samples.items()
                        for s in samples
                    ],
                )
            )
    stats, moved = c.score_stats, c.score_changes
    parts += [
        "<h2>Scores</h2>",
        _svg_bars(_bin_labels(c.scores.edges), c.scores.before, c.scores.after),
        _html_table(
            ["", "mean", "p50", "p90", "max"],
            [
                [label, f"{s.mean:g}", f"{s.p50:g}", f"{s.p90:g}", f"{s.max:g}"]
                for label, s in stats.items()
            ],
        ),
        f"<p>Contacts whose score went up: {moved.get('up', 0):,}; down: "
        f"{moved.get('down', 0):,}; stayed: {moved.get('same', 0):,}.</p>",
        "<h2>Stages</h2>",
        _svg_bars(
            list(c.stages), [v[0] for v in c.stages.values()], [v[1] for v in c.stages.values()]
        ),
        _html_table(
            ["stage", "before", "after", "change"],
            [
                [stage, f"{old:,}", f"{new:,}", f"{new - old:+,}"]
                for stage, (old, new) in c.stages.items()
            ],
        ),
    ]
    if c.stage_moves:
        parts.append("<h3>Stage moves</h3>")
        parts.append(
            _html_table(["move", "contacts"], [[m, f"{n:,}"] for m, n in c.stage_moves.items()])
        )
    parts += [
        "<h2>Point rules</h2>",
        _html_table(["rule", "event", *(label for label, _ in _RULE_FIELDS)], _rule_rows(c.rules)),
        *(f"<p class='warn'>warning: {e(w)}</p>" for w in _zero_hits(c.rules)),
        "<h2>Rules diff</h2>",
        _html_diff(c.rules_diff),
    ]
    if c.explain_args is None:
        parts.append("<p>Run with <code>--keep-keys</code> to explain sample contacts.</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{margin-top:1.8em;border-bottom:1px solid #ddd}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.6em 0}th,td{padding:.25em .7em;border-bottom:1px solid #eee}
th{text-align:left;background:#f6f6f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
code{background:#f3f3f3;padding:0 .25em}.key{display:inline-block;width:.9em;height:.9em;
margin:0 .3em 0 1em;vertical-align:-.1em}svg text{font:11px system-ui,sans-serif;fill:#333}
pre.diff{background:#fafafa;border:1px solid #eee;padding:.6em;overflow-x:auto}.add{color:#1a7f37}
.del{color:#cf222e}.hunk{color:#8250df}.warn{color:#9a6700}
"""


def _html_diff(lines: list[str]) -> str:
    if not lines:
        return "<p>The two files are the same text.</p>"
    rows = []
    for line in lines:
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "")
        rows.append(
            f"<span class='{kind}'>{html.escape(line)}</span>" if kind else html.escape(line)
        )
    return "<pre class='diff'>" + "\n".join(rows) + "</pre>"


def _legend() -> str:
    return (
        f"<p><span class='key' style='background:{_BEFORE}'></span>before (baseline, "
        f"<code>--compare</code>)<span class='key' style='background:{_AFTER}'></span>"
        "after (candidate, <code>--rules</code>)</p>"
    )


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(value: str) -> str:
        numeric = value[:1].isdigit() or (value[:1] in "+-" and value[1:2].isdigit())
        return (
            f"<td class='n'>{html.escape(value)}</td>"
            if numeric
            else f"<td>{html.escape(value)}</td>"
        )

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _svg_bars(categories: list[str], before: list[int], after: list[int]) -> str:
    """Grouped bars, before and after per category, with counts on top."""
    if not categories:
        return ""
    group, bar, height, top_pad, label_h = 92, 34, 170, 18, 34
    width = 50 + group * len(categories)
    top = max([*before, *after, 1])
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' "
        f"height='{height + top_pad + label_h}' role='img'>"
    ]
    base = top_pad + height
    out.append(f"<line x1='40' y1='{base}' x2='{width}' y2='{base}' stroke='#999'/>")
    for index, name in enumerate(categories):
        x = 46 + index * group
        for offset, value, colour in ((0, before[index], _BEFORE), (bar + 4, after[index], _AFTER)):
            h = value / top * height
            out.append(
                f"<rect x='{x + offset}' y='{base - h:.1f}' width='{bar}' height='{h:.1f}' "
                f"fill='{colour}'><title>{value:,}</title></rect>"
            )
            out.append(
                f"<text x='{x + offset + bar / 2}' y='{base - h - 4:.1f}' "
                f"text-anchor='middle'>{_short(value)}</text>"
            )
        out.append(
            f"<text x='{x + bar + 2}' y='{base + 16}' text-anchor='middle'>"
            f"{html.escape(name[:14])}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _short(value: int) -> str:
    """A count short enough to sit on a bar.

    >>> _short(999), _short(12_345), _short(2_500_000)
    ('999', '12.3k', '2.5M')
    """
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1000:.1f}k"
    return f"{value:,}" if value < 1000 else f"{value / 1000:.1f}k"
