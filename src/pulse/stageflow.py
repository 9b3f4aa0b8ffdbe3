"""Stage flow: how contacts moved between lifecycle stages from one time to another.

Read from each contact's stage history (`ContactState.stage_history`, the last 10
changes with their event times), so `pulse report --from T1 --to T2` needs no
event log. A contact not seen yet at `T1` flows from `(new)`; one whose history
was capped past `T1` (more than 10 changes since) flows from `(unknown)`, counted
and shown rather than guessed.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable

from pulse.contact import STAGE_HISTORY_MAX, ContactState

__all__ = ["NEW", "UNKNOWN", "stage_at", "stage_flow"]

NEW = "(new)"
"""A contact first seen after the flow's start."""
UNKNOWN = "(unknown)"
"""A contact whose capped stage history no longer reaches back to the flow's start."""


def stage_at(state: ContactState, ts_ms: int) -> str:
    """The contact's stage at event time `ts_ms` (`NEW` before its first event).

    >>> state = ContactState(first_ts=10, stage="customer",
    ...                      stage_history=[(20, "decision"), (30, "customer")])
    >>> [stage_at(state, t) for t in (5, 15, 25, 35)]
    ['(new)', 'awareness', 'decision', 'customer']
    """
    if not state.first_ts or ts_ms < state.first_ts:
        return NEW
    history = state.stage_history
    at = bisect.bisect_right([ts for ts, _ in history], ts_ms)
    if at:
        return history[at - 1][1]
    if len(history) >= STAGE_HISTORY_MAX:
        return UNKNOWN  # the changes before the oldest kept one are gone
    return ContactState().stage  # every contact starts in the first stage


def stage_flow(states: Iterable[ContactState], from_ms: int, to_ms: int) -> dict[str, int]:
    """`"from -> to"` contact counts between two event times, most common first
    (contacts not seen by `to_ms` are left out).

    >>> a = ContactState(first_ts=10, stage_history=[(20, "decision")])
    >>> b = ContactState(first_ts=40)
    >>> stage_flow([a, b], 15, 50)
    {'awareness -> decision': 1, '(new) -> awareness': 1}
    """
    moves: Counter[str] = Counter()
    for state in states:
        after = stage_at(state, to_ms)
        if after != NEW:
            moves[f"{stage_at(state, from_ms)} -> {after}"] += 1
    return dict(moves.most_common())
