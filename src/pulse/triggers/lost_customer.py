"""`lost_customer`: a customer silent for `silent_for` is marked `lost` (no message)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pulse.contact import Timer
from pulse.spec import Duration, duration_field
from pulse.triggers.base import Kind, Step, TimerReason, TriggerSpecBase
from pulse.triggers.output import iso_ms

if TYPE_CHECKING:
    from pulse.contact import ContactState
    from pulse.events import Event

__all__ = ["KIND", "LostCustomer", "LostCustomerKind", "LostCustomerReason"]


class LostCustomer(TriggerSpecBase, frozen=True, tag="lost_customer"):
    """A customer silent for `silent_for`; marked lost and suppressed until it returns."""

    silent_for: Duration = duration_field("90d")
    """Silence of a customer before it is marked `lost`."""


class LostCustomerReason(TimerReason, kw_only=True):
    """When the customer was last active (`armed_by` is that event)."""

    last_active: str


class LostCustomerKind(Kind[LostCustomer]):
    """Armed on every activity of a contact with a purchase; firing marks it `lost`
    (stage `lost`; marketing triggers are suppressed until `welcome_back`)."""

    name = "lost_customer"
    spec_type = LostCustomer
    reason_type = LostCustomerReason
    is_marketing = False
    is_activity = True

    def on_activity(
        self, step: Step, spec: LostCustomer, state: ContactState, event: Event
    ) -> None:
        if state.purchases >= 1:
            due = state.last_active_ts + spec.silent_for.ms
            state.timers[spec.name] = Timer(due, event.event_id, spec.name)

    def fire(
        self,
        step: Step,
        spec: LostCustomer,
        state: ContactState,
        key: str,
        timer: Timer,
        slot: str,
    ) -> None:
        if state.purchases < 1 or state.lost:
            return
        reason = LostCustomerReason(
            armed_by=timer.episode,
            due=iso_ms(timer.due_ms),
            last_active=iso_ms(state.last_active_ts),
        )
        step.emit(state, key, spec, timer.due_ms, timer.episode, reason)
        state.lost = True
        step.set_stage(state, timer.due_ms, "lost")


KIND = LostCustomerKind()
