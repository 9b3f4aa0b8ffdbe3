"""What every trigger kind is: a spec, a reason, and the `Kind` interface the journey calls.

A kind's module (`pulse.triggers.abandon_cart`, ...) holds four things:

* its **spec**, a `TriggerSpecBase` subclass tagged with the kind's name: the
  fields a rules file may set (decoded by `pulse.rules`, documented by
  `pulse rules-doc` from the docstrings under its fields);
* its **reason**, a `Reason` subclass: the facts written in the trigger's
  `reason` (the journey adds the score facts of `ScoreFacts` when the model is on);
* its **logic**, a `Kind` subclass whose hooks arm, cancel and fire it;
* its **checks** (`Kind.check`), the findings `pulse check` reports beyond the schema.

Call order, for one event of one contact (see `pulse.journey.Journey.apply`):
due timers `fire` first; a new session calls `on_session`; then the journey
updates the contact's own facts (cart, orders, product views, consent), calls
`on_event` of the kinds whose `event_types` hold the event's type, and, for the
contact's own activity at its newest time, `on_activity`; it scores the event and
moves the stage; last `after_scoring` runs for the kinds whose `after_types` hold
the type (`None`: every type), in `emit_rank` order. The journey computes the
dispatch lists once per rules version: a hook costs nothing for the events it
does not name.

Hooks are pure: they read and change the `ContactState` and call back into the
`Step` (emit a trigger, count a skip); no I/O, nothing kept on the kind itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterator
from typing import TYPE_CHECKING, ClassVar, Generic, Protocol, TypeVar

import msgspec

from pulse.spec import (
    ChannelOption,
    Duration,
    Reentry,
    SequenceStep,
    duration_field,
    reentry_field,
)

if TYPE_CHECKING:
    from pulse.contact import ContactState, Timer
    from pulse.events import Event
    from pulse.model import LeadModel
    from pulse.rules import Rules

__all__ = [
    "PASSIVE_TYPES",
    "CheckContext",
    "Finding",
    "Kind",
    "Reason",
    "ScoreFacts",
    "Step",
    "TimerReason",
    "TriggerSpecBase",
]

PASSIVE_TYPES = frozenset({"email_sent", "email_bounced", "spam_complaint"})
"""Events that are not the contact's activity (sends, and what a mailbox reports of them):
counted, never a session, a return from `lost` or the end of a silence."""


class TriggerSpecBase(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, tag_field="kind"
):
    """The fields every trigger has; `kind` (the tag) picks its subclass."""

    name: str = ""
    channel: str | None = None
    enabled: bool = True
    holdout: float = 0.0
    """Share (0 to 1) of contacts held out of this trigger as its control group, chosen by a
    stable hash of contact and trigger name: written with `decision: held_out`, never sent,
    and compared with the sent ones in `pulse report` (lift)."""
    variants: list[str] = []
    """A/B variants of the message: each contact gets one (equal shares, stable hash), written
    as the trigger's `variant`; lift is measured per variant."""
    goal: str = "purchase"
    """The event type that counts as a conversion for this trigger (revenue from
    `props.revenue`, else the open cart's value)."""
    goal_within: Duration = duration_field("7d")
    """How long after the trigger a goal event still counts as its conversion."""
    priority: int = 0
    """Rank in the `guardrails.exclusive` groups: a trigger is excluded by one of its group
    with a priority at least its own sent within the group's `within`."""
    channels: list[str | ChannelOption] = []
    """Ordered channels to choose from (instead of `channel`): each a name, or `{channel,
    require: [consented, has_address], engaged_within}`; the first eligible one is the
    trigger's `channel` (none eligible: `suppressed`, `no_channel`). See `pulse.channels`."""
    fallback_after: Duration | None = None
    """With `channels`: when no `engagement` event on the chosen channel comes within this
    long of the send, the trigger fires again on the next eligible channel (an event-time
    timer; its reason names the first with `fallback_of`)."""
    engagement: list[str] = msgspec.field(
        default_factory=lambda: ["email_open", "email_click", "sms_click", "push_open"]
    )
    """Event types that count as engaging with a sent trigger (on its channel: the event's
    `props.channel`, else the type's own) and cancel its pending fallback."""
    traits: list[str] = []
    """Contact traits copied into the trigger's output as `traits` (e.g. `first_name`,
    `locale`; see README "Traits"): the ones the contact has; the field is left out when
    none is."""
    steps: list[SequenceStep] = []
    """Later steps of a sequence the trigger starts when it is sent (it is the first step):
    each `{name, after, channel | channels}` fires `after` the start as a trigger record of
    its own, through the guardrails (see `pulse.sequences`)."""
    exit_on: list[str] = []
    """Event types that end the trigger's open sequence at once (no later step fires); an
    `unsubscribe` naming no channel ends every sequence."""
    reentry: Reentry = reentry_field("always")
    """Whether the trigger firing again starts a new sequence (replacing an open one):
    `always`, `never`, or a duration since the last one started (else it fires alone)."""


class Reason(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The facts that made a trigger fire, written as its `reason` (a JSON object).

    Fields left `UNSET` are not written. `hidden` names the facts the terminal line
    leaves out (ids and times; `pulse.connectors.sinks`), `references` the facts
    that name an event or an order (`pulse explain` looks them up).
    """

    hidden: ClassVar[frozenset[str]] = frozenset()
    references: ClassVar[tuple[str, ...]] = ()


class TimerReason(Reason, kw_only=True):
    """A trigger a timer fired: what armed the timer and when it was due."""

    armed_by: str
    """The episode that armed it: a cart's first add, a session and product, an order
    id, the contact's last activity."""
    due: str
    """When the timer was due (ISO-8601 UTC): the trigger's `ts`."""

    hidden: ClassVar[frozenset[str]] = frozenset({"armed_by", "due"})
    references: ClassVar[tuple[str, ...]] = ("armed_by",)


class ScoreFacts(msgspec.Struct, kw_only=True):
    """The score facts added to every reason while the model is on (absent when off)."""

    points: float | None = None
    """Rule points when it fired."""
    model_p: float | None = None
    """The model's purchase probability then (`None`: still warming up)."""
    model_points: float | None = None
    """What the model added to the score then."""

    hidden: ClassVar[frozenset[str]] = frozenset({"points", "model_p"})


class Finding(msgspec.Struct, frozen=True):
    """One problem (or warning) a kind finds in its spec, at `path` below the trigger."""

    message: str
    path: str
    """Below the trigger's own path: `.cancel_on[0]`, `.threshold`."""
    is_warning: bool = False


class CheckContext(msgspec.Struct, frozen=True, kw_only=True):
    """What a kind's checks may know of the rest of the rules file."""

    known_types: frozenset[str]
    """Canonical event types and the file's `event_types`."""
    total_cap: float
    enabled_kinds: frozenset[str]
    refer: Callable[[str, str], None]
    """Record that an event type is used, at a path (it flags vendor names)."""


class Step(Protocol):
    """What a kind's hooks may read and call: the journey applying one event or timer."""

    rules: Rules
    model: LeadModel | None
    skipped: Counter[str]
    """What a cap or a check turned away, by reason (the run counters)."""
    is_back: bool
    """The event brings a `lost` contact back."""
    score_before: float
    """The blended score before the event (after `after_scoring` only)."""
    points_before: float
    score_after: float
    """The blended score after the event."""
    points_after: float
    """The rule points after the event."""
    features: list[float] | None
    """The event's model features (when the model is on)."""

    def emit(
        self,
        state: ContactState,
        key: str,
        spec: TriggerSpecBase,
        ts: int,
        episode: str,
        reason: Reason,
        *,
        memory: str = "",
    ) -> bool:
        """Write the trigger with its guardrails decision, once per `episode` (remembered
        under `memory`, default the trigger's name); False if it already fired for it or
        the contact is lost."""
        ...

    def credit(self, what: str) -> None:
        """Count `what` for every point rule that scored the event (`triggers`)."""
        ...

    def set_stage(self, state: ContactState, ts: int, stage: str) -> None:
        """Move the contact to `stage` (recorded in its stage history)."""
        ...


S = TypeVar("S", bound=TriggerSpecBase)


class Kind(Generic[S]):
    """One kind of trigger: its spec type, reason type, hooks and checks (no state)."""

    name: ClassVar[str]
    spec_type: ClassVar[type[TriggerSpecBase]]
    reason_type: ClassVar[type[Reason]]
    is_marketing: ClassVar[bool] = True
    """False: it sends no message (never held out, no consent needed, not measured)."""
    is_activity: ClassVar[bool] = False
    """Every activity of a contact matters to it, whatever the event's type."""
    emit_rank: ClassVar[int] = 0
    """Order among the kinds firing from `after_scoring` on one event: the lower decides
    first (its send counts toward caps and cooldowns the next one meets)."""

    @property
    def doc(self) -> str:
        """What the kind does: its spec's docstring."""
        return self.spec_type.__doc__ or ""

    def event_types(self, spec: S) -> Collection[str]:
        """The event types `on_event` is called for."""
        return ()

    def after_types(self, spec: S) -> Collection[str] | None:
        """The event types `after_scoring` is called for (`None`: every type)."""
        return ()

    def on_session(self, step: Step, spec: S, state: ContactState) -> None:
        """A new session starts (before the event's facts are applied)."""

    def on_event(self, step: Step, spec: S, state: ContactState, event: Event) -> None:
        """The event's facts are applied (cart, orders, views): arm or cancel timers."""

    def on_activity(self, step: Step, spec: S, state: ContactState, event: Event) -> None:
        """The contact's own activity, at its newest time: a silence starts now."""

    def after_scoring(self, step: Step, spec: S, state: ContactState, event: Event) -> None:
        """The event is scored and the stage moved: fire what the event itself fires."""

    def fire(
        self, step: Step, spec: S, state: ContactState, key: str, timer: Timer, slot: str
    ) -> None:
        """A timer this kind armed is due (the watermark passed it); it is already removed."""

    def check(self, spec: S, context: CheckContext) -> Iterator[Finding]:
        """Problems and warnings in the spec beyond what the schema refuses."""
        return iter(())

    def __repr__(self) -> str:
        return f"<kind {self.name}>"
