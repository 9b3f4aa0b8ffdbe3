"""Event-time watermarks per source partition, and the events they hold back.

The watermark is the newest event time seen minus the allowed lateness: the
point before which pulse assumes no more events will come. Timers fire when
the watermark passes their due time. In live mode an idle partition moves its
watermark on with the wall clock, so a timer still fires about on time when no
further events arrive; in replay the watermark moves only with the events, so
replay and live agree on the same input.

Order: an event is *held* until the watermark passes it, then *released* with
every other passed event in event-time order (ties by `event_id`). So any
arrival order that keeps each event within the allowed lateness gives the same
sequence, and with it the same states and triggers as the time-sorted stream.
An event that arrives after the watermark passed it (later than the lateness)
is *late*: it is released at once, after every held event the watermark had
passed when it arrived, and applied as of that watermark (timers due before it
have fired). Releases happen as if after every arrival, whatever the batches:
the sequence does not depend on how the input is cut. At the end of a finite
input every held event is released.

The held events are part of the snapshot: a resumed source releases them again.
"""

from __future__ import annotations

import heapq
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pulse.events import Event

__all__ = ["END_MS", "Released", "Watermark"]

_NEVER = -(2**62)
END_MS = 2**62
"""`released_before_ms` once the input has ended: every event read was released."""

_Held = tuple[int, str, int, str, "Event"]
"""(ts_ms, event_id, offset, stream, event): heap order is event time, then event id."""


class Released:
    """Events the watermark passed, in release order, with their source positions."""

    __slots__ = ("events", "late_at", "offsets", "streams")

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.offsets: list[int] = []
        self.streams: list[str] = []
        self.late_at: dict[int, int] = {}
        """Late events (index in `events`) and the watermark they arrived at."""


class Watermark:
    """Tracks one partition's watermark and holds its events; picklable (snapshotted)."""

    def __init__(self, lateness_ms: int, max_ts_ms: int = _NEVER) -> None:
        self.lateness_ms = lateness_ms
        self.max_ts_ms = max_ts_ms
        self.released_before_ms = _NEVER
        """Every event read with an earlier time has been released (`END_MS` at the end)."""
        self._held: list[_Held] = []
        self._out = Released()
        """Released already (a late arrival releases what its watermark passed), not yet taken."""
        self._idle_since: float | None = None

    @property
    def current_ms(self) -> int:
        """The watermark now: timers due before it may fire.

        >>> w = Watermark(5000); _ = w.observe(10_000); w.current_ms
        5000
        """
        return self.max_ts_ms - self.lateness_ms

    @property
    def held(self) -> int:
        """How many events wait for the watermark."""
        return len(self._held)

    def observe(self, ts_ms: int) -> int:
        """Note an event's time; returns the watermark as it stood before the event."""
        before = self.current_ms
        if ts_ms > self.max_ts_ms:
            self.max_ts_ms = ts_ms
        self._idle_since = None
        return before

    def hold(self, event: Event, stream: str, offset: int) -> None:
        """Keep an event until the watermark passes it; `stream`/`offset` say where it was read.

        >>> from pulse.events import Event
        >>> w = Watermark(1000)
        >>> for i, ts in enumerate([5000, 4500, 7000]):
        ...     w.hold(Event(f"e{i}", "page_view", ts, "c1", "c1", None, {}), "f", i)
        >>> [e.ts_ms for e in w.release().events]  # the watermark is 6000
        [4500, 5000]
        >>> w.finish(); [e.ts_ms for e in w.release().events]
        [7000]
        """
        before = self.observe(event.ts_ms)
        if event.ts_ms >= before:
            heapq.heappush(self._held, (event.ts_ms, event.event_id, offset, stream, event))
            return
        # Late: what its watermark passed goes first, then the event, as of that watermark.
        self._pass(before)
        out = self._out
        out.late_at[len(out.events)] = before
        out.events.append(event)
        out.offsets.append(offset)
        out.streams.append(stream)

    def release(self) -> Released:
        """Every event the watermark has passed since the last call, in release order."""
        self._pass(self.current_ms if self.released_before_ms < END_MS else END_MS)
        out, self._out = self._out, Released()
        return out

    def _pass(self, limit: int) -> None:
        held, out = self._held, self._out
        events, offsets, streams = out.events, out.offsets, out.streams
        while held and held[0][0] < limit:
            _, _, offset, stream, event = heapq.heappop(held)
            events.append(event)
            offsets.append(offset)
            streams.append(stream)
        self.released_before_ms = max(self.released_before_ms, limit)

    def finish(self) -> None:
        """The input has ended: the next `release` lets every held event go."""
        self.released_before_ms = END_MS

    def idle(self, now_s: float | None = None) -> int:
        """Advance with the wall clock while no events arrive (live mode only)."""
        now_s = time.monotonic() if now_s is None else now_s
        if self.max_ts_ms == _NEVER:
            return self.current_ms
        if self._idle_since is None:
            self._idle_since = now_s
            return self.current_ms
        elapsed_ms = int((now_s - self._idle_since) * 1000)
        if elapsed_ms > 0:
            self.max_ts_ms += elapsed_ms
            self._idle_since = now_s
        return self.current_ms

    def __getstate__(self) -> dict[str, Any]:
        return {
            "lateness_ms": self.lateness_ms,
            "max_ts_ms": self.max_ts_ms,
            "released_before_ms": self.released_before_ms,
            "held": self._held,
            "out": (self._out.events, self._out.offsets, self._out.streams, self._out.late_at),
        }

    def __setstate__(self, state: dict[str, Any] | tuple[int, int]) -> None:
        if isinstance(state, tuple):  # a snapshot from before events were held
            state = {"lateness_ms": state[0], "max_ts_ms": state[1]}
        self.lateness_ms = state["lateness_ms"]
        self.max_ts_ms = state["max_ts_ms"]
        self.released_before_ms = state.get("released_before_ms", _NEVER)
        self._held = state.get("held", [])
        self._out = Released()
        if "out" in state:
            out = self._out
            out.events, out.offsets, out.streams, out.late_at = state["out"]
        self._idle_since = None
