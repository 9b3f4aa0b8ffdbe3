"""Priority and mutual exclusion: of a group of triggers, one message per contact at a time.

`guardrails.exclusive` lists groups, each `{triggers: [...], within: 1d}`; every
trigger has a `priority` (an integer, default 0). The rule, decided when a trigger
fires, from the contact's send history alone (the time each trigger was last sent
or deferred, `ContactState.last_sent`):

    a trigger is suppressed (`excluded`, naming the winner) when another trigger of
    one of its groups, of **higher or equal** priority, was sent (or deferred) to the
    contact less than `within` before it.

So a lower-priority trigger after a higher one is excluded; a higher-priority one
after a lower one is still sent (the earlier message cannot be recalled); of equal
priorities the first sent wins. Triggers firing at the same event time are decided
in the order they are emitted (a timer's due order, then the kinds' `emit_rank`).
Held-out and suppressed triggers sent nothing, so they exclude nothing; a trigger
never excludes itself (that is a cooldown). Because the decision reads only the
contact's own bounded state in event time, a replay at any batch size decides what
the live run decided.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from pulse.contact import ContactState

if TYPE_CHECKING:
    from pulse.rules import Guardrails

__all__ = ["Rivals", "excluded_by", "is_grouped", "rivals_of"]

Rivals = tuple[tuple[str, int], ...]
"""The triggers that exclude one trigger, each with its group's `within` in ms."""


def rivals_of(priorities: Mapping[str, int], rules: Guardrails) -> dict[str, Rivals]:
    """Per trigger name, the triggers of its groups with a priority at least its own.

    >>> from pulse.rules import ExclusionGroup, Guardrails
    >>> from pulse.spec import Duration
    >>> group = ExclusionGroup(triggers=["cart", "browse"], within=Duration(60_000))
    >>> rivals_of({"cart": 2, "browse": 1}, Guardrails(exclusive=[group]))
    {'cart': (), 'browse': (('cart', 60000),)}
    """
    rivals: dict[str, list[tuple[str, int]]] = {name: [] for name in priorities}
    for group in rules.exclusive:
        names = [name for name in group.triggers if name in priorities]
        for name in names:
            rivals[name] += [
                (other, group.within.ms)
                for other in names
                if other != name and priorities[other] >= priorities[name]
            ]
    return {name: tuple(found) for name, found in rivals.items()}


def excluded_by(state: ContactState, rivals: Iterable[tuple[str, int]], ts_ms: int) -> str | None:
    """The rival sent within its group's window before `ts_ms` (the newest), or None.

    >>> state, rivals = ContactState(last_sent={"cart": 1_000}), [("cart", 60_000)]
    >>> excluded_by(state, rivals, 30_000), excluded_by(state, rivals, 61_000)
    ('cart', None)
    """
    winner: tuple[int, str] | None = None
    for rival, within_ms in rivals:
        last = state.last_sent.get(rival)
        if last is not None and ts_ms - last < within_ms and (winner is None or last > winner[0]):
            winner = (last, rival)
    return None if winner is None else winner[1]


def is_grouped(trigger: str, rules: Guardrails) -> bool:
    """Whether `trigger` is in an exclusion group (its sends are then remembered)."""
    return any(trigger in group.triggers for group in rules.exclusive)
