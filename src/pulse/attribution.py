"""Goal windows: which sent or held-out triggers a later goal event converts (see `pulse.lift`).

A trigger that is sent (or deferred) or held out opens a goal window on the contact
(`ContactState.attributions`, at most `experiments.max_open`); the first goal event
inside converts it, the window passing closes it unconverted. One timer slot,
`ATTRIBUTION_SLOT`, is due when the oldest window ends. The counts go to `outcomes`
(`lift:` counters), which the engine drains into the run counters.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from pulse import lift
from pulse.contact import Attribution, ContactState, Timer
from pulse.events import Event
from pulse.rules import Experiments
from pulse.triggers import TriggerSpecBase

__all__ = ["ATTRIBUTION_SLOT", "Attributions"]

ATTRIBUTION_SLOT = "attribution"
"""The timer slot that closes a contact's oldest goal window."""


class Attributions:
    """Opens, converts and closes goal windows under one rules version."""

    def __init__(
        self,
        experiments: Experiments,
        specs: Mapping[str, TriggerSpecBase],
        outcomes: Counter[str],
        skipped: Counter[str],
    ) -> None:
        self._max_open = experiments.max_open
        self._specs = specs
        self._outcomes = outcomes
        self._skipped = skipped

    def expose(
        self, state: ContactState, spec: TriggerSpecBase, ts: int, variant: str, arm: str
    ) -> None:
        """Count a sent or held-out trigger and open its goal window (bounded per contact)."""
        if len(state.attributions) >= self._max_open:
            self._skipped["attributions_over_cap"] += 1
            return
        self._outcomes[lift.lift_key(spec.name, variant, arm, "exposed")] += 1
        due = ts + spec.goal_within.ms
        state.attributions.append(Attribution(spec.name, variant, arm, ts, due))
        _arm(state)

    def attribute(self, state: ContactState, event: Event) -> None:
        """A goal event converts every open attribution whose window holds it (revenue
        from `props.revenue`, else the cart it buys)."""
        ts, kept = event.ts_ms, []
        outcomes = self._outcomes
        for open_ in state.attributions:
            spec = self._specs.get(open_.trigger)
            goal = spec.goal if spec is not None else "purchase"
            if event.type != goal or not open_.fired_ms < ts <= open_.due_ms:
                kept.append(open_)
                continue
            revenue = event.props.get("revenue")
            if not isinstance(revenue, int | float):
                revenue = state.cart_value() if event.type == "purchase" else 0.0
            after = lift.timing_bucket(ts - open_.fired_ms)
            name, variant, arm = open_.trigger, open_.variant, open_.arm
            outcomes[lift.lift_key(name, variant, arm, "converted")] += 1
            outcomes[lift.lift_key(name, variant, arm, "revenue_cents")] += round(
                100 * float(revenue)
            )
            outcomes[lift.lift_key(name, variant, arm, f"within_{after}")] += 1
        if len(kept) != len(state.attributions):
            state.attributions = kept
            _arm(state)

    @staticmethod
    def close(state: ContactState, until_ms: int) -> None:
        """Goal windows that ended by `until_ms` close unconverted."""
        state.attributions = [a for a in state.attributions if a.due_ms > until_ms]
        _arm(state)


def _arm(state: ContactState) -> None:
    if state.attributions:
        due = min(a.due_ms for a in state.attributions)
        state.timers[ATTRIBUTION_SLOT] = Timer(due, "", ATTRIBUTION_SLOT)
    else:
        state.timers.pop(ATTRIBUTION_SLOT, None)
