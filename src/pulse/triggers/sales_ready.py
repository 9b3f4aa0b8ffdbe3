"""`sales_ready`: the blended score crosses `threshold` upward (hand the lead to sales)."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, ClassVar

import msgspec

from pulse.triggers.base import CheckContext, Finding, Kind, Reason, Step, TriggerSpecBase

if TYPE_CHECKING:
    from pulse.contact import ContactState
    from pulse.events import Event

__all__ = ["KIND", "SalesReady", "SalesReadyKind", "SalesReadyReason"]


class SalesReady(TriggerSpecBase, frozen=True, tag="sales_ready"):
    """Score crosses `threshold` upward; re-armed once it falls below `rearm_below`.

    With `min_points`, the contact's rule points must also have reached it: a model
    probability peak alone does not flag a contact that has done little.
    """

    threshold: float = 60.0
    """Fires when the score crosses this upward."""
    rearm_below: float = 40.0
    """Fires again only after the decayed score fell below this."""
    min_points: float | None = None
    """Rule points the contact must also have (none: the score alone)."""


class SalesReadyReason(Reason, kw_only=True):
    """The event that crossed the threshold and the score before it."""

    event: str
    score_before: float
    threshold: float | msgspec.UnsetType = msgspec.UNSET
    """Written while the model is on (the score is then not rule points alone)."""
    top_features: dict[str, float] | msgspec.UnsetType = msgspec.UNSET
    """The model's largest terms, once it is proven."""

    hidden: ClassVar[frozenset[str]] = frozenset({"event", "score_before", "top_features"})
    references: ClassVar[tuple[str, ...]] = ("event",)


class SalesReadyKind(Kind[SalesReady]):
    """Fires when the blended score crosses `threshold` upward while armed.

    Re-armed once the lead has cooled: the score before the event below
    `rearm_below`, and its rule points too, so a model probability that moves
    with every event cannot fire the same hot lead again and again. The points
    floor keeps a probability peak alone from flagging a contact that has done
    little: the lead is both likely to buy and engaged.
    """

    name = "sales_ready"
    spec_type = SalesReady
    reason_type = SalesReadyReason
    emit_rank = 2

    def after_types(self, spec: SalesReady) -> Collection[str] | None:
        return None

    def after_scoring(
        self, step: Step, spec: SalesReady, state: ContactState, event: Event
    ) -> None:
        if not state.sales_ready_armed and max(step.score_before, step.points_before) < (
            spec.rearm_below
        ):
            state.sales_ready_armed = True
        has_points = spec.min_points is None or step.points_after >= spec.min_points
        if (
            state.sales_ready_armed
            and step.score_after >= spec.threshold
            and has_points
            and not state.lost
        ):
            state.sales_ready_armed = False
            step.credit("triggers")
            reason = SalesReadyReason(event=event.event_id, score_before=step.score_before)
            model = step.model
            if model is not None:
                reason.threshold = spec.threshold
                if model.is_proven and step.features is not None:
                    reason.top_features = model.contributions(step.features)
            step.emit(state, event.key, spec, event.ts_ms, event.event_id, reason)

    def check(self, spec: SalesReady, context: CheckContext) -> Iterator[Finding]:
        if spec.min_points is not None and not 0 <= spec.min_points <= spec.threshold:
            yield Finding(
                f"`min_points` ({spec.min_points}) must be between 0 and "
                f"`threshold` ({spec.threshold})",
                ".min_points",
            )
        if spec.rearm_below > spec.threshold:
            yield Finding(
                f"`rearm_below` ({spec.rearm_below}) is above `threshold` ({spec.threshold})",
                ".rearm_below",
            )
        if spec.threshold > context.total_cap > 0:
            yield Finding(
                f"trigger `{spec.name}` can never fire: `threshold` ({spec.threshold}) is "
                f"above `total_cap` ({context.total_cap})",
                ".threshold",
            )
        elif spec.threshold <= 0:
            yield Finding(
                f"trigger `{spec.name}` fires on every contact's first event: "
                f"`threshold` ({spec.threshold}) is not above 0",
                ".threshold",
                is_warning=True,
            )


KIND = SalesReadyKind()
