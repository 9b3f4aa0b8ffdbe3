"""`welcome_back`: a contact marked `lost` is active again."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, ClassVar

from pulse.triggers.base import CheckContext, Finding, Kind, Reason, Step, TriggerSpecBase

if TYPE_CHECKING:
    from pulse.contact import ContactState
    from pulse.events import Event

__all__ = ["KIND", "WelcomeBack", "WelcomeBackKind", "WelcomeBackReason"]


class WelcomeBack(TriggerSpecBase, frozen=True, tag="welcome_back"):
    """A lost contact returns."""


class WelcomeBackReason(Reason, kw_only=True):
    """The event it returned with, and the stage it returns to."""

    event: str
    returns_to: str

    hidden: ClassVar[frozenset[str]] = frozenset({"event"})
    references: ClassVar[tuple[str, ...]] = ("event",)


class WelcomeBackKind(Kind[WelcomeBack]):
    """Fires on the activity that ends a `lost` state, after the stage update: it carries
    the stage the contact returns to. Only `lost_customer` marks contacts lost."""

    name = "welcome_back"
    spec_type = WelcomeBack
    reason_type = WelcomeBackReason
    is_activity = True
    emit_rank = 0

    def after_types(self, spec: WelcomeBack) -> Collection[str] | None:
        return None

    def after_scoring(
        self, step: Step, spec: WelcomeBack, state: ContactState, event: Event
    ) -> None:
        if step.is_back:
            reason = WelcomeBackReason(event=event.event_id, returns_to=state.stage)
            step.emit(state, event.key, spec, event.ts_ms, event.event_id, reason)

    def check(self, spec: WelcomeBack, context: CheckContext) -> Iterator[Finding]:
        if spec.enabled and "lost_customer" not in context.enabled_kinds:
            yield Finding(
                f"trigger `{spec.name}` can never fire: only an enabled `lost_customer` "
                "trigger marks contacts lost",
                ".kind",
            )


KIND = WelcomeBackKind()
