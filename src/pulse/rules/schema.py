"""The rules file's schema: the msgspec structs a YAML rules file decodes into.

Each trigger kind's spec lives with its logic in `pulse.triggers` (one module per
kind); this module assembles the file from them and re-exports them.

Every field has a default and a docstring; `docs/rules-reference.md` is generated
from these structs (`pulse rules-doc`), so the reference cannot drift from them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import msgspec

from pulse.conditions import Condition
from pulse.spec import (
    CapSpan,
    ChannelOption,
    Duration,
    SequenceStep,
    cap_span_field,
    duration_field,
)
from pulse.triggers import (
    AbandonCart,
    BrowseAbandon,
    KindName,
    LostCustomer,
    PostPurchase,
    Rescue,
    SalesReady,
    TriggerSpec,
    TriggerSpecBase,
    Welcome,
    WelcomeBack,
)

__all__ = [
    "AbandonCart",
    "BrowseAbandon",
    "CapSpan",
    "ChannelOption",
    "Duration",
    "ExclusionGroup",
    "Experiments",
    "FrequencyCap",
    "Guardrails",
    "LostCustomer",
    "ModelSpec",
    "PointRule",
    "PostPurchase",
    "QuietHours",
    "Rescue",
    "Rules",
    "SalesReady",
    "Scoring",
    "SequenceStep",
    "Sequences",
    "Stages",
    "TriggerKind",
    "TriggerSpec",
    "Welcome",
    "WelcomeBack",
    "trigger_kind",
]


_dur = duration_field


class _Spec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class PointRule(_Spec, frozen=True):
    """Points for an event type, optionally only when a CEL condition holds."""

    event: str
    points: float
    name: str = ""
    when: str | None = None
    cap: float | None = None
    enabled: bool = True
    """`false` drops the rule: with `extends`, how a base pack's rule is removed."""


class Scoring(_Spec, frozen=True):
    """Rule points with continuous decay: `score * 2^(-dt / half_life)`."""

    half_life: Duration = _dur("14d")
    total_cap: float = 200.0
    rules: list[PointRule] = []


class Stages(_Spec, frozen=True):
    """Lifecycle stage thresholds; `lost` is set by the `lost_customer` trigger."""

    consideration_score: float = 10.0
    decision_score: float = 40.0
    cart_means_decision: bool = True
    loyal_purchases: int = 3


_Trigger = TriggerSpecBase
"""The fields every trigger has (each kind's spec, in `pulse.triggers`, adds its own)."""
TriggerKind = KindName
"""The `kind` tag of a trigger."""


class ModelSpec(_Spec, frozen=True):
    """The online model: river learns from conversions as they happen (see `pulse.model`)."""

    enabled: bool = True
    kind: Literal["logistic", "hoeffding_tree"] = "logistic"
    learning_rate: float = 0.05
    l2: float = 0.0
    weight: float = 40.0
    """Blended score = rule points + weight x probability of a purchase within `horizon`."""
    warmup_labels: int = 200
    """The probability counts in the score only once this many labels were learned."""
    horizon: Duration = _dur("7d")
    sample_every: Duration = _dur("1d")
    """At most one stored feature vector per contact per this long (bounds memory)."""
    max_pending: int = 2
    learn_every: Duration = _dur("1h")
    """Event-time cadence at which resolved labels are learned (keeps replays deterministic)."""
    premium_price: float = 100.0
    """Product views at or above this price count as `premium_views`."""
    features: list[str] = []
    """Feature names to use; empty means all (see README)."""


class FrequencyCap(_Spec, frozen=True):
    """At most `max` messages on `channel` (`all`: every messaging channel together) per
    rolling `per` of event time, or per local calendar day (`per: day`); see `pulse.caps`."""

    channel: str
    """The channel capped (`email`, `sms`, ...), or `all`: every messaging channel together."""
    max: int
    """Most sent (or deferred) messages in the window; more are suppressed."""
    per: CapSpan = cap_span_field("1d")
    """The window: a rolling duration of event time (`1d`, `12h`), or `day`, the contact's
    local calendar day (trait `timezone`, else `default_timezone`)."""


class ExclusionGroup(_Spec, frozen=True):
    """Triggers of which a contact gets one at a time (see `pulse.exclusion`)."""

    triggers: list[str]
    """Names of the triggers that exclude one another (their `priority` ranks them)."""
    within: Duration = _dur("1d")
    """How long after a send of one the others of lower or equal priority are excluded."""


class QuietHours(_Spec, frozen=True):
    """Hours (the contact's local time) when messages on `channels` are deferred to `end`."""

    start: str = "21:00"
    """When quiet hours begin, `HH:MM` local time."""
    end: str = "08:00"
    """When they end (past midnight when before `start`): deferred triggers go out then."""
    channels: list[str] = msgspec.field(default_factory=lambda: ["email", "sms", "push"])
    """The channels they hold (`crm` and `web` reach no one at night)."""


class Guardrails(_Spec, frozen=True):
    """Who may be messaged, how often, when: checked for every trigger (see README,
    "Who may be messaged"). A trigger they stop is still written, with `decision:
    suppressed` and its reason; one in quiet hours with `decision: deferred`."""

    frequency_caps: list[FrequencyCap] = []
    """Each `{channel, max, per}`: at most `max` sent (or deferred) messages on `channel`
    per rolling `per` (event time), or per calendar day of the contact's time zone with
    `per: day`; `channel: all` counts every messaging channel (all but `crm` and `web`)
    together. More are suppressed (`frequency_cap`)."""
    exclusive: list[ExclusionGroup] = []
    """Each `{triggers, within}`: a trigger of the group is suppressed (`excluded`, with
    `reason.excluded_by`) when another of the group with a `priority` at least its own was
    sent (or deferred) to the contact less than `within` before it; a higher-priority one
    firing later is still sent."""
    cooldowns: dict[str, Duration] = {}
    """Trigger name -> shortest time between two sends of it to one contact; sooner is
    suppressed (`cooldown`)."""
    quiet_hours: QuietHours | None = None
    """`{start, end, channels}` in `HH:MM`, the contact's time zone (trait `timezone`, else
    `default_timezone`): a trigger on those channels firing inside is `deferred` until `end`."""
    require_consent: bool = False
    """`true`: channels need an explicit `consent` event granting them (opt-in); `false`:
    consent holds until withdrawn (`unsubscribe`, a bounce, a complaint)."""
    default_timezone: str = "UTC"
    """IANA time zone of contacts whose traits give none."""


class Experiments(_Spec, frozen=True):
    """Holdouts and lift (see README, "Journeys, experiments and lift"): per trigger
    `holdout`, `variants` and `goal`; here what all triggers share."""

    control_share: float = 0.0
    """Share (0 to 1) of contacts in the global control group: every marketing trigger to
    them is `held_out` (stable hash of the contact)."""
    max_open: int = 8
    """Most triggers a contact may have awaiting their goal at once; more are counted
    (`attributions_over_cap`) and not measured."""


class Sequences(_Spec, frozen=True):
    """Multi-step sequences (a trigger's `steps`; see `pulse.sequences`): what all share."""

    max_active: int = 3
    """Most sequences a contact may have open at once (1 to 16); one more is not started
    and is counted (`sequences_over_cap`)."""


class _File(_Spec, frozen=True):
    version: Literal[1] = 1
    extends: str | None = None
    """`default` (the default pack) or a rules file relative to this one: this file then
    holds only changes. Sections merge; `event_types` adds to the base's; a point rule or
    trigger with the name of a base one changes it field by field (`enabled: false`
    removes it); others are added."""
    name: str = "rules"
    allowed_lateness: Duration = _dur("5s")
    session_gap: Duration = _dur("30m")
    event_types: list[str] = []
    scoring: Any = None
    stages: Stages = msgspec.field(default_factory=Stages)
    model: ModelSpec = msgspec.field(default_factory=ModelSpec)
    triggers: list[Any] = []
    guardrails: Guardrails = msgspec.field(default_factory=Guardrails)
    """Consent, caps, cooldowns and quiet hours: the decision every trigger carries."""
    experiments: Experiments = msgspec.field(default_factory=Experiments)
    """Global control group and attribution bounds (holdouts and lift)."""
    sequences: Sequences = msgspec.field(default_factory=Sequences)
    """Bounds on the multi-step sequences triggers start (`steps`)."""


class Rules(msgspec.Struct, frozen=True, kw_only=True):
    """A loaded, validated rules file, its conditions compiled."""

    name: str
    version: str
    source: str
    allowed_lateness_ms: int
    session_gap_ms: int
    event_types: frozenset[str]
    scoring: Scoring
    stages: Stages
    triggers: tuple[TriggerSpec, ...]
    conditions: dict[int, Condition]
    """Compiled condition per index into `scoring.rules`, for the rules with a `when`."""
    model: ModelSpec = msgspec.field(default_factory=ModelSpec)
    guardrails: Guardrails = msgspec.field(default_factory=Guardrails)
    experiments: Experiments = msgspec.field(default_factory=Experiments)
    sequences: Sequences = msgspec.field(default_factory=Sequences)

    warnings: tuple[str, ...] = ()
    """What `check_rules` found suspicious but not wrong (unused definitions, ...)."""

    def rules_for(self, event_type: str) -> Iterator[tuple[int, PointRule]]:
        """The point rules that apply to an event type, with their indexes."""
        for index, rule in enumerate(self.scoring.rules):
            if rule.event == event_type:
                yield index, rule


def trigger_kind(spec: TriggerSpec) -> TriggerKind:
    """The `kind` tag of a trigger spec."""
    kind: TriggerKind = type(spec).__struct_config__.tag  # type: ignore[assignment]
    return kind
