"""Event-time watermarks per source partition.

The watermark is the newest event time seen minus the allowed lateness: the
point before which pulse assumes no more events will come. Timers fire when
the watermark passes their due time. In live mode an idle partition moves its
watermark on with the wall clock, so a timer still fires about on time when no
further events arrive; in replay the watermark moves only with the events, so
replay and live agree on the same input.
"""

from __future__ import annotations

import time

__all__ = ["Watermark"]

_NEVER = -(2**62)


class Watermark:
    """Tracks one partition's watermark; picklable (kept in the source snapshot)."""

    def __init__(self, lateness_ms: int, max_ts_ms: int = _NEVER) -> None:
        self.lateness_ms = lateness_ms
        self.max_ts_ms = max_ts_ms
        self._idle_since: float | None = None

    @property
    def current_ms(self) -> int:
        """The watermark now: timers due before it may fire.

        >>> w = Watermark(5000); _ = w.observe(10_000); w.current_ms
        5000
        """
        return self.max_ts_ms - self.lateness_ms

    def observe(self, ts_ms: int) -> int:
        """Note an event's time; returns the watermark as it stood before the event."""
        before = self.current_ms
        if ts_ms > self.max_ts_ms:
            self.max_ts_ms = ts_ms
        self._idle_since = None
        return before

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

    def __getstate__(self) -> tuple[int, int]:
        return (self.lateness_ms, self.max_ts_ms)

    def __setstate__(self, state: tuple[int, int]) -> None:
        self.lateness_ms, self.max_ts_ms = state
        self._idle_since = None
