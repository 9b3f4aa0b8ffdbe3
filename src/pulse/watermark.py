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

__all__ = ["END_MS", "MergedWatermark", "Released", "Watermark"]

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

    def _observe_in(self, stream: str, ts_ms: int) -> int:
        """`observe`, for an event of `stream` (one watermark: the stream does not matter)."""
        return self.observe(ts_ms)

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
        before = self._observe_in(stream, event.ts_ms)
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
        return self._state()

    def _state(self) -> dict[str, Any]:
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


class MergedWatermark(Watermark):
    """One watermark over several partitions read together, so their events merge in time.

    Each partition keeps its own newest event time; the merged watermark is the
    lowest of them minus the allowed lateness, over the partitions that are
    *active* (not idle, not ended): the point before which none of them will bring
    another event. Held events of every partition are released together in event
    time, so the sequence the engine applies (and with it the model, which learns
    across contacts in event time) does not depend on how fetches from the
    partitions interleave, nor on how many partitions the input has. An event that
    is within the allowed lateness of its own partition is never late.

    A partition that has caught up (live: idle; replay: ended) stops holding the
    others back, as in Flink's source idleness; when an idle partition brings events
    again, those the merged watermark already passed are late. The merged watermark
    never goes back.

    >>> from pulse.events import Event
    >>> w = MergedWatermark(1000, ["a", "b"])
    >>> w.hold(Event("a1", "page_view", 9000, "c1", "c1", None, {}), "a", 0)
    >>> w.current_ms < 0  # nothing from `b` yet: nothing passes
    True
    >>> w.hold(Event("b1", "page_view", 5000, "c2", "c2", None, {}), "b", 0)
    >>> w.current_ms, [e.event_id for e in w.release().events]
    (4000, [])
    >>> w.hold(Event("b2", "page_view", 9500, "c2", "c2", None, {}), "b", 1)
    >>> w.current_ms, [e.event_id for e in w.release().events]
    (8000, ['b1'])
    >>> w.end_partition("b"); w.current_ms  # `a` alone now: its newest is 9000
    8000
    >>> w.end_partition("a"); [e.event_id for e in w.release().events]  # all ended
    ['a1', 'b2']
    """

    def __init__(self, lateness_ms: int, partitions: list[str]) -> None:
        super().__init__(lateness_ms)
        self.newest_ms: dict[str, int] = dict.fromkeys(partitions, _NEVER)
        """Per partition, its newest event time."""
        self.resting: set[str] = set()
        """Partitions that do not hold the others back: idle (live) or ended (replay)."""

    @classmethod
    def taking_over(cls, old: Watermark, partitions: list[str]) -> MergedWatermark:
        """A merged watermark resuming one partition's snapshot (from before groups)."""
        merged = cls(old.lateness_ms, partitions)
        state = old._state()
        merged.__setstate__(
            {**state, "newest": {p: old.max_ts_ms for p in partitions}, "resting": []}
        )
        return merged

    def _observe_in(self, stream: str, ts_ms: int) -> int:
        before = self.current_ms
        newest = self.newest_ms
        if ts_ms > newest.get(stream, _NEVER):
            newest[stream] = ts_ms
        self.resting.discard(stream)
        self._idle_since = None
        self._merge()
        return before

    def rest(self, partition: str) -> None:
        """`partition` has caught up: it no longer holds the others back."""
        if partition not in self.resting:
            self.resting.add(partition)
            self._merge()

    def end_partition(self, partition: str) -> None:
        """`partition` has ended; once all have, the next `release` lets everything go."""
        self.rest(partition)
        if self.resting >= self.newest_ms.keys():
            self.finish()

    def _merge(self) -> None:
        newest = self.newest_ms
        active = [ts for name, ts in newest.items() if name not in self.resting]
        merged = min(active) if active else max(newest.values(), default=_NEVER)
        if merged > self.max_ts_ms:  # never back: an idle partition's return is late
            self.max_ts_ms = merged

    def _state(self) -> dict[str, Any]:
        state = super()._state()
        state["newest"] = self.newest_ms
        state["resting"] = sorted(self.resting)
        return state

    def __setstate__(self, state: dict[str, Any] | tuple[int, int]) -> None:
        super().__setstate__(state)
        assert isinstance(state, dict)
        self.newest_ms = state["newest"]
        self.resting = set(state["resting"])
