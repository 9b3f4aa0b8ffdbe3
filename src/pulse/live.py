"""The compact live summary `pulse run` shows in a terminal, instead of a line per trigger.

Redrawn in place (`rich.live`) a few times a second from the run's `FlowMetrics`:
events and events/s, triggers per name and decision, contacts per stage, the last
few triggers. Only on a terminal: on a pipe or in CI nothing is drawn and the run's
final summary is all that is printed (`--show` prints every trigger line instead).
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from pulse.metrics import FlowMetrics

__all__ = ["DECISIONS", "LiveSummary", "render_summary", "terminal_console"]

DECISIONS = ("sent", "deferred", "suppressed", "held_out")
"""The columns of the trigger table, in this order (see `pulse.triggers.Decision`)."""

_RATE_WINDOW_S = 3.0
_RECENT_SHOWN = 4


def terminal_console() -> Console | None:
    """A console on the terminal standard error is now, or `None` when it is not one.

    It writes to a duplicate of the descriptor: while the flow runs, `pulse.panics`
    routes descriptor 2 through a pipe copied line by line, where a frame redrawn in
    place (no newline) would wait until the run ends.
    """
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by a test, or closed
        return None
    if not os.isatty(fd):
        return None
    return Console(file=os.fdopen(os.dup(fd), "w", encoding="utf-8"))


class LiveSummary:
    """A context manager: draws `metrics` on the terminal while the block runs, when
    `is_shown` and standard error is a terminal (see `terminal_console`)."""

    def __init__(self, metrics: FlowMetrics, *, is_shown: bool = True) -> None:
        self.metrics = metrics
        self.is_shown = is_shown
        self._samples: deque[tuple[float, int]] = deque()
        self._live: Live | None = None

    def __enter__(self) -> LiveSummary:
        console = terminal_console() if self.is_shown else None
        if console is not None:
            self._live = Live(
                get_renderable=self.render, console=console,
                refresh_per_second=4, transient=True,
            )  # fmt: skip
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live.console.file.close()

    def render(self) -> RenderableType:
        """The summary as it stands now, with events/s over the last few seconds."""
        snapshot = self.metrics.snapshot()
        events = _events_in(snapshot)
        now = time.monotonic()
        samples = self._samples
        samples.append((now, events))
        while len(samples) > 2 and now - samples[0][0] > _RATE_WINDOW_S:
            samples.popleft()
        then, before = samples[0]
        rate = (events - before) / (now - then) if now > then else 0.0
        return render_summary(snapshot, rate)


def _events_in(snapshot: dict[str, Any]) -> int:
    counts = snapshot["events"]
    return int(counts.get("applied", 0) + counts.get("duplicate", 0) + counts.get("replayed", 0))


def render_summary(snapshot: dict[str, Any], rate_per_s: float) -> RenderableType:
    """The summary of a `FlowMetrics.snapshot()` (a pure function of it, for tests)."""
    counts = snapshot["events"]
    fired = sum(row["count"] for row in snapshot["triggers"])
    head = Text.assemble(
        ("pulse ", "bold"),
        f"{_events_in(snapshot):,} events ({rate_per_s:,.0f}/s), "
        f"{counts.get('rejected', 0):,} rejected, {fired:,} triggers, "
        f"{snapshot['uptime_s']:.0f}s",
    )
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("trigger")
    for decision in DECISIONS:
        table.add_column(decision, justify="right")
    table.add_column("total", justify="right")
    by_trigger: dict[str, dict[str, int]] = {}
    for row in snapshot["triggers"]:
        by_trigger.setdefault(row["trigger"], {})[row["decision"]] = row["count"]
    for trigger, decisions in sorted(by_trigger.items()):
        cells = [f"{decisions[d]:,}" if decisions.get(d) else "." for d in DECISIONS]
        table.add_row(trigger, *cells, f"{sum(decisions.values()):,}")
    stages = snapshot["stages"]
    stage_line = Text(
        "stages  "
        + ("  ".join(f"{name} {count:,}" for name, count in sorted(stages.items())) or "...")
    )
    recent = [
        Text(
            f"  {t['ts'][:19].replace('T', ' ')}  {t['trigger']:<15} {t['contact_id']:<22} "
            f"{t['decision']}",
            style="dim",
        )
        for t in snapshot["recent"][:_RECENT_SHOWN]
    ]
    return Group(head, table, stage_line, *recent)
