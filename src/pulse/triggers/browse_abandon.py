"""`browse_abandon`: a product viewed `min_views` times in a session, then not added."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING

from pulse.contact import Timer
from pulse.spec import Duration, duration_field
from pulse.triggers.base import CheckContext, Finding, Kind, Step, TimerReason, TriggerSpecBase
from pulse.triggers.output import iso_ms

if TYPE_CHECKING:
    from pulse.contact import ContactState
    from pulse.events import Event

__all__ = ["KIND", "BrowseAbandon", "BrowseAbandonKind", "BrowseAbandonReason"]


class BrowseAbandon(TriggerSpecBase, frozen=True, tag="browse_abandon"):
    """`min_views` views of one product in a session and no add to cart within `after`."""

    min_views: int = 3
    """Views of one product within a session that arm it."""
    after: Duration = duration_field("1h")
    """Time after the arming view without an add to cart."""


class BrowseAbandonReason(TimerReason, kw_only=True):
    """The product browsed."""

    product_id: str


class BrowseAbandonKind(Kind[BrowseAbandon]):
    """One episode per session and product, one pending reminder per product (the slot
    `name:product`); an add to cart ends every episode (the cart reminder takes over)."""

    name = "browse_abandon"
    spec_type = BrowseAbandon
    reason_type = BrowseAbandonReason

    def event_types(self, spec: BrowseAbandon) -> Collection[str]:
        return ("add_to_cart", "product_view")

    def on_session(self, step: Step, spec: BrowseAbandon, state: ContactState) -> None:
        """Fired episodes of past sessions need no memory any more."""
        if state.fired:
            prefix = spec.name + ":"
            for slot in [s for s in state.fired if s.startswith(prefix)]:
                if slot not in state.timers:
                    del state.fired[slot]

    def on_event(self, step: Step, spec: BrowseAbandon, state: ContactState, event: Event) -> None:
        if event.type == "add_to_cart":
            for slot in [s for s, t in state.timers.items() if t.trigger == spec.name]:
                del state.timers[slot]
            return
        product = event.props.get("product_id")
        if product is None:
            return
        product = str(product)
        views = state.session_views.get(product)
        if views is None or views < spec.min_views:
            return  # not tracked (the session's map is full), or not yet enough views
        slot, episode = f"{spec.name}:{product}", f"{state.session_id}:{product}"
        if slot in state.timers or state.fired.get(slot) == episode:
            return
        if state.last_cancel_ts.get("add_to_cart", 0) >= event.ts_ms:
            return
        state.timers[slot] = Timer(event.ts_ms + spec.after.ms, episode, spec.name)

    def fire(
        self,
        step: Step,
        spec: BrowseAbandon,
        state: ContactState,
        key: str,
        timer: Timer,
        slot: str,
    ) -> None:
        reason = BrowseAbandonReason(
            armed_by=timer.episode,
            due=iso_ms(timer.due_ms),
            product_id=slot[len(spec.name) + 1 :],  # the slot is `name:product`
        )
        step.emit(state, key, spec, timer.due_ms, timer.episode, reason, memory=slot)

    def check(self, spec: BrowseAbandon, context: CheckContext) -> Iterator[Finding]:
        if spec.min_views < 1:
            yield Finding("`min_views` must be at least 1", ".min_views")


KIND = BrowseAbandonKind()
