"""`rescue`: an engaged contact fallen silent for `silent_for`; once per silence."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pulse import windows
from pulse.contact import Timer
from pulse.spec import Duration, duration_field
from pulse.triggers.base import PASSIVE_TYPES, Kind, Step, TimerReason, TriggerSpecBase
from pulse.triggers.output import iso_ms

if TYPE_CHECKING:
    from pulse.contact import ContactState
    from pulse.events import Event

__all__ = ["KIND", "Rescue", "RescueKind", "RescueReason", "is_engaged"]


class Rescue(TriggerSpecBase, frozen=True, tag="rescue"):
    """An engaged contact silent for `silent_for`; once per silence.

    Engaged is checked when the silence ends the wait (not when it began): at least
    `min_events_30d` of its own events in the 30 days before it fell silent, over at
    least `min_sessions_30d` sessions, so a one-visit contact is not "rescued".
    """

    silent_for: Duration = duration_field("14d")
    """Silence (no activity of the contact) before it fires."""
    min_events_30d: int = 5
    """Events in the last 30 days that make a contact engaged enough."""
    min_sessions_30d: int = 2
    """Sessions in those 30 days that make a contact engaged enough."""


class RescueReason(TimerReason, kw_only=True):
    """When the contact was last active (`armed_by` is that event)."""

    last_active: str


class RescueKind(Kind[Rescue]):
    """Armed on every activity (the slot is the trigger's name), engagement checked when
    it fires: counting the windows per event would cost more than the rest of the
    event's work. Firing moves the contact to `at_risk`."""

    name = "rescue"
    spec_type = Rescue
    reason_type = RescueReason
    is_activity = True

    def on_activity(self, step: Step, spec: Rescue, state: ContactState, event: Event) -> None:
        due = state.last_active_ts + spec.silent_for.ms
        state.timers[spec.name] = Timer(due, event.event_id, spec.name)

    def fire(
        self, step: Step, spec: Rescue, state: ContactState, key: str, timer: Timer, slot: str
    ) -> None:
        if not is_engaged(state, spec):
            step.skipped[f"{spec.name}_not_engaged"] += 1
            return
        reason = RescueReason(
            armed_by=timer.episode,
            due=iso_ms(timer.due_ms),
            last_active=iso_ms(state.last_active_ts),
        )
        if step.emit(state, key, spec, timer.due_ms, timer.episode, reason):
            step.set_stage(state, timer.due_ms, "at_risk")


def is_engaged(state: ContactState, spec: Rescue) -> bool:
    """Enough own events and sessions in the 30 days before the contact fell silent."""
    window, until = windows.WINDOWS_MS["30d"], state.last_active_ts
    sessions = windows.count(state.session_starts, until, window)
    if sessions < spec.min_sessions_30d:
        return False
    events = sum(
        windows.count(buckets, until, window)
        for type_, buckets in state.counts.items()
        if type_ not in PASSIVE_TYPES
    )
    return events >= spec.min_events_30d


KIND = RescueKind()
