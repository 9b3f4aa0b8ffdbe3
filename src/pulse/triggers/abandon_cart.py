"""`abandon_cart`: a cart left without checkout or purchase for `after`."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING

import msgspec

from pulse.contact import Timer
from pulse.spec import Duration, duration_field
from pulse.suggest import did_you_mean
from pulse.triggers.base import CheckContext, Finding, Kind, Step, TimerReason, TriggerSpecBase
from pulse.triggers.output import iso_ms

if TYPE_CHECKING:
    from pulse.contact import ContactState
    from pulse.events import Event

__all__ = ["KIND", "AbandonCart", "AbandonCartKind", "AbandonCartReason"]


class AbandonCart(TriggerSpecBase, frozen=True, tag="abandon_cart"):
    """Cart not empty and no checkout or purchase within `after` of the last add."""

    after: Duration = duration_field("30m")
    """Silence after the last `add_to_cart` before it fires."""
    min_cart_value: float = 0.0
    """Carts worth less than this at the due time do not fire."""
    cancel_on: list[str] = msgspec.field(default_factory=lambda: ["checkout_started", "purchase"])
    """Event types that cancel the pending reminder."""


class AbandonCartReason(TimerReason, kw_only=True):
    """The cart as it was when the reminder fell due."""

    cart_value: float
    items: int
    """Lines in the cart (products)."""


class AbandonCartKind(Kind[AbandonCart]):
    """One reminder per cart episode (from the add that opened the cart until it empties).

    Every accepted add moves the due time to `after` past it; emptying the cart, a
    purchase, or an event of `cancel_on` cancels it; a cancelling event already seen
    after the add (out of order) keeps it from arming.
    """

    name = "abandon_cart"
    spec_type = AbandonCart
    reason_type = AbandonCartReason

    def event_types(self, spec: AbandonCart) -> Collection[str]:
        return {"add_to_cart", "remove_from_cart", "purchase", *spec.cancel_on}

    def on_event(self, step: Step, spec: AbandonCart, state: ContactState, event: Event) -> None:
        type_ = event.type
        if type_ == "add_to_cart":
            self._arm(spec, state, event.ts_ms)
        elif type_ == "purchase" or (type_ == "remove_from_cart" and not state.cart):
            state.timers.pop(spec.name, None)  # the cart was bought or emptied
        if type_ in spec.cancel_on:
            state.timers.pop(spec.name, None)

    @staticmethod
    def _arm(spec: AbandonCart, state: ContactState, ts: int) -> None:
        if state.fired.get(spec.name) == state.cart_episode:
            return  # one trigger per cart episode
        if any(state.last_cancel_ts.get(t, 0) >= ts for t in spec.cancel_on):
            return  # a checkout or purchase after this add already arrived (out of order)
        due = ts + spec.after.ms
        current = state.timers.get(spec.name)
        if current is None or current.due_ms < due:
            state.timers[spec.name] = Timer(due, state.cart_episode, spec.name)

    def fire(
        self,
        step: Step,
        spec: AbandonCart,
        state: ContactState,
        key: str,
        timer: Timer,
        slot: str,
    ) -> None:
        value = state.cart_value()
        if state.cart_episode != timer.episode or value < spec.min_cart_value:
            return
        reason = AbandonCartReason(
            armed_by=timer.episode,
            due=iso_ms(timer.due_ms),
            cart_value=round(value, 2),
            items=len(state.cart),
        )
        step.emit(state, key, spec, timer.due_ms, timer.episode, reason)

    def check(self, spec: AbandonCart, context: CheckContext) -> Iterator[Finding]:
        for at, name in enumerate(spec.cancel_on):
            if name not in context.known_types:
                hint = did_you_mean(name, context.known_types)
                yield Finding(f"unknown event type `{name}`" + hint, f".cancel_on[{at}]")
        for at, name in enumerate(spec.cancel_on):
            context.refer(name, f".cancel_on[{at}]")
            if name == "add_to_cart":
                yield Finding(
                    f"trigger `{spec.name}` can never fire: the `add_to_cart` that arms "
                    "it also cancels it",
                    f".cancel_on[{at}]",
                )
        if spec.min_cart_value < 0:
            yield Finding(
                f"`min_cart_value` ({spec.min_cart_value}) must not be negative: "
                "a cart's value never is",
                ".min_cart_value",
            )


KIND = AbandonCartKind()
