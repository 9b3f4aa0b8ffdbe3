"""What became of the contacts a run's triggers named: did they buy within the horizon?

Computed after a run from its output (the triggers it wrote) and the purchases
in its input, not by running anything again. A contact counts as *bought* for
a trigger when one of its purchases falls after one of that trigger's firings
for it and within `horizon_ms` of it: a purchase at the very moment of the
firing (the purchase that made the score cross, say) does not count, so the
figure measures what the trigger foresaw.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

import msgspec

from pulse.errors import EventError
from pulse.events import VENDOR_TYPES, EventDecoder
from pulse.triggers import Trigger

__all__ = ["TriggerOutcome", "read_purchases", "trigger_outcomes"]


class TriggerOutcome(msgspec.Struct, frozen=True):
    """One trigger's firings and how many of the contacts it named bought afterwards."""

    trigger: str
    fired: int
    contacts: int
    bought: int
    """Contacts with a purchase within the horizon after a firing."""

    @property
    def precision(self) -> float:
        """Share of the contacts named that bought (0 when none were named).

        >>> TriggerOutcome("sales_ready", 5, 4, 3).precision
        0.75
        """
        return self.bought / self.contacts if self.contacts else 0.0


def read_purchases(lines: Iterable[bytes]) -> dict[str, list[int]]:
    """Purchase times (ms, ascending) per contact key, from JSONL event lines.

    Lines that do not decode are skipped: the run dead-lettered them too.
    """
    decoder = EventDecoder()
    names = [b"purchase"] + [v.encode() for v, c in VENDOR_TYPES.items() if c == "purchase"]
    purchases: dict[str, list[int]] = {}
    for line in lines:
        if not any(name in line for name in names):
            continue  # cheap filter before decoding
        try:
            event = decoder.decode(line)
        except EventError:
            continue
        if event.type == "purchase":
            purchases.setdefault(event.key, []).append(event.ts_ms)
    for times in purchases.values():
        times.sort()
    return purchases


def trigger_outcomes(
    triggers: Iterable[Trigger], purchases: dict[str, list[int]], horizon_ms: int
) -> list[TriggerOutcome]:
    """Per trigger name (sorted): firings, distinct contacts, and contacts who bought.

    >>> t = Trigger(trigger_id="1", trigger="sales_ready", kind="sales_ready",
    ...             contact_id="c1", ts="", ts_ms=100, score=0.0, stage="", channel=None,
    ...             rules_version="", reason={})
    >>> trigger_outcomes([t], {"c1": [100, 150]}, 60)
    [TriggerOutcome(trigger='sales_ready', fired=1, contacts=1, bought=1)]
    >>> trigger_outcomes([t], {"c1": [100, 161]}, 60)[0].bought
    0
    """
    fired: dict[str, int] = {}
    named: dict[str, set[str]] = {}
    bought: dict[str, set[str]] = {}
    for trigger in triggers:
        name, contact = trigger.trigger, trigger.contact_id
        fired[name] = fired.get(name, 0) + 1
        named.setdefault(name, set()).add(contact)
        times = purchases.get(contact)
        if times and _bought_after(times, trigger.ts_ms, horizon_ms):
            bought.setdefault(name, set()).add(contact)
    return [
        TriggerOutcome(name, fired[name], len(named[name]), len(bought.get(name, ())))
        for name in sorted(fired)
    ]


def _bought_after(times: list[int], ts_ms: int, horizon_ms: int) -> bool:
    """Whether a purchase falls in `(ts_ms, ts_ms + horizon_ms]`."""
    i = bisect.bisect_right(times, ts_ms)
    return i < len(times) and times[i] <= ts_ms + horizon_ms
