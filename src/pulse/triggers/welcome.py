"""`welcome`: a contact's first `signup` (or the event type the spec names)."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, ClassVar

from pulse.suggest import did_you_mean
from pulse.triggers.base import CheckContext, Finding, Kind, Reason, Step, TriggerSpecBase

if TYPE_CHECKING:
    from pulse.contact import ContactState
    from pulse.events import Event

__all__ = ["KIND", "Welcome", "WelcomeKind", "WelcomeReason"]


class Welcome(TriggerSpecBase, frozen=True, tag="welcome"):
    """A contact's first `signup`."""

    event: str = "signup"
    """The event type whose first occurrence fires it."""


class WelcomeReason(Reason, kw_only=True):
    """The event that welcomed the contact."""

    event: str
    """Its `event_id`."""

    hidden: ClassVar[frozenset[str]] = frozenset({"event"})
    references: ClassVar[tuple[str, ...]] = ("event",)


class WelcomeKind(Kind[Welcome]):
    """Fires once per contact, on the first event of the spec's type."""

    name = "welcome"
    spec_type = Welcome
    reason_type = WelcomeReason
    emit_rank = 1

    def after_types(self, spec: Welcome) -> Collection[str] | None:
        return (spec.event,)

    def after_scoring(self, step: Step, spec: Welcome, state: ContactState, event: Event) -> None:
        if event.type == spec.event and not state.welcomed:
            state.welcomed = True
            reason = WelcomeReason(event=event.event_id)
            step.emit(state, event.key, spec, event.ts_ms, event.event_id, reason)

    def check(self, spec: Welcome, context: CheckContext) -> Iterator[Finding]:
        if spec.event not in context.known_types:
            hint = did_you_mean(spec.event, context.known_types)
            yield Finding(f"unknown event type `{spec.event}`" + hint, ".event")
        context.refer(spec.event, ".event")


KIND = WelcomeKind()
