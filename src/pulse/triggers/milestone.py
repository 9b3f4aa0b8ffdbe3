"""`milestone`: a loyalty milestone, the contact's nth purchase (3rd, 5th, 10th, ...)."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, ClassVar

import msgspec

from pulse.triggers.base import CheckContext, Finding, Kind, Reason, Step, TriggerSpecBase

if TYPE_CHECKING:
    from pulse.contact import ContactState
    from pulse.events import Event

__all__ = ["KIND", "Milestone", "MilestoneKind", "MilestoneReason"]


class Milestone(TriggerSpecBase, frozen=True, tag="milestone"):
    """A contact's nth purchase, for each n of `purchases` (a thank-you, a loyalty reward)."""

    purchases: list[int] = msgspec.field(default_factory=lambda: [3, 5, 10])
    """The purchase counts that fire it, once each."""


class MilestoneReason(Reason, kw_only=True):
    """The milestone reached."""

    purchases: int
    """The contact's purchase count: one of the spec's `purchases`."""
    event: str
    """The purchase's `event_id`."""

    hidden: ClassVar[frozenset[str]] = frozenset({"event"})
    references: ClassVar[tuple[str, ...]] = ("event",)


class MilestoneKind(Kind[Milestone]):
    """Fires on the purchase that brings the contact's count to a milestone; each
    milestone once (the count only grows: a duplicate purchase is dropped before)."""

    name = "milestone"
    spec_type = Milestone
    reason_type = MilestoneReason
    emit_rank = 4

    def after_types(self, spec: Milestone) -> Collection[str] | None:
        return ("purchase",)

    def after_scoring(self, step: Step, spec: Milestone, state: ContactState, event: Event) -> None:
        count = state.purchases
        if count in spec.purchases:
            reason = MilestoneReason(purchases=count, event=event.event_id)
            step.emit(state, event.key, spec, event.ts_ms, f"purchases-{count}", reason)

    def check(self, spec: Milestone, context: CheckContext) -> Iterator[Finding]:
        if not spec.purchases:
            yield Finding("`purchases` is empty: the milestone never fires", ".purchases")
        for i, n in enumerate(spec.purchases):
            if n < 1:
                yield Finding(f"a milestone is a purchase count of 1 or more, got {n}",
                              f".purchases[{i}]")  # fmt: skip
        if len(set(spec.purchases)) != len(spec.purchases):
            yield Finding("`purchases` lists a count twice", ".purchases")


KIND = MilestoneKind()
