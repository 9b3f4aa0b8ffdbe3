"""Sequences: a trigger that starts timed steps, each fired as a trigger of its own.

A trigger with `steps` starts a sequence when it is sent (or deferred): it is the
first step, "now"; each later step fires `after` the start, in event time:

    - kind: welcome
      channel: email
      steps:
        - {name: tips, after: 2d}
        - {name: offer, after: 5d, channels: [email, sms]}
      exit_on: [purchase]
      reentry: never
    sequences: {max_active: 3}

An open sequence holds one pending timer in the contact's state, for its next
step (slot `sequence>NAME>STEP`; its episode is the first trigger's). When the
watermark passes it, the step fires as a new trigger record: its own
`trigger_id` (from the first record's id and the step name), `reason.step`,
`reason.sequence_of` (the first record's `trigger_id`), on the step's channels
(else the trigger's), through the guardrails like any trigger (consent, caps,
quiet hours; no cooldown: it is the same journey; no second goal window; no
channel fallback). Then the next step is armed, whatever this one's decision;
a step that finds the contact `lost` ends the sequence.

**Exit.** An event of the trigger's `exit_on` ends its open sequence at once, and
an `unsubscribe` naming no channel ends every sequence, counted
(`sequence_exited:<trigger>`). The engine applies events in event-time order and
fires the timers due before each event first, so a step due before the exit
event fires and none after it does, at any batch size and within the allowed
lateness in any arrival order.

**Re-entry and bounds.** A contact has at most one open sequence per trigger: the
trigger firing again starts a new one, replacing the open one
(`sequence_replaced:<trigger>`), when `reentry` allows (`always`; `never`: only
the contact's first; a duration: that long after the last start), else the
trigger fires alone (`sequence_reentry_refused:<trigger>`). At most
`sequences.max_active` are open at once; one more is not started
(`sequences_over_cap`). A first trigger not sent (suppressed, held out) starts
none (`sequence_not_started:<trigger>`). Nothing is turned away silently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping

from pulse.contact import ContactState, Timer
from pulse.events import Event
from pulse.spec import SequenceStep
from pulse.suggest import did_you_mean
from pulse.triggers import TriggerSpecBase, trigger_id
from pulse.triggers.base import Finding, TimerReason

__all__ = [
    "MAX_ACTIVE_BOUND",
    "MAX_STEPS",
    "SEQUENCE_SLOT",
    "StepReason",
    "arm_next",
    "check_steps",
    "due_step",
    "end_on",
    "first_id",
    "slot_of",
    "start",
    "step_episode",
]

SEQUENCE_SLOT = "sequence>"
"""Prefix of a sequence's pending step timer: `sequence>NAME>STEP`."""
MAX_STEPS = 10
"""Most later steps a trigger's sequence may have."""
MAX_ACTIVE_BOUND = 16
"""Largest `sequences.max_active`: each open sequence is a timer in every contact's state."""


class StepReason(TimerReason, kw_only=True):
    """A later step of a sequence fell due."""

    step: str
    """The step's name."""
    sequence_of: str
    """The `trigger_id` of the trigger that started the sequence."""


def slot_of(trigger: str, step: str) -> str:
    """The timer slot of a trigger's pending step.

    >>> slot_of("welcome", "tips")
    'sequence>welcome>tips'
    """
    return f"{SEQUENCE_SLOT}{trigger}>{step}"


def step_episode(first_id: str, step: str) -> str:
    """A step's episode (what its `trigger_id` is made from): the first record's id and
    the step's name.

    >>> step_episode("c5f5", "tips")
    'c5f5>tips'
    """
    return f"{first_id}>{step}"


def _open_slots(state: ContactState, trigger: str | None = None) -> list[str]:
    own = SEQUENCE_SLOT if trigger is None else f"{SEQUENCE_SLOT}{trigger}>"
    return [slot for slot in state.timers if slot.startswith(own)]


def start(
    state: ContactState,
    spec: TriggerSpecBase,
    episode: str,
    ts_ms: int,
    max_active: int,
    skipped: Counter[str],
) -> bool:
    """Start the sequence of `spec` (it has `steps`) whose first trigger fired at `ts_ms`
    for `episode`: arm its first later step. False (counted) when re-entry or
    `max_active` refuses it.

    >>> from pulse.triggers import Welcome
    >>> from pulse.spec import reentry, Duration
    >>> spec = Welcome(steps=[SequenceStep(name="tips", after=Duration(10))],
    ...                reentry=reentry("never"), name="welcome")
    >>> state, skipped = ContactState(), Counter()
    >>> start(state, spec, "e1", 100, 3, skipped), list(state.timers)
    (True, ['sequence>welcome>tips'])
    >>> start(state, spec, "e2", 200, 3, skipped), dict(skipped)
    (False, {'sequence_reentry_refused:welcome': 1})
    """
    name = spec.name
    last = state.sequence_starts.get(name)
    rule = spec.reentry
    if last is not None and (rule.is_never or (rule.is_after and ts_ms - last < rule.ms)):
        skipped[f"sequence_reentry_refused:{name}"] += 1
        return False
    mine = _open_slots(state, name)
    if not mine and len(_open_slots(state)) >= max_active:
        skipped["sequences_over_cap"] += 1
        return False
    if mine:
        skipped[f"sequence_replaced:{name}"] += 1
        for slot in mine:
            del state.timers[slot]
    first = spec.steps[0]
    state.timers[slot_of(name, first.name)] = Timer(ts_ms + first.after.ms, episode, name)
    state.sequence_starts[name] = ts_ms
    return True


def due_step(spec: TriggerSpecBase, slot: str) -> tuple[SequenceStep, SequenceStep | None] | None:
    """The step a due timer's slot is for, and the one after it; None when the rules no
    longer have the step.

    >>> from pulse.triggers import Welcome
    >>> from pulse.spec import Duration
    >>> spec = Welcome(steps=[SequenceStep(name="a", after=Duration(1)),
    ...                       SequenceStep(name="b", after=Duration(2))])
    >>> [s.name if s else None for s in due_step(spec, "sequence>welcome>a")]
    ['a', 'b']
    >>> due_step(spec, "sequence>welcome>gone") is None
    True
    """
    name = slot.rsplit(">", 1)[1]
    steps = spec.steps
    index = next((i for i, step in enumerate(steps) if step.name == name), None)
    if index is None:
        return None
    return steps[index], steps[index + 1] if index + 1 < len(steps) else None


def arm_next(
    state: ContactState,
    spec: TriggerSpecBase,
    timer: Timer,
    done: SequenceStep,
    after: SequenceStep,
) -> None:
    """Arm the step `after` the one just fired, counted from the sequence's start."""
    started = timer.due_ms - done.after.ms
    state.timers[slot_of(spec.name, after.name)] = Timer(
        started + after.after.ms, timer.episode, spec.name
    )


def first_id(key: str, timer: Timer) -> str:
    """The `trigger_id` of the trigger that started a pending step's sequence."""
    return trigger_id(key, timer.trigger, timer.episode)


def end_on(
    state: ContactState, event: Event, exits: Mapping[str, frozenset[str]], skipped: Counter[str]
) -> None:
    """End the open sequences `event` exits: those whose trigger lists its type in
    `exit_on`, and all of them for an `unsubscribe` naming no channel.

    >>> from pulse.events import Event
    >>> state = ContactState(timers={"sequence>welcome>tips": Timer(5, "e1", "welcome")})
    >>> skipped = Counter()
    >>> buy = Event("p", "purchase", 1, "c1", "c1", None, {})
    >>> end_on(state, buy, {"welcome": frozenset({"purchase"})}, skipped)
    >>> state.timers, dict(skipped)
    ({}, {'sequence_exited:welcome': 1})
    """
    is_unsubscribe_all = event.type == "unsubscribe" and not event.props.get("channel")
    for slot in _open_slots(state):
        trigger = state.timers[slot].trigger
        if is_unsubscribe_all or event.type in exits.get(trigger, ()):
            del state.timers[slot]
            skipped[f"sequence_exited:{trigger}"] += 1


def check_steps(spec: TriggerSpecBase, known_types: frozenset[str]) -> Iterator[Finding]:
    """Problems in a trigger's `steps`, `exit_on` and `reentry` (paths below the trigger)."""
    if len(spec.steps) > MAX_STEPS:
        yield Finding(f"at most {MAX_STEPS} `steps`", ".steps")
    names: set[str] = set()
    previous = 0
    for at, step in enumerate(spec.steps):
        path = f".steps[{at}]"
        if not step.name or ">" in step.name:
            yield Finding("a step needs a non-empty `name` without `>`", f"{path}.name")
        elif step.name in names:
            yield Finding(f"step name `{step.name}` is used twice", f"{path}.name")
        names.add(step.name)
        if step.after.ms <= 0:
            yield Finding(
                "`after` must be longer than zero (the trigger itself is the step now)",
                f"{path}.after",
            )
        elif step.after.ms <= previous:
            yield Finding("`after` must be later than the step before's", f"{path}.after")
        previous = max(previous, step.after.ms)
    for at, name in enumerate(spec.exit_on):
        if name not in known_types:
            hint = did_you_mean(name, known_types)
            yield Finding(
                f"unknown event type `{name}` (declare it under `event_types`){hint}",
                f".exit_on[{at}]",
            )
    if spec.reentry.is_after and spec.reentry.ms <= 0:
        yield Finding("`reentry` must be longer than zero (or `always`, `never`)", ".reentry")
    if not spec.steps and (spec.exit_on or spec.reentry.is_after or spec.reentry.is_never):
        yield Finding(
            f"trigger `{spec.name}` has no `steps`: `exit_on` and `reentry` do nothing",
            ".steps",
            is_warning=True,
        )
