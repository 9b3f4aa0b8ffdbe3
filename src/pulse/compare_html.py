"""A `Comparison` as a self-contained HTML page.

The page has no script and loads nothing: its charts are inline SVG, so a
reviewer can open it from a CI artifact or an email attachment as is.
"""

from __future__ import annotations

import html

from pulse.compare import Comparison
from pulse.compare_report import (
    LIFT_HEADER,
    REARMED_NOTE,
    RULE_FIELDS,
    TRIGGER_COLUMNS,
    bin_labels,
    explain_command,
    format_shift,
    lift_rows,
    rule_rows,
    zero_hits,
)

__all__ = ["render_html"]

_BEFORE, _AFTER = "#8c8c8c", "#2f6fdf"


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
        f"<p>{e(REARMED_NOTE)}.</p>",
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
            list(TRIGGER_COLUMNS),
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
        _svg_bars(bin_labels(c.scores.edges), c.scores.before, c.scores.after),
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
    if c.lift:
        parts.append("<h2>Lift: sent vs held out, before -&gt; after</h2>")
        parts.append(_html_table(list(LIFT_HEADER), lift_rows(c.lift)))
    parts += [
        "<h2>Point rules</h2>",
        _html_table(["rule", "event", *(label for label, _ in RULE_FIELDS)], rule_rows(c.rules)),
        *(f"<p class='warn'>warning: {e(w)}</p>" for w in zero_hits(c.rules)),
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
