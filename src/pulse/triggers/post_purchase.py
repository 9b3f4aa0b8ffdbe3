"""`post_purchase`: a follow-up `after` each purchase, cancelled by a refund of that order."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, ClassVar

from pulse.contact import Timer
from pulse.spec import Duration, duration_field
from pulse.triggers.base import Kind, Step, TimerReason, TriggerSpecBase
from pulse.triggers.output import iso_ms

if TYPE_CHECKING:
    from pulse.contact import ContactState
    from pulse.events import Event

__all__ = ["KIND", "MAX_ORDER_TIMERS", "PostPurchase", "PostPurchaseKind", "PostPurchaseReason"]

MAX_ORDER_TIMERS = 10
"""Pending per-order timers (post-purchase) a contact may hold; more are counted, not armed."""


class PostPurchase(TriggerSpecBase, frozen=True, tag="post_purchase"):
    """A follow-up `after` a purchase, cancelled by a refund of that order."""

    after: Duration = duration_field("3d")
    """Time after a purchase before it fires."""


class PostPurchaseReason(TimerReason, kw_only=True):
    """The order followed up (also its `armed_by`)."""

    order_id: str

    references: ClassVar[tuple[str, ...]] = ("armed_by",)


class PostPurchaseKind(Kind[PostPurchase]):
    """One timer per order (the slot `name:order_id`, the order from `props.order_id`,
    else the purchase's event id), at most `MAX_ORDER_TIMERS` pending per contact; a
    refund cancels its order's (all of them when it names no order)."""

    name = "post_purchase"
    spec_type = PostPurchase
    reason_type = PostPurchaseReason

    def event_types(self, spec: PostPurchase) -> Collection[str]:
        return ("purchase", "refund")

    def on_event(self, step: Step, spec: PostPurchase, state: ContactState, event: Event) -> None:
        prefix = spec.name + ":"
        if event.type == "purchase":
            slots = sum(1 for slot in state.timers if slot.startswith(prefix))
            if slots >= MAX_ORDER_TIMERS:
                step.skipped[f"{spec.name}_orders_over_cap"] += 1
                return
            order = str(event.props.get("order_id") or event.event_id)
            state.timers[prefix + order] = Timer(event.ts_ms + spec.after.ms, order, spec.name)
            return
        refunded = event.props.get("order_id")
        if refunded is None:
            for slot in [s for s in state.timers if s.startswith(prefix)]:
                del state.timers[slot]
        else:
            state.timers.pop(f"{prefix}{refunded}", None)

    def fire(
        self,
        step: Step,
        spec: PostPurchase,
        state: ContactState,
        key: str,
        timer: Timer,
        slot: str,
    ) -> None:
        reason = PostPurchaseReason(
            armed_by=timer.episode, due=iso_ms(timer.due_ms), order_id=timer.episode
        )
        step.emit(state, key, spec, timer.due_ms, timer.episode, reason)


KIND = PostPurchaseKind()
