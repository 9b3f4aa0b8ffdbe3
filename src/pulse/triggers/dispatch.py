"""Which kinds' hooks run for which event type: computed once per rules version.

The journey looks an event's type up here (one dict lookup per hook) instead of
asking every kind about every event: a hook costs nothing for the events it
does not name, and no list is built per event.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pulse.triggers import KINDS, kind_of
from pulse.triggers.base import Kind, TriggerSpecBase

__all__ = ["Dispatch", "Hooked"]

Hooked = tuple[tuple[Kind[Any], Any], ...]
"""(kind, spec) pairs a hook is called for, in call order."""

_ORDER = {name: index for index, name in enumerate(KINDS)}


class Dispatch:
    """The (kind, spec) pairs of the enabled triggers, per hook and event type.

    Order: kind by kind in registry order, each kind's specs in file order;
    `after_scoring` by `Kind.emit_rank` first.
    """

    def __init__(self, enabled: Iterable[TriggerSpecBase]) -> None:
        pairs = sorted(((kind_of(s), s) for s in enabled), key=lambda p: _ORDER[p[0].name])
        self.on_session = _overriding(pairs, "on_session")
        self.on_activity = _overriding(pairs, "on_activity")
        self.on_event: dict[str, Hooked] = {}
        """Per event type, the pairs whose `event_types` hold it."""
        for type_ in {t for kind, spec in pairs for t in kind.event_types(spec)}:
            self.on_event[type_] = tuple(p for p in pairs if type_ in p[0].event_types(p[1]))
        ranked = sorted(pairs, key=lambda p: p[0].emit_rank)
        self.after_every: Hooked = tuple(p for p in ranked if p[0].after_types(p[1]) is None)
        """The `after_scoring` pairs for a type no kind names (the ones taking every type)."""
        self.after: dict[str, Hooked] = {}
        """Per event type some kind names, its `after_scoring` pairs."""
        for kind, spec in ranked:
            for type_ in kind.after_types(spec) or ():
                self.after[type_] = tuple(
                    p for p in ranked if (t := p[0].after_types(p[1])) is None or type_ in t
                )


def _overriding(pairs: list[tuple[Kind[Any], Any]], hook: str) -> Hooked:
    """The pairs whose kind implements `hook` (the base's does nothing)."""
    return tuple(p for p in pairs if getattr(type(p[0]), hook) is not getattr(Kind, hook))
