"""The experiments report: lift per trigger and variant, conversion timing, the stage funnel.

Built from the aggregates a run committed (the run counters and the contacts per
stage, see `pulse.lift`), never from the raw triggers, so it costs the same for a
thousand contacts or a hundred million. Three renderings of one `LiftReport`:
terminal tables (`print_report`, also the end of a `pulse run`/`replay` summary),
a self-contained HTML page (`render_html`: inline CSS and SVG, nothing fetched),
and JSON (`report_json`).
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import msgspec
from rich.console import Console
from rich.table import Table

from pulse.contact import STAGES
from pulse.lift import TIMING_BUCKETS, LiftRow, lift_table

__all__ = [
    "LiftReport",
    "build_report",
    "format_interval",
    "format_pp",
    "print_lift",
    "print_report",
    "render_html",
    "report_json",
]

_TIMING = [name for name, _ in TIMING_BUCKETS] + ["later"]


class LiftReport(msgspec.Struct, frozen=True, kw_only=True):
    """What `pulse report` shows."""

    lift: list[LiftRow]
    stages: dict[str, int]
    """Contacts per lifecycle stage, in journey order."""
    decisions: dict[str, int]
    """Triggers per decision (`sent`, `deferred`, `held_out`, `suppressed`)."""
    triggers: dict[str, int]
    """Triggers fired per trigger name."""
    stage_flow: dict[str, int] = {}
    """`"from -> to"` contacts between `flow_between` (`pulse.stageflow`); empty without."""
    flow_between: list[str] = []
    """The two event times of `stage_flow` (ISO), when asked for."""


def build_report(counters: Mapping[str, int], stages: Mapping[str, int]) -> LiftReport:
    """The report from the run counters and the contacts per stage.

    >>> report = build_report({"trigger:welcome": 3, "decision:sent": 3}, {"customer": 2})
    >>> report.triggers, report.decisions, report.stages["customer"], report.lift
    ({'welcome': 3}, {'sent': 3}, 2, [])
    """
    ordered = {stage: stages.get(stage, 0) for stage in STAGES}
    ordered |= {k: v for k, v in sorted(stages.items()) if k not in ordered}
    decisions = {
        k.removeprefix("decision:"): v
        for k, v in sorted(counters.items())
        if k.startswith("decision:") and k.count(":") == 1
    }
    triggers = {
        k.removeprefix("trigger:"): v
        for k, v in sorted(counters.items())
        if k.startswith("trigger:")
    }
    return LiftReport(
        lift=lift_table(counters), stages=ordered, decisions=decisions, triggers=triggers
    )


def report_json(report: LiftReport) -> bytes:
    """The report as indented JSON (lift rows with their arms, rates and intervals)."""
    rows = []
    for row in report.lift:
        arms = {}
        for name, arm in (("sent", row.sent), ("held_out", row.held_out)):
            arms[name] = {
                "exposed": arm.exposed, "converted": arm.converted, "rate": round(arm.rate, 6),
                "revenue": arm.revenue_cents / 100,
                "revenue_per_contact": round(arm.revenue_per_contact, 4), "timing": arm.timing,
            }  # fmt: skip
        rows.append(
            {
                "trigger": row.trigger,
                "variant": row.variant,
                **arms,
                "lift": row.lift,
                "low": row.low,
                "high": row.high,
                "needed": row.needed,
                "is_significant": row.is_significant,
            }
        )
    data = {"lift": rows, "stages": report.stages, "decisions": report.decisions,
            "triggers": report.triggers, "stage_flow": report.stage_flow,
            "flow_between": report.flow_between}  # fmt: skip
    return msgspec.json.format(msgspec.json.encode(data), indent=2) + b"\n"


# -- terminal ---------------------------------------------------------------------------


def format_pp(value: float | None) -> str:
    """A difference of rates in percentage points.

    >>> format_pp(0.1234), format_pp(-0.05), format_pp(None)
    ('+12.3 pp', '-5.0 pp', '-')
    """
    return "-" if value is None else f"{100 * value:+.1f} pp"


def format_interval(row: LiftRow) -> str:
    """The 95 % interval of a row's lift, in percentage points."""
    if row.low is None or row.high is None:
        return "-"
    return f"{format_pp(row.low)} .. {format_pp(row.high)}"


def print_lift(report: LiftReport, out: Console) -> None:
    """The lift table (and a line saying why there is none)."""
    if not report.lift:
        out.print(
            "lift: no trigger sent or held out yet (give triggers a `holdout` to measure lift)"
        )
        return
    table = Table(title="lift: conversions within the goal window, sent vs held out")
    for name in ("trigger", "variant", "sent", "held out", "conv. sent", "conv. held out",
                 "rev./contact sent", "rev./contact held out", "lift", "95 % interval",
                 "contacts needed"):  # fmt: skip
        table.add_column(name, justify="left" if name in ("trigger", "variant") else "right")
    for row in report.lift:
        sent, held = row.sent, row.held_out
        table.add_row(
            row.trigger, row.variant or "-", f"{sent.exposed:,}", f"{held.exposed:,}",
            f"{sent.converted:,} ({sent.rate:.1%})", f"{held.converted:,} ({held.rate:.1%})",
            f"{sent.revenue_per_contact:,.2f}", f"{held.revenue_per_contact:,.2f}",
            format_pp(row.lift), format_interval(row),
            "-" if row.needed is None else f"{row.needed:,}",
            style="green" if row.is_significant and (row.lift or 0) > 0 else None,
        )  # fmt: skip
    out.print(table)


def print_report(report: LiftReport, out: Console) -> None:
    """Every table of the report: funnel, decisions, lift, conversion timing."""
    funnel = Table(title="funnel: contacts by stage")
    funnel.add_column("stage")
    funnel.add_column("contacts", justify="right")
    for stage, n in report.stages.items():
        funnel.add_row(stage, f"{n:,}")
    decisions = Table(title="triggers by decision")
    decisions.add_column("decision")
    decisions.add_column("triggers", justify="right")
    for decision, n in report.decisions.items():
        decisions.add_row(decision, f"{n:,}")
    out.print(funnel, decisions)
    if report.flow_between:
        flow = Table(title=_flow_title(report))
        flow.add_column("move")
        flow.add_column("contacts", justify="right")
        for move, n in report.stage_flow.items():
            flow.add_row(move, f"{n:,}")
        out.print(flow)
    print_lift(report, out)
    if report.lift:
        timing = Table(title="conversions by time after the trigger (sent / held out)")
        timing.add_column("trigger")
        timing.add_column("variant")
        for name in _TIMING:
            timing.add_column(f"within {name}" if name != "later" else name, justify="right")
        for row in report.lift:
            cells = [f"{row.sent.timing.get(n, 0):,} / {row.held_out.timing.get(n, 0):,}"
                     for n in _TIMING]  # fmt: skip
            timing.add_row(row.trigger, row.variant or "-", *cells)
        out.print(timing)


# -- HTML -------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em;color:#1d2430}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}
th,td{padding:.3em .7em;border-bottom:1px solid #d8dde6;text-align:right}
th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}
th{background:#f2f4f8}td{white-space:nowrap}tr.significant td{background:#eaf7ee}
p.note{color:#556;max-width:60em}svg text{font:12px system-ui,sans-serif;fill:#1d2430}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(headers: list[str], rows: list[tuple[list[str], str]], table_id: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        f'<tr class="{cls}">' + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>"
        for cells, cls in rows
    )
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _forest(rows: list[LiftRow]) -> str:
    """An SVG of each row's lift and interval around a zero line."""
    shown = [r for r in rows if r.lift is not None and r.low is not None and r.high is not None]
    if not shown:
        return ""
    bound = max(0.05, *(max(abs(r.low or 0), abs(r.high or 0)) for r in shown))
    label_w, plot_w, row_h = 220, 420, 28
    height = row_h * len(shown) + 30

    def x(value: float) -> float:
        return label_w + plot_w / 2 + value / bound * plot_w / 2

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + plot_w + 20}" '
        f'height="{height}" role="img" aria-label="lift with 95 % intervals">',
        f'<line x1="{x(0):.1f}" y1="0" x2="{x(0):.1f}" y2="{height - 20}" stroke="#889" '
        'stroke-dasharray="4 3"/>',
        f'<text x="{x(0):.1f}" y="{height - 5}" text-anchor="middle">0</text>',
        f'<text x="{x(-bound):.1f}" y="{height - 5}">{_e(format_pp(-bound))}</text>',
        f'<text x="{x(bound):.1f}" y="{height - 5}" text-anchor="end">'
        f"{_e(format_pp(bound))}</text>",
    ]
    for i, row in enumerate(shown):
        y = row_h * i + row_h / 2
        color = "#1a8f3c" if row.is_significant else "#4a5a78"
        label = row.trigger + (f" ({row.variant})" if row.variant else "")
        parts += [
            f'<text x="0" y="{y + 4:.1f}">{_e(label)}</text>',
            f'<line x1="{x(row.low or 0):.1f}" y1="{y:.1f}" x2="{x(row.high or 0):.1f}" '
            f'y2="{y:.1f}" stroke="{color}" stroke-width="3"/>',
            f'<circle cx="{x(row.lift or 0):.1f}" cy="{y:.1f}" r="5" fill="{color}"/>',
        ]
    return "".join(parts) + "</svg>"


def _bars(values: dict[str, int], label: str) -> str:
    """An SVG bar chart of counts (the stage funnel)."""
    top = max(values.values(), default=0) or 1
    label_w, bar_w, row_h = 110, 360, 22
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 80}" '
        f'height="{row_h * len(values) + 4}" role="img" aria-label="{_e(label)}">'
    ]
    for i, (name, n) in enumerate(values.items()):
        y = row_h * i
        width = bar_w * n / top
        parts += [
            f'<text x="0" y="{y + 15}">{_e(name)}</text>',
            f'<rect x="{label_w}" y="{y + 3}" width="{width:.1f}" height="{row_h - 6}" '
            'fill="#5b7fc7"/>',
            f'<text x="{label_w + width + 6:.1f}" y="{y + 15}">{n:,}</text>',
        ]
    return "".join(parts) + "</svg>"


def _flow_title(report: LiftReport) -> str:
    start, end = report.flow_between
    return f"stage flow from {start} to {end}"


def _flow_html(report: LiftReport) -> list[str]:
    if not report.flow_between:
        return []
    rows = [([move, f"{n:,}"], "") for move, n in report.stage_flow.items()]
    return [
        f"<h2>{_e(_flow_title(report).capitalize())}</h2>",
        _table(["move", "contacts"], rows, "stage-flow"),
    ]


def render_html(report: LiftReport, title: str = "pulse report") -> str:
    """A self-contained page: inline CSS and SVG, no script, nothing fetched."""
    lift_rows = []
    for row in report.lift:
        sent, held = row.sent, row.held_out
        cells = [
            row.trigger, row.variant or "-", f"{sent.exposed:,}", f"{held.exposed:,}",
            f"{sent.converted:,} ({sent.rate:.1%})", f"{held.converted:,} ({held.rate:.1%})",
            f"{sent.revenue_per_contact:,.2f}", f"{held.revenue_per_contact:,.2f}",
            format_pp(row.lift), format_interval(row),
            "-" if row.needed is None else f"{row.needed:,}",
        ]  # fmt: skip
        lift_rows.append((cells, "significant" if row.is_significant else ""))
    timing_rows = [
        ([row.trigger, row.variant or "-",
          *(f"{row.sent.timing.get(n, 0):,} / {row.held_out.timing.get(n, 0):,}"
            for n in _TIMING)], "")
        for row in report.lift
    ]  # fmt: skip
    body = [
        f"<h1>{_e(title)}</h1>",
        "<h2>Lift per trigger and variant</h2>",
        '<p class="note">Contacts sent a trigger against those held out of it (its control '
        "group), converting within the trigger's goal window. Lift is the difference of the "
        "two conversion rates with Newcombe's 95 % interval; a green row's interval excludes "
        "zero. <em>Contacts needed</em>: both arms together, to detect the observed lift at "
        "5 % significance and 80 % power with this split.</p>",
        _table(
            ["trigger", "variant", "sent", "held out", "conv. sent", "conv. held out",
             "rev./contact sent", "rev./contact held out", "lift", "95 % interval",
             "contacts needed"],
            lift_rows, "lift",
        ) if lift_rows else '<p id="lift">No trigger sent or held out yet.</p>',
        _forest(report.lift),
        "<h2>Conversions by time after the trigger (sent / held out)</h2>",
        _table(["trigger", "variant", *(f"within {n}" if n != "later" else n for n in _TIMING)],
               timing_rows, "timing"),
        "<h2>Funnel: contacts by stage</h2>",
        _bars(report.stages, "contacts by stage"),
        _table(["stage", "contacts"], [([s, f"{n:,}"], "") for s, n in report.stages.items()],
               "stages"),
        *_flow_html(report),
        "<h2>Triggers by decision</h2>",
        _table(["decision", "triggers"],
               [([d, f"{n:,}"], "") for d, n in report.decisions.items()], "decisions"),
    ]  # fmt: skip
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
