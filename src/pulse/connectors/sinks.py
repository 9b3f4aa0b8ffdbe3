"""Sinks for triggers and dead letters: the terminal, JSON Lines files.

The Redis stream output is not here: it is written in the same atomic commit
as the contact states (see `pulse.state`), which is what makes it exactly once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

import msgspec
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from pulse.events import Rejected
from pulse.triggers import Trigger, encode_trigger

__all__ = ["ConsoleSink", "JsonlSink", "format_decision", "format_trigger"]

_ENCODER = msgspec.json.Encoder()


def format_trigger(trigger: Trigger) -> str:
    """One readable terminal line for a trigger, its decision included."""
    reason = trigger.reason
    facts = " ".join(f"{k}={v}" for k, v in reason.items() if k not in _NOT_SHOWN)
    # `model_p` is None while the model is warming up (no probability yet).
    model = f"p={reason['model_p']:.2f}" if reason.get("model_p") is not None else ""
    return (
        f"{trigger.ts[:19].replace('T', ' ')}  {trigger.trigger:<15} {trigger.contact_id:<22} "
        f"{format_decision(trigger):<26} score {trigger.score:6.1f} {model:<7} "
        f"{trigger.stage:<13} {facts}"
    )


def format_decision(trigger: Trigger) -> str:
    """The channel and `sent`, `suppressed:<reason>` or `deferred→<until>` (UTC).

    >>> t = Trigger(trigger_id="x", trigger="welcome", kind="welcome", contact_id="c1",
    ...             ts="2026-01-05T23:00:00.000Z", ts_ms=0, score=0.0, stage="awareness",
    ...             channel="email", rules_version="v", reason={}, decision="deferred",
    ...             deferred_until="2026-01-06T07:00:00.000Z")
    >>> format_decision(t)
    'email deferred→01-06 07:00'
    """
    channel = f"{trigger.channel} " if trigger.channel else ""
    if trigger.decision == "suppressed":
        return f"{channel}suppressed:{trigger.suppressed_reason}"
    if trigger.decision == "deferred" and trigger.deferred_until:
        return f"{channel}deferred→{trigger.deferred_until[5:16].replace('T', ' ')}"
    return f"{channel}{trigger.decision}"


# Shown otherwise (model_p), or too long for one terminal line (explanations).
_NOT_SHOWN = frozenset(
    {"due", "event", "armed_by", "model_p", "points", "top_features", "score_before"}
)


class _ConsolePartition(StatelessSinkPartition[Trigger | Rejected]):
    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write_batch(self, items: list[Trigger | Rejected]) -> None:
        lines = []
        for item in items:
            if isinstance(item, Trigger):
                lines.append(format_trigger(item))
            else:
                lines.append(f"dead letter  {item.source}: {item.reason}")
        if lines:
            self._stream.write("\n".join(lines) + "\n")
            self._stream.flush()


class ConsoleSink(DynamicSink[Trigger | Rejected]):
    """Writes triggers (and dead letters) to the terminal, one readable line each."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _ConsolePartition:
        return _ConsolePartition(self._stream or sys.stdout)


class _JsonlPartition(StatelessSinkPartition[Trigger | Rejected]):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "ab")  # noqa: SIM115 - closed in close()

    def write_batch(self, items: list[Trigger | Rejected]) -> None:
        if not items:
            return
        chunks = [
            encode_trigger(item) if isinstance(item, Trigger) else _ENCODER.encode(item)
            for item in items
        ]
        self._file.write(b"\n".join(chunks) + b"\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class JsonlSink(DynamicSink[Trigger | Rejected]):
    """Appends triggers or dead letters to a JSON Lines file (`-` is standard output)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def build(
        self, step_id: str, worker_index: int, worker_count: int
    ) -> StatelessSinkPartition[Trigger | Rejected]:
        if str(self.path) == "-":
            return _StdoutJsonl()
        path = self.path
        if worker_count > 1:
            path = path.with_name(f"{path.stem}.{worker_index}{path.suffix}")
        return _JsonlPartition(path)


class _StdoutJsonl(StatelessSinkPartition[Trigger | Rejected]):
    def write_batch(self, items: list[Trigger | Rejected]) -> None:
        out = sys.stdout.buffer
        for item in items:
            out.write(
                (encode_trigger(item) if isinstance(item, Trigger) else _ENCODER.encode(item))
                + b"\n"
            )
        out.flush()
